"""Retrieval service on the tiny project with the real bundled model."""

from __future__ import annotations

import threading

import pytest
from helpers_retrieval import linked_model_copy

from core.errors import ModelError, StudioError
from core.evaluation.evaluate import evaluate_retriever
from core.evaluation.metrics import evaluate
from core.progress import Progress
from core.project.file import Project
from core.retrieval.fusion import rrf, weighted_fusion
from core.retrieval.service import Hit, Retrieval


@pytest.fixture
def retrieval(tiny_project) -> Retrieval:
    with Project.open(tiny_project) as project:
        r = Retrieval(project)
    return r  # the creating connection is closed: Retrieval must open its own


def test_bm25_dense_and_hybrid_search(retrieval):
    assert not retrieval.bm25_ready and not retrieval.dense_ready
    assert retrieval.model_id == "bundled"
    bm25 = retrieval.search("what causes lung cancer", "bm25", k=3)
    assert retrieval.bm25_ready and not retrieval.dense_ready
    assert all(isinstance(h, Hit) for h in bm25) and [h.rank for h in bm25] == [1, 2, 3]
    assert {h.doc_id for h in bm25} <= {"d7", "d8", "d9"}
    assert bm25 == sorted(bm25, key=lambda h: -h.score)

    dense = retrieval.search("does sleep help memory", "dense", k=12)
    assert retrieval.dense_ready
    assert dense[0].doc_id == "d10" and len(dense) == 12
    assert -1.0 <= dense[-1].score <= dense[0].score <= 1.0

    query = "aspirin heart attack prevention"
    hybrid = retrieval.search(query, "hybrid", k=5)
    expected = rrf([[(h.doc_id, h.score) for h in retrieval.search(query, "bm25", k=100)],
                    [(h.doc_id, h.score) for h in retrieval.search(query, "dense", k=100)]],
                   k=60, limit=5)
    assert [(h.doc_id, pytest.approx(h.score)) for h in hybrid] == expected
    assert hybrid[0].doc_id == "d4"

    with pytest.raises(StudioError, match="unknown retriever"):
        retrieval.search(query, "splade")


def test_weighted_fusion_option(tiny_project):
    with Project.open(tiny_project) as project:
        r = Retrieval(project, fusion="weighted", fusion_weights=[0.2, 0.8])
    query = "lung cancer from radon"
    got = r.search(query, "hybrid", k=4)
    expected = weighted_fusion(
        [[(h.doc_id, h.score) for h in r.search(query, "bm25", k=100)],
         [(h.doc_id, h.score) for h in r.search(query, "dense", k=100)]],
        weights=[0.2, 0.8], limit=4)
    assert [h.doc_id for h in got] == [d for d, _ in expected]
    with pytest.raises(StudioError, match="unknown fusion"):
        Retrieval(Project.open(tiny_project), fusion="max")


def test_search_many_and_run_agree_with_search(retrieval):
    queries = {"a": "vitamin D bones", "b": "heart attack", "c": "zzzz unknownword"}
    for retriever in ("bm25", "dense", "hybrid"):
        seen = []
        many = retrieval.search_many(queries, retriever, k=5, progress=Progress(lambda f, m: seen.append(f)))
        assert seen[-1] == 1.0 and seen == sorted(seen)  # monotonic progress
        for qid, text in queries.items():
            single = retrieval.search(text, retriever, k=5)
            assert [h.doc_id for h in many[qid]] == [h.doc_id for h in single]
            assert [h.score for h in many[qid]] == pytest.approx([h.score for h in single], abs=1e-5)
        run = retrieval.run(queries, retriever, k=5)
        assert set(run) == set(queries)
        assert run["a"] == {h.doc_id: h.score for h in many["a"]}
    assert retrieval.search_many(queries, "bm25", k=5)["c"] == []  # no shared term


def test_query_vectors_are_cached(retrieval, monkeypatch):
    retrieval.search("sleep and memory", "dense")
    calls = []
    original = retrieval.encoder.encode_queries
    monkeypatch.setattr(retrieval.encoder, "encode_queries",
                        lambda texts, progress=None: calls.append(list(texts)) or original(texts, progress))
    retrieval.search("sleep and memory", "dense")
    retrieval.search_many({"x": "sleep and memory", "y": "caffeine"}, "dense")
    assert calls == [["caffeine"]]


def test_usable_from_worker_threads_with_one_build(tiny_project, monkeypatch):
    builds = []
    from core.retrieval import bm25

    original = bm25.load_or_build
    monkeypatch.setattr(bm25, "load_or_build", lambda *a, **k: builds.append(1) or original(*a, **k))
    with Project.open(tiny_project) as project:
        r = Retrieval(project)
    results, errors = {}, []

    def worker(i):
        try:
            results[i] = [h.doc_id for h in r.search("lung cancer", ("bm25", "hybrid")[i % 2], k=3)]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 6
    assert len(builds) == 1
    assert results[0] == results[2] == results[4] and results[1] == results[3] == results[5]


def test_model_version_and_bad_model(tiny_project):
    with Project.open(tiny_project) as project:
        linked_model_copy(project.data_dir / "models" / "v1")
        project.db["model_versions"].insert({"id": "v1", "name": "copy", "path": "models/v1",
                                             "created_at": "2026-01-01T00:00:00"})
        r = Retrieval(project, "v1")
        assert r.model_id == "v1"
        assert r.search("does sleep help memory", "dense", k=1)[0].doc_id == "d10"
        with pytest.raises(ModelError, match="unknown model 'v9'"):
            Retrieval(project, "v9")


def test_evaluate_records_run_and_metrics(tiny_project):
    with Project.open(tiny_project) as project:
        r = Retrieval(project)
        out = evaluate_retriever(project, r, "dense", split="test")
        assert out["queries"] == 2 and set(out) == {"ndcg@10", "recall@100", "mrr@10", "map@100",
                                                    "queries", "run_id"}
        qrels = project.qrels("test")
        run = r.run({q.id: q.text for q in project.queries("test")}, "dense", k=100)
        expected = evaluate(qrels, run).mean
        for m in ("ndcg@10", "recall@100", "mrr@10", "map@100"):
            assert out[m] == pytest.approx(expected[m])
        row = project.conn.execute("SELECT retriever, model_version, split FROM runs WHERE id=?",
                                   (out["run_id"],)).fetchone()
        assert row == ("dense", "bundled", "test")
        stored = dict(project.conn.execute(
            "SELECT metric, value FROM metrics WHERE run_id=? AND query_id=''", (out["run_id"],)).fetchall())
        assert stored["ndcg@10"] == pytest.approx(out["ndcg@10"])
        per_query = project.conn.execute(
            "SELECT count(DISTINCT query_id) FROM metrics WHERE run_id=? AND query_id!=''",
            (out["run_id"],)).fetchone()[0]
        assert per_query == 2
        with pytest.raises(StudioError, match="no queries with relevant labels"):
            evaluate_retriever(project, r, "bm25", split="nosuchsplit")


def test_stale_after_corpus_edit_and_reset(retrieval, tiny_project):
    assert not retrieval.is_stale()
    assert retrieval.search("microbiome", "bm25", k=1)[0].doc_id == "d12"
    assert not retrieval.is_stale()
    with Project.open(tiny_project) as project, project.transaction():
        project.conn.execute("UPDATE documents SET text='Bacteria in the intestine.' WHERE id='d12'")
        project.conn.execute("UPDATE documents SET text='Gut microbiome and caffeine.' WHERE id='d11'")
        project.touch_corpus()
    assert retrieval.is_stale()
    retrieval.reset()
    assert retrieval.search("microbiome", "bm25", k=1)[0].doc_id == "d11"
    assert not retrieval.is_stale()


def test_query_batches_use_the_disk_cache(tiny_project, monkeypatch):
    queries = {f"x{i}": f"question number {i} about bones" for i in range(12)}
    with Project.open(tiny_project) as project:
        first = Retrieval(project).run(queries, "dense", k=3)
        fresh = Retrieval(project)  # new LRU: only the disk store can answer
    calls = []
    original = fresh.encoder.encode_queries
    monkeypatch.setattr(fresh.encoder, "encode_queries",
                        lambda texts, progress=None: calls.append(list(texts)) or original(texts, progress))
    assert fresh.run(queries, "dense", k=3) == first
    assert calls == []
