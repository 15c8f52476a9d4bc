"""Compare: metrics per retriever, paired comparison with the baseline, worse queries first, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_training import add_training_queries, make_tiny_model

from core.errors import StudioError
from core.evaluation.compare import (
    compare_models,
    query_deltas,
    rankings_side_by_side,
    resolve_model_ids,
)
from core.project.file import Project
from core.training.trainer import TrainingConfig, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny-st")


@pytest.fixture
def trained(tiny_project, tiny_model):
    """The tiny project with model version v1 fine-tuned from the tiny model."""
    add_training_queries(tiny_project)
    with Project.open(tiny_project) as p:
        train(p, TrainingConfig(base=str(tiny_model), batch_size=4, max_seq_length=32, epochs=2))
    return tiny_project


def test_compare_models_reports_every_retriever_and_stores_runs(trained, tiny_model):
    with Project.open(trained) as p:
        res = compare_models(p, [str(tiny_model), "v1"], split="test")
        base = f"dense:{tiny_model}"
        assert [s["key"] for s in res["systems"]] == ["bm25", base, f"hybrid:{tiny_model}", "dense:v1", "hybrid:v1"]
        assert res["baseline"] == base and res["main_pair"] == [base, "dense:v1"]
        assert res["queries"] == 2 and set(res["query_texts"]) == {"q3", "q4"}
        # BM25 on the tiny corpus: q3 ranks d7 (gain 1) and d9 (gain 2); q4 finds d10 first.
        bm25 = res["systems"][0]["mean"]
        assert set(bm25) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100"}
        assert bm25["recall@10"] == 1.0
        # Per-query values are the stored metrics rows of each run.
        for s in res["systems"]:
            stored = dict(p.conn.execute(
                "SELECT query_id, value FROM metrics WHERE run_id=? AND metric='ndcg@10' AND query_id!=''",
                (s["run_id"],)).fetchall())
            assert stored == {q: v["ndcg@10"] for q, v in res["per_query"][s["key"]].items()}
        assert p.conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 5
        # Every non-baseline system is compared with the baseline on every metric.
        c = next(c for c in res["comparisons"] if c["b"] == "bm25" and c["metric"] == "ndcg@10")
        a_vals = [res["per_query"][base][q]["ndcg@10"] for q in ("q3", "q4")]
        b_vals = [res["per_query"]["bm25"][q]["ndcg@10"] for q in ("q3", "q4")]
        assert c["delta"] == pytest.approx(sum(b_vals) / 2 - sum(a_vals) / 2)
        assert c["wins"] + c["ties"] + c["losses"] == 2
        assert len(res["comparisons"]) == 4 * 5
        # Eval means are recorded on the model version.
        v1 = next(v for v in p.model_versions() if v["id"] == "v1")
        assert v1["metrics"]["eval"]["test"]["dense"] == res["systems"][3]["mean"]


def test_query_deltas_lists_worse_queries_first():
    result = {"per_query": {"a": {"x": {"m": 0.5}, "y": {"m": 0.2}, "z": {"m": 0.9}},
                            "b": {"x": {"m": 0.7}, "y": {"m": 0.2}, "z": {"m": 0.1}}},
              "query_texts": {"x": "X?", "y": "Y?", "z": "Z?"}}
    rows = query_deltas(None, result, "a", "b", "m")
    assert [r["query_id"] for r in rows] == ["z", "y", "x"]
    assert rows[0]["delta"] == pytest.approx(-0.8) and rows[0]["text"] == "Z?"


def test_rankings_side_by_side_carry_labels(trained):
    with Project.open(trained) as p:
        data = rankings_side_by_side(p, "q3", ["bm25", "dense:v1"], k=5)
    assert data["relevant"] == ["d7", "d9"]
    bm25 = data["rankings"]["bm25"]
    # BM25 returns only documents sharing a term with the query.
    assert [h["rank"] for h in bm25] == list(range(1, len(bm25) + 1)) and len(bm25) <= 5
    labeled = {h["doc_id"]: (h["label"], h["gain"]) for h in bm25 if h["label"]}
    assert labeled == {"d7": ("positive", 1), "d9": ("positive", 2)}
    assert len(data["rankings"]["dense:v1"]) == 5


def test_unknown_model_is_named(trained):
    with Project.open(trained) as p:
        with pytest.raises(StudioError, match="unknown model 'v9'; this project has: bundled, v1"):
            resolve_model_ids(p, ["v9"])
        assert resolve_model_ids(p, ["v1", "v1", "bundled"]) == ["v1", "bundled"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli.main", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_cli_train_and_compare_json(tiny_project, tiny_model):
    add_training_queries(tiny_project)
    out = _cli("train", str(tiny_project), "--base", str(tiny_model), "--batch-size", "4",
               "--max-seq-length", "32", "--epochs", "2", "--lr", "5e-5", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # stdout is pure JSON: the trainer's own log lines are off
    assert data["model_version"] == "v1" and data["loss"]["steps"] == 6
    assert data["config"]["lr"] == 5e-5 and data["train_counts"]["rows"] == 12
    assert "Training step 6/6" in out.stderr
    out = _cli("compare", str(tiny_project), "--models", f"{tiny_model},v1", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert [s["key"] for s in res["systems"]][-2:] == ["dense:v1", "hybrid:v1"]
    assert "per_query" not in res and res["query_deltas"][0]["delta"] <= res["query_deltas"][-1]["delta"]


def test_cli_refuses_heldout_training(tiny_project):
    out = _cli("train", str(tiny_project), "--split", "test", "--json")
    assert out.returncode == 2
    assert "held-out evaluation split" in out.stderr and out.stdout == ""
