"""``retriever-studio search`` and ``evaluate`` through core.cli.main."""

from __future__ import annotations

import json

import pytest

from core.cli.main import main
from core.project.file import Project


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_search_json_bm25_and_hybrid(tiny_project, capsys):
    assert main(["search", str(tiny_project), "what causes lung cancer", "--retriever", "bm25",
                 "-k", "3", "--json"]) == 0
    out = _json(capsys)
    assert out["retriever"] == "bm25" and out["model"] is None
    assert [h["rank"] for h in out["hits"]] == [1, 2, 3]
    assert {h["doc_id"] for h in out["hits"]} <= {"d7", "d8", "d9"}
    assert all(h["title"] for h in out["hits"])

    assert main(["search", str(tiny_project), "does sleep help memory", "--retriever", "hybrid",
                 "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["model"] == "bundled" and out["hits"][0]["doc_id"] == "d10"
    assert len(out["hits"]) == 10
    assert "%]" in captured.err  # progress on stderr


def test_search_text_output_and_errors(tiny_project, tmp_path, capsys):
    assert main(["search", str(tiny_project), "aspirin", "-r", "bm25"]) == 0
    assert "d4" in capsys.readouterr().out
    assert main(["search", str(tiny_project), "x", "-r", "dense", "--model", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["search", str(tmp_path / "missing.rsproj"), "x"]) == 2
    assert "no such project file" in capsys.readouterr().err


def test_evaluate_json_records_run(tiny_project, capsys):
    assert main(["evaluate", str(tiny_project), "--retriever", "dense", "--split", "test", "--json"]) == 0
    out = _json(capsys)
    assert out["queries"] == 2
    for m in ("ndcg@10", "recall@100", "mrr@10", "map@100"):
        assert 0.0 <= out[m] <= 1.0
    assert out["recall@100"] == pytest.approx(1.0)  # 12 documents: everything is retrieved
    with Project.open(tiny_project) as project:
        assert project.conn.execute("SELECT retriever FROM runs").fetchall() == [("dense",)]

    assert main(["evaluate", str(tiny_project), "-r", "bm25", "--split", "all",
                 "--metrics", "ndcg@5,precision@1,hole@10", "--no-record", "--json"]) == 0
    out = _json(capsys)
    assert out["queries"] == 4 and set(out) == {"ndcg@5", "precision@1", "hole@10", "queries"}
    with Project.open(tiny_project) as project:
        assert project.conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1

    assert main(["evaluate", str(tiny_project), "--split", "dev"]) == 2
    assert "no queries with relevant labels in split 'dev'" in capsys.readouterr().err
