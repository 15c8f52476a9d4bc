"""Candidate rows for the labeling panes: retrieval hits with highlighted titles and snippets.

Every function here runs on a job thread (``gui.workers.JobRunner``) and
therefore opens its own :class:`core.project.file.Project` connection (one
connection per owner, STYLE.md pattern 5). Retrieval is
``core.retrieval.service.Retrieval.search``; document reads go through the
Project API. Results are plain dataclasses the Qt models adapt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from core.progress import Progress
from core.project.file import Project
from core.retrieval.highlight import highlight_html, snippet_html

RETRIEVERS = ("bm25", "dense", "hybrid")
TITLE_CHARS = 90  # a pane row shows about two lines of title, then the snippet
SNIPPET_CHARS = 160


@dataclass(frozen=True)
class CandidateRow:
    """One retrieved document as a candidate pane shows it."""

    doc_id: str
    rank: int
    score: float
    title_html: str
    snippet_html: str


@dataclass(frozen=True)
class Candidates:
    """A pane's answer for one (query, retriever, depth) request."""

    query_id: str
    retriever: str
    rows: tuple[CandidateRow, ...]


def fetch_candidates(retrieval, project_path: Path, query_id: str, query_text: str,
                     retriever: str, k: int, terms: frozenset[str], *,
                     progress: Progress) -> Candidates:
    """Top-``k`` documents for a query with highlighted titles and snippets.

    Runs ``retrieval.search`` and reads the hit documents with the worker's
    own connection; snippet windows are chosen here so the UI thread only paints.
    """
    hits = retrieval.search(query_text, retriever, k)
    progress.check()
    with Project.open(project_path) as project:
        docs = project.get_documents([h.doc_id for h in hits])
    rows = []
    for hit in hits:
        doc = docs.get(hit.doc_id)
        title = doc.title if doc else ""
        text = doc.text if doc else ""
        if len(title) > TITLE_CHARS:
            title = title[:TITLE_CHARS].rsplit(" ", 1)[0] + " …"
        rows.append(CandidateRow(hit.doc_id, int(hit.rank), float(hit.score),
                                 highlight_html(title, terms),
                                 snippet_html(text, terms, SNIPPET_CHARS)))
    return Candidates(query_id, retriever, tuple(rows))


def top_overlap(retrieval, queries: Mapping[str, str], k: int = 10, *,
                progress: Progress) -> dict[str, float]:
    """Per query, the share of BM25's top-``k`` that dense also ranks in its top ``k``.

    ``|top_k(BM25) ∩ top_k(dense)| / k``; a low value marks a query where the
    two retrievers disagree, which is where labels teach the model the most.
    """
    bm25 = retrieval.search_many(dict(queries), "bm25", k=k, progress=progress.sub(0.0, 0.3))
    dense = retrieval.search_many(dict(queries), "dense", k=k, progress=progress.sub(0.3, 1.0))
    out = {}
    for qid in queries:
        a = {h.doc_id for h in bm25.get(qid, ())}
        b = {h.doc_id for h in dense.get(qid, ())}
        out[qid] = len(a & b) / k if k else 1.0
    return out


def other_pane_ranks(results: Mapping[str, Sequence[CandidateRow]]) -> dict[str, dict[str, int]]:
    """For each retriever, ``{doc_id: rank}`` (used to mark a row found by another pane)."""
    return {name: {r.doc_id: r.rank for r in rows} for name, rows in results.items()}
