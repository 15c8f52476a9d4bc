import math
import random

import pytest
import pytrec_eval
from helpers_eval import load_scifact

from core.evaluation.metrics import EvalResult, evaluate, parse_metric, rank

L2, L3, L5 = math.log2(2), math.log2(3), math.log2(5)

QRELS = {
    "q1": {"a": 2, "b": 1, "c": 0},
    "q2": {"z": 1},          # relevant but missing from the run: scores 0
    "q3": {"c": 0},          # no relevant document: not evaluated
    "q4": {"d9": 1},
}
RUN = {
    "q1": {"x": 0.9, "a": 0.8, "c": 0.7, "b": 0.6},  # ranked x, a, c, b
    "q3": {"c": 1.0},
    "q4": {"d10": 1.0, "d9": 1.0},  # tie: trec_eval ranks "d9" > "d10" (doc_id descending) first
    "q9": {"a": 1.0},               # not in qrels: ignored
}


def test_hand_computed_q1():
    names = ["ndcg@3", "ndcg@4", "recall@2", "recall@4", "precision@2", "precision@10",
             "mrr@1", "mrr@2", "map@2", "map@4", "hole@4", "hole@10"]
    q1 = evaluate(QRELS, RUN, names).per_query["q1"]
    idcg = 2 / L2 + 1 / L3                      # ideal: gains 2, 1
    assert q1["ndcg@3"] == pytest.approx((2 / L3) / idcg)             # a at rank 2
    assert q1["ndcg@4"] == pytest.approx((2 / L3 + 1 / L5) / idcg)    # + b at rank 4
    assert q1["ndcg@3"] == pytest.approx(0.479625, abs=1e-6)
    assert q1["recall@2"] == 0.5 and q1["recall@4"] == 1.0             # 1 of 2, 2 of 2
    assert q1["precision@2"] == 0.5 and q1["precision@10"] == 0.2      # 2 relevant / 10
    assert q1["mrr@1"] == 0.0 and q1["mrr@2"] == 0.5                   # first relevant at rank 2
    assert q1["map@2"] == 0.25                  # (P@2 = 1/2) / R=2
    assert q1["map@4"] == 0.5                   # (1/2 + 2/4) / 2
    assert q1["hole@4"] == 0.25                 # x unjudged: 1/4
    assert q1["hole@10"] == 0.1                 # still divided by k


def test_query_selection_ties_and_means():
    result = evaluate(QRELS, RUN, ["mrr@1", "ndcg@3", "recall@100"])
    assert isinstance(result, EvalResult)
    assert set(result.per_query) == {"q1", "q2", "q4"} and result.n_queries == 3
    assert result.per_query["q2"] == {"mrr@1": 0.0, "ndcg@3": 0.0, "recall@100": 0.0}
    assert result.per_query["q4"]["mrr@1"] == 1.0   # d9 wins the tie
    assert result.mean["ndcg@3"] == pytest.approx((0.479625 + 0 + 1) / 3, abs=1e-6)
    assert result.mean["recall@100"] == pytest.approx((1 + 0 + 1) / 3)
    assert rank({"d10": 1.0, "d9": 1.0, "e": 2.0}) == ["e", "d9", "d10"]


def test_graded_ideal_uses_all_relevant_documents():
    # Ideal ranking 3, 2, 1 even though only gain 1 is retrieved: 1/log2(2) / (3 + 2/log2(3) + 1/2)
    res = evaluate({"q": {"a": 3, "b": 2, "c": 1}}, {"q": {"c": 1.0}}, ["ndcg@10"])
    assert res.mean["ndcg@10"] == pytest.approx(1 / (3 + 2 / L3 + 1 / 2))


def test_hole_uses_judged_sets_with_negatives():
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 3.0, "n": 2.0, "u": 1.0}}
    assert evaluate(qrels, run, ["hole@3"]).mean["hole@3"] == pytest.approx(2 / 3)
    judged = {"q": {"a", "n"}}  # n judged negative
    assert evaluate(qrels, run, ["hole@3"], judged=judged).mean["hole@3"] == pytest.approx(1 / 3)


def test_metric_names():
    assert parse_metric("NDCG@10") == ("ndcg", 10)
    for bad in ("ndcg", "ndcg@0", "foo@10", "recall@x"):
        with pytest.raises(ValueError):
            parse_metric(bad)
    assert evaluate({}, {}, ["ndcg@10"]).mean == {"ndcg@10": 0.0}


def _random_case(seed, n_queries=40, n_docs=60, ties=True):
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(n_docs)]
    qrels, run = {}, {}
    for q in range(n_queries):
        qid = f"q{q}"
        judged = rng.sample(docs, rng.randint(1, 12))
        qrels[qid] = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
        if q % 9 == 0:
            continue  # missing from the run
        retrieved = rng.sample(docs, rng.randint(1, 40))
        run[qid] = {d: (round(rng.random(), 1) if ties else rng.random()) for d in retrieved}
    return qrels, run


def _pytrec(qrels, run, ks=(1, 5, 10, 20)):
    measures = {f"ndcg_cut.{','.join(map(str, ks))}", f"P.{','.join(map(str, ks))}",
                f"recall.{','.join(map(str, ks))}", f"map_cut.{','.join(map(str, ks))}", "recip_rank"}
    out = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    for q, values in out.items():
        # trec_eval's recip_rank is 1/r for the first relevant document at rank r
        # of the whole run, in trec_eval's own order (score descending, doc id
        # descending on ties); MRR@k keeps it when r <= k and is 0 otherwise.
        rr = values["recip_rank"]
        first_relevant = round(1 / rr) if rr > 0 else math.inf
        for k in ks:
            values[f"rr_{k}"] = rr if first_relevant <= k else 0.0
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_pytrec_eval_on_random_runs_with_ties(seed):
    qrels, run = _random_case(seed)
    ks = (1, 5, 10, 20)
    names = [f"{m}@{k}" for m in ("ndcg", "precision", "recall", "map", "mrr") for k in ks]
    ours = evaluate(qrels, run, names).per_query
    ref = _pytrec(qrels, run, ks)
    trec_name = {"ndcg": "ndcg_cut_{}", "precision": "P_{}", "recall": "recall_{}",
                 "map": "map_cut_{}", "mrr": "rr_{}"}
    assert ours
    for qid, values in ours.items():
        for name, value in values.items():
            base, k = parse_metric(name)
            expected = ref.get(qid, {}).get(trec_name[base].format(k), 0.0)
            assert value == pytest.approx(expected, abs=1e-6), (qid, name)


# Slow tier: ranx JIT-compiles its metrics (up to ~15 s on a cold cache); the
# fast tier's parity check is pytrec_eval's.
@pytest.mark.slow
def test_agrees_with_ranx_on_random_runs():
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    qrels, run = _random_case(7, ties=False)  # ranx orders ties its own way
    names = ["ndcg@10", "recall@20", "mrr@10", "map@20", "precision@5"]
    ours = evaluate(qrels, run, names).mean
    # ranx averages over the queries it is given; queries missing from the run score 0 in both.
    ref = ranx_evaluate(Qrels({q: {d: g for d, g in r.items()} for q, r in qrels.items()
                               if any(g >= 1 for g in r.values())}),
                        Run(run), names, make_comparable=True)
    for name in names:
        assert ours[name] == pytest.approx(ref[name], abs=1e-6), name


@pytest.mark.slow
def test_bm25_on_scifact_test_agrees_with_pytrec_eval_and_published_ndcg():
    from core.retrieval.bm25 import BM25Index

    doc_ids, texts, queries, qrels = load_scifact()
    test_qrels = qrels["test"]
    # The project's BM25 (core.retrieval.bm25.load_or_build) drops English stopwords.
    index = BM25Index.build(doc_ids, texts, stopwords=True)
    qids = list(test_qrels)
    hits = index.search_batch([queries[q] for q in qids], 100)
    run = {q: dict(h) for q, h in zip(qids, hits)}
    ours = evaluate(test_qrels, run, ["ndcg@10", "recall@100", "map@100", "precision@10", "mrr@10"])
    ref = _pytrec(test_qrels, run, ks=(10, 100))
    for qid, values in ours.per_query.items():
        assert values["ndcg@10"] == pytest.approx(ref[qid]["ndcg_cut_10"], abs=1e-6)
        assert values["recall@100"] == pytest.approx(ref[qid]["recall_100"], abs=1e-6)
        assert values["map@100"] == pytest.approx(ref[qid]["map_cut_100"], abs=1e-6)
        assert values["precision@10"] == pytest.approx(ref[qid]["P_10"], abs=1e-6)
        assert values["mrr@10"] == pytest.approx(ref[qid]["rr_10"], abs=1e-6)
    # Published BEIR BM25 on SciFact: nDCG@10 = 0.665 (measured here: 0.6668;
    # 0.6519 without stopword removal).
    assert ours.n_queries == 300
    assert abs(ours.mean["ndcg@10"] - 0.665) < 0.01, ours.mean
