"""Fusing ranked lists from several retrievers (BM25 + dense = retriever "hybrid").

A ranking is a list of ``(doc_id, score)`` pairs, best first (as
``BM25Index.search`` returns). Fused results are sorted by fused score,
highest first; equal fused scores keep the order in which the documents first
appear across the rankings (first ranking first), so the output is
deterministic. A doc id repeated within one ranking counts only at its first
position.
"""

from __future__ import annotations

import math
from typing import Sequence

__all__ = ["rrf", "weighted_fusion", "normalize"]

Ranking = Sequence[tuple[str, float]]


def _dedupe(ranking: Ranking) -> list[tuple[str, float]]:
    """The ranking with repeated doc ids dropped after their first (best) position."""
    seen: set[str] = set()
    out = []
    for doc_id, score in ranking:
        if doc_id not in seen:
            seen.add(doc_id)
            out.append((doc_id, score))
    return out


def _doc_ids(ranking: Ranking) -> list[str]:
    return [d for d, _ in _dedupe(ranking)]


def _finish(fused: dict[str, float], limit: int | None) -> list[tuple[str, float]]:
    # sorted() is stable and dicts keep first-insertion order: ties stay in
    # order of first appearance.
    out = sorted(fused.items(), key=lambda x: -x[1])
    return out if limit is None else out[:limit]


def rrf(rankings: Sequence[Ranking], k: int = 60, limit: int | None = None) -> list[tuple[str, float]]:
    """Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009).

    fused(d) = Σ_r 1 / (k + rank_r(d)), with rank_r(d) the 1-based position of
    d in ranking r (rankings not containing d add nothing). Scores are ignored:
    only the positions count. ``k = 60`` as in the paper.
    """
    if k < 0:
        raise ValueError("k must be ≥ 0")
    fused: dict[str, float] = {}
    for ranking in rankings:
        for position, doc_id in enumerate(_doc_ids(ranking), start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (k + position)
    return _finish(fused, limit)


def normalize(scores: Sequence[float], method: str = "minmax") -> list[float]:
    """Normalise one ranking's scores.

    ``minmax``: (s − min) / (max − min), all 1.0 when max = min;
    ``zscore``: (s − mean) / std (population std), all 0.0 when std = 0.
    """
    values = list(scores)
    if not values:
        return []
    if method == "minmax":
        lo, hi = min(values), max(values)
        if hi == lo:
            return [1.0] * len(values)
        return [(s - lo) / (hi - lo) for s in values]
    if method == "zscore":
        mean = sum(values) / len(values)
        std = math.sqrt(sum((s - mean) ** 2 for s in values) / len(values))
        if std == 0:
            return [0.0] * len(values)
        return [(s - mean) / std for s in values]
    raise ValueError(f"unknown normalization {method!r}; expected 'minmax' or 'zscore'")


def weighted_fusion(
    rankings: Sequence[Ranking],
    weights: Sequence[float] | None = None,
    normalization: str = "minmax",
    limit: int | None = None,
) -> list[tuple[str, float]]:
    """Weighted sum of per-ranking normalised scores (CombSUM with weights; Fox & Shaw 1994).

    fused(d) = Σ_r w_r · norm_r(s_r(d)), where norm_r is :func:`normalize`
    over ranking r's own scores and a document absent from ranking r adds 0.
    ``weights`` default to 1/len(rankings) each.
    """
    if weights is None:
        weights = [1.0 / len(rankings)] * len(rankings) if rankings else []
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        ranking = _dedupe(ranking)
        normed = normalize([s for _, s in ranking], normalization)
        for (doc_id, _), value in zip(ranking, normed):
            fused[doc_id] = fused.get(doc_id, 0.0) + weight * value
    return _finish(fused, limit)
