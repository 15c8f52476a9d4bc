"""The array path of the mining rules (core.mining.decisions.decide_pool) decides exactly
what the readable reference (core.mining.rules.decide) decides: same candidates, same
order, same reasons and statuses, on hundreds of seeded random pools.

The pools are built to hit every corner: ties in scores (scores from a coarse grid),
negative scores, all four kinds of label and rejections (also of labeled documents and of
documents outside the pool), labeled documents outside the pool, no relevant label at all,
margins None / 0 / positive / negative, max and min scores, rank windows wider and narrower
than the pool, every sampling mode, and a teacher (with ties of its own) or none.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from core.mining.config import SAMPLINGS, MiningConfig
from core.mining.decisions import REASON_CODE, decide_block, decide_pool
from core.mining.rules import decide
from core.mining.scores import Pool, PoolBlock, pool_arrays

GRID = [x / 8 for x in range(-8, 9)]  # coarse: many exact ties, and negative scores


def _score(rng: random.Random) -> float:
    return rng.choice(GRID) if rng.random() < 0.6 else rng.uniform(-1.0, 1.0)


def _maybe(rng: random.Random, values) -> float | None:
    return None if rng.random() < 0.4 else rng.choice(values)


def random_case(seed: int, query_id: str = "q"):
    rng = random.Random(seed)
    n_in, n_out, n_corpus = rng.randint(0, 40), rng.randint(0, 3), 60
    rows = rng.sample(range(n_corpus), n_in + n_out)  # corpus rows, not pool positions
    doc_ids = [f"d{i}" for i in range(n_corpus)]
    scores = [_score(rng) for _ in range(n_in)]
    if rng.random() < 0.5:
        scores.sort(reverse=True)  # a real pool is best first; the rules must not rely on it
    out_ranks = rng.sample(range(n_in + 1, 200), n_out)
    teacher = None
    if rng.random() < 0.4:
        teacher = np.asarray([_score(rng) for _ in range(n_in + n_out)], np.float64)
    pool = Pool(
        query_id, np.asarray(rows, np.int64),
        np.asarray(list(range(1, n_in + 1)) + out_ranks, np.int64),
        np.asarray(scores + [_score(rng) for _ in range(n_out)], np.float64),
        np.asarray([True] * n_in + [False] * n_out), teacher)
    label_p = rng.random()
    labels = {}
    for row in rows:
        if rng.random() < label_p:
            labels[doc_ids[row]] = rng.choice(["positive", "false_negative", "negative"])
    labels.update({f"d{rng.randrange(n_corpus)}": "negative" for _ in range(rng.randint(0, 2))})
    labels["unknown-doc"] = "positive"  # not in the corpus: neither path may count it
    rejected = {doc_ids[r] for r in rows if rng.random() < 0.15} | {"unknown-doc", "gone"}
    range_min = rng.choice([0, 0, 1, 3])
    range_max = range_min + rng.choice([1, 2, 5, 10, 50])
    config = MiningConfig(
        source="bm25", num_negatives=rng.randint(1, range_max - range_min),
        range_min=range_min, range_max=range_max,
        absolute_margin=_maybe(rng, [0.0, 0.05, 0.125, 0.3, -0.1]),
        relative_margin=_maybe(rng, [0.0, 0.05, 0.25, -0.1]),
        max_score=_maybe(rng, [0.5, 0.875, 0.0]), min_score=_maybe(rng, [-0.5, -0.125, 0.25]),
        sampling=rng.choice(SAMPLINGS), simans_a=rng.choice([0.0, 0.5, 3.0]),
        simans_b=rng.choice([0.0, 0.1, -0.2]), seed=rng.randrange(1000))
    return pool, labels, rejected, config, doc_ids


@pytest.mark.parametrize("chunk", range(6))
def test_fast_path_equals_decide_on_random_pools(chunk):
    hit = set()
    for seed in range(chunk * 100, chunk * 100 + 100):
        pool, labels, rejected, config, doc_ids = random_case(seed)
        doc_index = {d: i for i, d in enumerate(doc_ids)}
        expected = decide(pool.scored(doc_ids), labels, rejected, config)
        fast = decide_pool(pool, labels, rejected, config, doc_index)
        assert fast.as_decisions(pool, doc_ids) == expected, (seed, config)
        hit.update(d.reason for d in expected)
    # The pools do reach the rules: every rule decides something in each chunk of 100.
    assert hit == set(REASON_CODE), set(REASON_CODE) - hit


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("block_seed", range(6))
def test_block_of_pools_decides_each_pool_as_decide_does(block_seed, sampling):
    # The miner decides a block of queries at once: each query's decisions must be what
    # decide makes of its pool alone (its own labels, rejections and sampling stream),
    # whatever pools stand next to it. One configuration per block, as in a pass.
    rng = random.Random(block_seed)
    n = rng.randint(1, 40)
    cases = [random_case(block_seed * 1000 + i, query_id=f"q{i}") for i in range(n)]
    config = cases[0][3].replace(sampling=sampling)
    with_teacher = cases[0][0].teacher_scores is not None
    cases = [c for c in cases if (c[0].teacher_scores is not None) == with_teacher]
    doc_ids = cases[0][4]
    doc_index = {d: i for i, d in enumerate(doc_ids)}
    block = PoolBlock.of([c[0] for c in cases])
    decided = decide_block(block, {c[0].query_id: c[1] for c in cases},
                           {c[0].query_id: c[2] for c in cases}, config, doc_index)
    assert len(decided.offsets) == len(cases) + 1
    for k, (pool, labels, rejected, _, _) in enumerate(cases):
        expected = decide(pool.scored(doc_ids), labels, rejected, config)
        assert decided.of_query(k, block).as_decisions(block.pool(k), doc_ids) == expected, (block_seed, k)
        assert decided.kept_per_query()[k] == sum(d.reason == "kept" for d in expected)


def test_pool_arrays_match_hand_computed_pool():
    # Ties at the cut are taken in corpus order; a labeled document outside the pool gets its
    # exact corpus rank (ties before it in corpus order count).
    row = np.asarray([0.5, 0.9, 0.5, 0.1, 0.5, 0.7], np.float32)
    doc_index = {f"d{i}": i for i in range(6)}
    pool = pool_arrays("q", row, doc_index, 3, ["d4", "d3", "d1", "missing"])
    assert pool.docs.tolist() == [1, 5, 0, 4, 3]
    assert pool.ranks.tolist() == [1, 2, 3, 5, 6]
    assert pool.scores.tolist() == [0.8999999761581421, 0.699999988079071, 0.5, 0.5,
                                    0.10000000149011612]
    assert pool.in_pool.tolist() == [True, True, True, False, False]


def test_competition_ranks_count_the_strictly_higher_scores():
    # The BM25 second opinion ranks a candidate by how many documents score higher (ties
    # share a rank), over zeros (most of a BM25 row), negatives and duplicate values.
    from core.mining.scores import competition_ranks_of

    rng = np.random.default_rng(3)
    for _ in range(50):
        row = rng.choice([0.0, 0.0, 0.0, 1.5, 2.25, -0.5, 3.0], 40) + rng.choice([0.0, 1e-9], 40)
        wanted = rng.choice(40, 12, replace=False)
        expected = [1 + int(np.count_nonzero(row > row[j])) for j in wanted]
        assert competition_ranks_of(row, wanted).tolist() == expected
