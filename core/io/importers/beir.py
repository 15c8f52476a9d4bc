"""BEIR folders: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

Corpus lines ``{"_id", "title", "text"}`` (title optional), query lines
``{"_id", "text"}``; qrels ``query-id<TAB>corpus-id<TAB>score`` with an
optional header. Each qrels file's name is its split.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.io.importers.options import ImportOptions
from core.io.importers.reading import jsonl_documents, jsonl_queries, trec_qrels
from core.io.importers.records import FileSpec, ImportPlan
from core.io.importers.tabular import extra_files


def is_beir(source: Path) -> bool:
    return source.is_dir() and (source / "corpus.jsonl").is_file()


def plan(source: Path, options: ImportOptions) -> ImportPlan:
    if not source.is_dir():
        raise InputError(source, "a BEIR source is a folder holding corpus.jsonl, queries.jsonl and qrels/")
    files: list[FileSpec] = []
    ignored: list[Path] = []
    corpus = source / "corpus.jsonl"
    if corpus.is_file():
        files.append(FileSpec("documents", corpus, jsonl_documents(options, id_key="_id",
                                                                   text_key="text", title_key="title")))
    queries = source / "queries.jsonl"
    if queries.is_file():
        files.append(FileSpec("queries", queries, jsonl_queries(_query_keys(options))))
    qrels_dir = source / "qrels"
    if qrels_dir.is_dir():
        for path in sorted(p for p in qrels_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
            if path.suffix.lower() != ".tsv":
                ignored.append(path)
                continue
            files.append(FileSpec("qrels", path, trec_qrels, split=path.stem))
    known = {corpus, queries, qrels_dir}
    ignored += sorted(p for p in source.iterdir() if p not in known and not p.name.startswith("."))
    files += extra_files(options, "jsonl")
    if not files:
        raise InputError(source, "no corpus.jsonl, queries.jsonl or qrels/*.tsv in this folder")
    return ImportPlan("beir", source, files, ignored)


def _query_keys(options: ImportOptions) -> ImportOptions:
    from dataclasses import replace

    return replace(options, query_id_column=options.query_id_column or "_id",
                   query_column=options.query_column or "text")
