"""Names that reach the file system or a tab-separated file: split names and record ids.

A split name becomes a file name on export (``qrels/<split>.tsv``), so it is
checked wherever one enters (``--split`` on the command line, qrels file
names at import, the project's own splits before an export writes them): a
letter or digit, then letters, digits, ``.``, ``_`` or ``-``, at most 64
characters. That excludes ``..``, absolute paths, separators, NUL and hidden
names by construction. ``all`` and ``*`` are reserved: they mean "every split"
in every command. Ids never become file names, but BEIR qrels are tab-separated
lines, so an id with a tab, line break or NUL could not be exported and
imported back; such ids are refused at import and at export.
"""

from __future__ import annotations

import re

# Spellings of "every split" on the command line (and in export's ``split``).
ALL_SPLITS = ("all", "*")
# Where judged queries go when their qrels name no split (BEIR's convention).
DEFAULT_SPLIT = "test"

_SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_BAD_ID_CHARS = re.compile(r"[\t\n\r\x00\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def split_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a split name, or None when it can."""
    if not isinstance(name, str) or not name:
        return "a split name cannot be empty"
    if name.lower() in ALL_SPLITS:
        return f"{name!r} is reserved (it means every split)"
    if not _SPLIT_NAME.fullmatch(name):
        return (f"split name {name!r} is not allowed: use letters, digits, '.', '_' or '-' "
                f"(starting with a letter or digit, at most 64 characters)")
    return None


def check_split_name(name: str) -> str:
    """``name`` itself, or ValueError saying why it cannot name a split."""
    problem = split_name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a document or query id, or None when it can."""
    if not value.strip():
        return "empty id"
    m = _BAD_ID_CHARS.search(value)
    if m:
        return (f"id {value!r} contains {m.group()!r} (a tab, line break or NUL cannot be written "
                f"to a qrels line)")
    return None
