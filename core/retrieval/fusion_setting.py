"""The hybrid fusion chosen for one model, stored with it.

A :class:`FusionSetting` says how BM25 and a model's dense ranking are fused
(reciprocal rank fusion, or a weighted sum of min-max normalised scores with
the dense ranking's weight ``dense_weight``) and where the choice came from
(the split whose queries chose it, how many, and the nDCG@10 it reached
there; :func:`core.evaluation.fusion_choice.choose_fusion` makes it).

Where it lives: a model version keeps it in its ``model_versions.metrics``
JSON under ``"fusion"``; the bundled model and model folders, which have no
version row, in the project's ``meta`` table under ``fusion:<model id>``.
:class:`core.retrieval.service.Retrieval` reads it as its default fusion, so
every hybrid search of that model uses it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Sequence

from core.errors import StudioError

if TYPE_CHECKING:  # pragma: no cover
    from core.project.file import Project

FUSION_METHODS = ("rrf", "weighted")
_META_PREFIX = "fusion:"


@dataclass(frozen=True)
class FusionSetting:
    """How one model's hybrid fuses BM25 and dense, and on what evidence."""

    method: str = "rrf"
    dense_weight: float | None = None  # weighted only: BM25 gets 1 - dense_weight
    rrf_k: int = 60
    tuned_on: str | None = None  # the split whose queries chose it; None: the default, not tuned
    queries: int = 0
    ndcg_at_10: float | None = None  # of the chosen fusion on those queries
    parts_ndcg_at_10: dict | None = None  # {"bm25": …, "dense": …} on the same queries

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise StudioError(f"unknown fusion {self.method!r}; expected one of {', '.join(FUSION_METHODS)}")
        if self.method == "weighted" and not (self.dense_weight is not None and 0 <= self.dense_weight <= 1):
            raise StudioError(f"weighted fusion needs a dense weight in [0, 1] (got {self.dense_weight})")

    @property
    def weights(self) -> list[float] | None:
        """``[bm25 weight, dense weight]`` for weighted fusion, None for RRF."""
        if self.method != "weighted":
            return None
        return [round(1.0 - self.dense_weight, 10), self.dense_weight]

    def short(self) -> str:
        """``RRF`` or ``weighted 0.3/0.7`` (BM25/dense weights); an end of the grid says which part alone."""
        if self.method == "rrf":
            return "RRF"
        text = f"weighted {self.weights[0]:g}/{self.weights[1]:g}"
        if self.dense_weight in (0, 1):
            text = f"{'dense' if self.dense_weight == 1 else 'BM25'} only ({text})"
        return text

    def describe(self) -> str:
        """:meth:`short` with where it was chosen, e.g. ``weighted 0.3/0.7 (chosen on train)``."""
        return self.short() + (f" (chosen on {self.tuned_on})" if self.tuned_on else " (default)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FusionSetting":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


DEFAULT_FUSION = FusionSetting()


def _version_metrics(project: "Project", model_id: str) -> dict | None:
    row = project.conn.execute("SELECT metrics FROM model_versions WHERE id=?", (model_id,)).fetchone()
    return None if row is None else json.loads(row[0] or "{}")


def stored_fusion(project: "Project", model_id: str) -> FusionSetting | None:
    """The fusion chosen for ``model_id`` (a resolved model id), or None when none was chosen.

    A stored value that no longer reads as a setting counts as none (the
    caller then uses the default) rather than breaking every hybrid search.
    """
    metrics = _version_metrics(project, model_id)
    raw = metrics.get("fusion") if metrics is not None else _meta_json(project, model_id)
    if not isinstance(raw, dict):
        return None
    try:
        return FusionSetting.from_dict(raw)
    except (StudioError, TypeError):
        return None


def _meta_json(project: "Project", model_id: str) -> dict | None:
    text = project.get_meta(_META_PREFIX + model_id)
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def store_fusion(project: "Project", model_id: str, setting: FusionSetting) -> None:
    """Record ``setting`` as ``model_id``'s fusion (replacing an earlier choice)."""
    with project.transaction():
        metrics = _version_metrics(project, model_id)
        if metrics is None:
            project.set_meta(_META_PREFIX + model_id, json.dumps(setting.to_dict()))
        else:
            metrics["fusion"] = setting.to_dict()
            project.conn.execute("UPDATE model_versions SET metrics=? WHERE id=?",
                                 (json.dumps(metrics), model_id))


def fuse(setting: FusionSetting, lexical: Sequence[tuple[str, float]], dense: Sequence[tuple[str, float]],
         limit: int | None = None) -> list[tuple[str, float]]:
    """BM25 and dense rankings fused as ``setting`` says (the one fusion every hybrid uses)."""
    from core.retrieval.fusion import rrf, weighted_fusion

    if setting.method == "rrf":
        return rrf([lexical, dense], k=setting.rrf_k, limit=limit)
    return weighted_fusion([lexical, dense], weights=setting.weights, limit=limit)
