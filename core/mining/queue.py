"""The review queue: a pass's proposals and possible positives across queries, most suspicious first.

Each item is a :class:`core.mining.store.Proposal` with ``suspicion`` and ``reasons``
filled in by :func:`core.mining.suspicion.suspicion` from what the pass stored
(:mod:`core.mining.signals`). Possible positives (candidates a margin or max-score
rule dropped as too close to the positive, ``kind="possible_positive"``) are in it
too, ahead of the proposals. Ties keep project query order, then rank.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from core.mining.signals import add_second_opinions
from core.mining.store import TOO_CLOSE_REASONS, Proposal, latest_pass, proposals
from core.mining.suspicion import QueryLevels, Signals, suspicion
from core.progress import Progress
from core.project.file import Project
from core.project.pass_candidates import (
    StoredQuery,
    candidate_records,
    read_pass_candidates,
)
from core.project.schema import RELEVANT_LABELS

if TYPE_CHECKING:  # pragma: no cover
    from core.retrieval.service import Retrieval

_SIGNALS = ("retriever", "teacher", "model")


def _pass_signals(project: Project, pass_number: int,
                  unstored: Mapping[str, tuple] | None = None,
                  ) -> tuple[dict[str, QueryLevels], dict[tuple[str, str], Signals]]:
    """Per query its levels, per (query, document) its signals, from one stored pass.

    ``unstored``: second opinions computed for a read-only project
    (:func:`core.mining.signals.add_second_opinions`), read as if stored.
    """
    relevant: dict[str, dict[str, list[float]]] = {}
    pool: dict[str, dict[str, list[float]]] = {}
    likeness: dict[str, list[float]] = {}
    signals: dict[tuple[str, str], Signals] = {}
    records = (r for stored in read_pass_candidates(project.conn, pass_number)
               for r in candidate_records(_with_opinions(stored, unstored)))
    for _, qid, doc, _rank, score, _status, reason, teacher, bm25_rank, model, similarity in records:
        values = dict(zip(_SIGNALS, (score, teacher, model)))
        for name, value in values.items():
            if value is None:
                continue
            pool.setdefault(qid, {}).setdefault(name, []).append(value)
            if reason in RELEVANT_LABELS:
                relevant.setdefault(qid, {}).setdefault(name, []).append(value)
        if similarity is not None and reason not in RELEVANT_LABELS:
            likeness.setdefault(qid, []).append(similarity)
        signals[(qid, doc)] = Signals(score, teacher, model, bm25_rank,
                                      reason if reason in TOO_CLOSE_REASONS else None, similarity)
    levels = {qid: QueryLevels.from_scores(relevant.get(qid, {}), pool[qid], likeness.get(qid, ()))
              for qid in pool}
    return levels, signals


def _with_opinions(stored: StoredQuery, unstored: Mapping[str, tuple] | None) -> StoredQuery:
    opinions = None if unstored is None else unstored.get(stored.query_id)
    return stored if opinions is None else stored.with_signals(*opinions)


def scored_proposals(project: Project, pass_number: int | None = None,
                     progress: Progress | None = None,
                     retrieval: "Retrieval | None" = None) -> list[Proposal]:
    """A pass's proposals and possible positives with their suspicion, in query order then rank.

    The pass's second opinions are computed and stored first if it has none yet
    (:func:`core.mining.signals.add_second_opinions`; ``retrieval`` lends loaded
    indexes for that).
    """
    pass_number = latest_pass(project) if pass_number is None else pass_number
    if pass_number is None:
        return []
    unstored = add_second_opinions(project, pass_number, retrieval, progress)
    levels, signals = _pass_signals(project, pass_number, unstored)
    out = []
    for p in proposals(project, pass_number, possible_positives=True):
        s = suspicion(signals[(p.query_id, p.doc_id)], levels[p.query_id])
        out.append(replace(p, suspicion=s.score, reasons=s.reasons))
    return out


def queue_order(items: list[Proposal]) -> list[Proposal]:
    """``items`` most suspicious first (stable: ties keep their order)."""
    return sorted(items, key=lambda p: -(p.suspicion or 0.0))


def review_queue(project: Project, pass_number: int | None = None,
                 limit: int | None = None, progress: Progress | None = None) -> list[Proposal]:
    """The review queue of a pass (default: the latest), at most ``limit`` items."""
    items = queue_order(scored_proposals(project, pass_number, progress))
    return items if limit is None else items[:limit]


def load_queue(project_path: Path, pass_number: int | None, limit: int | None = None, *,
               progress: Progress) -> list[Proposal]:
    """:func:`review_queue` of the project file at ``project_path`` (a job: own connection)."""
    with Project.open(project_path) as project:
        return review_queue(project, pass_number, limit, progress)
