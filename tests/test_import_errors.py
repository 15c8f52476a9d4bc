"""Bad input: each case names file, line and problem, and changes nothing.

Every case runs twice: into the existing tiny project (whose full SQL dump
must be identical afterwards) and into a new project path (which must not
exist afterwards, nor its -wal/-shm files).
"""

from __future__ import annotations

import pytest
from helpers_import import (
    DOCS,
    QUERIES,
    dump,
    jsonl,
    project_files,
    write_beir,
    write_text,
)

from core.errors import InputError
from core.io.importers import ImportOptions, import_source, parse_grade_map


def _beir(root, corpus=None, queries=None, qrels=None):
    """A valid BEIR folder with some files replaced by raw text."""
    write_beir(root)
    if corpus is not None:
        write_text(root / "corpus.jsonl", corpus)
    if queries is not None:
        write_text(root / "queries.jsonl", queries)
    for split, text in (qrels or {}).items():
        write_text(root / "qrels" / f"{split}.tsv", text)
    return root


CORPUS_LINES = [f'{{"_id": "{i}", "title": "{t}", "text": "{x}"}}' for i, t, x in DOCS]


def _corpus(*replace: tuple[int, str]) -> str:
    lines = list(CORPUS_LINES)
    for index, text in replace:
        lines[index] = text
    return "\n".join(lines) + "\n"


# Each case: (id, builder(tmp) -> (source, format, options), file name, line, problem fragment)
def case_malformed_json(tmp):
    return _beir(tmp / "s", corpus=_corpus((2, '{"_id": "a3", "text": "unterminated}'))), "auto", None


def case_not_an_object(tmp):
    return _beir(tmp / "s", corpus=_corpus((1, '["a2", "text"]'))), "auto", None


def case_missing_text(tmp):
    return _beir(tmp / "s", corpus=_corpus((3, '{"_id": "a4", "title": "no text"}'))), "auto", None


def case_missing_id(tmp):
    return _beir(tmp / "s", corpus=_corpus((4, '{"title": "x", "text": "no id"}'))), "auto", None


def case_bad_id_type(tmp):
    return _beir(tmp / "s", corpus=_corpus((4, '{"_id": {"a": 1}, "text": "x"}'))), "auto", None


def case_duplicate_doc_same_batch(tmp):
    return _beir(tmp / "s", corpus=_corpus((3, '{"_id": "a2", "text": "again"}'))), "auto", None


def case_duplicate_doc_later_batch(tmp):
    return (_beir(tmp / "s", corpus=_corpus((5, '{"_id": "a1", "text": "again"}'))), "auto",
            ImportOptions(batch_size=2))


def case_doc_already_in_project(tmp):
    return _beir(tmp / "s", corpus=_corpus((1, '{"_id": "d3", "text": "tiny project has d3"}'))), "auto", None


def case_duplicate_query(tmp):
    q = jsonl([{"_id": i, "text": t} for i, t in QUERIES] + [{"_id": "x2", "text": "dup"}])
    return _beir(tmp / "s", queries=q), "auto", None


def case_query_already_in_project(tmp):
    q = jsonl([{"_id": "q2", "text": "tiny project has q2"}] + [{"_id": i, "text": t} for i, t in QUERIES])
    return _beir(tmp / "s", queries=q), "auto", None


def case_not_utf8(tmp):
    raw = _corpus().encode("utf-8").split(b"\n")
    raw[2] = b'{"_id": "a3", "text": "caf\xe9 latin-1"}'
    return _beir(tmp / "s", corpus=b"\n".join(raw)), "auto", None


def case_unknown_doc_in_qrels(tmp):
    return _beir(tmp / "s", qrels={"train": "query-id\tcorpus-id\tscore\nx1\ta1\t1\nx1\tzz\t1\n"}), "auto", None


def case_unknown_query_in_qrels(tmp):
    return _beir(tmp / "s", qrels={"train": "x1\ta1\t1\nx1\ta2\t1\nnobody\ta2\t1\n"}), "auto", None


def case_duplicate_judgement(tmp):
    return _beir(tmp / "s", qrels={"train": "x1\ta1\t1\nx2\ta4\t1\nx1\ta1\t2\n"}), "auto", None


def case_query_in_two_splits(tmp):
    return _beir(tmp / "s", qrels={"train": "x1\ta1\t1\n", "test": "x3\ta5\t1\nx1\ta2\t1\n"}), "auto", None


def case_empty_corpus(tmp):
    return _beir(tmp / "s", corpus=""), "auto", None


def case_qrels_header_only(tmp):
    return _beir(tmp / "s", qrels={"train": "query-id\tcorpus-id\tscore\n"}), "auto", None


def case_grade_not_in_map(tmp):
    return (_beir(tmp / "s", qrels={"train": "x1\ta1\t1\nx1\ta2\t7\n"}), "auto",
            ImportOptions(grade_map=parse_grade_map("0:0,1:1,2:2")))


def case_grade_not_integer(tmp):
    return _beir(tmp / "s", qrels={"train": "x1\ta1\t1\nx1\ta2\thigh\nx2\ta4\t1\n"}), "auto", None


def case_qrels_wrong_fields(tmp):
    return _beir(tmp / "s", qrels={"train": "x1\ta1\t1\nx1 a2\n"}), "auto", None


def case_csv_wrong_field_count(tmp):
    return write_text(tmp / "docs.csv", "id,text\nc1,one\nc2,two,extra\n"), "csv", None


def case_csv_missing_column(tmp):
    return (write_text(tmp / "docs.csv", "key,body\nc1,one\n"), "csv",
            ImportOptions(id_column="key", text_column="text"))


def case_jsonl_null_text(tmp):
    return write_text(tmp / "docs.jsonl", '{"id": "j1", "text": "ok"}\n{"id": "j2", "text": null}\n'), "jsonl", None


def case_msmarco_fields(tmp):
    return write_text(tmp / "collection.tsv", "1\tone\n2\ttwo\tthree\tfour\n"), "msmarco", None


def case_trec_unterminated(tmp):
    return write_text(tmp / "docs.sgml", "<DOC>\n<DOCNO>A</DOCNO>\n<TEXT>x</TEXT>\n</DOC>\n<DOC>\n"
                                         "<DOCNO>B</DOCNO>\n<TEXT>y</TEXT>\n"), "trec", None


def case_trec_no_docno(tmp):
    return write_text(tmp / "docs.sgml", "<DOC>\n<DOCNO>A</DOCNO>\n</DOC>\n\n<DOC>\n<TEXT>y</TEXT>\n</DOC>\n"), \
        "trec", None


def case_smart_text_before_id(tmp):
    return write_text(tmp / "c.all", "stray text\n.I 1\n.W\nx\n"), "smart", None


def case_smart_position_out_of_range(tmp):
    src = tmp / "sm"
    write_text(src / "c.all", ".I 1\n.W\none\n.I 2\n.W\ntwo\n")
    write_text(src / "c.qry", ".I 001\n.W\nfirst\n.I 005\n.W\nsecond\n")
    write_text(src / "crel", "1 1 1\n2 2 1\n3 1 1\n")
    return src, "smart", None


def case_parquet_not_parquet(tmp):
    return write_text(tmp / "docs.parquet", "this is not parquet\n"), "parquet", None


def case_parquet_null_text(tmp):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["p1", "p2"], "text": ["one", None]}), tmp / "docs.parquet")
    return tmp / "docs.parquet", "parquet", None


def case_parquet_duplicate(tmp):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["p1", "p2", "p1"], "text": ["one", "two", "three"]}), tmp / "docs.parquet")
    return tmp / "docs.parquet", "parquet", None


CASES = [
    # (builder, file name, line, problem fragment)
    (case_malformed_json, "corpus.jsonl", 3, "malformed JSON"),
    (case_not_an_object, "corpus.jsonl", 2, "expected a JSON object"),
    (case_missing_text, "corpus.jsonl", 4, "missing field 'text'"),
    (case_missing_id, "corpus.jsonl", 5, "missing field '_id'"),
    (case_bad_id_type, "corpus.jsonl", 5, "must be a string or integer id"),
    (case_duplicate_doc_same_batch, "corpus.jsonl", 4, "duplicate document id 'a2' (first on line 2)"),
    (case_duplicate_doc_later_batch, "corpus.jsonl", 6, "duplicate document id 'a1' (first on line 1)"),
    (case_doc_already_in_project, "corpus.jsonl", 2, "document id 'd3' is already in the project"),
    (case_duplicate_query, "queries.jsonl", 6, "duplicate query id 'x2' (first on line 2)"),
    (case_query_already_in_project, "queries.jsonl", 1, "query id 'q2' is already in the project"),
    (case_not_utf8, "corpus.jsonl", 3, "not valid UTF-8: byte 0xe9"),
    (case_unknown_doc_in_qrels, "train.tsv", 3, "unknown document id 'zz'"),
    (case_unknown_query_in_qrels, "train.tsv", 3, "unknown query id 'nobody'"),
    (case_duplicate_judgement, "train.tsv", 3, "duplicate judgement for query 'x1' and document 'a1' (first on line 1)"),
    (case_query_in_two_splits, "train.tsv", 1, "already belongs to split 'test'"),
    (case_empty_corpus, "corpus.jsonl", None, "empty file: no documents"),
    (case_qrels_header_only, "train.tsv", None, "empty file: no judgements"),
    (case_grade_not_in_map, "train.tsv", 2, "relevance grade '7' is not in the grade map"),
    (case_grade_not_integer, "train.tsv", 2, "relevance grade 'high' is not an integer"),
    (case_qrels_wrong_fields, "train.tsv", 2, "expected 3 fields"),
    (case_csv_wrong_field_count, "docs.csv", 3, "expected 2 fields (as in the header), found 3"),
    (case_csv_missing_column, "docs.csv", 1, "no column 'text'"),
    (case_jsonl_null_text, "docs.jsonl", 2, "field 'text' is null"),
    (case_msmarco_fields, "collection.tsv", 2, "found 4"),
    (case_trec_unterminated, "docs.sgml", 5, "unterminated <DOC>"),
    (case_trec_no_docno, "docs.sgml", 5, "<DOC> without a <DOCNO>"),
    (case_smart_text_before_id, "c.all", 1, "expected '.I <id>'"),
    (case_smart_position_out_of_range, "crel", 3, "query number 3 is outside 1..2"),
    (case_parquet_not_parquet, "docs.parquet", None, "not a readable Parquet file"),
    # Parquet has rows, not lines: the row goes into the problem text.
    (case_parquet_null_text, "docs.parquet", None, "row 2: field 'text' is null"),
    (case_parquet_duplicate, "docs.parquet", None, "row 3: duplicate document id 'p1' (first on row 1)"),
]


@pytest.mark.parametrize("builder,name,line,problem", CASES, ids=[c[0].__name__[5:] for c in CASES])
def test_bad_input_names_file_line_problem_and_changes_nothing(tiny_project, tmp_path, builder, name,
                                                              line, problem):
    source, fmt, options = builder(tmp_path)
    before = dump(tiny_project)
    with pytest.raises(InputError) as err:
        import_source(tiny_project, source, format=fmt, options=options)
    exc = err.value
    assert exc.path.endswith(name), str(exc)
    assert exc.line == line, str(exc)
    assert problem in exc.problem, str(exc)
    message = str(exc)
    assert name in message and problem in message
    if line is not None:
        assert f"line {line}" in message
    assert dump(tiny_project) == before

    if "already in the project" in problem:
        return  # only an error against the existing project
    new = tmp_path / "new.rsproj"
    with pytest.raises(InputError):
        import_source(new, source, format=fmt, options=options)
    assert project_files(new) == []


def test_qrels_referring_to_project_queries_need_them(tiny_project, tmp_path):
    # Judgements may name ids already in the project (q1, d2) but not others.
    ok = write_text(tmp_path / "ok.tsv", "q1\td2\t1\n")
    import_source(tiny_project, ok, format="msmarco", options=ImportOptions(kind="qrels"))
    bad = write_text(tmp_path / "bad.tsv", "q1\td3\t1\nq1\td2\t1\n")
    before = dump(tiny_project)
    with pytest.raises(InputError) as err:
        import_source(tiny_project, bad, format="msmarco", options=ImportOptions(kind="qrels"))
    assert err.value.line == 2 and "already judged in the project" in err.value.problem
    assert dump(tiny_project) == before


def test_not_a_project_file_is_refused_and_untouched(tmp_path):
    import sqlite3

    from core.errors import ProjectError

    other = tmp_path / "other.rsproj"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    data = other.read_bytes()
    with pytest.raises(ProjectError, match="not a Retriever Studio project"):
        import_source(other, write_beir(tmp_path / "beir"))
    assert other.read_bytes() == data
