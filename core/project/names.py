"""Names from data that become file names: split names (``qrels/<split>.tsv``).

A split name comes from an import (``--split``, a BEIR ``qrels/`` file name,
a CSV column) or from a project file someone shared, so it is untrusted: a
split called ``../../victim`` would make a BEIR export write outside its
folder. :func:`check_split_name` is the one rule, applied where a name enters
(import, the CLI, opening a project) and again right before it reaches the
file system. The rule keeps a name usable as a file name on Linux, macOS and
Windows: no path separators, no ``.``/``..``, no control or NUL characters,
none of Windows' reserved characters, no leading or trailing blanks or
trailing dot, at most :data:`MAX_SPLIT_NAME` characters; beyond that, a name
is letters, digits, ``.``, ``_`` and ``-`` starting with a letter or digit
(any script), and ``all`` / ``*`` are reserved: they mean every split in every
command (:data:`ALL_SPLITS`).

Ids never become file names, but BEIR qrels are tab-separated lines, so an
id with a tab, line break or NUL could not be exported and imported back:
:func:`id_problem` says why such an id is refused at import and at export.
"""

from __future__ import annotations

import re
import unicodedata

from core.errors import StudioError

MAX_SPLIT_NAME = 64
# Spellings of "every split" on the command line (and in export's ``split``).
ALL_SPLITS = ("all", "*")
# Where judged queries go when their qrels name no split (BEIR's convention).
DEFAULT_SPLIT = "test"
_ALLOWED = re.compile(r"[^\W_][\w.-]*")
_BAD_ID_CHARS = re.compile(r"[\t\n\r\x00\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# Characters Windows refuses in file names; '/' and '\\' are path separators everywhere.
_FORBIDDEN = set('/\\<>:"|?*')


class UnsafeNameError(StudioError):
    """A name that cannot safely become a file name; the message says why and what to do."""


def split_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a split name, or None when it can."""
    if not isinstance(name, str):
        return f"must be text, not {type(name).__name__}"
    if not name:
        return "is empty"
    if name != name.strip():
        return "starts or ends with a blank"
    if name.lower() in ALL_SPLITS:
        return "is reserved (it means every split)"
    if name in (".", ".."):
        return "is a relative path ('.' or '..')"
    if len(name) > MAX_SPLIT_NAME:
        return f"is longer than {MAX_SPLIT_NAME} characters"
    for ch in name:
        if ch in _FORBIDDEN:
            return f"contains {ch!r}, which cannot appear in a file name"
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return f"contains the control character {ch!r}"
    if name.endswith("."):
        return "ends with '.', which Windows drops from file names"
    if not _ALLOWED.fullmatch(name):
        return "is not allowed: it must start with a letter or digit"
    return None


def split_name_error(name: object) -> str | None:
    """The whole sentence a user reads when ``name`` cannot be a split name, else None."""
    problem = split_name_problem(name)
    if problem is None:
        return None
    return (f"split name {name!r} {problem}; use letters, digits, '-', '_' or '.' "
            f"(e.g. train, dev, test)")


def check_split_name(name: str, *, where: str = "") -> str:
    """``name`` unchanged if it is a safe split name, else :class:`UnsafeNameError`.

    ``where`` (a file, a flag, a project path) starts the message, so the user
    reads what was refused, where it came from and what to do.
    """
    error = split_name_error(name)
    if error is None:
        return name
    raise UnsafeNameError(f"{where}: {error}" if where else error)


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a document or query id, or None when it can."""
    if not value.strip():
        return "empty id"
    m = _BAD_ID_CHARS.search(value)
    if m:
        return (f"id {value!r} contains {m.group()!r} (a tab, line break or NUL cannot be written "
                f"to a qrels line)")
    return None
