"""Paired comparison of two systems' per-query scores (e.g. nDCG@10 per query).

Two tests, both two-sided, on the per-query deltas d_q = b_q − a_q:

- Student's paired t-test: t = mean(d) / (sd(d) / √n), n − 1 degrees of freedom
  (``scipy.stats.ttest_rel``).
- Fisher's randomisation test as IR uses it (Smucker, Allan & Carterette,
  CIKM 2007; ranx's ``fisher``): under the null hypothesis the two systems are
  exchangeable per query, so each d_q's sign is a coin flip. The p-value is the
  share of sign assignments s with |Σ s_q·d_q| ≥ |Σ d_q|. When 2^n is at most
  ``n_permutations`` every assignment is enumerated (exact p-value); otherwise
  ``n_permutations`` random ones are drawn with ``seed`` (ranx's estimator:
  count / n_permutations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import stats

__all__ = ["PairedComparison", "paired_compare", "TIE_TOLERANCE"]

TIE_TOLERANCE = 1e-9
_CHUNK = 2048


@dataclass
class PairedComparison:
    """Result of :func:`paired_compare`; ``deltas`` are b − a per query (a's query order)."""

    deltas: dict[str, float]
    wins: int  # queries where b beats a by more than TIE_TOLERANCE
    ties: int
    losses: int
    mean_a: float
    mean_b: float
    t_statistic: float  # NaN when n < 2
    t_pvalue: float
    permutation_pvalue: float
    n_permutations: int = 0  # sign assignments examined
    permutation_exact: bool = False  # True when all 2^n assignments were enumerated

    @property
    def n(self) -> int:
        return len(self.deltas)

    @property
    def mean_delta(self) -> float:
        return self.mean_b - self.mean_a


def paired_compare(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    n_permutations: int = 10000,
    seed: int = 0,
) -> PairedComparison:
    """Compare system b against system a over the same queries (ValueError if the query sets differ or are empty)."""
    if set(a) != set(b):
        only_a, only_b = len(set(a) - set(b)), len(set(b) - set(a))
        raise ValueError(f"the runs cover different queries ({only_a} only in a, {only_b} only in b)")
    if not a:
        raise ValueError("no queries to compare")
    if n_permutations < 1:
        raise ValueError("n_permutations must be ≥ 1")
    qids = list(a)
    va = np.array([a[q] for q in qids], dtype=np.float64)
    vb = np.array([b[q] for q in qids], dtype=np.float64)
    d = vb - va
    wins = int((d > TIE_TOLERANCE).sum())
    losses = int((d < -TIE_TOLERANCE).sum())
    t_stat, t_p = _paired_t(va, vb, d)
    if 2 ** len(d) <= n_permutations:
        perm_p, examined, exact = _exact_pvalue(d), 2 ** len(d), True
    else:
        perm_p, examined, exact = _randomised_pvalue(d, n_permutations, np.random.default_rng(seed)), n_permutations, False
    return PairedComparison(
        deltas=dict(zip(qids, d.tolist())),
        wins=wins, ties=len(d) - wins - losses, losses=losses,
        mean_a=float(va.mean()), mean_b=float(vb.mean()),
        t_statistic=t_stat, t_pvalue=t_p,
        permutation_pvalue=perm_p, n_permutations=examined, permutation_exact=exact,
    )


def _paired_t(va: np.ndarray, vb: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    if len(d) < 2:
        return math.nan, math.nan
    if np.all(d == d[0]):
        # scipy gives NaN for zero variance; the limits are unambiguous.
        if d[0] == 0:
            return 0.0, 1.0
        return math.copysign(math.inf, d[0]), 0.0
    res = stats.ttest_rel(vb, va)
    return float(res.statistic), float(res.pvalue)


def _tolerance(d: np.ndarray) -> float:
    # Sign assignments with the same |sum| in exact arithmetic can differ by
    # rounding; they must count as "as extreme".
    return 1e-10 * (1.0 + float(np.abs(d).sum()))


def _exact_pvalue(d: np.ndarray) -> float:
    n = len(d)
    observed = abs(float(d.sum()))
    tol = _tolerance(d)
    extreme = 0
    bits = np.arange(n, dtype=np.int64)
    for start in range(0, 2**n, _CHUNK):
        codes = np.arange(start, min(start + _CHUNK, 2**n), dtype=np.int64)
        signs = 1.0 - 2.0 * ((codes[:, None] >> bits) & 1)
        extreme += int((np.abs(signs @ d) >= observed - tol).sum())
    return extreme / 2**n


def _randomised_pvalue(d: np.ndarray, n_permutations: int, rng: np.random.Generator) -> float:
    observed = abs(float(d.sum()))
    tol = _tolerance(d)
    extreme = 0
    done = 0
    # Bound each chunk's sign matrix to about 4M entries.
    chunk = max(1, min(n_permutations, 4_000_000 // max(len(d), 1)))
    while done < n_permutations:
        m = min(chunk, n_permutations - done)
        signs = 1.0 - 2.0 * rng.integers(0, 2, size=(m, len(d)), dtype=np.int8)
        extreme += int((np.abs(signs @ d) >= observed - tol).sum())
        done += m
    return extreme / n_permutations
