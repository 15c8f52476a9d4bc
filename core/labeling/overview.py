"""The query overview of the labeling view: per-query label counts and project totals.

:func:`load_overview` reads everything once (one pass over the labels table,
on a worker thread, with its own connection). After that,
:class:`LabelCounts` keeps the counts current from the
:class:`~core.project.file.LabelChange` list every label write returns,
without reading the project again (Anki's ``OpChanges``: the operation says
what changed, the views move their numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from core.mining.store import Proposal, proposals
from core.progress import Progress
from core.project.file import Label, LabelChange, Project

# The QuerySummary field that counts each label.
COUNT_FIELDS = {"positive": "positives", "negative": "negatives", "false_negative": "false_negatives"}


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
    # Per query, the documents the latest mining pass proposed that nobody reviewed yet.
    pending: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Totals:
    """Project-wide counts for the status bar."""

    documents: int = 0
    queries: int = 0
    labeled_queries: int = 0
    positives: int = 0
    negatives: int = 0
    false_negatives: int = 0

    @classmethod
    def of(cls, queries: Sequence[QuerySummary], documents: int) -> "Totals":
        return cls(documents, len(queries), sum(q.labeled for q in queries),
                   sum(q.positives for q in queries), sum(q.negatives for q in queries),
                   sum(q.false_negatives for q in queries))

    def replaced(self, old: QuerySummary, new: QuerySummary) -> "Totals":
        """These totals after one query's counts went from ``old`` to ``new``."""
        return replace(self, labeled_queries=self.labeled_queries + new.labeled - old.labeled,
                       positives=self.positives + new.positives - old.positives,
                       negatives=self.negatives + new.negatives - old.negatives,
                       false_negatives=self.false_negatives + new.false_negatives
                       - old.false_negatives)


def pending_proposals(project: Project, query_ids: Sequence[str] | None = None) -> dict[str, dict[str, Proposal]]:
    """Unreviewed negatives of the latest mining pass: ``{query_id: {doc_id: Proposal}}``."""
    out: dict[str, dict[str, Proposal]] = {}
    for p in proposals(project, query_ids=query_ids):
        if p.state == "pending":
            out.setdefault(p.query_id, {})[p.doc_id] = p
    return out


def _count_into(summary: QuerySummary, labels: Iterable[Label], pending: int) -> QuerySummary:
    counts = dict.fromkeys(COUNT_FIELDS.values(), 0)
    for lab in labels:
        if lab.label in COUNT_FIELDS:
            counts[COUNT_FIELDS[lab.label]] += 1
    return replace(summary, **counts, mined=pending)


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
    return Overview(summaries, documents, splits,
                    {qid: frozenset(docs) for qid, docs in pending.items()})


class LabelCounts:
    """Per-query label counts and project totals, moved by label changes without reading the project.

    A :class:`~core.project.file.LabelChange` moves one judgement from the
    count of its ``old`` label to the count of its ``new`` one. A proposal
    of the latest mining pass stops being pending once a change touched its
    pair: every change except clearing a pair that had no label writes label
    history after the pass, which is what
    :func:`core.mining.store.proposals` reads as "reviewed" (undo writes
    history too, so an undone acceptance stays reviewed, as a rejection).
    Queries the overview did not list are left alone.
    """

    def __init__(self, overview: Overview | None = None) -> None:
        overview = overview if overview is not None else Overview((), 0)
        self._summaries = {q.id: q for q in overview.queries}
        self._pending = {qid: set(docs) for qid, docs in overview.pending.items()}
        self.totals = Totals.of(overview.queries, overview.documents)

    def summary(self, query_id: str) -> QuerySummary | None:
        return self._summaries.get(query_id)

    def summaries(self) -> list[QuerySummary]:
        """Every query, in the overview's order."""
        return list(self._summaries.values())

    def apply(self, changes: Iterable[LabelChange]) -> dict[str, QuerySummary]:
        """Apply ``changes`` in order; returns the new summary of every query whose counts moved."""
        moved: dict[str, dict[str, int]] = {}
        for change in changes:
            if change.query_id not in self._summaries:
                continue
            delta = moved.setdefault(change.query_id, {})
            if change.old in COUNT_FIELDS:
                name = COUNT_FIELDS[change.old]
                delta[name] = delta.get(name, 0) - 1
            if change.new in COUNT_FIELDS:
                name = COUNT_FIELDS[change.new]
                delta[name] = delta.get(name, 0) + 1
            pending = self._pending.get(change.query_id)
            touched = change.old is not None or change.new is not None
            if touched and pending and change.doc_id in pending:
                pending.discard(change.doc_id)
                delta["mined"] = delta.get("mined", 0) - 1
        updated = {}
        for query_id, delta in moved.items():
            old = self._summaries[query_id]
            if not any(delta.values()):
                continue
            new = replace(old, **{name: getattr(old, name) + n for name, n in delta.items()})
            self._summaries[query_id] = new
            self.totals = self.totals.replaced(old, new)
            updated[query_id] = new
        return updated
