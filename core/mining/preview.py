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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from core.errors import StudioError
from core.mining.config import MiningConfig
from core.mining.rules import CandidateDecision, decide
from core.mining.scores import ScoreRows, pool_from_row, rows_for_config
from core.mining.store import pool_extra, query_labels, rejected_pairs
from core.progress import Progress
from core.project.file import Project
from core.project.schema import RELEVANT_LABELS

if TYPE_CHECKING:  # pragma: no cover
    from core.retrieval.service import Retrieval


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
        rows, _ = rows_for_config(project, config, retrieval, progress.sub(0.0, 0.9))
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


