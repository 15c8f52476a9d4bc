"""A dense pass over many blocks of queries stores, for every query, exactly what the
readable rules (core.mining.rules.decide) make of the pool cut from its full fp32 score row.

The miner never forms those rows for a dense pass: it finds pools through
core.mining.dense_pool (an int8 product certified by a bound, or one top-k per block of
the fp32 product) and decides a block of queries at once (decide_block). The vectors
are dyadic (multiples of 1/64), so every fp32 score is exact whatever the summation
order: the reference rows and the miner's rescoring agree to the bit, ties included.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers_mining import make_array_project

from core.mining import scores as scores_module
from core.mining.config import SAMPLINGS, MiningConfig
from core.mining.dense_pool import DenseCorpus
from core.mining.miner import mine
from core.mining.rules import decide
from core.mining.scores import DenseRows, _matmul_t, pool_from_row
from core.mining.store import pass_candidates, query_labels, rejected_pairs
from core.project.file import Project

N_DOCS, N_QUERIES, DIM = 1_200, 150, 16  # 150 queries: three blocks of the small-corpus path


def _data():
    rng = np.random.default_rng(11)
    base = (rng.integers(-40, 41, (N_DOCS // 2, DIM)) / 64.0).astype(np.float32)
    docs = np.concatenate([base, base])[rng.permutation(N_DOCS)]  # every document twice: ties
    queries = (rng.integers(-40, 41, (N_QUERIES, DIM)) / 64.0).astype(np.float32)
    doc_ids = [f"d{i}" for i in range(N_DOCS)]
    query_ids = [f"q{i}" for i in range(N_QUERIES)]
    rows = _matmul_t(queries, docs)
    positives = []
    for row in rows:  # a positive near the top, and often one deep in the ranking
        order = np.argsort(-row, kind="stable")
        picks = [order[int(rng.integers(0, 30))]]
        if rng.random() < 0.5:
            picks.append(order[int(rng.integers(200, N_DOCS))])
        positives.append([doc_ids[i] for i in dict.fromkeys(picks)])
    return docs, queries, doc_ids, query_ids, positives


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("product", ["int8", "fp32"])
def test_a_dense_pass_over_many_blocks_equals_the_rules_on_full_rows(tmp_path, monkeypatch,
                                                                    product, sampling):
    docs, queries, doc_ids, query_ids, positives = _data()
    path = make_array_project(tmp_path / "p.rsproj", doc_ids, [f"doc {d}" for d in doc_ids],
                              query_ids, [f"query {q}" for q in query_ids], positives)
    if product == "int8":  # the certified int8 path, which production starts at 20,000 documents
        monkeypatch.setattr(DenseRows, "prepared",
                            lambda self: DenseCorpus(self.vectors, min_int8_docs=100))
    monkeypatch.setattr(scores_module, "POOL_BLOCK_QUERIES", 40)
    qrow = {q: i for i, q in enumerate(query_ids)}
    rows = DenseRows(doc_ids, docs, lambda qids: queries[[qrow[q] for q in qids]])
    config = MiningConfig(source="dense", num_negatives=4, range_min=1, range_max=25,
                          relative_margin=0.05, sampling=sampling, seed=3)
    with Project.open(path) as project:
        # Confirmed negatives, false negatives and a rejection the rules must honour.
        project.set_label("q0", "d5", "negative")
        project.set_label("q1", "d7", "false_negative")
        first = mine(project, config, rows=rows)
        proposals = {q: [d.doc_id for d in pass_candidates(project, q) if d.reason == "kept"]
                     for q in query_ids}
        target = next(q for q in query_ids if proposals[q])
        project.set_label(target, proposals[target][0], "negative")
        project.set_label(target, proposals[target][0], None)  # touched, now unlabeled: rejected
        labels = query_labels(project, "train")
        rejected = rejected_pairs(project, "train")
        result = mine(project, config, rows=rows)
        assert result.pass_number == first.pass_number + 1
        depth = config.range_max + max(len(v) for v in labels.values())
        doc_index = {d: i for i, d in enumerate(doc_ids)}
        full_rows = _matmul_t(queries, docs)
        for qid in query_ids:
            scored = pool_from_row(qid, full_rows[qrow[qid]], doc_ids, doc_index, depth,
                                   list(labels.get(qid, {})))
            expected = decide(scored, labels.get(qid, {}), rejected.get(qid, ()), config)
            assert pass_candidates(project, qid, result.pass_number) == expected, qid
        assert any(d.reason == "previously_rejected" for d in pass_candidates(project, target))
        assert sum(bool(p) for p in proposals.values()) > N_QUERIES // 6  # the rules keep some
    assert result.counts["queries_mined"] == N_QUERIES
