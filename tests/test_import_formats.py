"""Every import format on small fixtures: what lands in the project."""

from __future__ import annotations

import json

import pytest
from helpers_import import DOCS, dump, jsonl, write_beir, write_text

from core.errors import InputError
from core.io.importers import (
    ImportOptions,
    detect_format,
    import_source,
    parse_grade_map,
    preview,
)
from core.io.importers.options import grade_to_label
from core.progress import Cancelled, Progress
from core.project.file import Project


def _labels(path):
    with Project.open(path) as p:
        return {(l.query_id, l.doc_id): (l.label, l.gain, l.source, l.pass_number) for l in p.all_labels()}


def _queries(path):
    with Project.open(path) as p:
        return {q.id: (q.text, q.split) for q in p.queries()}


# -- BEIR ------------------------------------------------------------------------

@pytest.mark.parametrize("header", [True, False])
def test_beir_folder(tmp_path, header):
    src = write_beir(tmp_path / "beir", header=header)
    assert detect_format(src) == "beir"
    proj = tmp_path / "p.rsproj"
    counts = import_source(proj, src)
    assert counts["documents"] == 6 and counts["queries"] == 5 and counts["judgements"] == 6
    assert counts["queries_per_split"] == {"": 1, "test": 2, "train": 2}
    assert counts["judgements_per_split"] == {"test": 2, "train": 4}
    assert counts["labels"] == {"positive": 5, "negative": 1}
    assert counts["created"] is True
    with Project.open(proj) as p:
        assert p.document_count() == 6
        assert p.get_document("a3").title == ""
        assert p.get_document("a1").text == DOCS[0][2]
        assert p.splits() == {"": 1, "test": 2, "train": 2}
        assert p.get_query("x5").split is None
        rows = p.conn.execute("SELECT source, format, counts FROM imports").fetchall()
        assert len(rows) == 1 and rows[0][1] == "beir" and json.loads(rows[0][2])["documents"] == 6
        assert p.corpus_revision
        hist = p.label_history("x1", "a3")
        assert [(h.old_label, h.label, h.gain, h.source, h.pass_number) for h in hist] == \
            [(None, "positive", 2, "imported", 0)]
    labels = _labels(proj)
    assert labels[("x1", "a3")] == ("positive", 2, "imported", 0)
    assert labels[("x2", "a5")] == ("negative", 0, "imported", 0)
    assert len(labels) == 6


def test_beir_into_existing_project_adds_and_touches_corpus(tiny_project, tmp_path):
    src = write_beir(tmp_path / "beir")
    with Project.open(tiny_project) as p:
        before = p.corpus_revision
    counts = import_source(tiny_project, src)
    assert counts["created"] is False
    with Project.open(tiny_project) as p:
        assert p.document_count() == 12 + 6
        assert p.query_count() == 4 + 5
        assert p.corpus_revision != before
        assert p.conn.execute("SELECT count(*) FROM imports").fetchone()[0] == 1
    # Qrels only (into the project that now holds those ids) update no corpus revision.
    qrels = write_text(tmp_path / "more.tsv", "q1\td2\t1\n")
    with Project.open(tiny_project) as p:
        rev = p.corpus_revision
    counts = import_source(tiny_project, qrels, format="msmarco", options=ImportOptions(kind="qrels"))
    assert counts["judgements"] == 1 and counts["documents"] == 0
    with Project.open(tiny_project) as p:
        assert p.corpus_revision == rev
        assert p.get_label("q1", "d2").label == "positive"


def test_small_batches_give_the_same_result(tmp_path):
    src = write_beir(tmp_path / "beir")
    a = import_source(tmp_path / "a.rsproj", src)
    b = import_source(tmp_path / "b.rsproj", src, options=ImportOptions(batch_size=2))
    assert {k: a[k] for k in ("documents", "queries", "judgements", "queries_per_split")} == \
        {k: b[k] for k in ("documents", "queries", "judgements", "queries_per_split")}
    assert _labels(tmp_path / "a.rsproj") == _labels(tmp_path / "b.rsproj")


def test_progress_reports_and_cancel_leaves_nothing(tmp_path):
    src = write_beir(tmp_path / "beir")
    seen = []
    import_source(tmp_path / "p.rsproj", src, options=ImportOptions(batch_size=2),
                  progress=Progress(lambda f, m: seen.append((f, m))))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) > 5
    assert any("documents" in m for _, m in seen)

    progress = Progress()

    def cb(fraction, message):
        if "queries" in message:
            progress.cancel()

    progress = Progress(cb)
    with pytest.raises(Cancelled):
        import_source(tmp_path / "c.rsproj", src, options=ImportOptions(batch_size=2), progress=progress)
    assert not (tmp_path / "c.rsproj").exists()
    assert not (tmp_path / "c.rsproj-wal").exists()


# -- MS MARCO --------------------------------------------------------------------------

def test_msmarco_folder(tmp_path):
    src = tmp_path / "marco"
    write_text(src / "collection.tsv", "".join(f"{i}\t{x}\n" for i, (_, _, x) in enumerate(DOCS)))
    write_text(src / "queries.train.tsv", "100\tdoes vitamin d help bones\n101\taspirin heart attack\n")
    write_text(src / "queries.dev.tsv", "200\twhat causes lung cancer\n201\tunjudged dev query\n")
    write_text(src / "qrels.train.tsv", "100\t0\t0\t1\n101\t0\t3\t1\n")
    write_text(src / "qrels.dev.small.tsv", "200 0 4 1\n")
    write_text(src / "README.txt", "not data\n")
    assert detect_format(src) == "msmarco"
    counts = import_source(tmp_path / "p.rsproj", src)
    assert counts["documents"] == 6 and counts["queries"] == 4 and counts["judgements"] == 3
    assert counts["queries_per_split"] == {"": 1, "dev": 1, "train": 2}
    assert counts["ignored_files"] == [str(src / "README.txt")]
    assert _queries(tmp_path / "p.rsproj")["200"] == ("what causes lung cancer", "dev")
    assert set(_labels(tmp_path / "p.rsproj")) == {("100", "0"), ("101", "3"), ("200", "4")}


def test_msmarco_collection_with_titles_and_header(tmp_path):
    coll = write_text(tmp_path / "collection.tsv", "id\ttitle\ttext\nd1\tT one\tbody one\nd2\t\tbody two\n")
    assert detect_format(coll) == "msmarco"
    import_source(tmp_path / "p.rsproj", coll)
    with Project.open(tmp_path / "p.rsproj") as p:
        assert p.get_document("d1").title == "T one"
        assert p.get_document("d2").text == "body two"
        assert p.document_count() == 2


# -- TREC ------------------------------------------------------------------------------

TREC_DOCS = """<DOC>
<DOCNO> FT911-1 </DOCNO>
<HEADLINE>
<P>Vitamin D &amp; bones</P>
</HEADLINE>
<TEXT>
Vitamin D supplementation
increases bone density.
</TEXT>
<TEXT>Second section.</TEXT>
</DOC>

<DOC>
<DOCNO>FT911-2</DOCNO>
<TEXT>
Smoking causes <B>lung</B> cancer.
</TEXT>
</DOC>
"""
TREC_TOPICS = """<top>
<num> Number: 301
<title> International Organized Crime

<desc> Description:
Identify organizations that participate in international criminal activity.

<narr> Narrative:
A relevant document must name the organization.
</top>

<top>
<num> Number: 302
<title> Lung cancer causes
<desc> Description:
What causes lung cancer?
</top>
"""


def test_trec_folder(tmp_path):
    src = tmp_path / "trec"
    write_text(src / "docs" / "ft911.sgml", TREC_DOCS)
    write_text(src / "topics.301-302.txt", TREC_TOPICS)
    write_text(src / "qrels.txt", "301 0 FT911-1 1\n301 0 FT911-2 0\n302 0 FT911-2 2\n")
    assert detect_format(src) == "trec"
    counts = import_source(tmp_path / "p.rsproj", src, options=ImportOptions(split="test"))
    assert (counts["documents"], counts["queries"], counts["judgements"]) == (2, 2, 3)
    with Project.open(tmp_path / "p.rsproj") as p:
        d = p.get_document("FT911-1")
        assert d.title == "Vitamin D & bones"
        assert d.text == "Vitamin D supplementation increases bone density. Second section."
        assert p.get_document("FT911-2").text == "Smoking causes lung cancer."
        assert p.get_query("301").text == "International Organized Crime"
        assert p.get_query("302").split == "test"
    labels = _labels(tmp_path / "p.rsproj")
    assert labels[("301", "FT911-2")][0] == "negative"
    assert labels[("302", "FT911-2")][:2] == ("positive", 2)


def test_trec_topic_fields_and_xml_topics(tmp_path):
    topics = write_text(tmp_path / "topics.txt", TREC_TOPICS)
    import_source(tmp_path / "p.rsproj", topics, format="trec",
                  options=ImportOptions(topic_field="description"))
    assert _queries(tmp_path / "p.rsproj")["302"][0] == "What causes lung cancer?"
    xml = write_text(tmp_path / "topics.xml", '<topics>\n<topic number="7" type="faceted">\n'
                     "<query>obama family tree</query>\n<description>Find information on "
                     "President Obama's family.</description>\n</topic>\n</topics>\n")
    import_source(tmp_path / "q.rsproj", xml, format="trec", options=ImportOptions(topic_field="title+description"))
    assert _queries(tmp_path / "q.rsproj")["7"][0] == "obama family tree Find information on President Obama's family."


# -- SMART -------------------------------------------------------------------------------

SMART_DOCS = """.I 1
.T
vitamin d and bones .
.A
someone
.B
j. bones 1, 1960
.W
vitamin d and bones .
  supplementation increases
bone density .
.I 2
.T
lung cancer
.W
smoking causes lung cancer .
.I 3
.T
.W
.I 4
.T
sleep
.W
sleep consolidates memory .
.W
a repeated field continues .
"""
# .I labels skip numbers, as in cran.qry.
SMART_QUERIES = """.I 001
.W
what helps bones .
.I 002
.W
what causes lung
cancer .
.I 004
.W
why do we sleep .
"""


def _smart(tmp_path, qrels: str):
    src = tmp_path / "smart"
    write_text(src / "mini.all", SMART_DOCS.replace("\n", "\r\n"))
    write_text(src / "mini.qry", SMART_QUERIES)
    write_text(src / "miniqrel", qrels)
    write_text(src / "miniqrel.readme", "about the qrels\n")
    return src


def test_smart_position_numbered_qrels_like_cranfield(tmp_path):
    # Query number 3 means the 3rd query (.I 004): Cranfield's quirk.
    src = _smart(tmp_path, "1 1 1\n1 2 -1\n2 2 2\n3 4 4\n")
    assert detect_format(src) == "smart"
    counts = import_source(tmp_path / "p.rsproj", src,
                           options=ImportOptions(grade_map=parse_grade_map("1:3,2:2,3:1,4:1,-1:0"),
                                                 split="test"))
    assert (counts["documents"], counts["queries"], counts["judgements"]) == (4, 3, 4)
    assert counts["ignored_files"] == [str(src / "miniqrel.readme")]
    assert counts["grades"] == {"1": 1, "-1": 1, "2": 1, "4": 1}
    with Project.open(tmp_path / "p.rsproj") as p:
        assert [q.id for q in p.queries()] == ["1", "2", "4"]
        assert p.get_query("2").text == "what causes lung cancer ."
        d1 = p.get_document("1")
        assert d1.title == "vitamin d and bones ." and d1.text == "vitamin d and bones . supplementation increases bone density ."
        assert p.get_document("3").text == "" and p.get_document("3").title == ""
        assert p.get_document("4").text == "sleep consolidates memory . a repeated field continues ."
    labels = _labels(tmp_path / "p.rsproj")
    assert labels == {
        ("1", "1"): ("positive", 3, "imported", 0),
        ("1", "2"): ("negative", 0, "imported", 0),
        ("2", "2"): ("positive", 2, "imported", 0),
        ("4", "4"): ("positive", 1, "imported", 0),
    }


def test_smart_label_numbering_auto_and_forced(tmp_path):
    # Every qrels query number is a .I label -> labels are used.
    src = _smart(tmp_path, "1 1 1\n4 4 1\n")
    import_source(tmp_path / "a.rsproj", src)
    assert set(_labels(tmp_path / "a.rsproj")) == {("1", "1"), ("4", "4")}
    # Forcing positions reads "4" as the 4th query, which does not exist.
    with pytest.raises(InputError) as err:
        import_source(tmp_path / "b.rsproj", src, options=ImportOptions(query_numbering="position"))
    assert "outside 1..3" in err.value.problem and err.value.line == 2
    # Forcing labels on position-numbered qrels names the unknown query.
    src2 = _smart(tmp_path / "two", "3 4 1\n")
    with pytest.raises(InputError, match="unknown query id '3'"):
        import_source(tmp_path / "c.rsproj", src2, options=ImportOptions(query_numbering="label"))


def test_smart_cisi_style_qrels(tmp_path):
    src = _smart(tmp_path, "1     1\t0\t0.000000\n2     2\t0\t0.000000\n")
    import_source(tmp_path / "p.rsproj", src)
    assert _labels(tmp_path / "p.rsproj") == {("1", "1"): ("positive", 1, "imported", 0),
                                              ("2", "2"): ("positive", 1, "imported", 0)}


# -- generic tabular -------------------------------------------------------------------------

def test_csv_files_with_column_options(tmp_path):
    corpus = write_text(tmp_path / "docs.csv", 'docid,headline,body\n'
                        'c1,First,"Body one, with comma"\n'
                        'c2,Second,"Body two\nspans two lines"\n'
                        'c3,,"Body ""three"""\n')
    queries = write_text(tmp_path / "questions.csv", "qnum,question\nk1,first question\nk2,second question\n")
    qrels = write_text(tmp_path / "judged.csv", "qnum,doc,rel\nk1,c1,2\nk2,c3,0\n")
    assert detect_format(corpus) == "csv"
    opts = ImportOptions(id_column="docid", text_column="body", title_column="headline",
                         queries=[queries], query_id_column="qnum", query_column="question",
                         qrels=[qrels], qrels_query_column="qnum", qrels_doc_column="doc",
                         qrels_score_column="rel", split="dev")
    counts = import_source(tmp_path / "p.rsproj", corpus, options=opts)
    assert (counts["documents"], counts["queries"], counts["judgements"]) == (3, 2, 2)
    with Project.open(tmp_path / "p.rsproj") as p:
        assert p.get_document("c2").text == "Body two\nspans two lines"
        assert p.get_document("c3").text == 'Body "three"' and p.get_document("c1").title == "First"
        assert p.splits() == {"dev": 2}
    assert _labels(tmp_path / "p.rsproj")[("k1", "c1")][:2] == ("positive", 2)


def test_csv_folder_by_file_names(tmp_path):
    src = tmp_path / "csvs"
    write_text(src / "corpus.csv", "id,title,text\nd1,T,one\nd2,U,two\n")
    write_text(src / "queries.csv", "id,text\nq1,first\n")
    write_text(src / "qrels.csv", "query-id,corpus-id\nq1,d2\n")  # no score column: relevant
    write_text(src / "notes.csv", "a,b\n1,2\n")
    assert detect_format(src) == "csv"
    counts = import_source(tmp_path / "p.rsproj", src, options=ImportOptions(split="train"))
    assert (counts["documents"], counts["queries"], counts["judgements"]) == (2, 1, 1)
    assert counts["ignored_files"] == [str(src / "notes.csv")]
    assert _labels(tmp_path / "p.rsproj") == {("q1", "d2"): ("positive", 1, "imported", 0)}


def test_tsv_with_header_and_kind_detection(tmp_path):
    corpus = write_text(tmp_path / "corpus.tsv", "id\ttitle\ttext\nd1\tT\tone\nd2\t\ttwo\n")
    assert detect_format(corpus) == "tsv"
    import_source(tmp_path / "p.rsproj", corpus)
    qrels = write_text(tmp_path / "judgements.tsv", "corpus-id\tquery-id\tscore\nd1\tq9\t1\n")
    write_text(tmp_path / "queries.tsv", "id\ttext\nq9\tnine\n")
    import_source(tmp_path / "p.rsproj", tmp_path / "queries.tsv", format="tsv")
    counts = import_source(tmp_path / "p.rsproj", qrels, format="tsv")  # qrels from its columns
    assert counts["judgements"] == 1
    assert set(_labels(tmp_path / "p.rsproj")) == {("q9", "d1")}


def test_jsonl_with_custom_keys(tmp_path):
    corpus = write_text(tmp_path / "passages.jsonl", jsonl([
        {"pid": 7, "contents": "seven", "extra": [1]}, {"pid": 8, "contents": "eight"}]))
    queries = write_text(tmp_path / "q.jsonl", jsonl([{"qid": "a", "query": "about seven"}]))
    qrels = write_text(tmp_path / "qrels.jsonl", jsonl([{"qid": "a", "pid": 7, "relevance": 3}]))
    opts = ImportOptions(queries=[queries], qrels=[qrels])
    counts = import_source(tmp_path / "p.rsproj", corpus, format="jsonl", options=opts)
    assert (counts["documents"], counts["queries"], counts["judgements"]) == (2, 1, 1)
    assert _labels(tmp_path / "p.rsproj") == {("a", "7"): ("positive", 3, "imported", 0)}


def test_parquet_files(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"doc_id": ["p1", "p2", "p3"], "title": ["A", None, "C"],
                             "text": ["alpha", "beta", "gamma"]}), tmp_path / "corpus.parquet")
    pq.write_table(pa.table({"query_id": ["u1"], "query": ["alpha?"]}), tmp_path / "queries.parquet")
    pq.write_table(pa.table({"query_id": ["u1", "u1"], "doc_id": ["p1", "p2"], "score": [1, 0]}),
                   tmp_path / "qrels.parquet")
    assert detect_format(tmp_path / "corpus.parquet") == "parquet"
    assert detect_format(tmp_path) == "parquet"
    counts = import_source(tmp_path / "p.rsproj", tmp_path, options=ImportOptions(split="train"))
    assert (counts["documents"], counts["queries"], counts["judgements"]) == (3, 1, 2)
    with Project.open(tmp_path / "p.rsproj") as p:
        assert p.get_document("p2").title == ""
        assert p.get_query("u1").split == "train"
    assert _labels(tmp_path / "p.rsproj")[("u1", "p2")][0] == "negative"


# -- options, detection, preview ----------------------------------------------------------------

def test_grade_map_parsing_and_labels():
    gm = parse_grade_map("1:3, 2:2,3:1,4:0,-1:0")
    assert gm == {"1": 3, "2": 2, "3": 1, "4": 0, "-1": 0}
    assert grade_to_label("1", gm) == ("positive", 3)
    assert grade_to_label(" 4", gm) == ("negative", 0)
    assert grade_to_label("2.0", gm) == ("positive", 2)
    assert grade_to_label("3", None) == ("positive", 3)
    assert grade_to_label("0", None) == ("negative", 0)
    assert grade_to_label("-2", None) == ("negative", 0)
    with pytest.raises(ValueError, match="not in the grade map"):
        grade_to_label("5", gm)
    with pytest.raises(ValueError, match="not an integer"):
        grade_to_label("0.5", None)
    for bad in ("1", "1:x", "1:-1", "1:1,1:2", ""):
        with pytest.raises(ValueError):
            parse_grade_map(bad)


def test_detect_format_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        detect_format(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="cannot tell the format"):
        detect_format(tmp_path / "empty")
    write_text(tmp_path / "blank.dat", "")
    with pytest.raises(InputError, match="empty file"):
        detect_format(tmp_path / "blank.dat")


def test_preview_shows_files_rows_and_columns(tmp_path):
    src = write_beir(tmp_path / "beir")
    before = sorted(p.name for p in tmp_path.iterdir())
    info = preview(src, limit=3)
    assert info["format"] == "beir"
    roles = {(f["role"], f["split"]) for f in info["files"]}
    assert roles == {("documents", None), ("queries", None), ("qrels", "train"), ("qrels", "test")}
    assert [r["id"] for r in info["rows"]["documents"]] == ["a1", "a2", "a3"]
    # qrels/test.tsv sorts first; line 1 is its header.
    assert info["rows"]["qrels"][0] == {"line": 2, "query_id": "x3", "doc_id": "a5", "grade": "1",
                                        "split": "test"}
    corpus_file = next(f for f in info["files"] if f["role"] == "documents")
    assert corpus_file["columns"] == ["_id", "title", "text"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # preview writes nothing


def test_failed_import_leaves_existing_project_unchanged(tiny_project, tmp_path):
    # A sanity check of the comparison helper used by the bad-input tests.
    before = dump(tiny_project)
    src = write_beir(tmp_path / "beir", qrels={"train": [("x1", "nope", 1)]})
    with pytest.raises(InputError):
        import_source(tiny_project, src)
    assert dump(tiny_project) == before
