"""Retrieval service on the tiny project with the real bundled model."""

from __future__ import annotations

import threading

import pytest
from conftest import TINY_DOCS
from helpers_retrieval import linked_model_copy

from core.errors import ModelError, StudioError
from core.evaluation.evaluate import evaluate_retriever
from core.progress import Progress
from core.project.file import Project
from core.retrieval.service import Hit, Retrieval
from core.retrieval.tokenize import tokenize


@pytest.fixture
def retrieval(tiny_project) -> Retrieval:
    with Project.open(tiny_project) as project:
        r = Retrieval(project)
    return r  # the creating connection is closed: Retrieval must open its own


class Reference:
    """Scores on the tiny corpus computed without the code under test.

    BM25: rank-bm25's ``BM25Okapi`` (same k1, b, epsilon) over the same
    tokens, stopwords dropped as the project's index does; documents with
    score 0 share no term with the query and are no result. Dense: cosine
    (a dot product of unit vectors) by numpy over vectors sentence-transformers'
    own ``encode`` computes for ``title + " " + text``.
    """

    def __init__(self, model) -> None:
        from rank_bm25 import BM25Okapi

        self.model = model
        self.doc_ids = [d for d, _, _ in TINY_DOCS]
        texts = [f"{title} {text}" for _, title, text in TINY_DOCS]
        self.okapi = BM25Okapi([tokenize(t, stopwords=True) for t in texts], k1=1.5, b=0.75, epsilon=0.25)
        self.doc_vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)

    def bm25(self, query: str) -> dict[str, float]:
        scores = self.okapi.get_scores(tokenize(query, stopwords=True))
        return {d: float(s) for d, s in zip(self.doc_ids, scores) if s > 0}

    def dense(self, query: str) -> dict[str, float]:
        q = self.model.encode([query], normalize_embeddings=True, convert_to_numpy=True)[0]
        return {d: float(s) for d, s in zip(self.doc_ids, self.doc_vectors @ q)}

    def scores(self, query: str, retriever: str) -> dict[str, float]:
        if retriever == "hybrid":
            return rrf_by_hand(ranking(self.bm25(query)), ranking(self.dense(query)))
        return self.bm25(query) if retriever == "bm25" else self.dense(query)


def ranking(scores: dict[str, float]) -> list[str]:
    """Doc ids best first; the reference's ranks are only well defined without near-ties."""
    order = sorted(scores, key=scores.get, reverse=True)
    gaps = [scores[a] - scores[b] for a, b in zip(order, order[1:])]
    assert all(g > 1e-4 for g in gaps), "near-tie in the reference: pick another query"
    return order


def rrf_by_hand(*rankings: list[str], k: int = 60) -> dict[str, float]:
    """Σ over rankings of 1 / (k + 1-based rank)."""
    fused: dict[str, float] = {}
    for order in rankings:
        for position, doc_id in enumerate(order, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1 / (k + position)
    return fused


@pytest.fixture(scope="module")
def reference() -> Reference:
    from core.retrieval.encoder import shared_encoder

    # The sentence-transformers model object itself (its encode, not ours).
    return Reference(shared_encoder().model)


def assert_top_k(hits: list[Hit], expected: dict[str, float], k: int) -> None:
    """``hits`` are the k best of ``expected`` with its scores, ranked 1..k best first."""
    best = sorted(expected.values(), reverse=True)[:k]
    assert [h.rank for h in hits] == list(range(1, len(best) + 1))
    assert [h.score for h in hits] == pytest.approx(best, abs=1e-5)
    assert [h.score for h in hits] == pytest.approx([expected[h.doc_id] for h in hits], abs=1e-5)


def test_bm25_dense_and_hybrid_search(retrieval, reference):
    assert not retrieval.bm25_ready and not retrieval.dense_ready
    assert retrieval.model_id == "bundled"
    bm25 = retrieval.search("what causes lung cancer", "bm25", k=3)
    assert retrieval.bm25_ready and not retrieval.dense_ready
    assert all(isinstance(h, Hit) for h in bm25)
    assert_top_k(bm25, reference.bm25("what causes lung cancer"), 3)
    assert {h.doc_id for h in bm25} == {"d7", "d8", "d9"}

    dense = retrieval.search("does sleep help memory", "dense", k=12)
    assert retrieval.dense_ready
    assert_top_k(dense, reference.dense("does sleep help memory"), 12)
    assert dense[0].doc_id == "d10"

    query = "aspirin heart attack prevention"
    hybrid = retrieval.search(query, "hybrid", k=5)
    expected = reference.scores(query, "hybrid")
    assert [h.doc_id for h in hybrid] == ranking(expected)[:5]
    assert_top_k(hybrid, expected, 5)
    assert hybrid[0].doc_id == "d4"
    assert hybrid[0].score == pytest.approx(2 / 61)  # first in both lists

    with pytest.raises(StudioError, match="unknown retriever"):
        retrieval.search(query, "splade")


def test_weighted_fusion_option(tiny_project, reference):
    with Project.open(tiny_project) as project:
        r = Retrieval(project, fusion="weighted", fusion_weights=[0.2, 0.8])
    query = "lung cancer from radon"
    got = r.search(query, "hybrid", k=4)
    # 0.2 · minmax(BM25) + 0.8 · minmax(cosine); a document BM25 does not find adds 0 there.
    expected: dict[str, float] = {}
    for weight, scores in ((0.2, reference.bm25(query)), (0.8, reference.dense(query))):
        lo, hi = min(scores.values()), max(scores.values())
        for d, s in scores.items():
            expected[d] = expected.get(d, 0.0) + weight * (s - lo) / (hi - lo)
    assert [h.doc_id for h in got] == ranking(expected)[:4]
    assert_top_k(got, expected, 4)
    with pytest.raises(StudioError, match="unknown fusion"):
        Retrieval(Project.open(tiny_project), fusion="max")


def test_search_many_and_run_return_the_reference_top_k(retrieval, reference):
    queries = {"a": "vitamin D bones", "b": "heart attack", "c": "qwxz flurb"}
    for retriever in ("bm25", "dense", "hybrid"):
        seen = []
        many = retrieval.search_many(queries, retriever, k=5, progress=Progress(lambda f, m: seen.append(f)))
        assert seen[-1] == 1.0 and seen == sorted(seen)  # monotonic progress
        run = retrieval.run(queries, retriever, k=5)
        assert set(many) == set(run) == set(queries)
        for qid, text in queries.items():
            expected = reference.scores(text, retriever)
            assert_top_k(many[qid], expected, 5)
            assert run[qid] == pytest.approx({h.doc_id: expected[h.doc_id] for h in many[qid]}, abs=1e-5)
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


def test_evaluate_records_run_and_metrics(tiny_project, reference):
    import pytrec_eval

    with Project.open(tiny_project) as project:
        r = Retrieval(project)
        out = evaluate_retriever(project, r, "dense", split="test")
        assert out["queries"] == 2 and set(out) == {"ndcg@10", "recall@100", "mrr@10", "map@100",
                                                    "queries", "run_id"}
        # pytrec_eval over the numpy-cosine run of the test queries (q3, q4).
        qrels = project.qrels("test")
        run = {q.id: reference.dense(q.text) for q in project.queries("test")}
        trec = pytrec_eval.RelevanceEvaluator(
            qrels, {"ndcg_cut.10", "recall.100", "recip_rank", "map_cut.100"}).evaluate(run)
        expected = {m: sum(v[name] for v in trec.values()) / len(trec)
                    for m, name in (("ndcg@10", "ndcg_cut_10"), ("recall@100", "recall_100"),
                                    ("map@100", "map_cut_100"))}
        # recip_rank is 1/r over the whole run; MRR@10 counts it when r <= 10.
        expected["mrr@10"] = sum(v["recip_rank"] if v["recip_rank"] >= 1 / 10 else 0.0
                                 for v in trec.values()) / len(trec)
        for m in ("ndcg@10", "recall@100", "mrr@10", "map@100"):
            assert out[m] == pytest.approx(expected[m], abs=1e-6)
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
