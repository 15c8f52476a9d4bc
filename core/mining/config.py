"""The settings of a mining pass (:class:`MiningConfig`, validated on construction) and the
names the rest of the package shares: score sources, sampling strategies, the reasons a
decision can carry (:mod:`core.mining.rules`) and the review states of a proposal
(:mod:`core.mining.store`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from core.errors import StudioError

SOURCES = ("dense", "bm25", "hybrid")
SAMPLINGS = ("top", "random", "simans")
DROP_REASONS = (
    "positive", "false_negative", "previously_rejected", "absolute_margin",
    "relative_margin", "max_score", "min_score", "rank_window", "not_sampled",
)
KEEP_REASONS = ("kept", "confirmed")
REASONS = KEEP_REASONS + DROP_REASONS
REVIEW_STATES = ("pending", "accepted", "flipped", "rejected")
DEFAULT_RELATIVE_MARGIN = 0.05


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
    # NV-Retriever's TopK-PercPos (see BACKGROUND.md): without a margin the top of the list is
    # full of candidates scoring above the positive, which are mostly unlabeled positives.
    relative_margin: float | None = DEFAULT_RELATIVE_MARGIN
    max_score: float | None = None
    min_score: float | None = None
    sampling: str = "top"
    simans_a: float = 0.5
    simans_b: float = 0.0
    seed: int = 0
    split: str | None = "train"  # None: every query
    only_unlabeled: bool = False  # skip queries that already have negative / false-negative labels
    only_changed: bool = False  # only queries whose labels changed since the last pass (or never mined)
    # A teacher folder (cross-encoder or bi-encoder, core.mining.teacher) or a model version id:
    # it rescores each pool and the score rules, rank window and sampling judge its scores.
    teacher: str | None = None

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

