"""Hard-negative mining with a reason for every candidate, stored per pass.

For every query with at least one relevant document the miner scores the
corpus (:mod:`core.mining.scores`: dense, BM25 or hybrid, in bounded
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

import math
import random
from typing import TYPE_CHECKING, Collection, Mapping, NamedTuple, Sequence

from core.mining.config import MiningConfig
from core.mining.scores import Candidate, ScoredQuery
from core.project.schema import RELEVANT_LABELS

if TYPE_CHECKING:  # pragma: no cover
    pass


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


