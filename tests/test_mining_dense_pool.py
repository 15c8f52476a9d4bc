"""Exact dense pools through the int8 product (core.mining.dense_pool) against the full fp32 product.

The reference is what the miner does today: the full fp32 row
(:func:`core.mining.scores._matmul_t`) cut by :func:`core.mining.scores.pool_arrays`,
and ordinal ranks counted on that row.

Near ties: a gathered fp32 product may differ from the full matmul's row by
an ulp, which could swap two documents whose scores differ by an ulp. Most
tests therefore use *dyadic* data (entries k/64, |k| ≤ 127, dimension ≤ 64):
every product and partial sum is exact in fp32 whatever the summation order,
so both sides compute identical scores and exact ties are real ties, and
doc order and scores must match exactly. The random unit-vector test allows
a swap only between documents whose reference scores differ by < 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.mining import dense_pool
from core.mining.dense_pool import DenseCorpus, dense_pools, iter_dense_pools
from core.mining.scores import _matmul_t, pool_arrays
from core.progress import Cancelled, Progress

SMALL = 1_000  # the int8 path from 1,000 documents (production starts it at larger corpora)


def reference(docs: np.ndarray, queries: np.ndarray, depth: int, extra: list[np.ndarray]):
    """Pools, extra scores and extra ordinal ranks from the full fp32 rows."""
    rows = _matmul_t(queries.astype(np.float32), docs.astype(np.float32))
    pools, ex_scores, ex_ranks = [], [], []
    for row, wanted in zip(rows, extra):
        pool = pool_arrays("", row, {}, depth)
        pools.append((pool.docs, pool.scores.astype(np.float32)))
        ex_scores.append(row[wanted])
        ex_ranks.append(np.array([np.count_nonzero(row > row[j]) + np.count_nonzero(row[:j] == row[j]) + 1
                                  for j in wanted], np.int64))
    return pools, ex_scores, ex_ranks


def dyadic(rng: np.random.Generator, shape, spread: int = 100) -> np.ndarray:
    return (rng.integers(-spread, spread + 1, shape) / 64.0).astype(np.float32)


def assert_exact(block, docs, queries, depth, extra) -> None:
    pools, ex_scores, ex_ranks = reference(docs, queries, depth, extra)
    for i, (ref_docs, ref_scores) in enumerate(pools):
        np.testing.assert_array_equal(block.docs[i], ref_docs)
        np.testing.assert_array_equal(block.scores[i], ref_scores)
        np.testing.assert_array_equal(block.extra_scores[i], ex_scores[i])
        np.testing.assert_array_equal(block.extra_ranks[i], ex_ranks[i])


def deep_extras(rng, n_docs: int, n_queries: int) -> list[np.ndarray]:
    """Three random corpus rows per query: in a corpus of thousands they mostly rank in the thousands."""
    return [rng.choice(n_docs, 3, replace=False) for _ in range(n_queries)]


def test_non_unit_data_with_duplicate_docs_matches_the_full_product():
    rng = np.random.default_rng(1)
    base = dyadic(rng, (1500, 48))
    # Every document appears twice or three times, at scattered rows: each pool
    # and each rank depends on the corpus-row tie rule.
    docs = np.concatenate([base, base, base[:600]])[rng.permutation(3600)]
    queries = dyadic(rng, (40, 48))
    extra = deep_extras(rng, len(docs), len(queries))
    corpus = DenseCorpus(docs, min_int8_docs=SMALL)
    block = dense_pools(corpus, queries, 60, extra)
    assert block.used_int8
    assert 0 < block.rescored < len(docs) * len(queries) / 4
    ranks = np.concatenate(block.extra_ranks)
    assert ranks.max() > 1000  # extras deep in the ranking were ranked exactly
    assert_exact(block, docs, queries, 60, extra)


def test_extras_just_below_the_pool_rank_among_the_candidates_ties_included():
    # Rows ranked just past the pool score above the rescored floor L: they are ranked among
    # the candidates, not by a band. Every document twice: a tie decides many of those ranks.
    rng = np.random.default_rng(8)
    base = dyadic(rng, (1500, 48))
    docs = np.concatenate([base, base])[rng.permutation(3000)]
    queries = dyadic(rng, (24, 48))
    rows = _matmul_t(queries, docs)
    extra = [np.lexsort((np.arange(len(row)), -row))[[3, 40, 41, 42, 45, 50, 57, 64, 70]] for row in rows]
    block = dense_pools(DenseCorpus(docs, min_int8_docs=SMALL), queries, 40, extra)
    assert block.used_int8
    assert_exact(block, docs, queries, 40, extra)


def test_clustered_data_with_wide_bands_matches_the_full_product():
    rng = np.random.default_rng(2)
    centers = rng.integers(-90, 91, (6, 32))
    labels = rng.integers(0, 6, 3000)
    # Documents within ±3/64 of a few centres: thousands sit inside each query's band.
    docs = ((centers[labels] + rng.integers(-3, 4, (3000, 32))) / 64.0).astype(np.float32)
    queries = ((centers[rng.integers(0, 6, 24)] + rng.integers(-20, 21, (24, 32))) / 64.0).astype(np.float32)
    extra = deep_extras(rng, len(docs), len(queries))
    block = dense_pools(DenseCorpus(docs, min_int8_docs=SMALL), queries, 100, extra)
    assert block.used_int8 and block.rescored > 500 * len(queries)  # many rescored per query
    assert_exact(block, docs, queries, 100, extra)


def test_random_unit_vectors_agree_up_to_ulp_level_swaps():
    rng = np.random.default_rng(3)
    docs = rng.standard_normal((5000, 64)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = docs[rng.choice(5000, 30)] + 0.3 * rng.standard_normal((30, 64)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    extra = deep_extras(rng, len(docs), len(queries))
    block = dense_pools(DenseCorpus(docs, min_int8_docs=SMALL), queries, 120, extra)
    assert block.used_int8
    pools, ex_scores, ex_ranks = reference(docs, queries, 120, extra)
    for i, (ref_docs, ref_scores) in enumerate(pools):
        row = _matmul_t(queries[i:i + 1], docs)[0]
        np.testing.assert_allclose(block.scores[i], ref_scores, atol=1e-6, rtol=0)
        for got, want, score in zip(block.docs[i], ref_docs, ref_scores):
            if got != want:  # only a near-tie may swap: the two reference scores within 1e-6
                assert abs(row[got] - score) < 1e-6
        np.testing.assert_allclose(block.extra_scores[i], ex_scores[i], atol=1e-6, rtol=0)
        for j, got, want in zip(extra[i], block.extra_ranks[i], ex_ranks[i]):
            if got != want:  # only by the number of documents within 1e-6 of it
                assert abs(got - want) < np.count_nonzero(np.abs(row - row[j]) < 1e-6)


def test_a_corpus_smaller_than_depth_and_depth_over_the_corpus():
    rng = np.random.default_rng(4)
    small = dyadic(rng, (10, 16))
    queries = dyadic(rng, (5, 16))
    extra = [np.array([3, 9])] * 5
    block = dense_pools(DenseCorpus(small, min_int8_docs=SMALL), queries, 50, extra)
    assert block.docs.shape == (5, 10)
    assert_exact(block, small, queries, 10, extra)

    big = dyadic(rng, (2500, 16))
    extra = deep_extras(rng, 2500, 5)
    block = dense_pools(DenseCorpus(big, min_int8_docs=SMALL), queries, 2500, extra)
    assert block.docs.shape == (5, 2500) and not block.used_int8
    assert_exact(block, big, queries, 2500, extra)


def test_an_empty_corpus_gives_empty_pools():
    block = dense_pools(DenseCorpus(np.zeros((0, 8), np.float32)), np.ones((3, 8), np.float32), 10,
                        [np.zeros(0, np.int64)] * 3)
    assert block.docs.shape == (3, 0) and block.scores.shape == (3, 0)


@pytest.mark.parametrize("how", ["refused", "no_int_mm", "zero_query"])
def test_the_full_product_fallback_gives_the_same_pools(monkeypatch, how):
    rng = np.random.default_rng(5)
    docs = dyadic(rng, (3000, 24))
    queries = dyadic(rng, (12, 24))
    extra = deep_extras(rng, 3000, 12)
    if how == "refused":
        corpus = DenseCorpus(docs, use_int8=False, min_int8_docs=SMALL)
    elif how == "no_int_mm":
        monkeypatch.setattr(dense_pool, "_INT_MM_CHECKED", False)
        corpus = DenseCorpus(docs, min_int8_docs=SMALL)
    else:
        queries[3] = 0.0  # every score 0: nothing for the int8 product to locate
        corpus = DenseCorpus(docs, min_int8_docs=SMALL)
    assert corpus.uses_int8 == (how == "zero_query")
    block = dense_pools(corpus, queries, 40, extra)
    assert not block.used_int8 and block.rescored == 0
    assert_exact(block, docs, queries, 40, extra)


def test_a_build_wanting_a_contiguous_operand_gets_a_copy_and_the_same_pools(monkeypatch):
    import torch

    monkeypatch.setattr(dense_pool, "_INT_MM_CHECKED", (torch._int_mm, True))
    rng = np.random.default_rng(7)
    docs = dyadic(rng, (3000, 24))
    queries = dyadic(rng, (12, 24))
    extra = deep_extras(rng, 3000, 12)
    corpus = DenseCorpus(docs, min_int8_docs=SMALL)
    assert corpus.codes_t.is_contiguous() and corpus.codes_t.shape == (24, 3000)
    block = dense_pools(corpus, queries, 40, extra)
    assert block.used_int8
    assert_exact(block, docs, queries, 40, extra)


def dyadic_case(seed: int, n_docs: int, n_queries: int, dim: int):
    """Dyadic documents and queries, deep extras, and the corpus on the int8 path."""
    rng = np.random.default_rng(seed)
    docs = dyadic(rng, (n_docs, dim))
    queries = dyadic(rng, (n_queries, dim))
    return docs, queries, deep_extras(rng, n_docs, n_queries), DenseCorpus(docs, min_int8_docs=SMALL)


def test_blocks_reuse_the_corpus_score_buffer_but_never_one_in_use():
    docs, queries, extra, corpus = dyadic_case(9, 3000, 40, 24)
    first = dense_pools(corpus, queries[:16], 40, extra[:16])
    second = dense_pools(corpus, queries[16:], 40, extra[16:])  # more rows: a larger buffer
    assert first.used_int8 and second.used_int8
    assert_exact(first, docs, queries[:16], 40, extra[:16])  # not overwritten by the second block
    assert_exact(second, docs, queries[16:], 40, extra[16:])
    with corpus.score_buffer(24) as held:  # as another thread mid-block: this one gets a fresh output
        held.fill_(7)
        block = dense_pools(corpus, queries[16:], 40, extra[16:])
        assert (held == 7).all()
    assert_exact(block, docs, queries[16:], 40, extra[16:])


def test_nan_or_infinite_vectors_are_refused():
    docs = np.ones((3000, 8), np.float32)
    docs[7, 1] = np.nan
    with pytest.raises(ValueError, match="document vector 7"):
        DenseCorpus(docs, min_int8_docs=SMALL)
    queries = np.ones((4, 8), np.float32)
    queries[2, 0] = np.inf
    with pytest.raises(ValueError, match="query vector 2"):
        dense_pools(DenseCorpus(np.ones((3000, 8), np.float32), min_int8_docs=SMALL), queries, 10)


def test_blocks_cover_every_query_and_the_job_can_be_cancelled():
    docs, queries, extra, corpus = dyadic_case(6, 2100, 300, 16)
    starts, pooled = [], []
    for start, block in iter_dense_pools(corpus, queries, 30, extra):
        starts.append(start)
        pooled.append(block.docs)
    assert starts == list(range(0, 300, 64)) and np.concatenate(pooled).shape == (300, 30)
    assert_exact(dense_pools(corpus, queries, 30, extra), docs, queries, 30, extra)
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        next(iter_dense_pools(corpus, queries, 30, extra, progress))


def test_the_full_product_path_orders_duplicate_docs_by_corpus_row():
    # The fp32 path (small corpora) takes one top-k over the block: documents tied inside
    # the pool and at its cut must still come in corpus order, as pool_arrays puts them.
    rng = np.random.default_rng(7)
    # Every document twice: pairs tie inside the pools, and at the cut in about half the rows.
    # Dyadic entries: every product is exact, so a duplicate scores exactly the same.
    base = dyadic(rng, (400, 16))
    docs = np.concatenate([base, base])[rng.permutation(800)]
    queries = dyadic(rng, (30, 16))
    extra = deep_extras(rng, len(docs), len(queries))
    block = dense_pools(DenseCorpus(docs, use_int8=False), queries, 24, extra)  # even: pairs mostly whole
    assert not block.used_int8
    assert_exact(block, docs, queries, 24, extra)
