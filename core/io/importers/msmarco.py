"""MS MARCO style TSV: ``collection.tsv``, ``queries.*.tsv``, ``qrels.*.tsv``.

No header (one is skipped if its first field is a usual id column name); no
quoting: every line is one record, split on tabs, quotes kept as they are.
Any file may be compressed (``collection.tsv.gz``).
``collection.tsv`` lines are ``id<TAB>text`` or ``id<TAB>title<TAB>text``;
query lines ``id<TAB>text``; qrels TREC lines ``qid 0 docid rel``. The split
of ``qrels.<split>[.more].tsv`` is ``<split>`` (``qrels.dev.small.tsv`` ->
``dev``); a plain ``qrels.tsv`` takes ``options.split``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from core.errors import InputError
from core.io.importers.compression import plain_name, plain_path
from core.io.importers.options import ImportOptions
from core.io.importers.reading import (
    DOC_ID_KEYS,
    QUERY_ID_KEYS,
    folder_files,
    iter_lines,
    looks_like_qrels,
    trec_qrels,
)
from core.io.importers.records import DocRecord, FileSpec, ImportPlan, QueryRecord
from core.io.importers.tabular import extra_files

_HEADER_IDS = {k.lower() for k in DOC_ID_KEYS + QUERY_ID_KEYS}


def _data_rows(spec: FileSpec) -> Iterator[tuple[int, list[str]]]:
    """(line number, tab-separated fields) of each non-blank line, a first-line header left out."""
    for number, line in iter_lines(spec):
        if not line.strip():
            continue
        fields = line.split("\t")
        if number == 1 and fields[0].strip().lower() in _HEADER_IDS:
            continue
        yield number, fields


def tsv_documents(spec: FileSpec) -> Iterator[DocRecord]:
    for number, fields in _data_rows(spec):
        if len(fields) == 2:
            doc_id, title, text = fields[0], "", fields[1]
        elif len(fields) == 3:
            doc_id, title, text = fields
        else:
            raise InputError(spec.path, f"expected 2 tab-separated fields (id, text) or 3 "
                                        f"(id, title, text), found {len(fields)}", number)
        doc_id = doc_id.strip()
        if not doc_id:
            raise InputError(spec.path, "empty document id", number)
        yield DocRecord(number, doc_id, title.strip(), text.strip())


def tsv_queries(spec: FileSpec) -> Iterator[QueryRecord]:
    for number, fields in _data_rows(spec):
        if len(fields) != 2:
            raise InputError(spec.path, f"expected 2 tab-separated fields (id, text), found {len(fields)}",
                             number)
        query_id, text = fields[0].strip(), fields[1].strip()
        if not query_id:
            raise InputError(spec.path, "empty query id", number)
        yield QueryRecord(number, query_id, text)


def qrels_split(path: Path, options: ImportOptions) -> str | None:
    parts = plain_name(path).split(".")
    # qrels.<split>[.more].tsv
    if len(parts) >= 3 and parts[0].lower().startswith("qrels") and parts[1]:
        return parts[1]
    return options.split


def role_of(path: Path) -> str | None:
    name = plain_name(path).lower()
    if name.startswith("collection") or name.startswith("corpus"):
        return "documents"
    if name.startswith("queries") or name.startswith("topics"):
        return "queries"
    if name.startswith("qrels"):
        return "qrels"
    return None


def plan(source: Path, options: ImportOptions) -> ImportPlan:
    files: list[FileSpec] = []
    ignored: list[Path] = []
    readers = {"documents": tsv_documents, "queries": tsv_queries, "qrels": trec_qrels}
    if source.is_dir():
        for path in folder_files(source):
            role = role_of(path)
            if role is not None and plain_path(path).suffix.lower() not in (".tsv", ".txt", ""):
                raise InputError(path, f"named like an MS MARCO {role} file but not .tsv/.txt; rename or "
                                       f"move it so nothing is left out")
            if role is None:
                ignored.append(path)
                continue
            files.append(FileSpec(role, path, readers[role],
                                  split=qrels_split(path, options) if role == "qrels" else None))
    else:
        role = options.kind or role_of(source) or ("qrels" if looks_like_qrels(source) else "documents")
        files.append(FileSpec(role, source, readers[role],
                              split=qrels_split(source, options) if role == "qrels" else None))
    files += extra_files(options, "tsv")
    return ImportPlan("msmarco", source, files, ignored)
