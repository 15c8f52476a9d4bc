"""What the project says about mining: labels and rejections per query, stored passes,
their proposals and how the user reviewed them.

A proposal's review state is read from the record (:func:`proposal_state`), never
kept as a flag: ``pending`` until the user touches it after the pass, then
``accepted`` (labeled negative), ``flipped`` (labeled relevant: the miner was wrong)
or ``rejected`` (touched and now unlabeled). :func:`review_stats` turns those into
each pass's false-negative rate.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.errors import StudioError
from core.mining.config import REVIEW_STATES, MiningConfig
from core.mining.rules import CandidateDecision
from core.progress import Progress
from core.project.file import Project, Query
from core.project.pass_candidates import (
    candidate_records,
    mined_query_ids,
    optional_values,
    read_pass_candidates,
    read_queries_candidates,
    read_query_candidates,
)
from core.project.schema import RELEVANT_LABELS

# -- what the project says about queries --------------------------------------------------

def _split_filter(split: str | None, alias: str = "q") -> tuple[str, tuple]:
    return (f" AND {alias}.split=?", (split,)) if split is not None else ("", ())


def query_labels(project: Project, split: str | None = None,
                 query_id: str | None = None) -> dict[str, dict[str, str]]:
    """``{query_id: {doc_id: label}}`` for the split (or one query)."""
    where, args = _split_filter(split)
    if query_id is not None:
        where, args = where + " AND l.query_id=?", args + (query_id,)
    out: dict[str, dict[str, str]] = {}
    for qid, doc, label in project.conn.execute(
        "SELECT l.query_id, l.doc_id, l.label FROM labels l JOIN queries q ON q.id=l.query_id "
        f"WHERE 1=1{where}", args,
    ):
        out.setdefault(qid, {})[doc] = label
    return out


def rejected_pairs(project: Project, split: str | None = None,
                   query_id: str | None = None) -> dict[str, set[str]]:
    """Documents the user rejected as proposals: ``{query_id: {doc_id}}``.

    A rejection is read from the record, not from a flag: the document was
    kept by an earlier pass (proposed, or confirmed), it has **no label now**,
    and its label history has an entry *after* that pass was stored. That
    covers a proposal accepted and then cleared, and one flipped to false
    negative or positive and later cleared; a flipped one that is still
    labeled is excluded by its label anyway. Undoing an acceptance also
    clears the label, so it counts as a rejection too; the user can still
    label the document by hand. A proposal nobody touched is not rejected.
    """
    conn = project.conn
    first = conn.execute("SELECT min(created_at) FROM mining_passes").fetchone()[0]
    if first is None:
        return {}
    where, args = _split_filter(split)
    if query_id is not None:
        where, args = where + " AND h.query_id=?", args + (query_id,)
    # The pairs unlabeled now and touched after the first pass, with their last touch:
    # few, so only their queries' stored rows are read.
    touched: dict[str, dict[str, str]] = {}
    for qid, doc, last in conn.execute(
        "SELECT h.query_id, h.doc_id, max(h.at) FROM label_history h "
        f"JOIN queries q ON q.id=h.query_id WHERE h.at >= ?{where} "
        "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.query_id=h.query_id AND l.doc_id=h.doc_id) "
        "GROUP BY h.query_id, h.doc_id", (first,) + args,
    ):
        touched.setdefault(qid, {})[doc] = last
    created = dict(conn.execute("SELECT pass, created_at FROM mining_passes"))
    out: dict[str, set[str]] = {}
    for stored in read_queries_candidates(conn, touched):
        last_touch, at, ids = touched[stored.query_id], created[stored.pass_number], stored.doc_ids
        for i in stored.kept_positions().tolist():
            if last_touch.get(ids[i], "") >= at:
                out.setdefault(stored.query_id, set()).add(ids[i])
    return out


def pool_extra(project: Project, split: str | None) -> int:
    """P: the most labeled documents any query of the split has (see module docstring)."""
    where, args = _split_filter(split)
    row = project.conn.execute(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM labels l JOIN queries q ON q.id=l.query_id "
        f"WHERE 1=1{where} GROUP BY l.query_id)", args,
    ).fetchone()
    return int(row[0] or 0)


def select_queries(project: Project, config: MiningConfig) -> list[Query]:
    """The queries a pass with ``config`` looks at (before skipping those without positives).

    ``only_unlabeled`` keeps queries with no ``negative``/``false_negative``
    label yet. ``only_changed`` keeps queries whose labels changed after the
    latest pass was stored, plus queries no pass has mined yet.
    """
    queries = project.queries(config.split)
    if config.only_unlabeled:
        judged = {r[0] for r in project.conn.execute(
            "SELECT DISTINCT query_id FROM labels WHERE label IN ('negative','false_negative')")}
        queries = [q for q in queries if q.id not in judged]
    if config.only_changed:
        last = project.conn.execute(
            "SELECT created_at FROM mining_passes ORDER BY pass DESC LIMIT 1").fetchone()
        if last is not None:
            changed = {r[0] for r in project.conn.execute(
                "SELECT DISTINCT query_id FROM label_history WHERE at >= ?", (last[0],))}
            mined = mined_query_ids(project.conn)
            queries = [q for q in queries if q.id in changed or q.id not in mined]
    return queries


# -- passes, proposals and review -------------------------------------------------------------

@dataclass(frozen=True)
class PassInfo:
    pass_number: int
    created_at: str
    source: str
    model_version: str | None
    config: dict[str, Any]
    counts: dict[str, Any]


def mining_passes(project: Project) -> list[PassInfo]:
    return [
        PassInfo(p, at, src, mv, json.loads(cfg), json.loads(cnt))
        for p, at, src, mv, cfg, cnt in project.conn.execute(
            "SELECT pass, created_at, source, model_version, config, counts FROM mining_passes ORDER BY pass")
    ]


def latest_pass(project: Project) -> int | None:
    row = project.conn.execute("SELECT max(pass) FROM mining_passes").fetchone()
    return int(row[0]) if row and row[0] is not None else None


@dataclass(frozen=True)
class Proposal:
    """A negative a pass proposed, with what the user has made of it since.

    ``state``: ``pending`` (untouched), ``accepted`` (labeled negative),
    ``flipped`` (labeled false_negative or positive: the miner was wrong),
    ``rejected`` (touched after the pass and now unlabeled).
    """

    pass_number: int
    query_id: str
    doc_id: str
    rank: int
    score: float
    label: str | None
    state: str
    teacher_score: float | None = None  # the teacher's score the rules judged (None: no teacher)
    # Filled by core.mining.queue: "proposal" (kept as a negative) or "possible_positive"
    # (dropped by a margin / max-score rule as too close to the positive), and how
    # suspicious it is (core.mining.suspicion) with the reasons in words.
    kind: str = "proposal"
    suspicion: float | None = None
    reasons: tuple[str, ...] = ()


def proposal_state(label: str | None, touched: bool) -> str:
    """A proposal's review state from its label now and whether it was touched after the pass.

    The review tab calls it with ``touched=True`` for a label the user just set.
    """
    if label in RELEVANT_LABELS:
        return "flipped"
    if label == "negative":
        return "accepted"
    return "rejected" if touched else "pending"


def _resolve_pass(project: Project, pass_number: int | None) -> int | None:
    return latest_pass(project) if pass_number is None else pass_number


# The rules that drop a candidate for scoring too close to the positive (or above
# the max score): the likeliest false negatives, offered for review as possible positives.
TOO_CLOSE_REASONS = ("absolute_margin", "relative_margin", "max_score")


def proposals(project: Project, pass_number: int | None = None,
              query_ids: Sequence[str] | None = None, *,
              possible_positives: bool = False) -> list[Proposal]:
    """The negatives a pass (default: the latest) proposed, in query order then rank.

    With ``possible_positives`` also the candidates a rule of
    :data:`TOO_CLOSE_REASONS` dropped (``kind="possible_positive"``).
    """
    pass_number = _resolve_pass(project, pass_number)
    if pass_number is None:
        return []
    conn = project.conn
    created = conn.execute("SELECT created_at FROM mining_passes WHERE pass=?",
                           (pass_number,)).fetchone()
    if created is None:
        return []
    reasons = ("kept",) + (TOO_CLOSE_REASONS if possible_positives else ())
    wanted: list[tuple[str, str, int, float, float | None, str]] = []
    for stored in read_pass_candidates(conn, pass_number, query_ids, in_query_order=True):
        at = stored.where_reason(reasons)
        at = at[np.argsort(stored.ranks[at], kind="stable")]
        ids, names = stored.doc_ids, stored.vocabulary.names
        teacher = optional_values(None if stored.teacher_scores is None else stored.teacher_scores[at],
                                  len(at), math.nan)
        wanted.extend(zip([stored.query_id] * len(at), [ids[i] for i in at.tolist()],
                          stored.ranks[at].tolist(), stored.scores[at].tolist(), teacher,
                          [names[c] for c in stored.reasons[at].tolist()]))
    queries = list(dict.fromkeys(w[0] for w in wanted))
    labels: dict[tuple[str, str], str] = {}
    for start in range(0, len(queries), 500):
        chunk = queries[start:start + 500]
        labels.update(((q, d), lab) for q, d, lab in conn.execute(
            f"SELECT query_id, doc_id, label FROM labels WHERE query_id IN ({','.join('?' * len(chunk))})",
            chunk))
    touched = set(conn.execute("SELECT DISTINCT query_id, doc_id FROM label_history WHERE at >= ?",
                               created))
    out: list[Proposal] = []
    for qid, doc, rank, score, teacher_score, reason in wanted:
        label = labels.get((qid, doc))
        out.append(Proposal(pass_number, qid, doc, rank, score, label,
                            proposal_state(label, (qid, doc) in touched), teacher_score,
                            "proposal" if reason == "kept" else "possible_positive"))
    return out


@dataclass(frozen=True)
class PassReview:
    """How the user judged one pass's proposals; ``false_negative_rate`` = flipped / reviewed."""

    pass_number: int
    created_at: str
    source: str
    model_version: str | None
    proposed: int
    accepted: int
    flipped: int
    rejected: int
    pending: int

    @property
    def reviewed(self) -> int:
        return self.accepted + self.flipped + self.rejected

    @property
    def false_negative_rate(self) -> float | None:
        """Share of reviewed proposals the user flipped to relevant (None before any review)."""
        return self.flipped / self.reviewed if self.reviewed else None


def review_stats(project: Project) -> list[PassReview]:
    """Per pass: how many proposals were accepted, flipped to false negative, rejected, pending.

    The flipped share is the miner's false-negative rate: if it is high, the
    margin is too loose for this model (NV-Retriever's 95 % rule is a start,
    not a law).
    """
    out = []
    for info in mining_passes(project):
        states = dict.fromkeys(REVIEW_STATES, 0)
        for p in proposals(project, info.pass_number):
            states[p.state] += 1
        out.append(PassReview(info.pass_number, info.created_at, info.source, info.model_version,
                              sum(states.values()), states["accepted"], states["flipped"],
                              states["rejected"], states["pending"]))
    return out


def proposed_negatives(project: Project, pass_number: int | None = None,
                       split: str | None = None) -> dict[str, list[tuple[str, float]]]:
    """Pending proposals of a pass (default: the latest), ``{query_id: [(doc_id, score)]}`` best first.

    Accepted proposals are ``negative`` labels already; flipped and rejected
    ones are left out. This is what exports add with ``--use-proposed``.
    """
    allowed = None if split is None else {q.id for q in project.queries(split)}
    out: dict[str, list[tuple[str, float]]] = {}
    for p in proposals(project, pass_number):
        if p.state == "pending" and (allowed is None or p.query_id in allowed):
            out.setdefault(p.query_id, []).append((p.doc_id, p.score))
    return out


def candidate_scores(project: Project, pass_number: int | None = None) -> dict[str, dict[str, float]]:
    """Scores of every candidate of a pass (positives included): ``{query_id: {doc_id: score}}``."""
    pass_number = _resolve_pass(project, pass_number)
    out: dict[str, dict[str, float]] = {}
    if pass_number is None:
        return out
    for stored in read_pass_candidates(project.conn, pass_number):
        out.setdefault(stored.query_id, {}).update(zip(stored.doc_ids, stored.scores.tolist()))
    return out


def pass_candidates(project: Project, query_id: str,
                    pass_number: int | None = None) -> list[CandidateDecision]:
    """The stored decisions of one query in a pass (default: the latest), in rank order."""
    pass_number = _resolve_pass(project, pass_number)
    if pass_number is None:
        return []
    stored = read_query_candidates(project.conn, query_id, pass_number)
    if stored is None:
        return []
    records = candidate_records(stored)
    return [CandidateDecision(r.doc_id, r.rank, r.score, r.status, r.reason, r.teacher_score)
            for r in (records[i] for i in stored.by_rank().tolist())]


def current_config(project: Project) -> MiningConfig | None:
    """The settings of the latest pass (what the mining dialog opens with and a re-mine reuses)."""
    row = project.conn.execute(
        "SELECT config FROM mining_passes ORDER BY pass DESC LIMIT 1").fetchone()
    if row is None:
        return None
    try:
        return MiningConfig.from_dict(json.loads(row[0]))
    except (ValueError, TypeError, StudioError):
        return None  # written by another version with settings this one refuses


def read_current_config(project_path: Path, *, progress: Progress) -> MiningConfig | None:
    """:func:`current_config` of the project file at ``project_path`` (a job: own connection)."""
    with Project.open(project_path) as project:
        return current_config(project)
