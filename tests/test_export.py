"""Export: BEIR folders (round trip) and sentence-transformers training data."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_DOCS
from helpers_candidates import store_candidates
from helpers_import import write_beir

from core.io.export import ExportError, export, training_examples
from core.io.importers import import_source
from core.project.file import Project, now_iso

TEXT = {d: f"{t} {x}" for d, t, x in TINY_DOCS}


def _mined_project(path):
    """tiny project + user labels + two mining passes (q1's latest is pass 2)."""
    with Project.open(path) as p:
        p.set_label("q1", "d2", "negative")
        p.set_label("q1", "d3", "false_negative")
        with p.transaction():
            for n in (1, 2):
                p.conn.execute("INSERT INTO mining_passes(pass, created_at, source, model_version, "
                               "config, counts) VALUES (?, ?, 'bm25', NULL, '{}', '{}')", (n, now_iso()))
            rows = [
                (1, "q1", "d5", 1, 0.9, "kept"), (1, "q1", "d6", 2, 0.8, "kept"),
                (1, "q2", "d5", 1, 0.6, "kept"), (1, "q2", "d6", 2, 0.5, "dropped"),
                (2, "q1", "d3", 1, 0.95, "kept"),   # false negative: never a negative
                (2, "q1", "d1", 2, 0.85, "kept"),   # positive: never a negative
                (2, "q1", "d7", 3, 0.7, "kept"),
                (2, "q1", "d8", 4, 0.6, "dropped"),
            ]
            store_candidates(p.conn, [r + ("test-" + r[5],) for r in rows])
    return path


def test_training_examples_pick_negatives_safely(tiny_project):
    _mined_project(tiny_project)
    with Project.open(tiny_project) as p:
        plain = {e.query_id: (e.positives, e.negatives) for e in training_examples(p, "train")}
        assert plain == {"q1": (["d1", "d3"], ["d2"]), "q2": (["d4"], [])}
        mined = {e.query_id: e for e in training_examples(p, "train", use_proposed=True)}
        assert mined["q1"].negatives == ["d2", "d7"]  # labeled first, then latest pass kept by rank
        assert mined["q1"].proposed == {"d7"}
        assert mined["q2"].negatives == ["d5"]
        assert mined["q1"].scores["d1"] == 0.85 and "d5" not in mined["q1"].scores
        capped = {e.query_id: e.negatives for e in training_examples(p, "train", use_proposed=True,
                                                                      max_negatives=1)}
        assert capped["q1"] == ["d2"]


def _read(path, file_format):
    if file_format == "jsonl":
        return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines()]
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_triplets(tiny_project, tmp_path, file_format):
    _mined_project(tiny_project)
    out = tmp_path / f"t.{file_format}"
    with Project.open(tiny_project) as p:
        counts = export(p, out, format="triplets", use_proposed=True)
    rows = _read(out, file_format)
    assert counts["rows"] == len(rows) == 5 and counts["file_format"] == file_format
    assert counts["negatives"] == {"labeled": 1, "proposed": 2}
    pairs = [(r["positive"], r["negative"]) for r in rows]
    assert pairs == [(TEXT["d1"], TEXT["d2"]), (TEXT["d1"], TEXT["d7"]), (TEXT["d3"], TEXT["d2"]),
                     (TEXT["d3"], TEXT["d7"]), (TEXT["d4"], TEXT["d5"])]
    assert rows[0]["anchor"] == "vitamin D improves bone density"
    assert list(rows[0]) == ["anchor", "positive", "negative"]


def test_without_proposed_only_labeled_negatives(tiny_project, tmp_path):
    _mined_project(tiny_project)
    with Project.open(tiny_project) as p:
        counts = export(p, tmp_path / "t.jsonl", format="triplets")
    rows = _read(tmp_path / "t.jsonl", "jsonl")
    assert [(r["positive"], r["negative"]) for r in rows] == [(TEXT["d1"], TEXT["d2"]), (TEXT["d3"], TEXT["d2"])]
    assert counts["queries_without_negatives"] == 1


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_ntuple_and_scores(tiny_project, tmp_path, file_format):
    _mined_project(tiny_project)
    with Project.open(tiny_project) as p:
        c1 = export(p, tmp_path / f"n.{file_format}", format="ntuple", use_proposed=True, num_negatives=2)
        c2 = export(p, tmp_path / f"s.{file_format}", format="ntuple-scores", use_proposed=True, num_negatives=1)
    rows = _read(tmp_path / f"n.{file_format}", file_format)
    assert c1["rows"] == 2 and c1["queries_with_too_few_negatives"] == 1  # q2 has one negative
    assert rows[0] == {"anchor": "vitamin D improves bone density", "positive": TEXT["d1"],
                       "negative_1": TEXT["d2"], "negative_2": TEXT["d7"]}
    scored = _read(tmp_path / f"s.{file_format}", file_format)
    # d2 is a labeled negative that was never a candidate: no score, so d7 takes its place;
    # q2's positive d4 was never a candidate: no row. Both are counted, nothing is null.
    assert [(r["negative_1"], r["scores"]) for r in scored] == [(TEXT["d7"], [0.85, 0.7]),
                                                                (TEXT["d7"], [0.95, 0.7])]
    assert c2["rows"] == 2 and c2["queries_used"] == 1
    assert c2["negatives_without_scores"] == 1 and c2["positives_without_scores"] == 1
    assert c2["score_source"] == {"teacher": 0, "retriever": 1}


def test_labeled_pairs(tiny_project, tmp_path):
    _mined_project(tiny_project)
    with Project.open(tiny_project) as p:
        counts = export(p, tmp_path / "l.parquet", format="labeled-pairs", use_proposed=True)
    rows = _read(tmp_path / "l.parquet", "parquet")
    assert counts["file_format"] == "parquet"  # from the extension
    assert [(r["positive"], r["label"]) for r in rows] == [
        (TEXT["d1"], 1), (TEXT["d3"], 1), (TEXT["d2"], 0), (TEXT["d7"], 0), (TEXT["d4"], 1), (TEXT["d5"], 0)]


@pytest.mark.parametrize("fmt,columns", [
    ("triplets", ["anchor", "positive", "negative"]),
    ("ntuple", ["anchor", "positive", "negative_1"]),
    ("ntuple-scores", ["anchor", "positive", "negative_1", "scores"]),
    ("labeled-pairs", ["anchor", "positive", "label"]),
])
@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_loadable_with_datasets(tiny_project, tmp_path, fmt, columns, file_format):
    import datasets

    _mined_project(tiny_project)
    out = tmp_path / f"x.{file_format}"
    with Project.open(tiny_project) as p:
        counts = export(p, out, format=fmt, use_proposed=True, num_negatives=1, split="*")
    ds = datasets.load_dataset("json" if file_format == "jsonl" else "parquet", data_files=str(out),
                               split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.column_names == columns
    assert ds.num_rows == counts["rows"] > 0


def test_nothing_to_export_and_existing_output(tiny_project, tmp_path):
    with Project.open(tiny_project) as p:
        with pytest.raises(ExportError, match="nothing to export"):
            export(p, tmp_path / "t.jsonl", format="triplets")
        assert list(tmp_path.glob("*.jsonl")) == [] and list(tmp_path.glob(".*tmp")) == []
        with pytest.raises(ExportError, match="no queries in split 'nope'"):
            export(p, tmp_path / "t.jsonl", format="labeled-pairs", split="nope")
        export(p, tmp_path / "t.jsonl", format="labeled-pairs")
        with pytest.raises(ExportError, match="already exists"):
            export(p, tmp_path / "t.jsonl", format="labeled-pairs")
        export(p, tmp_path / "t.jsonl", format="labeled-pairs", overwrite=True)
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "x").write_text("x")
        with pytest.raises(ExportError, match="not an empty folder"):
            export(p, tmp_path / "full", format="beir")


# -- BEIR --------------------------------------------------------------------------

def test_beir_export_files(tiny_project, tmp_path):
    with Project.open(tiny_project) as p:
        p.set_label("q3", "d8", "false_negative", gain=2)
        p.set_label("q3", "d6", "negative")
        p.conn.execute("INSERT INTO queries VALUES ('q5', 'no split query', NULL)")
        p.set_label("q5", "d1", "positive")
        # q5's judgement has no qrels file to go to: refused, naming how many, and nothing written.
        with pytest.raises(ExportError, match="1 judgements of 1 queries without a split would be left out"):
            export(p, tmp_path / "out", format="beir")
        assert not (tmp_path / "out").exists() and list(tmp_path.glob(".out.*")) == []
        p.conn.execute("DELETE FROM labels WHERE query_id='q5'")
        counts = export(p, tmp_path / "out", format="beir")
    out = tmp_path / "out"
    assert counts["documents"] == 12 and counts["queries"] == 5
    assert counts["judgements_per_split"] == {"test": 5, "train": 2}
    corpus = [json.loads(l) for l in (out / "corpus.jsonl").read_text().splitlines()]
    assert corpus[0] == {"_id": "d1", "title": TINY_DOCS[0][1], "text": TINY_DOCS[0][2]}
    test = (out / "qrels" / "test.tsv").read_text().splitlines()
    assert test[0] == "query-id\tcorpus-id\tscore"
    assert set(test[1:]) == {"q3\td7\t1", "q3\td9\t2", "q3\td8\t2", "q3\td6\t0", "q4\td10\t1"}
    assert sorted(p.name for p in (out / "qrels").iterdir()) == ["test.tsv", "train.tsv"]


def _judgements(path):
    with Project.open(path) as p:
        return ({(l.query_id, l.doc_id): ("relevant" if l.label != "negative" else "negative", l.gain)
                 for l in p.all_labels()},
                {q.id: (q.text, q.split) for q in p.queries()},
                {d.id: (d.title, d.text) for d in p.iter_documents()})


def test_beir_round_trip_reproduces_everything(tmp_path):
    src = write_beir(tmp_path / "beir")  # graded gains, a score-0 judgement, an unjudged query
    import_source(tmp_path / "a.rsproj", src)
    with Project.open(tmp_path / "a.rsproj") as p:
        export(p, tmp_path / "exported", format="beir")
    import_source(tmp_path / "b.rsproj", tmp_path / "exported")
    assert _judgements(tmp_path / "a.rsproj") == _judgements(tmp_path / "b.rsproj")
    with Project.open(tmp_path / "a.rsproj") as a, Project.open(tmp_path / "b.rsproj") as b:
        ia, ib = a.info(), b.info()
        for key in ("documents", "queries", "queries_per_split", "labels"):
            assert ia[key] == ib[key]
