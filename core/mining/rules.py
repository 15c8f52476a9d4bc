"""The mining rules: what :func:`decide` makes of each candidate, and why.

:func:`decide` is a pure function of (pool, labels, rejected, configuration);
the pool comes from :mod:`core.mining.scores`. Rules, in this order (the
order of sentence-transformers' ``util.mine_hard_negatives``, whose
semantics :func:`decide` reproduces):

1. **Labels are law.** A document labeled ``positive`` or ``false_negative``
   for the query is never a negative (reasons ``positive`` /
   ``false_negative``); one labeled ``negative`` is always kept
   (``confirmed``); a proposal the user rejected in an earlier pass is not
   proposed again (``previously_rejected``, see
   :func:`core.mining.store.rejected_pairs`). These documents are taken out
   of the pool before any other rule, like the positives in
   ``mine_hard_negatives``.
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

**With a teacher** (:mod:`core.mining.teacher`) every candidate also
carries the teacher's score, and rules 2-7 judge that score instead of the
retriever's (``Candidate.judged``): ``pos`` is the lowest relevant
*teacher* score, and the window and ``top`` sampling follow the teacher's
order, as ``mine_hard_negatives(cross_encoder=...)`` does after it rescores
the retriever's ``range_max + max_positives`` candidates. The retriever
still chooses the pool; ``rank`` and ``score`` stay the retriever's.

Rules 2-5 are :data:`SCORE_RULES`: each one states, in one place, when it
drops a candidate, where it cuts the score axis and how it explains itself,
so :func:`decide`, :func:`thresholds_for` (the dialog's histogram lines) and
:func:`explanations` (its tooltips) cannot disagree.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Collection, Mapping, NamedTuple, Sequence

from core.mining.config import MiningConfig
from core.mining.scores import Candidate, ScoredQuery
from core.project.schema import RELEVANT_LABELS

# What each reason of a decision means, in words (the dialog's table and summary).
REASON_TEXT = {
    "kept": "kept: proposed as a negative",
    "confirmed": "kept: already labeled negative",
    "positive": "labeled positive",
    "false_negative": "labeled false negative",
    "previously_rejected": "dropped: rejected in an earlier pass",
    "absolute_margin": "dropped: absolute margin",
    "relative_margin": "dropped: relative margin",
    "max_score": "dropped: above max score",
    "min_score": "dropped: below min score",
    "rank_window": "dropped: outside the rank window",
    "not_sampled": "dropped: not sampled",
}


class CandidateDecision(NamedTuple):
    """What the rules made of one candidate: ``status`` kept/dropped and the ``reason``."""

    doc_id: str
    rank: int  # 1-based rank of the document in the corpus for this query
    score: float
    status: str  # "kept" | "dropped"
    reason: str  # one of REASONS
    teacher_score: float | None = None  # the teacher's score the rules judged, if the pass had one

    @property
    def kept(self) -> bool:
        return self.status == "kept"

    @property
    def judged(self) -> float:
        """The score the rules judged: the teacher's when there is one, else the retriever's."""
        return self.score if self.teacher_score is None else self.teacher_score


@dataclass(frozen=True)
class ScoreRule:
    """One of rules 2-5: a score test with the setting it reads (``None`` = rule off).

    ``drops(s, pos, value)`` is the test :func:`decide` applies; ``cut(pos,
    value)`` is the score where that test flips, drawn as a line on the
    histogram; ``explain(pos, value)`` says it with the numbers.
    """

    reason: str  # the reason of a candidate this rule drops, and the MiningConfig field it reads
    line: str  # short name of the histogram line
    relative_to_positive: bool  # needs pos: without a relevant score the rule cannot cut
    drops: Callable[[float, float, float], bool]
    cut: Callable[[float | None, float], float]  # max and min score ignore pos (None without one)
    explain: Callable[[float | None, float], str]

    def value(self, config: MiningConfig) -> float | None:
        return getattr(config, self.reason)


def _relative_cut(pos: float, m: float) -> float:
    return pos - abs(pos) * m


SCORE_RULES: tuple[ScoreRule, ...] = (
    ScoreRule(
        "absolute_margin", "abs. margin", True,
        # s + m > pos, not s > pos − m: the same in real numbers, and this is
        # the float expression mine_hard_negatives evaluates (parity test).
        drops=lambda s, pos, m: s + m > pos,
        cut=lambda pos, m: pos - m,
        explain=lambda pos, m: f"dropped: score + {m:g} > lowest positive {pos:.4g}"),
    ScoreRule(
        "relative_margin", "rel. margin", True,
        drops=lambda s, pos, m: s > _relative_cut(pos, m),
        cut=_relative_cut,
        explain=lambda pos, m: (f"dropped: score > {pos:.4g} − |{pos:.4g}|·{m:g}"
                                f" = {_relative_cut(pos, m):.4g}")),
    ScoreRule(
        "max_score", "max", False,
        drops=lambda s, _pos, v: s > v,
        cut=lambda _pos, v: v,
        explain=lambda _pos, v: f"dropped: score > max score {v:g}"),
    ScoreRule(
        "min_score", "min", False,
        drops=lambda s, _pos, v: s < v,
        cut=lambda _pos, v: v,
        explain=lambda _pos, v: f"dropped: score < min score {v:g}"),
)


def active_rules(config: MiningConfig) -> list[tuple[ScoreRule, float]]:
    """The score rules ``config`` turns on, in the order :func:`decide` applies them."""
    return [(rule, value) for rule in SCORE_RULES if (value := rule.value(config)) is not None]


def lowest_relevant(decisions: Sequence[CandidateDecision]) -> float | None:
    """``pos`` of a query's decisions: the lowest score labeled relevant (None without one)."""
    relevant = [d.judged for d in decisions if d.reason in RELEVANT_LABELS]
    return min(relevant) if relevant else None


# -- the rules (pure) ------------------------------------------------------------------

def _rng(config: MiningConfig, query_id: str) -> random.Random:
    # One stream per (seed, query): a query's sample does not depend on which
    # other queries are mined, so the preview shows what "Mine all" stores.
    return random.Random(f"{config.seed}\x00{query_id}")


def sample(judged: Sequence[float], k: int, pos: float, config: MiningConfig,
           query_id: str) -> set[int]:
    """Indices of the sampled candidates among the eligible ones, whose judged scores are ``judged``.

    Shared by :func:`decide` and the array path (:mod:`core.mining.decisions`):
    the random draws are one small Python step per query, so both draw alike.
    """
    if len(judged) <= k:
        return set(range(len(judged)))
    if config.sampling == "top":
        return set(range(k))
    rng = _rng(config, query_id)
    if config.sampling == "random":
        return set(rng.sample(range(len(judged)), k))
    # SimANS by Gumbel-top-k: the k largest (log-weight + Gumbel noise) are a
    # sample without replacement with p ∝ weight, computed in log space so
    # tiny weights never underflow to an all-zero distribution.
    keys = []
    for i, score in enumerate(judged):
        log_w = -config.simans_a * (score - pos - config.simans_b) ** 2
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
    relevant = [c.judged for c in scored.candidates if labels.get(c.doc_id) in RELEVANT_LABELS]
    if not relevant:
        return []
    pos = min(relevant)
    score_rules = active_rules(config)
    out: dict[str, CandidateDecision] = {}

    def put(c: Candidate, status: str, reason: str) -> None:
        out[c.doc_id] = CandidateDecision(c.doc_id, c.rank, c.score, status, reason, c.teacher_score)

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
        else:
            for rule, value in score_rules:
                if rule.drops(c.judged, pos, value):
                    put(c, "dropped", rule.reason)
                    break
            else:
                survivors.append(c)
    # Best first by the judged score: the retriever's rank order, or the
    # teacher's order (ties in retriever order) when a teacher rescored the pool.
    survivors.sort(key=lambda c: (c.rank,) if c.teacher_score is None else (-c.teacher_score, c.rank))
    eligible = survivors[config.range_min : config.range_max]
    for c in survivors[: config.range_min] + survivors[config.range_max :]:
        put(c, "dropped", "rank_window")
    chosen = sample([c.judged for c in eligible], config.num_negatives, pos, config,
                    scored.query_id)
    for i, c in enumerate(eligible):
        if i in chosen:
            put(c, "kept", "kept")
        else:
            put(c, "dropped", "not_sampled")
    return sorted(out.values(), key=lambda d: d.rank)


# -- the rules in numbers and words (the dialog's histogram and tooltips) ----------------------

def thresholds_for(decisions: Sequence[CandidateDecision],
                   config: MiningConfig) -> list[tuple[float, str]]:
    """``(score, name)`` where each active score rule cuts, for one query's ``decisions``.

    A margin needs the query's ``pos`` (:func:`lowest_relevant`), so it has no
    line for a query without a relevant decision; max and min score always do.
    """
    pos = lowest_relevant(decisions)
    return [(rule.cut(pos, value), rule.line) for rule, value in active_rules(config)
            if pos is not None or not rule.relative_to_positive]


def explanations(decisions: Sequence[CandidateDecision], config: MiningConfig) -> dict[str, str]:
    """One line per reason, with the numbers of ``config`` and the query's ``pos`` behind it."""
    pos = lowest_relevant(decisions)
    out = dict(REASON_TEXT)
    for rule, value in active_rules(config):
        if pos is not None or not rule.relative_to_positive:
            out[rule.reason] = rule.explain(pos, value)
    out["rank_window"] = (f"dropped: not among surviving candidates {config.range_min + 1}–"
                          f"{config.range_max}")
    out["not_sampled"] = (f"dropped: in the window, but not one of the {config.num_negatives} "
                          f"sampled ({config.sampling})")
    return out
