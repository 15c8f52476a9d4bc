"""Generic CSV / TSV / JSONL / Parquet files with column mapping.

CSV and TSV files need a header line. A single file holds documents, queries
or qrels: ``options.kind`` says which, else a file with a qrels query column
and a qrels document column is qrels, a file named ``*quer*``/``*topic*`` is
queries, and anything else is documents. A folder is read file by file:
``corpus*``/``collection*``/``doc*`` are documents, ``quer*``/``topic*``
queries, ``qrels*``/``judg*`` qrels; other files are listed as ignored.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.io.importers.compression import plain_name, plain_path
from core.io.importers.options import ImportOptions
from core.io.importers.reading import (
    QRELS_DOC_KEYS,
    QRELS_QUERY_KEYS,
    QRELS_SCORE_KEYS,
    columns_of,
    first_line,
    folder_files,
    is_qrels_header,
    table_documents,
    table_qrels,
    table_queries,
    trec_qrels,
)
from core.io.importers.records import FileSpec, ImportPlan

EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet",
}


def kind_of_extension(path: Path) -> str | None:
    """The table kind of a file from its extension (``x.csv.gz`` is csv)."""
    return EXTENSIONS.get(plain_path(path).suffix.lower())


def role_by_name(path: Path) -> str | None:
    name = plain_name(path).lower()
    if name.startswith(("qrels", "judg")) or "qrels" in name:
        return "qrels"
    if "quer" in name or "topic" in name:
        return "queries"
    if name.startswith(("corpus", "collection", "doc", "passage")):
        return "documents"
    return None


def role_by_columns(columns: list[str], options: ImportOptions) -> str | None:
    has_q = (options.qrels_query_column in columns) if options.qrels_query_column else \
        any(c in columns for c in QRELS_QUERY_KEYS)
    has_d = (options.qrels_doc_column in columns) if options.qrels_doc_column else \
        any(c in columns for c in QRELS_DOC_KEYS)
    return "qrels" if has_q and has_d else None


def reader_for(role: str, kind: str, options: ImportOptions, *, main_file: bool = False):
    if role == "documents":
        return table_documents(options, kind)
    if role == "queries":
        return table_queries(options, kind, main_file=main_file)
    return table_qrels(options, kind)


def _file_role(path: Path, kind: str, options: ImportOptions) -> str:
    if options.kind:
        return options.kind
    probe = FileSpec("documents", path, lambda s: iter(()))
    by_columns = role_by_columns(columns_of(probe, kind), options)
    return by_columns or role_by_name(path) or "documents"


def plan(source: Path, options: ImportOptions, kind: str) -> ImportPlan:
    files: list[FileSpec] = []
    ignored: list[Path] = []
    if source.is_dir():
        for path in folder_files(source):
            role = role_by_name(path)
            if role is None:
                ignored.append(path)
                continue
            if kind_of_extension(path) != kind:
                raise InputError(path, f"named like a {role} file, but this is a {kind} import; import it "
                                       f"separately (or move it out) so nothing is left out")
            files.append(FileSpec(role, path, reader_for(role, kind, options),
                                  split=options.split if role == "qrels" else None,
                                  unit="row" if kind == "parquet" else "line"))
    else:
        role = _file_role(source, kind, options)
        files.append(FileSpec(role, source, reader_for(role, kind, options, main_file=True),
                              split=options.split if role == "qrels" else None,
                              unit="row" if kind == "parquet" else "line"))
    files += extra_files(options, kind)
    return ImportPlan(kind, source, files, ignored)


def extra_files(options: ImportOptions, fallback_kind: str | None = None) -> list[FileSpec]:
    """``options.queries`` / ``options.qrels`` read by their extension."""
    from core.io.importers import msmarco  # local: msmarco imports this module

    out = []
    for path in options.queries:
        kind = kind_of_extension(path)
        if kind == "tsv" and not _has_header(path):
            out.append(FileSpec("queries", path, msmarco.tsv_queries))
            continue
        kind = kind or fallback_kind
        if kind is None:
            raise InputError(path, "cannot tell the file type of this queries file (use .jsonl, .csv, .tsv or .parquet)")
        out.append(FileSpec("queries", path, reader_for("queries", kind, options),
                            unit="row" if kind == "parquet" else "line"))
    for path in options.qrels:
        kind = kind_of_extension(path)
        if kind in ("csv", "jsonl", "parquet") or (kind == "tsv" and _qrels_header(path)):
            reader = reader_for("qrels", kind, options)
        else:
            reader = trec_qrels  # TREC / MS MARCO / BEIR-style lines
        out.append(FileSpec("qrels", path, reader, split=options.split,
                            unit="row" if kind == "parquet" else "line"))
    return out


def _qrels_header(path: Path) -> bool:
    """True when a qrels TSV starts with a header naming its columns."""
    return is_qrels_header(first_line(path).strip().split("\t"))


def _has_header(path: Path) -> bool:
    """True when the first line of a TSV names columns we know."""
    from core.io.importers.reading import (
        DOC_ID_KEYS,
        DOC_TEXT_KEYS,
        QUERY_ID_KEYS,
        QUERY_TEXT_KEYS,
    )

    known = set(DOC_ID_KEYS + DOC_TEXT_KEYS + QUERY_ID_KEYS + QUERY_TEXT_KEYS + QRELS_QUERY_KEYS
                + QRELS_DOC_KEYS + QRELS_SCORE_KEYS + ("title",))
    fields = [f.strip().lower() for f in first_line(path).split("\t")]
    return bool(fields) and fields[0] in known
