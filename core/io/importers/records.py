"""Plain records and file plans shared by every import format.

A format module turns a SOURCE into an :class:`ImportPlan`: a list of
:class:`FileSpec` (one file, its role and a reader). Readers are generators
yielding :class:`DocRecord` / :class:`QueryRecord` / :class:`QrelRecord` with
the 1-based line (or row) they came from, so every error can name it. A
reader never holds more than one record (or one SGML block) in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from core.errors import InputError

ROLES = ("documents", "queries", "qrels")


class DocRecord(NamedTuple):
    line: int
    id: str
    title: str
    text: str


class QueryRecord(NamedTuple):
    line: int
    id: str
    text: str


class QrelRecord(NamedTuple):
    line: int
    query_id: str
    doc_id: str
    grade: str


Record = DocRecord | QueryRecord | QrelRecord


@dataclass
class FileSpec:
    """One input file: what it holds, how to read it, and how far reading got."""

    role: str
    path: Path
    reader: Callable[["FileSpec"], Iterator[Record]]
    split: str | None = None
    # Bytes consumed so far by the reader (for progress); reset on re-reads.
    done: int = 0
    # "row" for Parquet (no lines), "line" otherwise; used in messages.
    unit: str = "line"
    # True when ``split`` is the default for qrels that name none: it then only
    # fills in queries without a split and never contradicts an existing one.
    split_assumed: bool = False

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def read(self) -> Iterator[Record]:
        self.done = 0
        return self.reader(self)

    def describe(self) -> dict:
        return {"path": str(self.path), "role": self.role, "split": self.split,
                "bytes": self.size}


@dataclass
class ImportPlan:
    format: str
    source: Path
    files: list[FileSpec]
    ignored: list[Path] = field(default_factory=list)
    # The split given to judged queries because their qrels named none (or None).
    split_assumed: str | None = None

    def of(self, role: str) -> list[FileSpec]:
        return [f for f in self.files if f.role == role]


def input_error(spec: FileSpec, problem: str, line: int | None = None) -> InputError:
    """An InputError naming the line, or the row for files without lines (Parquet)."""
    if spec.unit == "row" and line is not None:
        return InputError(spec.path, f"row {line}: {problem}")
    return InputError(spec.path, problem, line)
