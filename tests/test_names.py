"""Split names that reach the file system: the one rule in core.project.names."""

import pytest

from core.errors import StudioError
from core.project.names import MAX_SPLIT_NAME, check_split_name


@pytest.mark.parametrize("name", ["train", "dev", "test", "train-v2", "fold_1", "v1.2", "тест",
                                  "x" * MAX_SPLIT_NAME])
def test_ordinary_split_names_pass_unchanged(name):
    assert check_split_name(name) == name


@pytest.mark.parametrize("name, why", [
    ("../../../victim", "'/'"), ("a/b", "'/'"), ("/etc/passwd", "'/'"), ("a\\b", "'\\\\'"),
    ("C:evil", "':'"), ("..", "relative path"), (".", "relative path"), ("", "empty"),
    (" train", "blank"), ("train\n", "blank"), ("a\x00b", "control"), ("a\tb", "control"),
    ("a\u202eb", "control"), ("x" * (MAX_SPLIT_NAME + 1), "longer"), ("test.", "ends with '.'"),
    ('a"b', "'\"'"), ("a*b", "'*'"),
])
def test_unsafe_split_names_are_refused_with_the_reason(name, why):
    with pytest.raises(StudioError) as err:
        check_split_name(name, where="qrels/x.tsv")
    message = str(err.value)
    assert message.startswith("qrels/x.tsv: split name ")
    assert why in message
    assert "\n" not in message.replace(repr(name), "")
