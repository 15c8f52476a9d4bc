"""Our miner against sentence-transformers' mine_hard_negatives on shared random embeddings.

Both sides get identical unit vectors (the reference through its own
embedding cache, checked to be hit: the model never encodes), so with top
sampling every selected negative must match, for each rule and for queries
with several positives. Random sampling is compared as a distribution:
over thousands of queries with the same window, the subsets each side
picks must both be uniform and alike (chi-square). SimANS, which
sentence-transformers lacks, is compared with its exact distribution:
sampling without replacement with p ∝ exp(−a·(s − pos − b)²), summed over
every order of drawing. The real-data version (SciFact, the bundled model)
is tests/test_mining_parity.py.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import numpy as np
import pytest
from conftest import cache_missed
from helpers_candidates import candidate_rows
from helpers_mining import (
    identity_model,
    make_array_project,
    normalized,
    st_reference_negatives,
    synthetic_embeddings,
)
from scipy.stats import chi2_contingency, chisquare

from core.mining.config import MiningConfig
from core.mining.miner import mine
from core.mining.scores import DenseRows
from core.mining.store import pass_candidates
from core.project.file import Project

N_DOCS, N_QUERIES, DIM = 120, 16, 12


@pytest.fixture(scope="module")
def model():
    return identity_model()


@pytest.fixture
def encoding_forbidden(model, monkeypatch):
    """The reference must take every vector from its cache: any encode call is recorded."""
    calls = []
    for name in ("encode", "encode_query", "encode_document"):
        monkeypatch.setattr(model, name, cache_missed(name, calls))
    yield calls
    assert calls == [], "mine_hard_negatives encoded instead of reading our vectors from its cache"


@pytest.fixture(scope="module")
def data():
    docs, queries, positives = synthetic_embeddings(N_DOCS, N_QUERIES, DIM, max_positives=3, seed=7)
    doc_ids = [f"d{i}" for i in range(N_DOCS)]
    query_ids = [f"q{i}" for i in range(N_QUERIES)]
    return docs, queries, positives, doc_ids, query_ids


# relative_margin=None is spelled out: ours defaults to 0.05, mine_hard_negatives to no margin.
SETTINGS = [
    dict(num_negatives=3, range_max=10, relative_margin=None),
    dict(num_negatives=4, range_max=20, relative_margin=0.05),
    dict(num_negatives=3, range_min=2, range_max=12, absolute_margin=0.1, relative_margin=None),
    dict(num_negatives=5, range_max=30, max_score=0.4, min_score=0.05, relative_margin=None),
    dict(num_negatives=2, range_min=1, range_max=6, relative_margin=0.3, absolute_margin=0.02),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_top_negatives_equal_reference(tmp_path, model, encoding_forbidden, data, settings):
    docs, queries, positives, doc_ids, query_ids = data
    doc_texts = [f"document {d}" for d in doc_ids]
    query_texts = [f"query {q}" for q in query_ids]
    path = make_array_project(tmp_path / "p.rsproj", doc_ids, doc_texts, query_ids, query_texts,
                              [[doc_ids[i] for i in pos] for pos in positives])
    qrow = {q: i for i, q in enumerate(query_ids)}
    rows = DenseRows(doc_ids, docs, lambda qids: queries[[qrow[q] for q in qids]])
    with Project.open(path) as project:
        result = mine(project, MiningConfig(source="dense", sampling="top", **settings), rows=rows)
        ours = {q: [d.doc_id for d in pass_candidates(project, q, result.pass_number) if d.reason == "kept"]
                for q in query_ids}
    ref = st_reference_negatives(
        model, query_texts, [[doc_texts[i] for i in pos] for pos in positives], doc_texts,
        queries, docs, cache_dir=tmp_path / "st-cache", sampling_strategy="top", **settings)
    text_to_id = dict(zip(doc_texts, doc_ids))
    theirs = {q: [text_to_id[t] for t in ref[qt]] for q, qt in zip(query_ids, query_texts)}
    assert ours == theirs
    assert result.counts["proposed"] == sum(map(len, theirs.values())) > 0


# -- sampling distributions ------------------------------------------------------------

# One positive "p" (score 1) and candidates at falling cosine scores 0.95 .. 0.45:
# every query sees the same window of W candidates and keeps K of them.
W, K, TRIALS = 8, 3, 2400
CANDIDATE_SCORES = np.linspace(0.95, 0.45, 12)


def one_window_project(tmp_path):
    """TRIALS queries with the same vector, each with positive "p", over 12 candidates."""
    angles = np.arccos(np.concatenate([[1.0], CANDIDATE_SCORES]))
    docs = normalized(np.stack([np.cos(angles), np.sin(angles)], axis=1))
    doc_ids = ["p"] + [f"c{i:02d}" for i in range(len(CANDIDATE_SCORES))]
    query_ids = [f"q{i}" for i in range(TRIALS)]
    path = make_array_project(tmp_path / "window.rsproj", doc_ids, [f"document {d}" for d in doc_ids],
                              query_ids, [f"query {q}" for q in query_ids], [["p"]] * TRIALS)
    query_vectors = np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (TRIALS, 1))
    return path, doc_ids, docs, query_ids, query_vectors


def our_subsets(path, doc_ids, docs, query_ids, query_vectors, config) -> Counter:
    """How often each set of kept candidates came out, over all queries of one pass."""
    from core.mining.scores import DenseRows

    rows = DenseRows(doc_ids, docs, lambda qids: query_vectors[:len(qids)])
    with Project.open(path) as project:
        number = mine(project, config, rows=rows).pass_number
        kept: dict[str, list[str]] = {q: [] for q in query_ids}
        for r in candidate_rows(project.conn, number):
            if r.reason == "kept":
                kept[r.query_id].append(r.doc_id)
    return Counter(tuple(sorted(docs_)) for docs_ in kept.values())


def window_ids() -> list[str]:
    return [f"c{i:02d}" for i in range(W)]


def chi2_p(counts: Counter, probabilities: dict[tuple, float]) -> float:
    """Goodness-of-fit p-value; cells expected fewer than 5 times are pooled."""
    assert set(counts) <= set(probabilities), set(counts) - set(probabilities)
    n = sum(counts.values())
    observed, expected, rest_o, rest_e = [], [], 0, 0.0
    for cell, prob in probabilities.items():
        if prob * n >= 5:
            observed.append(counts.get(cell, 0))
            expected.append(prob * n)
        else:
            rest_o += counts.get(cell, 0)
            rest_e += prob * n
    if rest_e > 0:
        observed.append(rest_o)
        expected.append(rest_e)
    return float(chisquare(observed, expected).pvalue)


def uniform_subsets() -> dict[tuple, float]:
    cells = list(itertools.combinations(window_ids(), K))
    return {c: 1 / len(cells) for c in cells}


def successive_sampling(weights: dict[str, float]) -> dict[tuple, float]:
    """Exact P(kept set) when K items are drawn one by one without replacement, p ∝ weight."""
    total = sum(weights.values())
    out: dict[tuple, float] = {}
    for order in itertools.permutations(weights, K):
        p, left = 1.0, total
        for d in order:
            p *= weights[d] / left
            left -= weights[d]
        key = tuple(sorted(order))
        out[key] = out.get(key, 0.0) + p
    return out


def test_random_sampling_matches_mine_hard_negatives_in_distribution(tmp_path, model, encoding_forbidden):
    path, doc_ids, docs, query_ids, query_vectors = one_window_project(tmp_path)
    ours = our_subsets(path, doc_ids, docs, query_ids, query_vectors,
                       MiningConfig(source="dense", sampling="random", num_negatives=K, range_max=W, seed=11,
                                    relative_margin=None))
    state = random.getstate()  # the reference samples with the global random module
    random.seed(2024)
    try:
        ref = st_reference_negatives(
            model, [f"query {q}" for q in query_ids], [["document p"]] * TRIALS,
            [f"document {d}" for d in doc_ids], query_vectors, docs, cache_dir=tmp_path / "st-cache",
            sampling_strategy="random", num_negatives=K, range_max=W, relative_margin=None)
    finally:
        random.setstate(state)
    theirs = Counter(tuple(sorted(t.removeprefix("document ") for t in negs)) for negs in ref.values())
    assert sum(ours.values()) == sum(theirs.values()) == TRIALS
    uniform = uniform_subsets()
    # Both draw every K-subset of the window, and only those, uniformly ...
    assert chi2_p(ours, uniform) > 1e-3
    assert chi2_p(theirs, uniform) > 1e-3
    # ... and alike: one contingency table, ours against theirs.
    cells = sorted(uniform)
    table = [[ours.get(c, 0) for c in cells], [theirs.get(c, 0) for c in cells]]
    assert chi2_contingency(table).pvalue > 1e-3


@pytest.mark.parametrize("a, b", [(1.0, 0.0), (5.0, 0.0), (10.0, -0.2)])
def test_simans_sampling_follows_its_exact_distribution(tmp_path, a, b):
    path, doc_ids, docs, query_ids, query_vectors = one_window_project(tmp_path)
    ours = our_subsets(path, doc_ids, docs, query_ids, query_vectors,
                       MiningConfig(source="dense", sampling="simans", simans_a=a, simans_b=b,
                                    num_negatives=K, range_max=W, seed=5, relative_margin=None))
    assert sum(ours.values()) == TRIALS
    pos = 1.0
    scores = dict(zip(window_ids(), CANDIDATE_SCORES[:W]))
    exact = successive_sampling({d: math.exp(-a * (s - pos - b) ** 2) for d, s in scores.items()})
    assert chi2_p(ours, exact) > 1e-3
    # The weights matter at these a: the same counts are far from uniform
    # (so the test above can tell SimANS from uniform sampling).
    if a >= 5:
        assert chi2_p(ours, uniform_subsets()) < 1e-6
