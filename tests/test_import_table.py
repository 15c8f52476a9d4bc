"""A table of malformed and tricky inputs across every import format.

Each case either imports exactly right (every document, query with its split,
and judgement with its label and gain compared against the case's own
hand-written expectation) or is refused with a message naming the file and
the line (None where the problem is the file itself); after a refusal the
existing project file is byte-for-byte the same (SHA-256 of the closed file,
and no -wal/-shm left behind).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers_import import jsonl, project_files, write_text

from core.errors import InputError, StudioError
from core.io.importers import ImportOptions, import_source, parse_grade_map
from core.project.file import Project

COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


@dataclass
class Ok:
    docs: list[tuple[str, str, str]]
    queries: list[tuple[str, str, str | None]] = field(default_factory=list)
    labels: list[tuple[str, str, str, int]] = field(default_factory=list)


@dataclass
class Refused:
    name: str  # the file (or folder) the message must name
    line: int | None
    problem: str


def packed(path: Path, text: str) -> Path:
    """``text`` written compressed by the suffix of ``path`` (.gz, .bz2, .xz)."""
    return write_text(path, COMPRESS[path.suffix](text.encode("utf-8")))


DOC_ROWS = [{"_id": "a1", "title": "T1", "text": "one"}, {"_id": "a2", "title": "", "text": "two"}]
DOCS = [("a1", "T1", "one"), ("a2", "", "two")]
QUERY_ROWS = [{"_id": "x1", "text": "first query"}, {"_id": "x2", "text": "second query"}]
QRELS_TSV = "query-id\tcorpus-id\tscore\nx1\ta1\t1\nx2\ta2\t0\n"
LABELS = [("x1", "a1", "positive", 1), ("x2", "a2", "negative", 0)]


def beir(root: Path, *, corpus: str | None = None, queries: str | None = None,
         qrels: dict[str, str] | None = None) -> Path:
    write_text(root / "corpus.jsonl", jsonl(DOC_ROWS) if corpus is None else corpus)
    write_text(root / "queries.jsonl", jsonl(QUERY_ROWS) if queries is None else queries)
    for name, text in ({"test.tsv": QRELS_TSV} if qrels is None else qrels).items():
        write_text(root / "qrels" / name, text)
    return root


def corpus_with(line: str) -> str:
    """The two good documents, then ``line`` as line 3."""
    return jsonl(DOC_ROWS) + line + "\n"


OK_BEIR = Ok(DOCS, [("x1", "first query", "test"), ("x2", "second query", "test")], LABELS)

CASES: dict[str, tuple] = {}
ANY_LINE = -1  # the message names a line, which depends on the compressor's block size


def case(expect):
    def register(builder):
        CASES[builder.__name__] = (builder, expect)
        return builder
    return register


# -- BEIR ------------------------------------------------------------------------------

@case(OK_BEIR)
def beir_plain(t):
    return beir(t / "b"), "auto", None


@case(OK_BEIR)
def beir_gz_corpus(t):  # used to import 0 documents and exit 0
    root = beir(t / "b")
    packed(root / "corpus.jsonl.gz", (root / "corpus.jsonl").read_text())
    (root / "corpus.jsonl").unlink()
    return root, "auto", None


@case(OK_BEIR)
def beir_bz2_qrels(t):
    root = beir(t / "b", qrels={})
    packed(root / "qrels" / "test.tsv.bz2", QRELS_TSV)
    return root, "auto", None


@case(OK_BEIR)
def beir_xz_everything(t):
    root = t / "b"
    packed(root / "corpus.jsonl.xz", jsonl(DOC_ROWS))
    packed(root / "queries.jsonl.xz", jsonl(QUERY_ROWS))
    packed(root / "qrels" / "test.tsv.xz", QRELS_TSV)
    return root, "auto", None


@case(Refused("b", None, "both corpus.jsonl and corpus.jsonl.gz"))
def beir_two_corpus_variants(t):
    root = beir(t / "b")
    packed(root / "corpus.jsonl.gz", jsonl(DOC_ROWS))
    return root, "auto", None


@case(Refused("test.csv", None, "must be <split>.tsv"))
def beir_qrels_not_tsv(t):
    return beir(t / "b", qrels={"test.csv": "x1,a1,1\n"}), "auto", None


@case(Refused("train.tsv", None, "cannot read"))
def beir_qrels_symlink_loop(t):  # used to be skipped silently
    root = beir(t / "b")
    os.symlink("train.tsv", root / "qrels" / "train.tsv")
    return root, "auto", None


@case(Refused("dev.tsv", None, "cannot read"))
def beir_qrels_dangling_link(t):
    root = beir(t / "b")
    os.symlink(t / "nowhere.tsv", root / "qrels" / "dev.tsv")
    return root, "auto", None


@case(Refused("a b.tsv", None, "split name 'a b' is not allowed"))
def beir_split_name_with_space(t):
    return beir(t / "b", qrels={"a b.tsv": QRELS_TSV}), "auto", None


@case(Refused("all.tsv", None, "'all' is reserved"))
def beir_split_named_all(t):
    return beir(t / "b", qrels={"all.tsv": QRELS_TSV}), "auto", None


@case(Refused("-x.tsv", None, "not allowed"))
def beir_split_name_starting_with_dash(t):  # a split starts with a letter or digit
    return beir(t / "b", qrels={"-x.tsv": QRELS_TSV}), "auto", None


@case(Refused("test.tsv", 1, "relevance grade 'high' is not an integer"))
def beir_qrels_first_line_word_grade(t):  # was dropped as a "header"
    return beir(t / "b", qrels={"test.tsv": "x1\ta1\thigh\nx2\ta2\t1\n"}), "auto", None


@case(Refused("test.tsv", 2, "out of range"))
def beir_qrels_huge_grade(t):
    return beir(t / "b", qrels={"test.tsv": "x1\ta1\t1\nx2\ta2\t99999999999999999999999\n"}), "auto", None


@case(Refused("corpus.jsonl.gz", ANY_LINE, "cannot decompress"))
def beir_truncated_gzip(t):
    root = beir(t / "b")
    data = gzip.compress(jsonl(DOC_ROWS * 200).encode())
    write_text(root / "corpus.jsonl.gz", data[: len(data) // 2])
    (root / "corpus.jsonl").unlink()
    return root, "auto", None


@case(Refused("corpus.jsonl", 3, "malformed JSON"))
def beir_malformed_json(t):
    return beir(t / "b", corpus=corpus_with('{"_id": "a3", "text": "oops}')), "auto", None


@case(Refused("corpus.jsonl", 3, "contains '\\t'"))
def beir_id_with_tab(t):
    return beir(t / "b", corpus=corpus_with('{"_id": "a\\tb", "text": "x"}')), "auto", None


@case(Refused("corpus.jsonl", 3, "contains '\\n'"))
def beir_id_with_newline(t):
    return beir(t / "b", corpus=corpus_with('{"_id": "a\\nb", "text": "x"}')), "auto", None


@case(Refused("queries.jsonl", 2, "query 'x2' has no text"))
def beir_query_whitespace_text(t):
    return beir(t / "b", queries=jsonl([QUERY_ROWS[0], {"_id": "x2", "text": " \t "}])), "auto", None


@case(Refused("queries.jsonl", 1, "query 'x1' has no text"))
def beir_query_empty_text(t):
    return beir(t / "b", queries=jsonl([{"_id": "x1", "text": ""}, QUERY_ROWS[1]])), "auto", None


@case(Refused("queries.jsonl", 2, "must be a string or integer id"))
def beir_query_id_null(t):
    return beir(t / "b", queries=jsonl([QUERY_ROWS[0], {"_id": None, "text": "q"}])), "auto", None


@case(Refused("test.tsv", 4, "unknown document id 'zz'"))
def beir_qrels_unknown_document(t):
    return beir(t / "b", qrels={"test.tsv": QRELS_TSV + "x1\tzz\t1\n"}), "auto", None


@case(Refused("test.tsv", 2, "unknown query id 'nobody'"))
def beir_qrels_unknown_query(t):
    return beir(t / "b", qrels={"test.tsv": "query-id\tcorpus-id\tscore\nnobody\ta1\t1\n"}), "auto", None


@case(Refused("corpus.jsonl", 3, "duplicate document id 'a1' (first on line 1)"))
def beir_duplicate_document(t):
    return beir(t / "b", corpus=corpus_with('{"_id": "a1", "text": "again"}')), "auto", None


@case(Refused("queries.tsv", None, "looks like a BEIR corpus, queries or qrels file"))
def beir_stray_queries_tsv(t):
    root = beir(t / "b")
    write_text(root / "queries.tsv", "x9\tnot read\n")
    return root, "auto", None


@case(OK_BEIR)
def beir_qrels_without_header(t):
    return beir(t / "b", qrels={"test.tsv": "x1\ta1\t1\nx2\ta2\t0\n"}), "auto", None


@case(Ok(DOCS, [("x1", "first query", "train"), ("x2", "second query", "dev")],
         [("x1", "a1", "positive", 3), ("x1", "a2", "negative", 0), ("x2", "a1", "positive", 1),
          ("x2", "a2", "negative", 0)]))
def beir_graded_negative_and_two_splits(t):
    return beir(t / "b", qrels={"train.tsv": "x1\ta1\t3\nx1\ta2\t0\n",
                                "dev.tsv": "x2\ta1\t1\nx2\ta2\t-1\n"}), "auto", None


@case(OK_BEIR)
def beir_bom_and_crlf(t):
    root = beir(t / "b", qrels={"test.tsv": QRELS_TSV.replace("\n", "\r\n")})
    write_text(root / "corpus.jsonl", ("\ufeff" + jsonl(DOC_ROWS)).replace("\n", "\r\n"))
    return root, "auto", None


@case(Refused("train.tsv", 1, "already belongs to split"))
def beir_query_in_two_splits(t):
    return beir(t / "b", qrels={"test.tsv": "x1\ta1\t1\n", "train.tsv": "x1\ta2\t1\n"}), "auto", None


@case(Refused("corpus.jsonl", 3, "not valid UTF-8"))
def beir_not_utf8(t):
    root = beir(t / "b")
    write_text(root / "corpus.jsonl", jsonl(DOC_ROWS).encode() + b'{"_id": "a3", "text": "\xff"}\n')
    return root, "auto", None


@case(Ok(DOCS, [("x1", "first query", "test"), ("x2", "second query", None)], [("x1", "a1", "positive", 1)]))
def beir_query_without_judgements_keeps_no_split(t):
    return beir(t / "b", qrels={"test.tsv": "x1\ta1\t1\n"}), "auto", None


# -- MS MARCO --------------------------------------------------------------------------

MS_DOCS = "a1\tT1\tone\na2\t\ttwo\n"
MS_QUERIES = "x1\tfirst query\nx2\tsecond query\n"
MS_QRELS = "x1\t0\ta1\t1\nx2\t0\ta2\t0\n"
OK_MS_DEV = Ok(DOCS, [("x1", "first query", "dev"), ("x2", "second query", "dev")], LABELS)


def msmarco(root: Path, *, docs=MS_DOCS, queries=MS_QUERIES, qrels=MS_QRELS, qrels_name="qrels.dev.tsv"):
    write_text(root / "collection.tsv", docs)
    write_text(root / "queries.dev.tsv", queries)
    write_text(root / qrels_name, qrels)
    return root


@case(OK_MS_DEV)
def msmarco_folder(t):
    return msmarco(t / "m"), "auto", None


@case(Ok([("1", "", '"an open quote'), ("2", "", "plain"), ("3", "", '"quoted" start'),
          ("4", "", 'ends "')]))
def msmarco_quotes_are_literal(t):  # an open quote used to swallow the next rows
    src = write_text(t / "collection.tsv", '1\t"an open quote\n2\tplain\n3\t"quoted" start\n4\tends "\n')
    return src, "msmarco", None


@case(OK_MS_DEV)
def msmarco_gzip_everything(t):
    root = t / "m"
    packed(root / "collection.tsv.gz", MS_DOCS)
    packed(root / "queries.dev.tsv.gz", MS_QUERIES)
    packed(root / "qrels.dev.tsv.gz", MS_QRELS)
    return root, "auto", None


@case(Refused("collection.tsv", 2, "found 4"))
def msmarco_four_fields(t):
    return msmarco(t / "m", docs="a1\tT1\tone\na2\tx\ty\tz\n"), "auto", None


@case(Refused("qrels.dev.tsv", 2, "found 6"))
def msmarco_qrels_six_fields(t):
    return msmarco(t / "m", qrels="x1\t0\ta1\t1\nx2\t0\ta2\t0\t1\t2\n"), "auto", None


@case(Refused("qrels.dev.tsv", 1, "relevance grade 'high'"))
def msmarco_qrels_word_grade_first(t):
    return msmarco(t / "m", qrels="x1 0 a1 high\nx2 0 a2 0\n"), "auto", None


@case(OK_MS_DEV)
def msmarco_qrels_known_header(t):
    return msmarco(t / "m", qrels="qid\tQ0\tdocid\trel\n" + MS_QRELS), "auto", None


@case(Refused("collection.csv", None, "named like an MS MARCO documents file but not .tsv"))
def msmarco_collection_with_other_extension(t):
    root = msmarco(t / "m")
    write_text(root / "collection.csv", "a9,x\n")
    return root, "msmarco", None


@case(Ok(DOCS, [("x1", "first query", "test"), ("x2", "second query", "test")], LABELS))
def msmarco_plain_qrels_goes_to_test(t):
    return msmarco(t / "m", qrels_name="qrels.tsv"), "auto", None


@case(Refused("qrels.dev!.tsv", None, "split name 'dev!' is not allowed"))
def msmarco_split_name_from_file_name(t):
    return msmarco(t / "m", qrels_name="qrels.dev!.tsv"), "auto", None


@case(Refused("queries.dev.tsv", 2, "query 'x2' has no text"))
def msmarco_blank_query_text(t):
    return msmarco(t / "m", queries="x1\tfirst query\nx2\t   \n"), "auto", None


@case(Refused("collection.tsv", 2, "empty document id"))
def msmarco_empty_document_id(t):
    return msmarco(t / "m", docs="a1\tT1\tone\n \ttwo\n"), "auto", None


@case(Refused("queries.dev.tsv", 2, "found 3"))
def msmarco_query_with_tab_in_text(t):
    return msmarco(t / "m", queries="x1\tfirst query\nx2\tsecond\tquery\n"), "auto", None


# -- TREC --------------------------------------------------------------------------------

TREC_DOCS = ("<DOC>\n<DOCNO> a1 </DOCNO>\n<HEADLINE>T1</HEADLINE>\n<TEXT>\none\n</TEXT>\n</DOC>\n"
             "<DOC>\n<DOCNO>a2</DOCNO>\n<TEXT>two</TEXT>\n</DOC>\n")
TREC_TOPICS = ("<top>\n<num> Number: x1\n<title> first query\n<desc> Description:\nlonger\n</top>\n"
               "<top>\n<num> Number: x2\n<title> second query\n</top>\n")
TREC_QRELS = "x1 0 a1 1\nx2 0 a2 0\n"
OK_TREC = Ok(DOCS, [("x1", "first query", "test"), ("x2", "second query", "test")], LABELS)


def trec(root: Path, *, docs=TREC_DOCS, topics=TREC_TOPICS, qrels=TREC_QRELS, qrels_name="qrels.txt"):
    write_text(root / "docs.sgml", docs)
    write_text(root / "topics.txt", topics)
    write_text(root / qrels_name, qrels)
    return root


@case(OK_TREC)
def trec_folder(t):
    return trec(t / "t"), "trec", None


@case(Refused("qrels.txt", 2, "found 6"))
def trec_qrels_one_six_field_line(t):  # used to ignore the whole file
    return trec(t / "t", qrels="x1 0 a1 1\nx2 0 a2 0 extra junk\n"), "trec", None


@case(Refused("qrels.txt", 1, "found 6"))
def trec_qrels_six_fields_first(t):
    return trec(t / "t", qrels="x1 0 a1 1 run 9\nx2 0 a2 0\n"), "trec", None


@case(Refused("judged.txt", 3, "found 6"))
def trec_qrels_not_named_qrels_with_one_bad_line(t):  # mostly qrels lines: read, not ignored
    root = trec(t / "t", qrels="x1 0 a1 1\nx2 0 a2 0\nx2 0 a1 0 run 7\n", qrels_name="judged.txt")
    return root, "trec", None


@case(Refused("docs.sgml", 1, "without a <DOCNO>"))
def trec_doc_without_docno(t):
    return trec(t / "t", docs="<DOC>\n<TEXT>x</TEXT>\n</DOC>\n"), "trec", None


@case(Refused("docs.sgml", 4, "<DOC> inside the <DOC> opened on line 1"))
def trec_doc_not_closed(t):
    return trec(t / "t", docs="<DOC>\n<DOCNO>a1</DOCNO>\n<TEXT>one</TEXT>\n" + TREC_DOCS), "trec", None


@case(Refused("docs.sgml", 8, "text outside <DOC>"))
def trec_text_outside_doc(t):
    return trec(t / "t", docs=TREC_DOCS.replace("</DOC>\n<DOC>", "</DOC>\nstray\n<DOC>", 1)), "trec", None


@case(OK_TREC)
def trec_gzip_documents_and_qrels(t):
    root = trec(t / "t")
    packed(root / "docs.sgml.gz", TREC_DOCS)
    packed(root / "qrels.txt.gz", TREC_QRELS)
    (root / "docs.sgml").unlink()
    (root / "qrels.txt").unlink()
    return root, "trec", None


@case(Refused("topics.txt", 1, "topic without a <num>"))
def trec_topic_without_num(t):
    return trec(t / "t", topics="<top>\n<title> lost\n</top>\n"), "trec", None


@case(Ok(DOCS, [("x1", "first query", "dev"), ("x2", "second query", "dev")], LABELS))
def trec_split_option(t):
    return trec(t / "t"), "trec", ImportOptions(split="dev")


@case(Refused("topics.txt", 7, "topic 'x2' has no title or description"))
def trec_topic_without_text(t):
    return trec(t / "t", topics=TREC_TOPICS.replace("<title> second query", "<title>")), "trec", None


@case(Ok([("a1", "T & U", "one < two")], [("x1", "first query", None)]))
def trec_entities_unescaped(t):
    root = t / "t"
    write_text(root / "docs.sgml", "<DOC>\n<DOCNO>a1</DOCNO>\n<HL>T &amp; U</HL>\n<TEXT>one &lt; two</TEXT>\n</DOC>\n")
    write_text(root / "topics.txt", TREC_TOPICS.split("<top>\n<num> Number: x2")[0])
    return root, "trec", None


@case(Refused("docs.sgml", 12, "unterminated <DOC>"))
def trec_unterminated_last_doc(t):
    return trec(t / "t", docs=TREC_DOCS + "<DOC>\n<DOCNO>a3</DOCNO>\n"), "trec", None


# -- SMART --------------------------------------------------------------------------------

SMART_DOCS = ".I 1\n.T\nT1\n.W\none\n.I 2\n.W\ntwo\n"
SMART_QRY = ".I 001\n.T\nTitled\n.W\nfirst query\n.I 003\n.W\nsecond query\n"
SMART_REL = "1 1 1\n2 2 0\n"


def smart(root: Path, *, docs=SMART_DOCS, qry=SMART_QRY, rel=SMART_REL):
    write_text(root / "c.all", docs)
    write_text(root / "c.qry", qry)
    write_text(root / "c.rel", rel)
    return root


SMART_OK_DOCS = [("1", "T1", "one"), ("2", "", "two")]


@case(Ok(SMART_OK_DOCS, [("1", "Titled first query", "test"), ("3", "second query", "test")],
         [("1", "1", "positive", 1), ("3", "2", "negative", 0)]))
def smart_folder_keeps_query_titles(t):  # qrels number queries by position: 2 is .I 003
    return smart(t / "s"), "smart", None


@case(Refused("c.qry", 1, "expected '.I <id>' before any text"))
def smart_text_before_first_I(t):  # used to be ignored
    return smart(t / "s", qry="stray words\n" + SMART_QRY), "smart", None


@case(Refused("c.all", 4, "'.I' without an id"))
def smart_I_without_id(t):
    return smart(t / "s", docs=".I 1\n.W\none\n.I\n.W\ntwo\n"), "smart", None


@case(Refused("c.rel", 2, "expected 2 to 4 fields"))
def smart_qrels_five_fields(t):
    return smart(t / "s", rel="1 1 1\n2 2 0 0 0\n"), "smart", None


@case(Refused("c.rel", 2, "query number 4 is outside 1..2"))
def smart_qrels_position_out_of_range(t):
    return smart(t / "s", rel="1 1 1\n4 2 1\n"), "smart", None


@case(Ok(SMART_OK_DOCS, [("1", "Titled first query", "test"), ("3", "second query", "test")],
         [("1", "1", "positive", 4), ("1", "2", "negative", 0), ("3", "2", "positive", 2)]))
def smart_cranfield_codes_with_grade_map(t):
    return (smart(t / "s", rel="1 1 1\n1 2 -1\n2 2 3\n"), "smart",
            ImportOptions(grade_map=parse_grade_map("1:4,2:3,3:2,4:1,-1:0")))


@case(Refused("c.rel", 2, "relevance grade '5' is not in the grade map"))
def smart_grade_missing_from_map(t):
    return (smart(t / "s", rel="1 1 1\n2 2 5\n"), "smart",
            ImportOptions(grade_map=parse_grade_map("1:4,2:3,3:2,4:1,-1:0")))


@case(Ok(SMART_OK_DOCS, [("1", "Titled first query", "test"), ("3", "second query", "test")],
         [("1", "1", "positive", 1), ("3", "2", "negative", 0)]))
def smart_bz2_documents(t):
    root = smart(t / "s")
    packed(root / "c.all.bz2", SMART_DOCS)
    (root / "c.all").unlink()
    return root, "smart", None


@case(Refused("c.all", 2, "text before any field marker"))
def smart_text_before_field_marker(t):
    return smart(t / "s", docs=".I 1\nloose text\n.W\none\n"), "smart", None


@case(Refused("c.qry", 4, "query '3' has no .T or .W text"))
def smart_query_without_text(t):
    return smart(t / "s", qry=".I 001\n.W\nfirst query\n.I 003\n.W\n\n"), "smart", None


@case(Refused("c.rel", 2, "relevance grade 'x'"))
def smart_qrels_word_grade(t):
    return smart(t / "s", rel="1 1 1\n2 2 x\n"), "smart", None


# -- CSV ---------------------------------------------------------------------------------

@case(Ok([("a1", "", "line one\nline two"), ("a2", "", "two")]))
def csv_quoted_field_spans_lines(t):
    return write_text(t / "docs.csv", 'id,text\na1,"line one\nline two"\na2,two\n'), "csv", None


@case(Refused("docs.csv", 3, "the quote opened on line 3 never closes"))
def csv_unbalanced_quote(t):  # used to turn 4 rows into 1 document
    return write_text(t / "docs.csv", 'id,text\na1,one\na2,"two\na3,three\na4,four\n'), "csv", None


@case(Ok([("a1", "", 'he said "hi"'), ("a2", "", "two")]))
def csv_doubled_quotes(t):
    return write_text(t / "docs.csv", 'id,text\na1,"he said ""hi"""\na2,two\n'), "csv", None


@case(Refused("docs.csv", 2, "malformed CSV"))
def csv_text_after_closing_quote(t):
    return write_text(t / "docs.csv", 'id,text\na1,"one"x\na2,two\n'), "csv", None


@case(Refused("docs.csv", 3, "expected 2 fields (as in the header), found 3"))
def csv_too_many_fields(t):
    return write_text(t / "docs.csv", "id,text\na1,one\na2,two,three\n"), "csv", None


@case(Ok(DOCS))
def csv_gzip(t):
    return packed(t / "docs.csv.gz", "id,title,text\na1,T1,one\na2,,two\n"), "csv", None


@case(Refused("docs.csv", 3, "empty id"))
def csv_empty_id(t):
    return write_text(t / "docs.csv", "id,text\na1,one\n  ,two\n"), "csv", None


@case(Refused("docs.csv", 1, "no document text column"))
def csv_no_text_column(t):
    return write_text(t / "docs.csv", "id,words\na1,one\n"), "csv", None


@case(Ok(DOCS, [("x1", "first query", "test"), ("x2", "second query", "test")], LABELS))
def csv_folder_three_files(t):
    files = {"corpus.csv": "id,title,text\na1,T1,one\na2,,two\n",
             "queries.csv": "id,text\nx1,first query\nx2,second query\n",
             "qrels.csv": "query-id,corpus-id,score\nx1,a1,1\nx2,a2,0\n"}
    for name, text in files.items():
        write_text(t / "c" / name, text)
    return t / "c", "csv", None


@case(Refused("queries.jsonl", None, "named like a queries file, but this is a csv import"))
def csv_folder_stray_jsonl_queries(t):
    root = t / "c"
    write_text(root / "corpus.csv", "id,text\na1,one\n")
    write_text(root / "queries.jsonl", jsonl(QUERY_ROWS))
    return root, "csv", None


@case(Refused("docs.csv", 3, "contains '\\t'"))
def csv_id_with_tab(t):
    return write_text(t / "docs.csv", 'id,text\na1,one\n"a\tb",two\n'), "csv", None


@case(Refused("docs.csv", 3, "contains '\\n'"))
def csv_id_with_newline(t):
    return write_text(t / "docs.csv", 'id,text\na1,one\n"a\nb",two\n'), "csv", None


# -- TSV with a header ----------------------------------------------------------------------

@case(Ok([("a1", "", '"open'), ("a2", "", "two"), ("a3", "", '"both"'), ("a4", "", "four")]))
def tsv_quotes_are_literal(t):  # 4 rows used to become 2 documents
    return write_text(t / "docs.tsv", 'id\ttext\na1\t"open\na2\ttwo\na3\t"both"\na4\tfour\n'), "tsv", None


@case(Refused("docs.tsv", 3, "expected 2 fields (as in the header), found 1"))
def tsv_missing_field(t):
    return write_text(t / "docs.tsv", "id\ttext\na1\tone\na2\n"), "tsv", None


@case(Ok(DOCS))
def tsv_header_with_title(t):
    return write_text(t / "docs.tsv", "id\ttitle\ttext\na1\tT1\tone\na2\t\ttwo\n"), "tsv", None


@case(Ok(DOCS))
def tsv_xz(t):
    return packed(t / "docs.tsv.xz", "id\ttitle\ttext\na1\tT1\tone\na2\t\ttwo\n"), "tsv", None


# -- JSONL ---------------------------------------------------------------------------------

@case(Refused("docs.jsonl", 2, "expected a JSON object, found a list"))
def jsonl_not_an_object(t):
    return write_text(t / "docs.jsonl", jsonl(DOC_ROWS[:1]) + '["a2", "two"]\n'), "jsonl", None


@case(Refused("docs.jsonl", 2, "missing field 'text'"))
def jsonl_missing_text(t):
    return write_text(t / "docs.jsonl", jsonl(DOC_ROWS[:1]) + '{"_id": "a2"}\n'), "jsonl", None


@case(Ok([("5", "", "five"), ("6", "", "six")]))
def jsonl_integer_ids(t):
    return write_text(t / "docs.jsonl", '{"id": 5, "text": "five"}\n{"id": 6.0, "text": "six"}\n'), "jsonl", None


@case(Refused("docs.jsonl", 1, "must be a string or integer id, found a number"))
def jsonl_fractional_id(t):
    return write_text(t / "docs.jsonl", '{"id": 1.5, "text": "x"}\n'), "jsonl", None


@case(Refused("docs.jsonl", 1, "must be a string, found a number"))
def jsonl_text_is_a_number(t):
    return write_text(t / "docs.jsonl", '{"id": "a1", "text": 3}\n'), "jsonl", None


@case(Ok(DOCS))
def jsonl_xz(t):
    return packed(t / "docs.jsonl.xz", jsonl(DOC_ROWS)), "jsonl", None


@case(Ok(DOCS))
def jsonl_blank_lines_between(t):
    return write_text(t / "docs.jsonl", "\n" + jsonl(DOC_ROWS[:1]) + "\n  \n" + jsonl(DOC_ROWS[1:])), "jsonl", None


@case(Refused("docs.jsonl", None, "empty file"))
def jsonl_empty_file(t):
    return write_text(t / "docs.jsonl", "\n\n"), "jsonl", None


# -- Parquet ---------------------------------------------------------------------------------

def parquet(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@case(Ok(DOCS))
def parquet_documents(t):
    return parquet(t / "docs.parquet", DOC_ROWS), "parquet", None


@case(Refused("docs.parquet", None, "row 2: field 'text' is null"))
def parquet_null_text(t):
    return parquet(t / "docs.parquet", [DOC_ROWS[0], {"_id": "a2", "title": "", "text": None}]), "parquet", None


@case(Refused("docs.parquet", None, "not a readable Parquet file"))
def parquet_not_parquet(t):
    return write_text(t / "docs.parquet", "this is not parquet\n"), "parquet", None


@case(Refused("docs.parquet", None, "Parquet"))
def parquet_corrupt_data_page(t):
    path = parquet(t / "docs.parquet", [{"_id": f"a{i}", "text": "x" * 50 + str(i)} for i in range(2000)])
    data = bytearray(path.read_bytes())
    for i in range(200, 1200):
        data[i] = 0xFF
    path.write_bytes(bytes(data))
    return path, "parquet", None


@case(Ok(DOCS))
def parquet_gzip(t):
    path = parquet(t / "p" / "docs.parquet", DOC_ROWS)
    return write_text(t / "docs.parquet.gz", gzip.compress(path.read_bytes())), "parquet", None


@case(Refused("docs.parquet", None, "row 2: id 'a\\tb' contains '\\t'"))
def parquet_id_with_tab(t):
    return parquet(t / "docs.parquet", [DOC_ROWS[0], {"_id": "a\tb", "title": "", "text": "two"}]), "parquet", None


# -- the command-line split option -------------------------------------------------------------

@case(Refused("--split", None, "contains '/'"))
def split_option_with_dot_dot(t):
    return trec(t / "t"), "trec", ImportOptions(split="../../victim")


@case(Refused("--split", None, "contains '/'"))
def split_option_with_separator(t):
    return trec(t / "t"), "trec", ImportOptions(split="a/b")


@case(Refused("--split", None, "control character"))
def split_option_with_nul(t):
    return trec(t / "t"), "trec", ImportOptions(split="a\x00b")


@case(Refused("--split", None, "reserved"))
def split_option_every_split(t):
    return trec(t / "t"), "trec", ImportOptions(split="*")


# -- the test ------------------------------------------------------------------------------------

def _state(project_path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in project_files(project_path)}


def _records(project_path: Path) -> Ok:
    with Project.open(project_path) as p:
        conn = p.conn
        return Ok(
            sorted(conn.execute("SELECT id, title, text FROM documents").fetchall()),
            sorted(conn.execute("SELECT id, text, split FROM queries").fetchall(), key=lambda r: r[0]),
            sorted(conn.execute("SELECT query_id, doc_id, label, gain FROM labels").fetchall()),
        )


def test_the_table_is_large_enough():
    assert len(CASES) >= 70
    formats = {name.split("_")[0] for name in CASES}
    assert {"beir", "msmarco", "trec", "smart", "csv", "tsv", "jsonl", "parquet"} <= formats


@pytest.mark.parametrize("name", list(CASES))
def test_case(name, tiny_project, tmp_path):
    builder, expect = CASES[name]
    source, fmt, options = builder(tmp_path / "in")
    if isinstance(expect, Ok):
        counts = import_source(tmp_path / "new.rsproj", source, format=fmt, options=options)
        got = _records(tmp_path / "new.rsproj")
        assert got.docs == sorted(expect.docs)
        assert got.queries == sorted(expect.queries)
        assert got.labels == sorted(expect.labels)
        assert counts["documents"] == len(expect.docs)
        assert sum(f["records"] for f in counts["files"]) == (
            len(expect.docs) + len(expect.queries) + len(expect.labels))
        return
    before = _state(tiny_project)
    assert set(before) == {"tiny.rsproj"}  # closed: the WAL is checkpointed into the file
    with pytest.raises(StudioError) as err:
        import_source(tiny_project, source, format=fmt, options=options)
    message = str(err.value)
    assert expect.problem in message
    if isinstance(err.value, InputError):
        assert Path(err.value.path).name == expect.name
        if expect.line == ANY_LINE:
            assert err.value.line is not None
        else:
            assert err.value.line == expect.line
    else:
        assert expect.name in message
    assert _state(tiny_project) == before
    # Into a new path: no project file is left behind.
    with pytest.raises(StudioError):
        import_source(tmp_path / "new.rsproj", source, format=fmt, options=options)
    assert project_files(tmp_path / "new.rsproj") == []
