"""Real collections from ../shared/data: exact counts, Cranfield's quirk, a BEIR round trip."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import SHARED_DATA

from core.io.export import export
from core.io.importers import ImportOptions, import_source, parse_grade_map
from core.project.file import Project

SCIFACT = SHARED_DATA / "scifact"
CRANFIELD = SHARED_DATA / "cranfield"
# cranfield/beir was converted with gain = 5 - code and code -1 -> 0.
CRANFIELD_BEIR_GRADES = "1:4,2:3,3:2,4:1,-1:0"

pytestmark = pytest.mark.slow


def _needs(path):
    if not path.exists():
        pytest.skip(f"{path} not available")


def test_scifact_counts(tmp_path):
    _needs(SCIFACT)
    counts = import_source(tmp_path / "s.rsproj", SCIFACT)
    assert counts["documents"] == 5183
    assert counts["queries"] == 1109  # every query in queries.jsonl; unjudged ones would get no split
    assert counts["queries_per_split"] == {"test": 300, "train": 809}
    assert counts["judgements_per_split"] == {"test": 339, "train": 919}
    with Project.open(tmp_path / "s.rsproj") as p:
        assert p.document_count() == 5183
        assert p.splits() == {"test": 300, "train": 809}
        assert sum(len(v) for v in p.qrels("train").values()) == 919
        assert sum(len(v) for v in p.qrels("test").values()) == 339
        assert p.label_counts() == {"positive": {"imported": 1258}}


def test_cranfield_raw_smart_files_match_the_beir_conversion(tmp_path):
    _needs(CRANFIELD)
    with open(CRANFIELD / "cranqrel", encoding="ascii") as f:
        qrels_lines = sum(1 for line in f if line.strip())
    counts = import_source(tmp_path / "c.rsproj", CRANFIELD, options=ImportOptions(
        grade_map=parse_grade_map(CRANFIELD_BEIR_GRADES), split="test"))
    assert counts["format"] == "smart"
    assert (counts["documents"], counts["queries"]) == (1400, 225)
    assert counts["judgements"] == qrels_lines == 1837
    assert counts["grades"] == {"1": 128, "2": 387, "3": 734, "4": 363, "-1": 225}

    beir_queries = [json.loads(l) for l in open(CRANFIELD / "beir" / "queries.jsonl", encoding="utf-8")]
    beir_qrels: dict[str, dict[str, int]] = {}
    with open(CRANFIELD / "beir" / "qrels" / "test.tsv", encoding="utf-8") as f:
        for q, d, s in list(csv.reader(f, delimiter="\t"))[1:]:
            beir_qrels.setdefault(q, {})[d] = int(s)
    with Project.open(tmp_path / "c.rsproj") as p:
        queries = p.queries()
        # Ids are the .I labels, which skip numbers; qrels numbered queries 1..225 by position.
        assert [q.id for q in queries[:4]] == ["1", "2", "4", "8"]
        assert len(queries) == len(beir_queries) == 225
        ours = p.qrels("test", include_negatives=True)
        for position, (query, beir_query) in enumerate(zip(queries, beir_queries), 1):
            assert beir_query["_id"] == str(position)
            assert query.text == beir_query["text"]
            assert ours[query.id] == beir_qrels[str(position)], query.id
        # Query .I 004 is the 3rd query: cranqrel's "3 ..." lines are its judgements.
        assert p.get_query("4").text.startswith("what problems of heat conduction in composite slabs")
        assert set(ours["4"]) == set(beir_qrels["3"])
        beir_docs = {d["_id"]: d for d in map(json.loads, open(CRANFIELD / "beir" / "corpus.jsonl",
                                                               encoding="utf-8"))}
        for doc in p.iter_documents():
            assert (doc.title, doc.text) == (beir_docs[doc.id]["title"], beir_docs[doc.id]["text"])


def test_scifact_beir_round_trip(tmp_path):
    _needs(SCIFACT)
    import_source(tmp_path / "a.rsproj", SCIFACT)
    with Project.open(tmp_path / "a.rsproj") as p:
        out = export(p, tmp_path / "exported", format="beir")
    assert out["judgements_per_split"] == {"test": 339, "train": 919}
    import_source(tmp_path / "b.rsproj", tmp_path / "exported")
    with Project.open(tmp_path / "a.rsproj") as a, Project.open(tmp_path / "b.rsproj") as b:
        for key in ("documents", "queries", "queries_per_split", "labels", "labeled_queries"):
            assert a.info()[key] == b.info()[key]
        for split in ("train", "test"):
            assert a.qrels(split, include_negatives=True) == b.qrels(split, include_negatives=True)
        assert [(q.id, q.text, q.split) for q in a.queries()] == [(q.id, q.text, q.split) for q in b.queries()]
        assert list(a.iter_documents()) == list(b.iter_documents())
