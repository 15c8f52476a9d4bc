"""Import -> export BEIR -> import gives the same project content, from every source format.

Each source holds graded judgements (gains 1..3), judged non-relevant pairs
(gain 0 -> ``negative``) and a query nobody judged (which keeps no split).
The comparison is record by record: documents (id, title, text), queries
(id, text, split) and labels (query, document, label, gain).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_import import jsonl, write_text

from core.io.export import ExportError, export
from core.io.importers import ImportOptions, import_source, parse_grade_map
from core.project.file import Project


def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        write_text(root / name, text)
    return root


BEIR = {
    "corpus.jsonl": jsonl([{"_id": "d1", "title": "Bones", "text": "vitamin d and bone"},
                           {"_id": "d2", "title": "", "text": "aspirin, \"quoted\""},
                           {"_id": "d3", "title": "Sleep", "text": "sleep\tand memory"}]),
    "queries.jsonl": jsonl([{"_id": "q1", "text": "bones"}, {"_id": "q2", "text": "aspirin"},
                            {"_id": "q3", "text": "nobody judged me"}]),
    "qrels/train.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n",
    "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq2\td2\t3\nq2\td3\t0\nq2\td1\t1\n",
}
SMART = {
    "c.all": ".I 1\n.T\nBones\n.W\nvitamin d\nand bone\n.I 2\n.W\naspirin\n.I 3\n.T\nSleep\n.W\nmemory\n",
    "c.qry": ".I 001\n.W\nbones\n.I 002\n.T\nTitled\n.W\naspirin\n.I 007\n.W\nnobody judged me\n",
    # Cranfield-style codes: 1 most relevant, -1 judged non-relevant; queries by position.
    "cranqrel": "1 1 1\n1 2 -1\n2 2 2\n2 3 -1\n2 1 3\n",
}
SMART_GRADES = parse_grade_map("1:3,2:2,3:1,-1:0")
TREC = {
    "docs.sgml": "<DOC>\n<DOCNO> d1 </DOCNO>\n<TITLE>Bones</TITLE>\n<TEXT>vitamin d</TEXT>\n</DOC>\n"
                 "<DOC>\n<DOCNO>d2</DOCNO>\n<TEXT>aspirin &amp; heart</TEXT>\n</DOC>\n"
                 "<DOC>\n<DOCNO>d3</DOCNO>\n<TEXT>sleep</TEXT>\n</DOC>\n",
    "topics.txt": "<top>\n<num> Number: 301\n<title> bones\n</top>\n"
                  "<top>\n<num> Number: 302\n<title> aspirin\n</top>\n"
                  "<top>\n<num> Number: 303\n<title> nobody judged me\n</top>\n",
    "qrels.301-302.txt": "301 0 d1 2\n301 0 d2 0\n302 0 d2 3\n302 0 d3 0\n302 0 d1 1\n",
}
MSMARCO = {
    "collection.tsv": "d1\tBones\tvitamin d\nd2\t\"aspirin\nd3\tsleep\n",
    "queries.train.tsv": "q1\tbones\nq2\taspirin\nq3\tnobody judged me\n",
    "qrels.train.tsv": "q1\t0\td1\t2\nq1\t0\td2\t0\n",
    "qrels.dev.tsv": "q2\t0\td2\t3\nq2\t0\td3\t0\nq2\t0\td1\t1\n",
}
CSV = {
    "corpus.csv": 'id,title,text\nd1,Bones,"vitamin d,\nand bone"\nd2,,"aspirin ""quoted"""\nd3,Sleep,memory\n',
    "queries.csv": "id,text\nq1,bones\nq2,aspirin\nq3,nobody judged me\n",
    "qrels.csv": "query-id,corpus-id,score\nq1,d1,2\nq1,d2,0\nq2,d2,3\nq2,d3,0\nq2,d1,1\n",
}


SOURCES = {
    "beir": (BEIR, None),
    "smart": (SMART, ImportOptions(grade_map=SMART_GRADES)),
    "trec": (TREC, ImportOptions(split="train")),
    "msmarco": (MSMARCO, None),
    "csv": (CSV, None),
}


def content(path: Path) -> dict:
    with Project.open(path) as p:
        c = p.conn
        return {
            "documents": sorted(c.execute("SELECT id, title, text FROM documents").fetchall()),
            "queries": sorted(c.execute("SELECT id, text, split FROM queries").fetchall(),
                              key=lambda r: r[0]),
            "labels": sorted(c.execute("SELECT query_id, doc_id, label, gain FROM labels").fetchall()),
        }


@pytest.mark.parametrize("kind", list(SOURCES))
def test_round_trip_is_identical(kind, tmp_path):
    files, options = SOURCES[kind]
    source = write_files(tmp_path / "src", files)
    first = tmp_path / "a.rsproj"
    import_source(first, source, options=options)
    a = content(first)
    # The sources are built so that every kind holds graded, negative and unjudged queries.
    assert {lab[2] for lab in a["labels"]} == {"positive", "negative"}
    assert len({lab[3] for lab in a["labels"]}) >= 3
    assert any(q[2] is None for q in a["queries"]) and all(
        q[2] is not None for q in a["queries"] if any(lab[0] == q[0] for lab in a["labels"]))
    with Project.open(first) as p:
        export(p, tmp_path / "out", format="beir")
    second = tmp_path / "b.rsproj"
    import_source(second, tmp_path / "out")
    assert content(second) == a


def test_smart_round_trip_records(tmp_path):
    """The SMART case by hand: positions map to .I labels, titles are kept, codes become gains."""
    import_source(tmp_path / "a.rsproj", write_files(tmp_path / "src", SMART), options=ImportOptions(grade_map=SMART_GRADES))
    a = content(tmp_path / "a.rsproj")
    assert a["queries"] == [("1", "bones", "test"), ("2", "Titled aspirin", "test"),
                            ("7", "nobody judged me", None)]
    assert a["labels"] == [("1", "1", "positive", 3), ("1", "2", "negative", 0), ("2", "1", "positive", 1),
                           ("2", "2", "positive", 2), ("2", "3", "negative", 0)]


def test_judgements_of_queries_without_a_split(tmp_path):
    """Labels given by hand to an unsplit query: BEIR export refuses, or writes them where told."""
    first = tmp_path / "a.rsproj"
    import_source(first, write_files(tmp_path / "src", BEIR))
    with Project.open(first) as p:
        p.set_label("q3", "d3", "positive", source="user", gain=2)
        p.set_label("q3", "d1", "negative", source="user")
        with pytest.raises(ExportError, match=r"2 judgements of 1 queries without a split"):
            export(p, tmp_path / "out", format="beir")
        assert not (tmp_path / "out").exists()
        export(p, tmp_path / "out", format="beir", unsplit_as="heldout")
    import_source(tmp_path / "b.rsproj", tmp_path / "out")
    a, b = content(first), content(tmp_path / "b.rsproj")
    assert b["labels"] == a["labels"]
    assert dict((q[0], q[2]) for q in b["queries"]) == {"q1": "train", "q2": "test", "q3": "heldout"}
