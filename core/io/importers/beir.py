"""BEIR folders: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

Corpus lines ``{"_id", "title", "text"}`` (title optional), query lines
``{"_id", "text"}``; qrels ``query-id<TAB>corpus-id<TAB>score`` with an
optional header. Each qrels file's name is its split. Any of these files may
be compressed (``corpus.jsonl.gz``, ``qrels/test.tsv.xz``, ...). A file in
``qrels/`` that is not a ``.tsv`` is refused, not skipped: it would silently
lose that split's judgements.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.io.importers.compression import find_variant, plain_name, plain_path
from core.io.importers.options import ImportOptions
from core.io.importers.reading import (
    folder_files,
    jsonl_documents,
    jsonl_queries,
    trec_qrels,
)
from core.io.importers.records import FileSpec, ImportPlan
from core.io.importers.tabular import extra_files


def is_beir(source: Path) -> bool:
    try:
        return source.is_dir() and find_variant(source, "corpus.jsonl") is not None
    except InputError:
        return True  # two corpus files: plan() says so


def plan(source: Path, options: ImportOptions) -> ImportPlan:
    if not source.is_dir():
        raise InputError(source, "a BEIR source is a folder holding corpus.jsonl, queries.jsonl and qrels/")
    files: list[FileSpec] = []
    ignored: list[Path] = []
    corpus = find_variant(source, "corpus.jsonl")
    if corpus is not None:
        files.append(FileSpec("documents", corpus, jsonl_documents(options, id_key="_id",
                                                                   text_key="text", title_key="title")))
    queries = find_variant(source, "queries.jsonl")
    if queries is not None:
        files.append(FileSpec("queries", queries, jsonl_queries(_query_keys(options))))
    qrels_dir = source / "qrels"
    if qrels_dir.is_dir():
        for path in folder_files(qrels_dir):
            if plain_path(path).suffix.lower() != ".tsv":
                raise InputError(path, "a BEIR qrels file must be <split>.tsv (optionally .gz, .bz2 or "
                                       ".xz); rename or move it so no judgements are left out")
            files.append(FileSpec("qrels", path, trec_qrels, split=plain_path(path).stem))
    known = {p for p in (corpus, queries, qrels_dir) if p is not None}
    for path in sorted(source.iterdir()):
        if path in known or path.name.startswith("."):
            continue
        if plain_name(path).lower().startswith(("corpus", "queries", "qrels")):
            raise InputError(path, "looks like a BEIR corpus, queries or qrels file but is not one this "
                                   "importer reads (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); "
                                   "rename or move it so nothing is left out")
        ignored.append(path)
    files += extra_files(options, "jsonl")
    if not files:
        raise InputError(source, "no corpus.jsonl, queries.jsonl or qrels/*.tsv in this folder")
    return ImportPlan("beir", source, files, ignored)


def _query_keys(options: ImportOptions) -> ImportOptions:
    from dataclasses import replace

    return replace(options, query_id_column=options.query_id_column or "_id",
                   query_column=options.query_column or "text")
