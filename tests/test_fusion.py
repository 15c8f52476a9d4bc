import random

import pytest

from core.retrieval.fusion import normalize, rrf, weighted_fusion

BM25 = [("a", 12.0), ("b", 9.0), ("c", 3.0)]
DENSE = [("c", 0.9), ("d", 0.8), ("a", 0.1)]


def test_rrf_hand_computed():
    fused = dict(rrf([BM25, DENSE]))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 63)   # rank 1 and rank 3
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)   # rank 3 and rank 1
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["d"] == pytest.approx(1 / 62)
    # a and c tie exactly, as do b and d: order of first appearance breaks it.
    assert [d for d, _ in rrf([BM25, DENSE])] == ["a", "c", "b", "d"]
    assert [d for d, _ in rrf([BM25, DENSE], limit=2)] == ["a", "c"]
    assert dict(rrf([BM25], k=0)) == {"a": 1.0, "b": 0.5, "c": pytest.approx(1 / 3)}
    assert rrf([]) == [] and rrf([[]]) == []


def test_repeated_doc_counts_once_at_best_position():
    assert dict(rrf([[("a", 2.0), ("a", 1.0), ("b", 0.5)]])) == {"a": 1 / 61, "b": 1 / 62}


def test_normalisations():
    assert normalize([10.0, 5.0, 0.0]) == [1.0, 0.5, 0.0]
    assert normalize([3.0, 3.0]) == [1.0, 1.0]
    z = normalize([3.0, 1.0, 2.0], "zscore")   # mean 2, population std sqrt(2/3)
    assert z == pytest.approx([1 / (2 / 3) ** 0.5, -1 / (2 / 3) ** 0.5, 0.0])
    assert normalize([4.0, 4.0], "zscore") == [0.0, 0.0]
    with pytest.raises(ValueError):
        normalize([1.0], "softmax")


def test_weighted_fusion_hand_computed():
    # minmax: BM25 a=1, b=6/9, c=0; dense c=1, d=0.875, a=0.
    fused = dict(weighted_fusion([BM25, DENSE], weights=[0.3, 0.7]))
    assert fused["a"] == pytest.approx(0.3)
    assert fused["b"] == pytest.approx(0.3 * 6 / 9)
    assert fused["c"] == pytest.approx(0.7)
    assert fused["d"] == pytest.approx(0.7 * 0.875)
    assert [d for d, _ in weighted_fusion([BM25, DENSE], weights=[0.3, 0.7])] == ["c", "d", "a", "b"]
    # Default weights are equal.
    assert weighted_fusion([BM25, DENSE]) == weighted_fusion([BM25, DENSE], weights=[0.5, 0.5])
    with pytest.raises(ValueError):
        weighted_fusion([BM25, DENSE], weights=[1.0])


def _ranking(rng, docs):
    picked = rng.sample(docs, 15)
    scores = sorted((rng.uniform(-5, 20) for _ in picked), reverse=True)
    return list(zip(picked, scores))


# Slow only because ranx's fusion module JIT-compiles for ~20 s on first use.
@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_ranx_fusion(seed):
    from ranx import Run, fuse

    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(30)]
    a, b = _ranking(rng, docs), _ranking(rng, docs)
    runs = [Run({"q": dict(a)}), Run({"q": dict(b)})]
    ref = fuse(runs, method="rrf", params={"k": 60}).to_dict()["q"]
    ours = dict(rrf([a, b]))
    assert ours.keys() == ref.keys()
    assert all(ours[d] == pytest.approx(ref[d], abs=1e-9) for d in ours)
    ref = fuse(runs, norm="min-max", method="wsum", params={"weights": [0.4, 0.6]}).to_dict()["q"]
    ours = dict(weighted_fusion([a, b], weights=[0.4, 0.6]))
    assert all(ours[d] == pytest.approx(ref[d], abs=1e-9) for d in ours)
