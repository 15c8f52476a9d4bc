"""SciFact (BEIR) test split: published effectiveness, hnswlib recall on real embeddings, cached reopen.

Slow: encoding 5,183 abstracts takes minutes on 2 CPU cores. Set
RS_SCIFACT_CACHE to an already encoded SciFact project (.rsproj with its
.data folder) to reuse its caches; the project is copied, never modified.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers_retrieval import SCIFACT, scifact_project

from core.evaluation.evaluate import evaluate_retriever
from core.project.file import Project
from core.retrieval.dense_index import DenseIndex
from core.retrieval.embeddings import document_embeddings
from core.retrieval.encoder import Encoder
from core.retrieval.service import Retrieval

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").is_file(), reason="SciFact data missing")]


@pytest.fixture(scope="module")
def scifact(tmp_path_factory):
    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return scifact_project(tmp_path_factory.mktemp("scifact"))


@pytest.fixture(scope="module")
def retrieval(scifact) -> Retrieval:
    with Project.open(scifact) as project:
        return Retrieval(project)


def test_bm25_ndcg_matches_published(scifact, retrieval):
    with Project.open(scifact) as project:
        out = evaluate_retriever(project, retrieval, "bm25", split="test", record=False)
    assert out["queries"] == 300
    assert out["ndcg@10"] == pytest.approx(0.665, abs=0.01)


def test_bundled_model_ndcg_matches_mteb(scifact, retrieval):
    with Project.open(scifact) as project:
        out = evaluate_retriever(project, retrieval, "dense", split="test", record=False)
        hybrid = evaluate_retriever(project, retrieval, "hybrid", split="test", record=False)
    assert out["queries"] == 300
    assert out["ndcg@10"] == pytest.approx(0.645, abs=0.005)
    assert hybrid["ndcg@10"] > 0.6  # fusion of two ~0.65 systems must not collapse


def test_hnsw_recall_on_real_embeddings(scifact, retrieval):
    ids, vectors = retrieval.document_embeddings()
    with Project.open(scifact) as project:
        texts = [q.text for q in project.queries()]
    queries = retrieval.encode_queries(texts)  # 1,109 queries: cached on disk after the first run
    exact = DenseIndex.build(vectors, ids, backend="exact")
    hnsw = DenseIndex.build(vectors, ids, backend="hnsw")
    _, truth = exact.search(queries, 10)
    _, found = hnsw.search(queries, 10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found)])
    assert recall >= 0.99


def test_second_open_is_fast_and_encodes_nothing(scifact, retrieval, monkeypatch):
    retrieval.ensure_dense()  # first open: the cache is complete
    calls = []
    original = Encoder.encode_documents
    monkeypatch.setattr(Encoder, "encode_documents",
                        lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    monkeypatch.setattr(Encoder, "iter_encode_documents",
                        lambda self, *a, **k: calls.append(1) or iter(()))
    encoder = retrieval.encoder  # loaded once per process (shared_encoder): not the cache's cost
    start = time.perf_counter()
    with Project.open(scifact) as project:
        vectors = document_embeddings(project, encoder)
        reopened = Retrieval(project)
        reopened.ensure_bm25()
        reopened.ensure_dense()
    elapsed = time.perf_counter() - start
    assert calls == []
    assert vectors.shape == (5183, 384)
    assert elapsed < 2.0
