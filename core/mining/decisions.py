"""The mining rules over a whole pool at once: what :func:`core.mining.rules.decide` makes
of each candidate, as arrays.

:func:`core.mining.rules.decide` is the readable reference, one candidate at a time;
:func:`decide_pool` is what the miner runs: the same rules, in the same order, as
numpy masks over a :class:`core.mining.scores.Pool`, with no Python object per
candidate. It reuses what defines the rules: the tests of
:data:`core.mining.rules.SCORE_RULES` (their ``drops`` functions are applied to
the score array as they are to one float) and :func:`core.mining.rules.sample`
(the random draws stay one small Python step per query, so ``random`` and
``simans`` draw exactly what ``decide`` draws). ``tests/test_mining_decisions.py``
checks it against ``decide`` on hundreds of random pools.

A decision is a reason *code*: an index into :data:`core.mining.config.REASONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping, Sequence

import numpy as np

from core.mining.config import KEEP_REASONS, REASONS, MiningConfig
from core.mining.rules import CandidateDecision, active_rules, sample
from core.mining.scores import Pool

REASON_CODE = {reason: code for code, reason in enumerate(REASONS)}
# Every reason code's status: what CandidateDecision.status says of it.
STATUS_OF_CODE = tuple("kept" if r in KEEP_REASONS else "dropped" for r in REASONS)
_NONE = -1  # no decision: an unlabeled document outside the pool
# Label codes of a candidate, for the masks below.
_UNLABELED, _POSITIVE, _FALSE_NEGATIVE, _NEGATIVE = 0, 1, 2, 3
_LABEL_CODE = {"positive": _POSITIVE, "false_negative": _FALSE_NEGATIVE, "negative": _NEGATIVE}


@dataclass(frozen=True)
class PoolDecisions:
    """The decided candidates of a pool in rank order: ``order`` indexes the pool, ``reasons`` are codes."""

    order: np.ndarray  # int64 positions in the pool
    reasons: np.ndarray  # int8 codes into REASONS, aligned with order

    def __len__(self) -> int:
        return len(self.order)

    def count(self, reason: str) -> int:
        return int(np.count_nonzero(self.reasons == REASON_CODE[reason]))

    def as_decisions(self, pool: Pool, doc_ids: Sequence[str]) -> list[CandidateDecision]:
        """The same decisions as :func:`core.mining.rules.decide` returns them."""
        teacher = (pool.teacher_scores[self.order].tolist() if pool.teacher_scores is not None
                   else [None] * len(self))
        return [CandidateDecision(doc_ids[d], r, s, STATUS_OF_CODE[c], REASONS[c], t)
                for d, r, s, c, t in zip(pool.docs[self.order].tolist(),
                                         pool.ranks[self.order].tolist(),
                                         pool.scores[self.order].tolist(),
                                         self.reasons.tolist(), teacher)]


_NO_DECISIONS = PoolDecisions(np.zeros(0, np.int64), np.zeros(0, np.int8))


def _member(docs: np.ndarray, wanted: Sequence[int]) -> np.ndarray:
    return np.isin(docs, np.asarray(wanted, dtype=np.int64)) if wanted else np.zeros(len(docs), bool)


def label_codes(pool: Pool, labels: Mapping[str, str], doc_index: Mapping[str, int]) -> np.ndarray:
    """Per candidate of ``pool``, the code of its label for the query (0: unlabeled)."""
    codes = np.zeros(len(pool), np.int8)
    by_code: dict[int, list[int]] = {}
    for doc, label in labels.items():
        code, row = _LABEL_CODE.get(label), doc_index.get(doc)
        if code is not None and row is not None:
            by_code.setdefault(code, []).append(row)
    for code, rows in by_code.items():
        codes[_member(pool.docs, rows)] = code
    return codes


def decide_pool(
    pool: Pool,
    labels: Mapping[str, str],
    rejected: Collection[str],
    config: MiningConfig,
    doc_index: Mapping[str, int],
) -> PoolDecisions:
    """:func:`core.mining.rules.decide` on ``pool`` (the rules are documented there).

    ``doc_index`` maps document ids to the rows ``pool.docs`` holds.
    """
    label = label_codes(pool, labels, doc_index)
    relevant = (label == _POSITIVE) | (label == _FALSE_NEGATIVE)
    if not relevant.any():
        return _NO_DECISIONS
    judged = pool.scores if pool.teacher_scores is None else pool.teacher_scores
    pos = float(judged[relevant].min())
    reasons = np.full(len(pool), _NONE, np.int8)
    reasons[label == _POSITIVE] = REASON_CODE["positive"]
    reasons[label == _FALSE_NEGATIVE] = REASON_CODE["false_negative"]
    reasons[label == _NEGATIVE] = REASON_CODE["confirmed"]
    open_ = (label == _UNLABELED) & pool.in_pool
    if rejected:
        refused = open_ & _member(pool.docs, [doc_index[d] for d in rejected if d in doc_index])
        reasons[refused] = REASON_CODE["previously_rejected"]
        open_ &= ~refused
    for rule, value in active_rules(config):
        dropped = open_ & rule.drops(judged, pos, value)
        reasons[dropped] = REASON_CODE[rule.reason]
        open_ &= ~dropped
    survivors = np.flatnonzero(open_)
    # Best first by the judged score: retriever rank, or the teacher's score with ties in rank order.
    if pool.teacher_scores is None:
        survivors = survivors[np.argsort(pool.ranks[survivors], kind="stable")]
    else:
        survivors = survivors[np.lexsort((pool.ranks[survivors], -judged[survivors]))]
    eligible = survivors[config.range_min : config.range_max]
    reasons[survivors[: config.range_min]] = REASON_CODE["rank_window"]
    reasons[survivors[config.range_max :]] = REASON_CODE["rank_window"]
    chosen = np.zeros(len(eligible), bool)
    chosen[list(sample(judged[eligible].tolist(), config.num_negatives, pos, config,
                       pool.query_id))] = True
    reasons[eligible[chosen]] = REASON_CODE["kept"]
    reasons[eligible[~chosen]] = REASON_CODE["not_sampled"]
    decided = np.flatnonzero(reasons != _NONE)
    decided = decided[np.argsort(pool.ranks[decided], kind="stable")]
    return PoolDecisions(decided, reasons[decided])
