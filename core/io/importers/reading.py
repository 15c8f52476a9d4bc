"""Streaming readers: lines, JSON objects, CSV/TSV rows, Parquet rows, qrels lines.

Every reader decodes strictly (UTF-8, a leading BOM allowed) and reports the
1-based line of anything it cannot use through :class:`InputError`, so the
importer can name file, line and problem.
"""

from __future__ import annotations

import csv
import json
import stat
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from core.errors import InputError
from core.io.importers.compression import DECOMPRESSION_ERRORS, open_input
from core.io.importers.options import ImportOptions
from core.io.importers.records import (
    DocRecord,
    FileSpec,
    QrelRecord,
    QueryRecord,
    input_error,
)

# Usual column / key names, in order of preference.
DOC_ID_KEYS = ("_id", "id", "docid", "doc_id", "doc-id", "docno", "pid", "corpus-id", "corpus_id")
DOC_TEXT_KEYS = ("text", "contents", "content", "body", "passage", "document")
TITLE_KEYS = ("title",)
QUERY_ID_KEYS = ("_id", "id", "qid", "query_id", "query-id", "topic_id", "num")
QUERY_TEXT_KEYS = ("text", "query", "question", "title")
QRELS_QUERY_KEYS = ("query-id", "query_id", "qid", "query", "topic", "topic_id")
QRELS_DOC_KEYS = ("corpus-id", "corpus_id", "doc-id", "doc_id", "docid", "docno", "pid", "document")
QRELS_SCORE_KEYS = ("score", "relevance", "rel", "label", "grade", "gain", "judgement", "judgment")

def iter_lines(spec: FileSpec) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` without the line ending; counts bytes into ``spec.done``.

    ``.gz``/``.bz2``/``.xz`` files are decompressed on the fly (``spec.done``
    then counts compressed bytes, so progress still ends at the file size).
    """
    path = spec.path
    try:
        source = open_input(path)
    except OSError as exc:
        raise InputError(path, f"cannot read file ({exc.strerror or exc})") from None
    compressed = source.stream is not source.raw
    number = 0
    with source:
        try:
            for number, raw in enumerate(source.stream, 1):
                if compressed:
                    if number % 256 == 0:
                        spec.done = source.position
                else:
                    spec.done += len(raw)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(
                        path,
                        f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}",
                        number,
                    ) from None
                if number == 1 and text.startswith("\ufeff"):
                    text = text[1:]
                yield number, text.rstrip("\r\n")
        except (OSError, *DECOMPRESSION_ERRORS) as exc:
            what = "cannot decompress" if compressed else "cannot read"
            raise InputError(path, f"{what} the file ({exc})", number + 1) from None
        if compressed:
            spec.done = source.position


def sniff_text(path: Path, size: int = 65536) -> str:
    """The start of a file (decompressed), decoded leniently; for format detection only."""
    try:
        with open_input(path) as source:
            head = source.stream.read(size)
    except (OSError, *DECOMPRESSION_ERRORS):
        return ""
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def folder_files(folder: Path, *, hidden: bool = False) -> list[Path]:
    """The files of ``folder`` (sorted); refuses an entry that cannot be read as a file.

    A symlink loop, a dangling link or a device would otherwise be skipped
    silently by ``is_file()``; sub-folders are left to the caller.
    """
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") and not hidden:
            continue
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise InputError(path, f"cannot read ({exc.strerror or exc}; a broken or looping link?)") from None
        if stat.S_ISDIR(mode):
            continue
        if not stat.S_ISREG(mode):
            raise InputError(path, "not a regular file (a pipe or device?); move it out of the folder")
        out.append(path)
    return out


def first_line(path: Path) -> str:
    for line in sniff_text(path).splitlines():
        if line.strip():
            return line
    return ""


# -- values -------------------------------------------------------------------

def _id_value(value: Any, spec: FileSpec, line: int, key: str) -> str:
    if isinstance(value, bool) or value is None:
        raise input_error(spec, f"field {key!r} must be a string or integer id, found {_kind(value)}", line)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, (str, int)):
        raise input_error(spec, f"field {key!r} must be a string or integer id, found {_kind(value)}", line)
    text = str(value).strip()
    if not text:
        raise input_error(spec, f"empty id in field {key!r}", line)
    return text


def _text_value(value: Any, spec: FileSpec, line: int, key: str, *, optional: bool = False) -> str:
    if value is None:
        if optional:
            return ""
        raise input_error(spec, f"field {key!r} is null", line)
    if not isinstance(value, str):
        raise input_error(spec, f"field {key!r} must be a string, found {_kind(value)}", line)
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def pick_column(
    available: Sequence[str], explicit: str | None, defaults: Sequence[str],
    spec: FileSpec, what: str, line: int | None, *, required: bool = True,
) -> str | None:
    """The column to use: ``explicit`` if present, else the first usual name present."""
    if explicit is not None:
        if explicit in available:
            return explicit
        raise input_error(
            spec, f"no column {explicit!r} for the {what} (columns: {', '.join(available)})", line
        )
    for name in defaults:
        if name in available:
            return name
    if not required:
        return None
    raise input_error(
        spec,
        f"no {what} column: expected one of {', '.join(defaults)} "
        f"(columns: {', '.join(available) or 'none'}); name it with a column option",
        line,
    )


# -- JSON lines -----------------------------------------------------------------

def iter_json_objects(spec: FileSpec) -> Iterator[tuple[int, dict]]:
    for number, line in iter_lines(spec):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise input_error(spec, f"malformed JSON: {exc.msg} (column {exc.colno})", number) from None
        if not isinstance(obj, dict):
            raise input_error(spec, f"expected a JSON object, found {_kind(obj)}", number)
        yield number, obj


def jsonl_documents(options: ImportOptions, *, id_key: str | None = None,
                    text_key: str | None = None, title_key: str | None = None):
    """Documents from JSON lines; keys chosen on the first object (title may be absent)."""
    def read(spec: FileSpec) -> Iterator[DocRecord]:
        keys = None
        for number, obj in iter_json_objects(spec):
            if keys is None:
                avail = list(obj)
                title = options.title_column or title_key
                if title is None:
                    title = pick_column(avail, None, TITLE_KEYS, spec, "title", number, required=False)
                keys = (
                    pick_column(avail, options.id_column or id_key, DOC_ID_KEYS, spec, "document id", number),
                    pick_column(avail, options.text_column or text_key, DOC_TEXT_KEYS, spec,
                                "document text", number),
                    title,
                )
            id_k, text_k, title_k = keys
            if id_k not in obj:
                raise input_error(spec, f"missing field {id_k!r}", number)
            if text_k not in obj:
                raise input_error(spec, f"missing field {text_k!r}", number)
            yield DocRecord(
                number,
                _id_value(obj[id_k], spec, number, id_k),
                _text_value(obj.get(title_k), spec, number, title_k, optional=True) if title_k else "",
                _text_value(obj[text_k], spec, number, text_k),
            )
    return read


def jsonl_queries(options: ImportOptions, *, main_file: bool = False):
    id_opt = options.query_id_column or (options.id_column if main_file else None)
    text_opt = options.query_column or (options.text_column if main_file else None)

    def read(spec: FileSpec) -> Iterator[QueryRecord]:
        keys = None
        for number, obj in iter_json_objects(spec):
            if keys is None:
                avail = list(obj)
                keys = (pick_column(avail, id_opt, QUERY_ID_KEYS, spec, "query id", number),
                        pick_column(avail, text_opt, QUERY_TEXT_KEYS, spec, "query text", number))
            id_k, text_k = keys
            for k in keys:
                if k not in obj:
                    raise input_error(spec, f"missing field {k!r}", number)
            yield QueryRecord(number, _id_value(obj[id_k], spec, number, id_k),
                              _text_value(obj[text_k], spec, number, text_k))
    return read


def jsonl_qrels(options: ImportOptions):
    def read(spec: FileSpec) -> Iterator[QrelRecord]:
        keys = None
        for number, obj in iter_json_objects(spec):
            if keys is None:
                avail = list(obj)
                keys = (
                    pick_column(avail, options.qrels_query_column, QRELS_QUERY_KEYS, spec, "qrels query id", number),
                    pick_column(avail, options.qrels_doc_column, QRELS_DOC_KEYS, spec, "qrels document id", number),
                    pick_column(avail, options.qrels_score_column, QRELS_SCORE_KEYS, spec, "score", number,
                                required=False),
                )
            q_k, d_k, s_k = keys
            for k in (q_k, d_k, s_k):
                if k is not None and k not in obj:
                    raise input_error(spec, f"missing field {k!r}", number)
            grade = "1"
            if s_k is not None:
                value = obj[s_k]
                if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    raise input_error(spec, f"field {s_k!r} must be a number, found {_kind(value)}", number)
                grade = str(value)
            yield QrelRecord(number, _id_value(obj[q_k], spec, number, q_k),
                             _id_value(obj[d_k], spec, number, d_k), grade)
    return read


# -- CSV / TSV --------------------------------------------------------------------

def _raise_csv_limit() -> None:
    # Documents can be long; the csv module refuses fields over 128 KiB by default.
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 10


def iter_table_rows(spec: FileSpec, delimiter: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV/TSV file with a header line, as ``(first_line_of_row, {column: value})``.

    TSV (as BEIR and MS MARCO write it) has no quoting: each line is one
    record, split on tabs, quotes kept literally. CSV follows RFC 4180: a
    quoted field may span lines, and a quote that never closes is an error
    naming the line where it opened.
    """
    rows = _tsv_rows(spec) if delimiter == "\t" else _csv_rows(spec)
    header: list[str] | None = None
    for line, row in rows:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if header is None:
            header = [h.strip() for h in row]
            continue
        if len(row) != len(header):
            raise input_error(
                spec, f"expected {len(header)} fields (as in the header), found {len(row)}", line
            )
        yield line, dict(zip(header, row))
    if header is None:
        raise input_error(spec, "empty file: no header line")


def _tsv_rows(spec: FileSpec) -> Iterator[tuple[int, list[str]]]:
    for number, text in iter_lines(spec):
        yield number, text.split("\t")


def _csv_rows(spec: FileSpec) -> Iterator[tuple[int, list[str]]]:
    _raise_csv_limit()
    lines = (text + "\n" for _, text in iter_lines(spec))
    reader = csv.reader(lines, strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise input_error(spec, f"malformed CSV: the quote opened on line {start} never closes "
                                        f"(or a quote inside a field is not doubled: write \"\")", start) from None
            raise input_error(spec, f"malformed CSV ({exc}; a quote inside a field must be doubled)",
                              reader.line_num) from None
        yield start, row
        start = reader.line_num + 1


def table_header(spec: FileSpec, delimiter: str) -> list[str]:
    _raise_csv_limit()
    for line in sniff_text(spec.path).splitlines():
        if line.strip():
            if delimiter == "\t":
                return [h.strip() for h in line.split("\t")]
            try:
                return [h.strip() for h in next(csv.reader([line], delimiter=delimiter))]
            except csv.Error:
                return []
    return []


# -- Parquet ----------------------------------------------------------------------

def _open_parquet(spec: FileSpec):
    import pyarrow.parquet as pq

    source = None
    try:
        source = open_input(spec.path)
        return source, pq.ParquetFile(source.stream)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError variants
        if source is not None:
            source.close()
        raise input_error(spec, f"not a readable Parquet file ({exc})") from None


def iter_parquet_rows(spec: FileSpec, columns: Sequence[str] | None = None,
                      batch_size: int = 1000) -> Iterator[tuple[int, dict[str, Any]]]:
    source, pf = _open_parquet(spec)
    with source:
        total = pf.metadata.num_rows or 1
        size = spec.size
        row = 0
        batches = pf.iter_batches(batch_size=batch_size, columns=list(columns) if columns else None)
        while True:
            try:
                batch = next(batches, None)
                items = batch.to_pylist() if batch is not None else None
            except Exception as exc:  # a damaged data page: ArrowInvalid, OSError, ...
                raise input_error(spec, f"damaged Parquet data after row {row} ({exc})") from None
            if items is None:
                return
            for item in items:
                row += 1
                spec.done = int(size * row / total)
                yield row, item


def parquet_columns(spec: FileSpec) -> list[str]:
    source, pf = _open_parquet(spec)
    with source:
        return list(pf.schema_arrow.names)


# -- tabular role readers ------------------------------------------------------------

def _rows(spec: FileSpec, kind: str) -> Iterator[tuple[int, dict]]:
    if kind == "parquet":
        return iter_parquet_rows(spec)
    if kind == "jsonl":
        return iter_json_objects(spec)
    return iter_table_rows(spec, "\t" if kind == "tsv" else ",")


def columns_of(spec: FileSpec, kind: str) -> list[str]:
    if kind == "parquet":
        return parquet_columns(spec)
    if kind == "jsonl":
        for line in sniff_text(spec.path).splitlines():
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    return []
                return list(obj) if isinstance(obj, dict) else []
        return []
    return table_header(spec, "\t" if kind == "tsv" else ",")


def table_documents(options: ImportOptions, kind: str):
    if kind == "jsonl":
        return jsonl_documents(options)

    def read(spec: FileSpec) -> Iterator[DocRecord]:
        keys = None
        for number, row in _rows(spec, kind):
            if keys is None:
                avail = list(row)
                keys = (pick_column(avail, options.id_column, DOC_ID_KEYS, spec, "document id", 1),
                        pick_column(avail, options.text_column, DOC_TEXT_KEYS, spec, "document text", 1),
                        pick_column(avail, options.title_column, TITLE_KEYS, spec, "title", 1, required=False))
            id_k, text_k, title_k = keys
            yield DocRecord(number, _id_value(row[id_k], spec, number, id_k),
                            _text_value(row[title_k], spec, number, title_k, optional=True) if title_k else "",
                            _text_value(row[text_k], spec, number, text_k))
    return read


def table_queries(options: ImportOptions, kind: str, *, main_file: bool = False):
    if kind == "jsonl":
        return jsonl_queries(options, main_file=main_file)
    id_opt = options.query_id_column or (options.id_column if main_file else None)
    text_opt = options.query_column or (options.text_column if main_file else None)

    def read(spec: FileSpec) -> Iterator[QueryRecord]:
        keys = None
        for number, row in _rows(spec, kind):
            if keys is None:
                avail = list(row)
                keys = (pick_column(avail, id_opt, QUERY_ID_KEYS, spec, "query id", 1),
                        pick_column(avail, text_opt, QUERY_TEXT_KEYS, spec, "query text", 1))
            id_k, text_k = keys
            yield QueryRecord(number, _id_value(row[id_k], spec, number, id_k),
                              _text_value(row[text_k], spec, number, text_k))
    return read


def table_qrels(options: ImportOptions, kind: str):
    if kind == "jsonl":
        return jsonl_qrels(options)

    def read(spec: FileSpec) -> Iterator[QrelRecord]:
        keys = None
        for number, row in _rows(spec, kind):
            if keys is None:
                avail = list(row)
                keys = (
                    pick_column(avail, options.qrels_query_column, QRELS_QUERY_KEYS, spec, "qrels query id", 1),
                    pick_column(avail, options.qrels_doc_column, QRELS_DOC_KEYS, spec, "qrels document id", 1),
                    pick_column(avail, options.qrels_score_column, QRELS_SCORE_KEYS, spec, "score", 1,
                                required=False),
                )
            q_k, d_k, s_k = keys
            grade = "1"
            if s_k is not None:
                value = row[s_k]
                if value is None or isinstance(value, bool):
                    raise input_error(spec, f"field {s_k!r} must be a number, found {_kind(value)}", number)
                grade = str(value)
            yield QrelRecord(number, _id_value(row[q_k], spec, number, q_k),
                             _id_value(row[d_k], spec, number, d_k), grade)
    return read


# -- TREC-style qrels lines -------------------------------------------------------------

def _fields(line: str) -> list[str]:
    return line.split("\t") if "\t" in line else line.split()


def trec_qrels(spec: FileSpec) -> Iterator[QrelRecord]:
    """Qrels lines: ``qid iter docid rel`` (TREC, MS MARCO) or ``qid docid rel`` (BEIR).

    Tab- or whitespace-separated. Only the first line may be a header, and only
    when every field is a known column name (``query-id corpus-id score``,
    ``qid iter docno rel``, ...): a line like ``q1 d1 high`` is data, and its
    grade must then be in the grade map.
    """
    seen_data = False
    for number, line in iter_lines(spec):
        if not line.strip():
            continue
        fields = [f.strip() for f in _fields(line.strip())]
        if len(fields) == 4:
            qid, _, did, grade = fields
        elif len(fields) == 3:
            qid, did, grade = fields
        else:
            raise input_error(
                spec,
                f"expected 3 fields (query-id, corpus-id, score) or 4 (query-id, iteration, "
                f"doc-id, relevance), found {len(fields)}",
                number,
            )
        if not seen_data:
            seen_data = True
            if is_qrels_header(fields):
                continue
        if not qid or not did:
            raise input_error(spec, "empty query or document id", number)
        yield QrelRecord(number, qid, did, grade)


_QRELS_HEADER_WORDS = frozenset(
    k.lower() for k in QRELS_QUERY_KEYS + QRELS_DOC_KEYS + QRELS_SCORE_KEYS
    + ("iter", "iteration", "q0", "0", "doc", "docid", "corpus", "query", "relevance", "qrel"))


def is_qrels_header(fields: Sequence[str]) -> bool:
    """True when every field of a qrels line is a known column name."""
    return bool(fields) and all(f.strip().lower() in _QRELS_HEADER_WORDS for f in fields)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_qrels(path: Path, *, share: float = 1.0) -> bool:
    """True when the first lines look like ``q [iter] d grade`` records (header allowed).

    ``share``: the fraction of those lines that must look so (1.0 = all); a
    folder import uses less, so that one bad line gets the file refused with
    that line's number instead of the file being skipped as "not qrels".
    """
    size = 8192
    text = sniff_text(path, size)
    lines = [l for l in text.splitlines() if l.strip()]
    if len(text) >= size and len(lines) > 1:
        lines = lines[:-1]  # possibly cut in the middle
    lines = lines[:6]
    if lines and is_qrels_header(_fields(lines[0].strip())):
        lines = lines[1:]
    if not lines:
        return False
    good = sum(len(f) in (3, 4) and _is_number(f[-1]) for f in (_fields(l.strip()) for l in lines))
    return good >= share * len(lines)
