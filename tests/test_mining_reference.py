"""Our miner against sentence-transformers' mine_hard_negatives on shared random embeddings.

Both sides get identical unit vectors (the reference through its own
embedding cache), so with top sampling every selected negative must match,
for each rule and for queries with several positives. The real-data version
(SciFact, the bundled model) is tests/test_mining_parity.py.
"""

from __future__ import annotations

import pytest
from helpers_mining import (
    identity_model,
    make_array_project,
    st_reference_negatives,
    synthetic_embeddings,
)

from core.mining.config import MiningConfig
from core.mining.miner import mine
from core.mining.scores import DenseRows
from core.mining.store import pass_candidates
from core.project.file import Project

N_DOCS, N_QUERIES, DIM = 120, 16, 12


@pytest.fixture(scope="module")
def model():
    return identity_model()


@pytest.fixture(scope="module")
def data():
    docs, queries, positives = synthetic_embeddings(N_DOCS, N_QUERIES, DIM, max_positives=3, seed=7)
    doc_ids = [f"d{i}" for i in range(N_DOCS)]
    query_ids = [f"q{i}" for i in range(N_QUERIES)]
    return docs, queries, positives, doc_ids, query_ids


SETTINGS = [
    dict(num_negatives=3, range_max=10),
    dict(num_negatives=4, range_max=20, relative_margin=0.05),
    dict(num_negatives=3, range_min=2, range_max=12, absolute_margin=0.1),
    dict(num_negatives=5, range_max=30, max_score=0.4, min_score=0.05),
    dict(num_negatives=2, range_min=1, range_max=6, relative_margin=0.3, absolute_margin=0.02),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_top_negatives_equal_reference(tmp_path, model, data, settings):
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
