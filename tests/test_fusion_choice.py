"""Choosing each model's hybrid fusion on the train queries, storing it, and using it wherever hybrid runs."""

from __future__ import annotations

import math
import random

import pytest
import test_compare

from core.errors import StudioError
from core.evaluation.compare import compare_models
from core.evaluation.fusion_choice import choose_fusion, fusion_grid
from core.project.file import Project
from core.retrieval.fusion import weighted_fusion
from core.retrieval.fusion_setting import FusionSetting, store_fusion, stored_fusion
from core.retrieval.service import Retrieval

# nDCG@10 of one relevant document (gain 1) at rank r is 1 / log2(r + 1).
AT_2 = 1 / math.log2(3)
AT_3 = 1 / math.log2(4)


def test_grid_order_is_the_tie_break_order():
    grid = fusion_grid()
    assert grid[0].method == "rrf"
    assert [g.dense_weight for g in grid[1:]] == [0.5, 0.6, 0.4, 0.7, 0.3, 0.8, 0.2, 0.9, 0.1, 1.0, 0.0]


def test_weighted_fusion_wins_where_rrf_follows_bm25():
    """One query, relevant z: BM25 ranks it 3rd, dense 1st.

    BM25 [u 10, v 6, z 5] normalises to u 1, v 0.2, z 0; dense [z 1, u 0.5, v 0]
    to z 1, u 0.5, v 0. Weighted with dense weight w: u = 1 - w/2, z = w, so z
    leads only for w > 2/3 (0.7, 0.8, 0.9, 1.0 score 1.0; the first of them in
    the grid order is 0.7). RRF: u = 1/61 + 1/62 > z = 1/63 + 1/61, z second.
    """
    qrels = {"q": {"z": 1}}
    lexical = {"q": [("u", 10.0), ("v", 6.0), ("z", 5.0)]}
    dense = {"q": [("z", 1.0), ("u", 0.5), ("v", 0.0)]}
    chosen, table = choose_fusion(qrels, lexical, dense, split="train")
    assert (chosen.method, chosen.dense_weight) == ("weighted", 0.7)
    assert chosen.ndcg_at_10 == pytest.approx(1.0)
    assert chosen.parts_ndcg_at_10 == pytest.approx({"bm25": AT_3, "dense": 1.0})
    assert (chosen.tuned_on, chosen.queries) == ("train", 1)
    by = {(row["method"], row["dense_weight"]): row["ndcg@10"] for row in table}
    assert by[("rrf", None)] == pytest.approx(AT_2)
    assert by[("weighted", 0.6)] == pytest.approx(AT_2)  # u 0.7 > z 0.6
    assert by[("weighted", 0.0)] == pytest.approx(AT_3)  # BM25's order
    assert by[("weighted", 0.7)] == by[("weighted", 1.0)] == pytest.approx(1.0)


def test_ties_keep_rrf():
    """Relevant x first in both parts: every candidate scores 1.0 and RRF, first in the grid, is kept."""
    qrels = {"q": {"x": 1}}
    chosen, table = choose_fusion(qrels, {"q": [("x", 10.0), ("y", 0.0)]}, {"q": [("x", 1.0), ("y", 0.5)]})
    assert [row["ndcg@10"] for row in table] == [1.0] * 12
    assert chosen.method == "rrf" and chosen.dense_weight is None


def test_the_choice_never_loses_to_its_parts_on_the_queries_it_was_chosen_on():
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(40)]
    qrels, lexical, dense = {}, {}, {}
    for q in range(25):
        qid = f"q{q}"
        qrels[qid] = {d: rng.choice([1, 2]) for d in rng.sample(docs, 3)}
        lexical[qid] = sorted(((d, rng.uniform(0, 30)) for d in rng.sample(docs, 30)), key=lambda x: -x[1])
        dense[qid] = sorted(((d, rng.uniform(-1, 1)) for d in rng.sample(docs, 30)), key=lambda x: -x[1])
    chosen, table = choose_fusion(qrels, lexical, dense)
    assert chosen.ndcg_at_10 >= max(chosen.parts_ndcg_at_10.values())
    assert chosen.ndcg_at_10 == max(row["ndcg@10"] for row in table)


def test_nothing_to_choose_on_is_a_clear_error():
    with pytest.raises(StudioError, match="no queries with relevant labels"):
        choose_fusion({"q": {"a": 0}}, {"q": [("a", 1.0)]}, {"q": [("a", 1.0)]})


# -- stored with the model, used by every hybrid ------------------------------------

# The tiny model, and the tiny project with version v1 trained from it, of the compare tests.
tiny_model = test_compare.tiny_model
trained = test_compare.trained


def test_stored_choice_is_the_retrieval_default_and_an_explicit_fusion_wins(tiny_project, tiny_model):
    with Project.open(tiny_project) as p:
        plain = Retrieval(p, str(tiny_model))
        assert plain.fusion == "rrf" and plain.fusion_setting.tuned_on is None
        store_fusion(p, plain.model_id, FusionSetting("weighted", 0.8, tuned_on="train", queries=3))
        chosen = Retrieval(p, str(tiny_model))
        assert (chosen.fusion, chosen.fusion_weights) == ("weighted", [pytest.approx(0.2), 0.8])
        explicit = Retrieval(p, str(tiny_model), fusion="rrf")
        assert explicit.fusion == "rrf" and explicit.fusion_setting is None
        query = p.queries()[0].text
    # The hybrid search fuses the two parts exactly as the stored setting says.
    lexical = [(h.doc_id, h.score) for h in chosen.search(query, "bm25", k=100)]
    dense = [(h.doc_id, h.score) for h in chosen.search(query, "dense", k=100)]
    expected = weighted_fusion([lexical, dense], weights=[0.2, 0.8], limit=5)
    assert [(h.doc_id, h.score) for h in chosen.search(query, "hybrid", k=5)] == [
        (d, pytest.approx(s)) for d, s in expected]


def test_compare_chooses_on_train_stores_with_the_version_and_uses_it(trained):
    with Project.open(trained) as p:
        res = compare_models(p, ["v1"], split="test", retrievers=["bm25", "dense", "hybrid"])
        info = res["fusion"]["v1"]
        assert info["tuned_on"] == "train" and info["note"] is None
        stored = stored_fusion(p, "v1")
        assert stored.to_dict() == {k: v for k, v in info.items() if k not in ("label", "short", "note")}
        assert p.model_versions()[0]["metrics"]["fusion"]["tuned_on"] == "train"
        # The same choice, recomputed independently from the train queries' own rankings.
        retrieval = Retrieval(p, "v1", fusion="rrf")
        qrels = p.qrels("train")
        texts = {q.id: q.text for q in p.queries("train") if q.id in qrels}
        pairs = lambda hits: {q: [(h.doc_id, h.score) for h in hs] for q, hs in hits.items()}  # noqa: E731
        again, _ = choose_fusion(qrels, pairs(retrieval.search_many(texts, "bm25", k=100)),
                                 pairs(retrieval.search_many(texts, "dense", k=100)), split="train")
        assert again == stored and stored.queries == len(texts) == 12
        hybrid = next(s for s in res["systems"] if s["key"] == "hybrid:v1")
        assert hybrid["label"] == f"hybrid (BM25 + dense, {stored.short()}) · v1"
        run_params = p.conn.execute("SELECT params FROM runs WHERE id=?", (hybrid["run_id"],)).fetchone()[0]
        assert f'"fusion": "{stored.method}"' in run_params and '"fusion_chosen_on": "train"' in run_params
        # Evaluating the train split itself never uses the fusion chosen on it.
        on_train = compare_models(p, ["v1"], split="train", retrievers=["hybrid"])
        assert on_train["fusion"]["v1"]["method"] == "rrf" and "evaluated split" in on_train["fusion"]["v1"]["note"]
        assert stored_fusion(p, "v1") == stored  # and leaves the stored choice alone


def test_the_grid_ends_read_as_one_part_alone():
    from core.retrieval.fusion_setting import FusionSetting

    assert FusionSetting("weighted", dense_weight=1.0).short() == "dense only (weighted 0/1)"
    assert FusionSetting("weighted", dense_weight=0.0).short() == "BM25 only (weighted 1/0)"
    assert FusionSetting("weighted", dense_weight=0.7).short() == "weighted 0.3/0.7"
    assert FusionSetting().short() == "RRF"
