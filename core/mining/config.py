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
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Mapping

from core.errors import StudioError

if TYPE_CHECKING:  # pragma: no cover
    pass


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

