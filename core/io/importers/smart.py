"""SMART classic test collections (Cranfield, CISI, MED, CACM, ...).

Records start with ``.I <id>``; field markers (``.T`` title, ``.A`` authors,
``.B`` source, ``.W`` text, ``.X`` ...) stand alone on their line and the
field's text follows. A repeated marker continues the same field (Cranfield
has a few). Numeric ids are written without leading zeros (``.I 001`` -> ``1``),
as the qrels files write them.

Qrels lines are ``q d [grade]``: 2 fields (relevant, grade 1), 3 fields
(Cranfield: ``q d code``), or 4 fields, either TREC (``q 0 d rel``, MED) or
CISI (``q d 0 0.0``, every listed pair relevant).

The Cranfield trap: ``cranqrel`` numbers queries by their *position* (1..225)
in ``cran.qry``, not by their ``.I`` label (which skips numbers). With
``query_numbering="auto"`` the labels are used when every qrels query number
is a label, otherwise positions; ``position``/``label`` force one.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from core.errors import InputError
from core.io.importers.compression import plain_name
from core.io.importers.options import ImportOptions
from core.io.importers.reading import first_line, folder_files, iter_lines
from core.io.importers.records import (
    DocRecord,
    FileSpec,
    ImportPlan,
    QrelRecord,
    QueryRecord,
)

_ID_LINE = re.compile(r"^\.I(?:\s+(\S+))?\s*$")
_FIELD_LINE = re.compile(r"^\.([A-Z])\s*$")


def normalize_label(label: str) -> str:
    label = label.strip()
    return str(int(label)) if label.isdigit() else label


def is_smart_file(path: Path) -> bool:
    return bool(_ID_LINE.match(first_line(path).rstrip()))


def _blocks(spec: FileSpec) -> Iterator[tuple[int, str, dict[str, list[str]]]]:
    current: tuple[int, str, dict[str, list[str]]] | None = None
    field: str | None = None
    for number, line in iter_lines(spec):
        m = _ID_LINE.match(line)
        if m:
            if current is not None:
                yield current
            if not m.group(1):
                raise InputError(spec.path, "'.I' without an id", number)
            current = (number, normalize_label(m.group(1)), {})
            field = None
            continue
        if current is None:
            if line.strip():
                raise InputError(spec.path, "expected '.I <id>' before any text (not a SMART file?)", number)
            continue
        m = _FIELD_LINE.match(line)
        if m:
            field = m.group(1)
            current[2].setdefault(field, [])
            continue
        if field is None:
            if line.strip():
                raise InputError(spec.path, "text before any field marker (.T, .W, ...)", number)
            continue
        current[2][field].append(line)
    if current is not None:
        yield current


def _join(lines: list[str] | None) -> str:
    return " ".join(" ".join(lines or ()).split())


def smart_documents(spec: FileSpec) -> Iterator[DocRecord]:
    """Title from ``.T``, text from ``.W`` (either may be empty, as in Cranfield 471)."""
    for number, label, fields in _blocks(spec):
        yield DocRecord(number, label, _join(fields.get("T")), _join(fields.get("W")))


def smart_queries(spec: FileSpec) -> Iterator[QueryRecord]:
    """Query text is the ``.T`` title (when there is one) followed by the ``.W`` text.

    CISI gives 55 of its 112 queries a title that the text does not repeat.
    """
    for number, label, fields in _blocks(spec):
        text = " ".join(t for t in (_join(fields.get("T")), _join(fields.get("W"))) if t)
        if not text:
            raise InputError(spec.path, f"query {label!r} has no .T or .W text", number)
        yield QueryRecord(number, label, text)


def _qrels_fields(spec: FileSpec) -> Iterator[tuple[int, str, str, str]]:
    for number, line in iter_lines(spec):
        fields = line.split()
        if not fields:
            continue
        if len(fields) == 2:
            q, d, g = fields[0], fields[1], "1"
        elif len(fields) == 3:
            q, d, g = fields
        elif len(fields) == 4:
            if fields[1] in ("0", "Q0"):
                q, d, g = fields[0], fields[2], fields[3]
            else:
                q, d, g = fields[0], fields[1], "1"
        else:
            raise InputError(spec.path, f"expected 2 to 4 fields (query, document, grade), found {len(fields)}",
                             number)
        yield number, normalize_label(q), normalize_label(d), g


def smart_qrels(options: ImportOptions, query_specs: list[FileSpec]):
    def read(spec: FileSpec) -> Iterator[QrelRecord]:
        mapping: dict[str, str] | None = None
        numbering = options.query_numbering
        if query_specs and numbering != "label":
            labels = [r.id for qs in query_specs for r in smart_queries(replace(qs, done=0))]
            if numbering == "auto":
                numbers = {q for _, q, _, _ in _qrels_fields(replace(spec, done=0))}
                numbering = "label" if numbers <= set(labels) else "position"
            if numbering == "position":
                mapping = {str(i): label for i, label in enumerate(labels, 1)}
        for number, q, d, g in _qrels_fields(spec):
            if mapping is not None:
                if q not in mapping:
                    raise InputError(
                        spec.path,
                        f"query number {q} is outside 1..{len(mapping)} (this qrels file numbers "
                        f"queries by their position in the queries file)",
                        number,
                    )
                q = mapping[q]
            yield QrelRecord(number, q, d, g)
    return read


def _role_by_name(path: Path) -> str | None:
    name = plain_name(path).lower()
    if "qry" in name or "quer" in name or "topic" in name:
        return "queries"
    if "readme" in name or "release" in name or name.endswith(".md"):
        return None
    # cranqrel, qrels.text (CACM), CISI.REL, MED.REL
    if "rel" in name:
        return "qrels"
    return None


def plan(source: Path, options: ImportOptions) -> ImportPlan:
    files: list[FileSpec] = []
    ignored: list[Path] = []
    if source.is_dir():
        candidates = folder_files(source)
    else:
        candidates = [source]
    for path in candidates:
        role = None
        if not source.is_dir():
            # A single file named on the command line: the user says it is SMART.
            role = options.kind or ("queries" if _role_by_name(path) == "queries" else
                                    "qrels" if _role_by_name(path) == "qrels" and not is_smart_file(path)
                                    else "documents")
        if role is None:
            # A file named as queries or qrels is read as such even when its start
            # looks wrong, so the reader refuses it with the line, instead of the
            # folder import succeeding without it.
            by_name = _role_by_name(path)
            if by_name == "queries":
                role = "queries"
            elif is_smart_file(path):
                role = "documents"
            elif by_name == "qrels":
                role = "qrels"
        if role is None:
            ignored.append(path)
            continue
        files.append(FileSpec(role, path, smart_queries if role == "queries" else smart_documents))
    for path in options.queries:
        files.append(FileSpec("queries", path, smart_queries))
    query_specs = [f for f in files if f.role == "queries"]
    qrels_reader = smart_qrels(options, query_specs)
    for f in files:
        if f.role == "qrels":
            f.reader = qrels_reader
            f.split = options.split
    for path in options.qrels:
        files.append(FileSpec("qrels", path, qrels_reader, split=options.split))
    return ImportPlan("smart", source, files, ignored)

