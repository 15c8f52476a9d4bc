"""Suspicion: how likely a mined candidate is a false negative (relevant after all).

A person's review time is the scarcest thing in the mining loop, so the review
queue (:mod:`core.mining.queue`) shows the most suspicious proposals first.
:func:`suspicion` is a pure function of what a pass stored about the candidate
(:mod:`core.mining.signals`) and about the query's relevant documents.

**Closeness to the positive.** For each score signal x — the retriever's score,
the teacher's score, the newest fine-tuned model's score — with the query's
lowest relevant score ``pos_x`` (the margins' reference, :mod:`core.mining.rules`)
and ``σ_x`` the standard deviation of x over the query's stored candidates::

    closeness_x = 1 / (1 + exp(−(x − pos_x) / σ_x))

0.5 for a candidate level with the positive, towards 1 above it, towards 0 far
below. Dividing by the query's own spread makes logits, cosines and BM25 scores
comparable. (RocketQA, Qu et al. 2021, and NV-Retriever, Moreira et al. 2024,
both found that negatives scoring close to the positive are often unlabeled
positives.)

**Likeness to the known positives.** When the pass stored the document's cosine
``l`` to the nearest of the query's relevant documents (dense and hybrid
passes), with ``m_l`` and ``σ_l`` the mean and standard deviation of ``l`` over
the query's other (not relevant) candidates::

    likeness = 1 / (1 + exp(−(l − m_l) / σ_l))

A document more like the known positives than the rest of the pool is more
often an unlabeled positive ("more like this"; on Cranfield it was the
strongest single signal among a plain pass's proposals, ``benchmarks/README.md``).

**Agreement.** When BM25's corpus rank ``r`` of the document is known (a dense
pass): ``agreement = min(1, AGREEMENT_RANK / r)``: 1 in BM25's top
``AGREEMENT_RANK``, ½ at twice that rank. Two unlike retrievers that both put
a document at the top more often agree because it is relevant.

**Score.** The weighted mean of the signals present (:data:`WEIGHTS`: teacher 3,
fine-tuned model 2, likeness 2, retriever 1, agreement 1; a teacher reads query
and document together, so it is trusted most)::

    suspicion = Σ w_i · signal_i / Σ w_i   (+ POSSIBLE_POSITIVE_BONUS)

A candidate the margin or max-score rule dropped as *too close to the positive*
gets ``POSSIBLE_POSITIVE_BONUS`` (1) on top: it is offered as a possible positive
and comes before every proposal. The result lies in [0, 1] for proposals and in
[1, 2] for possible positives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, NamedTuple

WEIGHTS: Mapping[str, float] = {"teacher": 3.0, "model": 2.0, "likeness": 2.0, "retriever": 1.0,
                                "agreement": 1.0}
AGREEMENT_RANK = 10
POSSIBLE_POSITIVE_BONUS = 1.0
SIGNAL_TEXT = {"teacher": "teacher", "model": "fine-tuned model", "retriever": "retriever"}


class Level(NamedTuple):
    """A query's reference for one score signal: lowest relevant score and spread of its pool."""

    pos: float
    spread: float


@dataclass(frozen=True)
class QueryLevels:
    """Per score signal (``retriever``, ``teacher``, ``model``), the query's :class:`Level`."""

    levels: Mapping[str, Level]

    @classmethod
    def from_scores(cls, relevant: Mapping[str, Iterable[float]],
                    pool: Mapping[str, Iterable[float]],
                    likeness: Iterable[float] = ()) -> "QueryLevels":
        """From each signal's relevant scores (``pos`` = their min) and pool scores (σ).

        A signal without a relevant score has no level (it then cannot count).
        ``likeness``: the not-relevant candidates' similarities to the nearest
        positive, centred on their mean.
        """
        out = {}
        for name, scores in relevant.items():
            rel = list(scores)
            values = list(pool.get(name, ()))
            if not rel or not values:
                continue
            out[name] = Level(min(rel), _spread(values)[1])
        values = list(likeness)
        if values:
            out["likeness"] = Level(*_spread(values))
        return cls(out)


def _spread(values: list[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation."""
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


class Signals(NamedTuple):
    """What a pass stored about one candidate (None: not computed)."""

    retriever: float
    teacher: float | None = None
    model: float | None = None
    bm25_rank: int | None = None
    too_close: str | None = None  # the rule that dropped it as too close to the positive
    positive_similarity: float | None = None  # cosine to the nearest relevant document


class Suspicion(NamedTuple):
    score: float
    reasons: tuple[str, ...]  # strongest first


def closeness(x: float, level: Level) -> float:
    """``1 / (1 + exp(−(x − pos) / σ))``; with σ = 0, 1 above pos, ½ at it, 0 below."""
    diff = x - level.pos
    if level.spread <= 0 or not math.isfinite(level.spread):
        return 1.0 if diff > 0 else 0.5 if diff == 0 else 0.0
    z = diff / level.spread
    if z < -700:  # exp would overflow; the value is 0 to double precision
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


def agreement(bm25_rank: int) -> float:
    """``min(1, AGREEMENT_RANK / r)`` for BM25's 1-based corpus rank ``r``."""
    return min(1.0, AGREEMENT_RANK / max(bm25_rank, 1))


def suspicion(signals: Signals, levels: QueryLevels) -> Suspicion:
    """The weighted mean of the signals present, plus the bonus of a possible positive."""
    parts: list[tuple[str, float, str]] = []  # (signal, value, words)
    for name in ("teacher", "model", "retriever"):
        x = getattr(signals, name)
        level = levels.levels.get(name)
        if x is None or level is None:
            continue
        value = closeness(x, level)
        side = "above" if x >= level.pos else "below"
        parts.append((name, value, f"{SIGNAL_TEXT[name]} {x:.4g} {side} the lowest positive "
                                   f"{level.pos:.4g} (closeness {value:.2f})"))
    level = levels.levels.get("likeness")
    if signals.positive_similarity is not None and level is not None:
        value = closeness(signals.positive_similarity, level)
        parts.append(("likeness", value, f"like a known positive: cosine "
                                         f"{signals.positive_similarity:.3f} to the nearest, pool mean "
                                         f"{level.pos:.3f} (likeness {value:.2f})"))
    if signals.bm25_rank is not None:
        value = agreement(signals.bm25_rank)
        parts.append(("agreement", value, f"BM25 rank {signals.bm25_rank} (agreement {value:.2f})"))
    total = sum(WEIGHTS[name] for name, _, _ in parts)
    score = sum(WEIGHTS[name] * value for name, value, _ in parts) / total if total else 0.0
    ordered = sorted(parts, key=lambda p: -WEIGHTS[p[0]] * p[1])
    reasons = tuple(words for _, _, words in ordered)
    if signals.too_close is not None:
        score += POSSIBLE_POSITIVE_BONUS
        reasons = (f"dropped by {signals.too_close.replace('_', ' ')} as too close to the "
                   "positive: possible positive",) + reasons
    return Suspicion(score, reasons)


HELP_TEXT = (
    "Suspicion: how likely a proposal is relevant after all (a false negative). It is the "
    "weighted mean of the signals the pass has, each between 0 and 1:\n"
    f"• teacher (weight {WEIGHTS['teacher']:g}): the teacher's score against the query's lowest "
    "positive, as 1 / (1 + exp(−(score − positive) / spread)), spread = the standard deviation "
    "of the query's candidate scores: ½ level with the positive, near 1 above it;\n"
    f"• fine-tuned model (weight {WEIGHTS['model']:g}): the same with the newest fine-tuned "
    "model version's score (when its document embeddings are cached);\n"
    f"• likeness (weight {WEIGHTS['likeness']:g}): how much more the document resembles the "
    "query's known positives (cosine to the nearest) than the rest of its candidates do;\n"
    f"• retriever (weight {WEIGHTS['retriever']:g}): the same with the retriever's score — the "
    "candidate's margin to the positive;\n"
    f"• BM25 agreement (weight {WEIGHTS['agreement']:g}, dense passes): 1 when BM25 also ranks "
    f"the document in its top {AGREEMENT_RANK}, falling as {AGREEMENT_RANK} / rank below that.\n"
    f"Candidates a margin or max-score rule dropped as too close to the positive get "
    f"+{POSSIBLE_POSITIVE_BONUS:g}: they are offered as possible positives, ahead of every proposal."
)
