import itertools
import math
import random

import numpy as np
import pytest
from scipy import stats

from core.evaluation.stats import _exact_pvalue, _randomised_pvalue, paired_compare

A = {"q1": 0.5, "q2": 0.2, "q3": 0.9, "q4": 0.4}
B = {"q1": 0.7, "q2": 0.2, "q3": 0.6, "q4": 0.9}


def test_hand_checked_small_case():
    res = paired_compare(A, B)
    assert res.deltas == pytest.approx({"q1": 0.2, "q2": 0.0, "q3": -0.3, "q4": 0.5})
    assert (res.wins, res.ties, res.losses) == (2, 1, 1)
    assert res.mean_a == pytest.approx(0.5) and res.mean_b == pytest.approx(0.6)
    assert res.mean_delta == pytest.approx(0.1) and res.n == 4
    # Observed |Σd| = 0.4. The sign of q2's 0 does not matter; the 8 sign
    # patterns of (0.2, -0.3, 0.5) give sums 1.0, 0, 0.4, -0.6, 0.6, -0.4, 0, -1.0:
    # 6 of 8 reach |0.4|, so p = 0.75.
    assert res.permutation_exact and res.n_permutations == 16
    assert res.permutation_pvalue == pytest.approx(0.75)
    # t = mean(d) / (sd(d)/√n): mean 0.1, deviations 0.1, -0.1, -0.4, 0.4 ->
    # sd = √(0.34/3) = 0.33665 -> t = 0.1 / (0.33665/2) = 0.5941
    assert res.t_statistic == pytest.approx(0.1 / (math.sqrt(0.34 / 3) / 2))
    assert res.t_statistic == pytest.approx(0.5941, abs=1e-4)
    ref = stats.ttest_rel(list(B.values()), list(A.values()))
    assert res.t_statistic == pytest.approx(ref.statistic) and res.t_pvalue == pytest.approx(ref.pvalue)


def test_exact_enumeration_matches_brute_force():
    rng = random.Random(1)
    d = np.array([rng.uniform(-1, 1) for _ in range(9)])
    brute = sum(abs(sum(s * x for s, x in zip(signs, d))) >= abs(d.sum()) - 1e-12
                for signs in itertools.product([1, -1], repeat=9)) / 2**9
    assert _exact_pvalue(d) == pytest.approx(brute)


def test_randomised_estimate_agrees_with_exact_value():
    rng = random.Random(2)
    d = np.array([rng.gauss(0.05, 0.2) for _ in range(14)])
    exact = _exact_pvalue(d)
    estimate = _randomised_pvalue(d, 20000, np.random.default_rng(0))
    assert abs(estimate - exact) < 0.015  # ~4 standard errors at 20,000 draws
    assert _randomised_pvalue(d, 5000, np.random.default_rng(7)) == _randomised_pvalue(
        d, 5000, np.random.default_rng(7))  # seeded: reproducible


def test_many_queries_use_seeded_random_permutations():
    rng = random.Random(3)
    a = {f"q{i}": rng.random() for i in range(60)}
    b = {q: min(1.0, v + rng.gauss(0.03, 0.1)) for q, v in a.items()}
    res = paired_compare(a, b, n_permutations=4000, seed=5)
    assert not res.permutation_exact and res.n_permutations == 4000
    assert res == paired_compare(a, b, n_permutations=4000, seed=5)
    ref = stats.ttest_rel(list(b.values()), list(a.values()))
    assert res.t_pvalue == pytest.approx(ref.pvalue)
    # With 60 queries the randomisation and t-test p-values are close (Smucker et al. 2007).
    assert abs(res.permutation_pvalue - res.t_pvalue) < 0.05


def test_identical_and_degenerate_runs():
    same = paired_compare(A, A)
    assert (same.wins, same.ties, same.losses) == (0, 4, 0)
    assert same.t_statistic == 0.0 and same.t_pvalue == 1.0 and same.permutation_pvalue == 1.0
    shifted = paired_compare({"x": 0.0, "y": 0.5}, {"x": 0.25, "y": 0.75})
    assert shifted.t_statistic == math.inf and shifted.t_pvalue == 0.0
    one = paired_compare({"x": 0.1}, {"x": 0.3})
    assert math.isnan(one.t_statistic) and one.permutation_pvalue == 1.0
    with pytest.raises(ValueError):
        paired_compare({"x": 1.0}, {"y": 1.0})
    with pytest.raises(ValueError):
        paired_compare({}, {})


@pytest.mark.slow
def test_permutation_pvalue_agrees_with_ranx():
    from ranx.statistical_tests.fisher_randomization_test import (
        fisher_randomization_test,
    )

    rng = np.random.default_rng(4)
    a = rng.random(80)
    b = np.clip(a + rng.normal(0.02, 0.15, 80), 0, 1)
    ours = paired_compare({str(i): v for i, v in enumerate(a)}, {str(i): v for i, v in enumerate(b)},
                          n_permutations=20000).permutation_pvalue
    ref, _ = fisher_randomization_test(a, b, n_permutations=20000, max_p=0.05, random_seed=42)
    assert abs(ours - ref) < 0.02  # both are Monte Carlo estimates (SE ≈ 0.0035)
