"""Hard-negative mining with a reason for every candidate, stored per pass.

For every query with at least one relevant document the miner scores the
corpus (:mod:`core.mining_scores`: dense, BM25 or hybrid, in bounded
batches), takes the top ``range_max + P`` documents as the candidate pool
and runs :func:`decide`, a pure function of (pool, labels, configuration).

Rules, in this order (the order of sentence-transformers'
``util.mine_hard_negatives``, whose semantics :func:`decide` reproduces):

1. **Labels are law.** A document labeled ``positive`` or ``false_negative``
   for the query is never a negative (reasons ``positive`` /
   ``false_negative``); one labeled ``negative`` is always kept
   (``confirmed``); a proposal the user rejected in an earlier pass is not
   proposed again (``previously_rejected``, see :func:`rejected_pairs`).
   These documents are taken out of the pool before any other rule, like
   the positives in ``mine_hard_negatives``.
2. ``absolute_margin`` m: drop a candidate if ``s + m > pos``.
3. ``relative_margin`` m: drop it if ``s > pos − |pos|·m``. With m = 0.05 this
   is NV-Retriever's TopK-PercPos (Moreira et al. 2024, "NV-Retriever:
   Improving text embedding models with effective hard-negative mining"):
   keep candidates below 95 % of the positive score. Written with ``|pos|``
   so that a negative ``pos`` (BM25 never, cosine sometimes) still moves the
   threshold *down*, not up.
4. ``max_score``: drop if ``s > max_score``; 5. ``min_score``: drop if ``s < min_score``.
6. Rank window: of the candidates still standing, best first, the first
   ``range_min`` and everything after the ``range_max``-th are dropped
   (``rank_window``). As in ``mine_hard_negatives`` the window counts
   surviving candidates, not raw retrieval ranks.
7. Sampling ``num_negatives`` from the window: ``top`` (the best ones),
   ``random`` (uniform, seeded per query) or ``simans`` (Zhou et al. 2022,
   "SimANS: Simple Ambiguous Negatives Sampling for Dense Text Retrieval"):
   without replacement with ``p ∝ exp(−a·(s − pos − b)²)``, which favours
   candidates whose score is near the positive's rather than the very top.
   The rest are ``not_sampled``; the sampled ones are ``kept``.

``pos`` is the query's *lowest* relevant score (positives and confirmed
false negatives): the safe side, as in ``mine_hard_negatives``.

The pool holds ``range_max + P`` documents, P being the largest number of
labeled documents of any query in the split: every query then keeps at
least ``range_max`` unlabeled candidates after its labeled ones are taken
out. This equals ``mine_hard_negatives``' ``range_max + max_positives`` on
a dataset of positives, which the parity test relies on.

A pass is stored in one transaction: a ``mining_passes`` row (pass number,
source, model version, configuration and counts) plus one ``candidates``
row per scored document, labeled documents outside the pool included (their
scores feed the margins and the ``ntuple-scores`` export). The meta key
``current_pass`` becomes the new pass number, so labels set while reviewing
it carry that pass.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Collection, Mapping, NamedTuple, Sequence

import numpy as np

from .errors import StudioError
from .mining_scores import Candidate, ScoredQuery, ScoreRows, pool_from_row, project_rows
from .progress import Progress
from .project import Project, Query, now_iso
from .schema import RELEVANT_LABELS

if TYPE_CHECKING:  # pragma: no cover
    from .retrieval import Retrieval

SOURCES = ("dense", "bm25", "hybrid")
SAMPLINGS = ("top", "random", "simans")
DROP_REASONS = (
    "positive", "false_negative", "previously_rejected", "absolute_margin",
    "relative_margin", "max_score", "min_score", "rank_window", "not_sampled",
)
KEEP_REASONS = ("kept", "confirmed")
REASONS = KEEP_REASONS + DROP_REASONS
REVIEW_STATES = ("pending", "accepted", "flipped", "rejected")


# -- configuration ------------------------------------------------------------------

@dataclass(frozen=True)
class MiningConfig:
    """Settings of one mining pass (validated on construction)."""

    source: str = "dense"
    model_id: str | None = None  # "bundled"/None, a model version id or a model folder
    num_negatives: int = 5
    range_min: int = 0
    range_max: int = 100  # candidate depth: how many surviving candidates are eligible
    absolute_margin: float | None = None
    relative_margin: float | None = None
    max_score: float | None = None
    min_score: float | None = None
    sampling: str = "top"
    simans_a: float = 0.5
    simans_b: float = 0.0
    seed: int = 0
    split: str | None = "train"  # None: every query
    only_unlabeled: bool = False  # skip queries that already have negative / false-negative labels
    only_changed: bool = False  # only queries whose labels changed since the last pass (or never mined)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise StudioError(f"unknown mining source {self.source!r}; expected one of {', '.join(SOURCES)}")
        if self.sampling not in SAMPLINGS:
            raise StudioError(f"unknown sampling {self.sampling!r}; expected one of {', '.join(SAMPLINGS)}")
        if self.num_negatives < 1:
            raise StudioError(f"num_negatives must be at least 1, got {self.num_negatives}")
        if self.range_min < 0:
            raise StudioError(f"range_min must be non-negative, got {self.range_min}")
        if self.range_min >= self.range_max:
            raise StudioError(f"range_min ({self.range_min}) must be smaller than range_max ({self.range_max})")
        if self.num_negatives > self.range_max - self.range_min:
            raise StudioError(
                f"cannot mine {self.num_negatives} negatives per query from a window of "
                f"{self.range_max - self.range_min} (range_min={self.range_min}, range_max={self.range_max})")
        if self.simans_a < 0:
            raise StudioError(f"simans_a must be non-negative, got {self.simans_a}")
        for name in ("absolute_margin", "relative_margin", "max_score", "min_score", "simans_a", "simans_b"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise StudioError(f"{name} must be a finite number, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MiningConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def replace(self, **changes: Any) -> "MiningConfig":
        return MiningConfig.from_dict({**self.to_dict(), **changes})


class CandidateDecision(NamedTuple):
    """What the rules made of one candidate: ``status`` kept/dropped and the ``reason``."""

    doc_id: str
    rank: int  # 1-based rank of the document in the corpus for this query
    score: float
    status: str  # "kept" | "dropped"
    reason: str  # one of REASONS

    @property
    def kept(self) -> bool:
        return self.status == "kept"


# -- the rules (pure) ------------------------------------------------------------------

def _rng(config: MiningConfig, query_id: str) -> random.Random:
    # One stream per (seed, query): a query's sample does not depend on which
    # other queries are mined, so the preview shows what "Mine all" stores.
    return random.Random(f"{config.seed}\x00{query_id}")


def _sample(eligible: Sequence[Candidate], k: int, pos: float, config: MiningConfig,
            query_id: str) -> set[int]:
    """Indices into ``eligible`` of the sampled candidates."""
    if len(eligible) <= k:
        return set(range(len(eligible)))
    if config.sampling == "top":
        return set(range(k))
    rng = _rng(config, query_id)
    if config.sampling == "random":
        return set(rng.sample(range(len(eligible)), k))
    # SimANS by Gumbel-top-k: the k largest (log-weight + Gumbel noise) are a
    # sample without replacement with p ∝ weight, computed in log space so
    # tiny weights never underflow to an all-zero distribution.
    keys = []
    for i, cand in enumerate(eligible):
        log_w = -config.simans_a * (cand.score - pos - config.simans_b) ** 2
        u = rng.random() or 5e-324
        keys.append((log_w - math.log(-math.log(u)), -i))
    keys.sort(reverse=True)
    return {-i for _, i in keys[:k]}


def decide(
    scored: ScoredQuery,
    labels: Mapping[str, str],
    rejected: Collection[str],
    config: MiningConfig,
) -> list[CandidateDecision]:
    """Apply the mining rules (module docstring) to one query's scored candidates.

    ``scored.candidates`` are the pool (best first, ``in_pool``) and any
    labeled documents outside it; ``labels`` maps document id to the query's
    label; ``rejected`` holds documents not to propose again. Returns one
    decision per candidate, in rank order. A query without a relevant
    label has no ``pos`` to measure against: it gets no decisions at all.
    """
    relevant = [c.score for c in scored.candidates if labels.get(c.doc_id) in RELEVANT_LABELS]
    if not relevant:
        return []
    pos = min(relevant)
    out: dict[str, CandidateDecision] = {}

    def put(c: Candidate, status: str, reason: str) -> None:
        out[c.doc_id] = CandidateDecision(c.doc_id, c.rank, c.score, status, reason)

    survivors: list[Candidate] = []
    for c in scored.candidates:
        label = labels.get(c.doc_id)
        if label in RELEVANT_LABELS:
            put(c, "dropped", label)
        elif label == "negative":
            put(c, "kept", "confirmed")
        elif not c.in_pool:
            continue  # only labeled documents are scored outside the pool
        elif c.doc_id in rejected:
            put(c, "dropped", "previously_rejected")
        elif config.absolute_margin is not None and c.score + config.absolute_margin > pos:
            put(c, "dropped", "absolute_margin")
        elif config.relative_margin is not None and c.score > pos - abs(pos) * config.relative_margin:
            put(c, "dropped", "relative_margin")
        elif config.max_score is not None and c.score > config.max_score:
            put(c, "dropped", "max_score")
        elif config.min_score is not None and c.score < config.min_score:
            put(c, "dropped", "min_score")
        else:
            survivors.append(c)
    survivors.sort(key=lambda c: c.rank)
    eligible = survivors[config.range_min : config.range_max]
    for c in survivors[: config.range_min] + survivors[config.range_max :]:
        put(c, "dropped", "rank_window")
    chosen = _sample(eligible, config.num_negatives, pos, config, scored.query_id)
    for i, c in enumerate(eligible):
        if i in chosen:
            put(c, "kept", "kept")
        else:
            put(c, "dropped", "not_sampled")
    return sorted(out.values(), key=lambda d: d.rank)


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
    where, args = _split_filter(split)
    if query_id is not None:
        where, args = where + " AND c.query_id=?", args + (query_id,)
    out: dict[str, set[str]] = {}
    for qid, doc in project.conn.execute(
        "SELECT DISTINCT c.query_id, c.doc_id FROM candidates c "
        "JOIN mining_passes p ON p.pass=c.pass JOIN queries q ON q.id=c.query_id "
        f"WHERE c.status='kept'{where} "
        "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.query_id=c.query_id AND l.doc_id=c.doc_id) "
        "AND EXISTS (SELECT 1 FROM label_history h WHERE h.query_id=c.query_id "
        "AND h.doc_id=c.doc_id AND h.at >= p.created_at)",
        args,
    ):
        out.setdefault(qid, set()).add(doc)
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
            mined = {r[0] for r in project.conn.execute("SELECT DISTINCT query_id FROM candidates")}
            queries = [q for q in queries if q.id in changed or q.id not in mined]
    return queries


# -- scoring setup -----------------------------------------------------------------------

def _rows_for(project: Project, config: MiningConfig, retrieval: "Retrieval | None",
              progress: Progress) -> tuple[ScoreRows, str | None]:
    from .retrieval import Retrieval

    if retrieval is None:
        retrieval = Retrieval(project, config.model_id)
    elif config.source != "bm25" and config.model_id not in (None, retrieval.model_id):
        from .encoder import resolve_model

        if resolve_model(project, config.model_id)[0] != retrieval.model_id:
            retrieval = Retrieval(project, config.model_id)
    rows = project_rows(project, config.source, retrieval, progress)
    return rows, (None if config.source == "bm25" else retrieval.model_id)


# -- mining a pass -----------------------------------------------------------------------

@dataclass(frozen=True)
class MiningResult:
    """A stored pass: its number, the configuration and what happened."""

    pass_number: int
    source: str
    model_version: str | None
    config: MiningConfig
    counts: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"pass": self.pass_number, "source": self.source, "model_version": self.model_version,
                "config": self.config.to_dict(), "counts": self.counts, "seconds": round(self.seconds, 3)}


@dataclass
class _Tally:
    queries_selected: int = 0
    queries_mined: int = 0
    queries_without_positives: int = 0
    queries_short: int = 0  # fewer proposals than num_negatives
    candidates: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))

    def add(self, decisions: Sequence[CandidateDecision], wanted: int) -> None:
        self.queries_mined += 1
        self.candidates += len(decisions)
        proposed = 0
        for d in decisions:
            self.reasons[d.reason] += 1
            proposed += d.reason == "kept"
        if proposed < wanted:
            self.queries_short += 1

    def as_counts(self) -> dict[str, Any]:
        return {
            "queries_selected": self.queries_selected,
            "queries_mined": self.queries_mined,
            "queries_without_positives": self.queries_without_positives,
            "queries_short": self.queries_short,
            "proposed": self.reasons["kept"],
            "confirmed": self.reasons["confirmed"],
            "candidates": self.candidates,
            "dropped": {r: self.reasons[r] for r in DROP_REASONS},
        }


_STAGE = "temp.rs_mining_stage"


def mine(
    project: Project,
    config: MiningConfig,
    progress: Progress | None = None,
    retrieval: "Retrieval | None" = None,
    *,
    rows: ScoreRows | None = None,
) -> MiningResult:
    """Mine one pass over the selected queries and store it (all or nothing).

    ``retrieval`` lends its loaded indexes and model (the GUI shares one);
    ``rows`` replaces scoring altogether (benchmarks feed precomputed
    embeddings through :class:`core.mining_scores.DenseRows`). Raises
    :class:`StudioError` when no selected query has a relevant label.
    Decisions are staged in a temporary table while scoring, so memory
    stays bounded and the project is locked only for the final copy.
    """
    progress = progress or Progress()
    started = time.perf_counter()
    progress.fraction(0.0, "Reading labels")
    labels = query_labels(project, config.split)
    rejected = rejected_pairs(project, config.split)
    selected = select_queries(project, config)
    tally = _Tally(queries_selected=len(selected))
    minable = [q.id for q in selected
               if any(v in RELEVANT_LABELS for v in labels.get(q.id, {}).values())]
    tally.queries_without_positives = len(selected) - len(minable)
    if not minable:
        where = f"split {config.split!r}" if config.split is not None else "this project"
        raise StudioError(
            f"nothing to mine: none of the {len(selected)} selected queries in {where} "
            "has a positive label")
    depth = config.range_max + max((len(v) for v in labels.values()), default=0)
    if rows is None:
        rows, model_version = _rows_for(project, config, retrieval, progress.sub(0.0, 0.25))
    else:
        model_version = None if config.source == "bm25" else config.model_id
    doc_index = {d: i for i, d in enumerate(rows.doc_ids)}

    conn = project.conn
    conn.execute(f"DROP TABLE IF EXISTS {_STAGE}")
    conn.execute(f"CREATE TABLE {_STAGE} (query_id TEXT, doc_id TEXT, rank INTEGER, "
                 "score REAL, status TEXT, reason TEXT)")
    try:
        buffer: list[tuple] = []
        for qid, row in rows.rows(minable, progress.sub(0.25, 0.92)):
            query_labels_ = labels.get(qid, {})
            scored = pool_from_row(qid, row, rows.doc_ids, doc_index, depth, list(query_labels_))
            decisions = decide(scored, query_labels_, rejected.get(qid, ()), config)
            tally.add(decisions, config.num_negatives)
            buffer.extend((qid, d.doc_id, d.rank, d.score, d.status, d.reason) for d in decisions)
            if len(buffer) >= 20_000:
                conn.executemany(f"INSERT INTO {_STAGE} VALUES (?,?,?,?,?,?)", buffer)
                buffer.clear()
        if buffer:
            conn.executemany(f"INSERT INTO {_STAGE} VALUES (?,?,?,?,?,?)", buffer)
        progress.fraction(0.93, "Storing the pass")
        counts = tally.as_counts()
        with project.transaction():
            pass_number = int(conn.execute("SELECT coalesce(max(pass), 0) + 1 FROM mining_passes")
                              .fetchone()[0])
            conn.execute(
                "INSERT INTO mining_passes(pass, created_at, source, model_version, config, counts) "
                "VALUES(?,?,?,?,?,?)",
                (pass_number, now_iso(), config.source, model_version,
                 json.dumps(config.to_dict()), json.dumps(counts)),
            )
            conn.execute(
                "INSERT INTO candidates(pass, query_id, doc_id, rank, score, status, reason) "
                f"SELECT ?, query_id, doc_id, rank, score, status, reason FROM {_STAGE}",
                (pass_number,),
            )
            project._set_meta("current_pass", str(pass_number))
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {_STAGE}")
    progress.fraction(1.0, f"Pass {pass_number}: {counts['proposed']} negatives proposed "
                           f"for {counts['queries_mined']} queries")
    return MiningResult(pass_number, config.source, model_version, config, counts,
                        time.perf_counter() - started)


# -- preview (no writes) ---------------------------------------------------------------------

@dataclass(frozen=True)
class PreviewData:
    """One query's full score row and labels: enough to re-run the rules as settings move."""

    query_id: str
    row: np.ndarray
    doc_ids: Sequence[str]
    doc_index: Mapping[str, int]
    labels: Mapping[str, str]
    rejected: frozenset[str]
    extra: int  # P of the split (pool = range_max + P)

    def decide(self, config: MiningConfig) -> list[CandidateDecision]:
        """The decisions ``mine`` would store for this query under ``config`` (pure, fast)."""
        scored = pool_from_row(self.query_id, self.row, self.doc_ids, self.doc_index,
                               config.range_max + self.extra, list(self.labels))
        return decide(scored, self.labels, self.rejected, config)

    @property
    def has_positive(self) -> bool:
        return any(v in RELEVANT_LABELS for v in self.labels.values())


def prepare_preview(
    project: Project,
    query_id: str,
    config: MiningConfig,
    retrieval: "Retrieval | None" = None,
    progress: Progress | None = None,
    *,
    rows: ScoreRows | None = None,
) -> PreviewData:
    """Score one query (source, model and split from ``config``) for :meth:`PreviewData.decide`."""
    progress = progress or Progress()
    if project.get_query(query_id) is None:
        raise StudioError(f"unknown query id {query_id!r}")
    if rows is None:
        rows, _ = _rows_for(project, config, retrieval, progress.sub(0.0, 0.9))
    row = next(iter(rows.rows([query_id], progress.sub(0.9, 1.0))))[1]
    return PreviewData(
        query_id, np.asarray(row), rows.doc_ids, {d: i for i, d in enumerate(rows.doc_ids)},
        query_labels(project, None, query_id).get(query_id, {}),
        frozenset(rejected_pairs(project, None, query_id).get(query_id, set())),
        pool_extra(project, config.split),
    )


def preview_query(
    project: Project,
    query_id: str,
    config: MiningConfig,
    retrieval: "Retrieval | None" = None,
    progress: Progress | None = None,
) -> list[CandidateDecision]:
    """What a pass with ``config`` would decide for one query, without writing anything."""
    return prepare_preview(project, query_id, config, retrieval, progress).decide(config)


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


def _state(label: str | None, touched: bool) -> str:
    if label in RELEVANT_LABELS:
        return "flipped"
    if label == "negative":
        return "accepted"
    return "rejected" if touched else "pending"


def _resolve_pass(project: Project, pass_number: int | None) -> int | None:
    return latest_pass(project) if pass_number is None else pass_number


def proposals(project: Project, pass_number: int | None = None,
              query_ids: Sequence[str] | None = None) -> list[Proposal]:
    """The negatives a pass (default: the latest) proposed, in query order then rank."""
    pass_number = _resolve_pass(project, pass_number)
    if pass_number is None:
        return []
    sql = (
        "SELECT c.query_id, c.doc_id, c.rank, c.score, l.label, "
        "EXISTS (SELECT 1 FROM label_history h WHERE h.query_id=c.query_id AND h.doc_id=c.doc_id "
        "AND h.at >= p.created_at) "
        "FROM candidates c JOIN mining_passes p ON p.pass=c.pass "
        "JOIN queries q ON q.id=c.query_id "
        "LEFT JOIN labels l ON l.query_id=c.query_id AND l.doc_id=c.doc_id "
        "WHERE c.pass=? AND c.reason='kept'"
    )
    out: list[Proposal] = []
    chunks: list[Sequence[str] | None] = [None]
    if query_ids is not None:
        ids = list(query_ids)
        chunks = [ids[i : i + 500] for i in range(0, len(ids), 500)]
    for chunk in chunks:
        extra, args = "", (pass_number,)
        if chunk is not None:
            extra = f" AND c.query_id IN ({','.join('?' * len(chunk))})"
            args = args + tuple(chunk)
        for qid, doc, rank, score, label, touched in project.conn.execute(
                sql + extra + " ORDER BY q.rowid, c.rank", args):
            out.append(Proposal(pass_number, qid, doc, rank, score, label, _state(label, bool(touched))))
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
    for qid, doc, score in project.conn.execute(
            "SELECT query_id, doc_id, score FROM candidates WHERE pass=?", (pass_number,)):
        out.setdefault(qid, {})[doc] = score
    return out


def pass_candidates(project: Project, query_id: str,
                    pass_number: int | None = None) -> list[CandidateDecision]:
    """The stored decisions of one query in a pass (default: the latest), in rank order."""
    pass_number = _resolve_pass(project, pass_number)
    if pass_number is None:
        return []
    return [CandidateDecision(*r) for r in project.conn.execute(
        "SELECT doc_id, rank, score, status, reason FROM candidates WHERE pass=? AND query_id=? "
        "ORDER BY rank", (pass_number, query_id))]


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
