"""Worker-side reads for the labeling workspace (plain Python, no Qt).

Every function here runs on a job thread through :class:`gui.workers.JobRunner`
and therefore opens its own :class:`core.project.file.Project` connection (one
connection per owner, STYLE.md pattern 5). They only *call* core: retrieval
is ``core.retrieval.service.Retrieval.search``; document and label reads go through
the Project API. Results are plain dataclasses the Qt models adapt.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from core.mining.store import Proposal, proposals
from core.progress import Progress
from core.project.file import Label, Project

from .highlight import highlight_html, snippet_html

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


@dataclass
class QuerySummary:
    """A query with its label counts, as the query list shows and filters it."""

    id: str
    text: str
    split: str
    positives: int = 0
    negatives: int = 0
    false_negatives: int = 0
    mined: int = 0  # negatives the latest mining pass proposed that nobody reviewed yet
    overlap: float | None = None  # BM25 vs dense top-10 overlap (None: not computed)

    @property
    def labeled(self) -> bool:
        return bool(self.positives or self.negatives or self.false_negatives)

    @property
    def judged(self) -> int:
        return self.positives + self.negatives + self.false_negatives


@dataclass(frozen=True)
class Overview:
    """Everything the query list and status bar need after opening a project."""

    queries: tuple[QuerySummary, ...]
    documents: int
    splits: tuple[str, ...] = field(default_factory=tuple)


def _count_into(summary: QuerySummary, labels: Iterable[Label], pending: int) -> QuerySummary:
    pos = neg = fn = 0
    for lab in labels:
        if lab.label == "positive":
            pos += 1
        elif lab.label == "negative":
            neg += 1
        elif lab.label == "false_negative":
            fn += 1
    return replace(summary, positives=pos, negatives=neg, false_negatives=fn, mined=pending)


def pending_proposals(project: Project, query_ids: Sequence[str] | None = None) -> dict[str, dict[str, Proposal]]:
    """Unreviewed negatives of the latest mining pass: ``{query_id: {doc_id: Proposal}}``."""
    out: dict[str, dict[str, Proposal]] = {}
    for p in proposals(project, query_ids=query_ids):
        if p.state == "pending":
            out.setdefault(p.query_id, {})[p.doc_id] = p
    return out


def load_overview(project_path: Path, *, progress: Progress) -> Overview:
    """All queries with label counts (one pass over the labels table, off the UI thread)."""
    with Project.open(project_path) as project:
        progress.fraction(0.0, "Reading queries")
        queries = project.queries()
        progress.fraction(0.3, "Counting labels")
        by_query: dict[str, list[Label]] = {}
        for lab in project.all_labels():
            by_query.setdefault(lab.query_id, []).append(lab)
        progress.fraction(0.6, "Counting mined proposals")
        pending = pending_proposals(project)
        progress.fraction(0.9, "Counting labels")
        summaries = tuple(
            _count_into(QuerySummary(q.id, q.text, q.split or ""), by_query.get(q.id, ()),
                        len(pending.get(q.id, ())))
            for q in queries)
        documents = project.document_count()
        splits = tuple(s for s in project.splits())
    progress.fraction(1.0, "Queries loaded")
    return Overview(summaries, documents, splits)


def recount(project: Project, summary: QuerySummary) -> QuerySummary:
    """Fresh label counts for one query (indexed lookups; cheap on the UI thread)."""
    pending = pending_proposals(project, [summary.id]).get(summary.id, {})
    return _count_into(summary, project.labels_for_query(summary.id).values(), len(pending))


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
