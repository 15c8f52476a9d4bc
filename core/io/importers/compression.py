"""Transparent reading of ``.gz``, ``.bz2`` and ``.xz`` files.

Every importer opens its input through :func:`open_input`, and decides roles
and formats by :func:`plain_name` (``corpus.jsonl.gz`` -> ``corpus.jsonl``),
so a compressed file is accepted wherever the plain one is.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from pathlib import Path
from typing import BinaryIO

_OPENERS = {".gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"), ".bz2": bz2.BZ2File,
            ".xz": lzma.LZMAFile}
# What a damaged compressed stream raises while being read.
DECOMPRESSION_ERRORS = (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)


def compression_of(path: Path) -> str | None:
    suffix = Path(path).suffix.lower()
    return suffix if suffix in _OPENERS else None


def plain_name(path: Path) -> str:
    """The file name without its compression suffix."""
    path = Path(path)
    return path.name[: -len(path.suffix)] if compression_of(path) else path.name


def plain_path(path: Path) -> Path:
    """``path`` as if it were not compressed (for suffix and stem checks)."""
    path = Path(path)
    return path.with_name(plain_name(path))


class Input:
    """An open input file: ``stream`` yields decompressed bytes, ``position`` counts raw bytes read."""

    def __init__(self, path: Path) -> None:
        self.raw: BinaryIO = open(path, "rb")
        kind = compression_of(path)
        self.stream: BinaryIO = _OPENERS[kind](self.raw) if kind else self.raw

    @property
    def position(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        try:
            if self.stream is not self.raw:
                self.stream.close()
        finally:
            self.raw.close()

    def __enter__(self) -> "Input":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_input(path: Path) -> Input:
    return Input(Path(path))


def find_variant(folder: Path, name: str) -> Path | None:
    """``folder/name`` or its one compressed variant (``name.gz``, ...); None when neither exists.

    Two variants of the same file (``corpus.jsonl`` and ``corpus.jsonl.gz``)
    are ambiguous and refused.
    """
    from core.errors import InputError

    found = [p for p in [folder / name] + [folder / (name + s) for s in _OPENERS] if p.exists() or p.is_symlink()]
    if len(found) > 1:
        raise InputError(folder, f"both {found[0].name} and {found[1].name} are here; keep one")
    return found[0] if found else None
