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
from core.mining.scores import Pool, PoolBlock

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

    def as_decisions(self, pool: Pool, doc_ids: Sequence[str]) -> list[CandidateDecision]:
        """The same decisions as :func:`core.mining.rules.decide` returns them."""
        teacher = (pool.teacher_scores[self.order].tolist() if pool.teacher_scores is not None
                   else [None] * len(self))
        return [CandidateDecision(doc_ids[d], r, s, STATUS_OF_CODE[c], REASONS[c], t)
                for d, r, s, c, t in zip(pool.docs[self.order].tolist(),
                                         pool.ranks[self.order].tolist(),
                                         pool.scores[self.order].tolist(),
                                         self.reasons.tolist(), teacher)]


@dataclass(frozen=True)
class BlockDecisions:
    """The decided candidates of a :class:`core.mining.scores.PoolBlock`, query by query.

    ``rows`` index the block's columns, in query order then rank order;
    query ``k``'s decisions are ``rows[offsets[k]:offsets[k + 1]]``.
    """

    rows: np.ndarray  # int64 rows of the block
    reasons: np.ndarray  # int8 codes into REASONS, aligned with rows
    offsets: np.ndarray  # int64, one more than the block's queries

    def __len__(self) -> int:
        return len(self.rows)

    def of_query(self, k: int, block: PoolBlock) -> PoolDecisions:
        """Query ``k``'s decisions, ``order`` indexing its pool (``block.pool(k)``)."""
        at = slice(int(self.offsets[k]), int(self.offsets[k + 1]))
        return PoolDecisions(self.rows[at] - block.offsets[k], self.reasons[at])

    def kept_per_query(self) -> np.ndarray:
        kept_rows = self.reasons == REASON_CODE["kept"]
        per_row = np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))
        return np.bincount(per_row[kept_rows], minlength=len(self.offsets) - 1)


def _lookup(keys: np.ndarray, table_keys: list[int], values: list[int] | None = None) -> np.ndarray:
    """Per key, the value of the equal ``table_keys`` entry (-1: none); 1/0 without ``values``."""
    out = np.full(len(keys), -1 if values is not None else 0, np.int64)
    if not table_keys or len(keys) == 0:
        return out
    table = np.asarray(table_keys, np.int64)
    order = np.argsort(table, kind="stable")
    table = table[order]
    at = np.searchsorted(table, keys).clip(max=len(table) - 1)
    hit = table[at] == keys
    out[hit] = np.asarray(values, np.int64)[order][at[hit]] if values is not None else 1
    return out


def decide_block(
    block: PoolBlock,
    labels: Mapping[str, Mapping[str, str]],
    rejected: Mapping[str, Collection[str]],
    config: MiningConfig,
    doc_index: Mapping[str, int],
) -> BlockDecisions:
    """:func:`core.mining.rules.decide` on every pool of ``block`` at once (rules documented there).

    ``labels`` and ``rejected`` are per query id; ``doc_index`` maps document ids
    to the rows ``block.docs`` holds. Only the ``random`` and ``simans`` draws
    are a Python step per query (:func:`core.mining.rules.sample`).
    """
    n_queries = len(block.query_ids)
    n_docs = max(len(doc_index), int(block.docs.max(initial=-1)) + 1)
    query_of = block.query_of_rows()
    keys = query_of.astype(np.int64) * n_docs + block.docs  # one key per (query, document)
    label_keys: list[int] = []
    label_values: list[int] = []
    rejected_keys: list[int] = []
    for k, qid in enumerate(block.query_ids):
        for doc, label in labels.get(qid, {}).items():
            code, row = _LABEL_CODE.get(label), doc_index.get(doc)
            if code is not None and row is not None:
                label_keys.append(k * n_docs + row)
                label_values.append(code)
        rejected_keys.extend(k * n_docs + doc_index[d] for d in rejected.get(qid, ()) if d in doc_index)
    label = _lookup(keys, label_keys, label_values).clip(min=_UNLABELED)
    judged = block.scores if block.teacher_scores is None else block.teacher_scores

    # pos: each query's lowest relevant judged score; a query without one decides nothing.
    relevant_rows = np.flatnonzero((label == _POSITIVE) | (label == _FALSE_NEGATIVE))
    has_relevant = np.zeros(n_queries, bool)
    pos = np.zeros(n_queries, np.float64)
    if len(relevant_rows):
        owners = query_of[relevant_rows]
        firsts = np.flatnonzero(np.diff(owners, prepend=-1))
        has_relevant[owners[firsts]] = True
        pos[owners[firsts]] = np.minimum.reduceat(judged[relevant_rows], firsts)
    active = has_relevant[query_of]

    reasons = np.full(len(block), _NONE, np.int8)
    reasons[active & (label == _POSITIVE)] = REASON_CODE["positive"]
    reasons[active & (label == _FALSE_NEGATIVE)] = REASON_CODE["false_negative"]
    reasons[active & (label == _NEGATIVE)] = REASON_CODE["confirmed"]
    open_ = active & (label == _UNLABELED) & block.in_pool
    if rejected_keys:
        refused = open_ & (_lookup(keys, rejected_keys) == 1)
        reasons[refused] = REASON_CODE["previously_rejected"]
        open_ &= ~refused
    pos_of_row = pos[query_of]
    for rule, value in active_rules(config):
        dropped = open_ & rule.drops(judged, pos_of_row, value)
        reasons[dropped] = REASON_CODE[rule.reason]
        open_ &= ~dropped

    survivors = np.flatnonzero(open_)
    # Best first by the judged score within each query: retriever rank, or the teacher's
    # score with ties in rank order.
    if block.teacher_scores is None:
        if not _in_rank_order(query_of[survivors], block.ranks[survivors]):
            survivors = survivors[np.lexsort((block.ranks[survivors], query_of[survivors]))]
    else:
        survivors = survivors[np.lexsort((block.ranks[survivors], -judged[survivors],
                                          query_of[survivors]))]
    owner = query_of[survivors]
    ordinal = np.arange(len(survivors)) - np.searchsorted(owner, owner)  # place among its query's
    in_window = (ordinal >= config.range_min) & (ordinal < config.range_max)
    reasons[survivors[~in_window]] = REASON_CODE["rank_window"]
    eligible, owner = survivors[in_window], owner[in_window]
    ordinal = ordinal[in_window] - config.range_min
    if config.sampling == "top":
        chosen = ordinal < config.num_negatives  # what sample() takes for "top"
    else:
        chosen = np.zeros(len(eligible), bool)
        bounds = np.flatnonzero(np.diff(owner, prepend=-1, append=n_queries + 1)).tolist()
        for start, stop in zip(bounds[:-1], bounds[1:]):
            k = int(owner[start])
            picked = sample(judged[eligible[start:stop]].tolist(), config.num_negatives,
                            float(pos[k]), config, block.query_ids[k])
            chosen[[start + i for i in picked]] = True
    reasons[eligible[chosen]] = REASON_CODE["kept"]
    reasons[eligible[~chosen]] = REASON_CODE["not_sampled"]

    decided = np.flatnonzero(reasons != _NONE)
    if not _in_rank_order(query_of[decided], block.ranks[decided]):
        decided = decided[np.lexsort((block.ranks[decided], query_of[decided]))]
    offsets = np.searchsorted(query_of[decided], np.arange(n_queries + 1)).astype(np.int64)
    return BlockDecisions(decided, reasons[decided], offsets)


def _in_rank_order(owner: np.ndarray, ranks: np.ndarray) -> bool:
    """Whether rows grouped by query already have increasing ranks within each query."""
    return bool(np.all((np.diff(ranks) > 0) | (np.diff(owner) != 0)))


def decide_pool(
    pool: Pool,
    labels: Mapping[str, str],
    rejected: Collection[str],
    config: MiningConfig,
    doc_index: Mapping[str, int],
) -> PoolDecisions:
    """:func:`core.mining.rules.decide` on one ``pool`` (:func:`decide_block` of a block of one)."""
    decided = decide_block(PoolBlock.of([pool]), {pool.query_id: labels}, {pool.query_id: rejected},
                           config, doc_index)
    return PoolDecisions(decided.rows, decided.reasons)
