"""The import / info / label / export commands, end to end through core.cli.main."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_import import dump, write_beir, write_text

from core.cli.main import main
from core.project.file import Project
from core.project.schema import APPLICATION_ID

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_import_json_counts_and_info(tmp_path, capsys):
    src = write_beir(tmp_path / "beir")
    proj = tmp_path / "p.rsproj"
    code, out, err = run(capsys, "import", proj, src, "--json")
    assert code == 0
    counts = json.loads(out)
    assert counts["documents"] == 6 and counts["queries_per_split"] == {"": 1, "test": 2, "train": 2}
    assert "documents" in err  # progress goes to stderr
    code, out, _ = run(capsys, "info", proj, "--json")
    info = json.loads(out)
    assert code == 0 and info["documents"] == 6 and info["labels"] == {
        "positive": {"imported": 5}, "negative": {"imported": 1}}
    code, out, _ = run(capsys, "info", proj)
    assert code == 0 and "documents: 6" in out and "train: 2" in out


def test_import_options_reach_the_importer(tmp_path, capsys):
    src = tmp_path / "smart"
    write_text(src / "x.all", ".I 1\n.W\none\n.I 2\n.W\ntwo\n")
    write_text(src / "x.qry", ".I 001\n.W\nfirst\n.I 003\n.W\nsecond\n")
    write_text(src / "xrel", "1 1 1\n2 2 4\n")
    code, out, _ = run(capsys, "import", tmp_path / "p.rsproj", src, "--grade-map", "1:3,2:2,3:1,4:0",
                       "--split", "test", "--query-numbering", "position", "--json", "--quiet")
    assert code == 0
    counts = json.loads(out)
    assert counts["labels"] == {"positive": 1, "negative": 1}
    assert counts["queries_per_split"] == {"test": 2}
    with Project.open(tmp_path / "p.rsproj") as p:
        assert p.get_label("3", "2").label == "negative"  # position 2 is .I 003
        assert p.get_label("1", "1").gain == 3


def test_bad_input_exits_nonzero_with_file_line_problem(tiny_project, tmp_path, capsys):
    src = write_beir(tmp_path / "beir")
    write_text(src / "corpus.jsonl", '{"_id": "a1", "text": "x"}\n{"_id": "a2", "text": \n')
    before = dump(tiny_project)
    code, out, err = run(capsys, "import", tiny_project, src, "--quiet")
    assert code == 2 and out == ""
    assert "corpus.jsonl, line 2: malformed JSON" in err
    assert dump(tiny_project) == before
    new = tmp_path / "new.rsproj"
    code, _, err = run(capsys, "import", new, src, "--quiet")
    assert code == 2 and not new.exists()


def test_bad_grade_map_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["import", str(tmp_path / "p.rsproj"), str(tmp_path), "--grade-map", "1:x"])
    assert exc.value.code == 2
    assert "gain 'x' is not an integer" in capsys.readouterr().err


def test_label_command(tiny_project, capsys):
    code, out, _ = run(capsys, "label", tiny_project, "q1", "d2", "negative", "--json")
    assert code == 0 and json.loads(out)["new"] == "negative"
    code, out, _ = run(capsys, "label", tiny_project, "q1", "d2", "positive", "--gain", "3")
    assert code == 0 and "negative -> positive" in out
    code, out, _ = run(capsys, "label", tiny_project, "q1", "d2", "clear")
    assert code == 0 and "positive -> (none)" in out
    with Project.open(tiny_project) as p:
        assert p.get_label("q1", "d2") is None
        assert [h.label for h in p.label_history("q1", "d2")] == ["negative", "positive", None]
        assert all(h.source == "user" for h in p.label_history("q1", "d2"))
    code, _, err = run(capsys, "label", tiny_project, "q1", "nope", "positive")
    assert code == 2 and "unknown document id 'nope'" in err
    code, _, err = run(capsys, "label", tiny_project.with_name("missing.rsproj"), "q1", "d1", "positive")
    assert code == 2 and "no such project file" in err


def test_export_command(tiny_project, tmp_path, capsys):
    main(["label", str(tiny_project), "q1", "d2", "negative"])
    capsys.readouterr()
    code, out, _ = run(capsys, "export", tiny_project, tmp_path / "beir", "--format", "beir", "--json")
    assert code == 0 and json.loads(out)["judgements_per_split"] == {"test": 3, "train": 3}
    code, out, _ = run(capsys, "export", tiny_project, tmp_path / "t.parquet", "--format", "triplets")
    assert code == 0 and "1 rows" in out
    code, out, _ = run(capsys, "export", tiny_project, tmp_path / "t.out", "--format", "labeled-pairs",
                       "--file-format", "parquet", "--split", "*", "--json")
    assert code == 0 and json.loads(out)["rows"] == 6
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "t.out").num_rows == 6
    code, _, err = run(capsys, "export", tiny_project, tmp_path / "t.parquet", "--format", "triplets")
    assert code == 2 and "already exists" in err


def test_console_entry_runs_as_a_process(tmp_path):
    src = write_beir(tmp_path / "beir")
    out = subprocess.run([sys.executable, "-m", "core.cli.main", "import", str(tmp_path / "p.rsproj"), str(src),
                          "--json", "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["judgements"] == 6


def test_every_split_is_spelled_all_in_every_command(tiny_project, tmp_path, capsys):
    from core.cli.main import split_arg
    from core.errors import StudioError

    assert split_arg("all") is None and split_arg("*") is None and split_arg("ALL") is None
    assert split_arg("train") == "train"
    for bad in ("../x", "a/b", "", "a\x00b"):
        with pytest.raises(StudioError, match="--split"):
            split_arg(bad)
    main(["label", str(tiny_project), "q1", "d2", "negative"])
    capsys.readouterr()
    # "all" exported 0 queries before; now it means every query, in BEIR and training exports alike.
    code, out, _ = run(capsys, "export", tiny_project, tmp_path / "b", "--format", "beir", "--split", "all",
                       "--json")
    assert code == 0 and json.loads(out)["queries"] == 4
    assert json.loads(out)["judgements_per_split"] == {"test": 3, "train": 3}
    for spelling in ("all", "*"):
        code, out, _ = run(capsys, "export", tiny_project, tmp_path / f"p{len(spelling)}.jsonl", "--format",
                           "labeled-pairs", "--split", spelling, "--json")
        assert code == 0 and json.loads(out)["rows"] == 6  # every query's 5 positives + 1 negative
    code, out, _ = run(capsys, "export", tiny_project, tmp_path / "t.jsonl", "--format", "labeled-pairs", "--json")
    assert code == 0 and json.loads(out)["rows"] == 3  # default: train only
    code, _, err = run(capsys, "export", tiny_project, tmp_path / "n", "--format", "beir", "--split", "nope")
    assert code == 2 and "no queries in split 'nope'" in err


def test_raw_collection_lands_in_test_and_the_summary_says_so(tmp_path, capsys):
    src = tmp_path / "smart"
    write_text(src / "x.all", ".I 1\n.W\none\n.I 2\n.W\ntwo\n")
    write_text(src / "x.qry", ".I 1\n.W\nfirst\n.I 2\n.W\nsecond\n.I 3\n.W\nunjudged\n")
    write_text(src / "xrel", "1 1 1\n2 2 1\n")
    code, out, _ = run(capsys, "import", tmp_path / "p.rsproj", src, "--quiet")
    assert code == 0
    assert "queries:    3 (no split: 1, test: 2)" in out
    assert "their queries without one were put in split 'test'" in out
    assert "read 2 qrels from" in out and "read 3 queries from" in out
    code, out, _ = run(capsys, "info", tmp_path / "p.rsproj")
    assert f"{src.resolve()} named no split; its judged queries were put in split 'test'" in out
    code, out, _ = run(capsys, "export", tmp_path / "p.rsproj", tmp_path / "out", "--format", "beir", "--json")
    assert code == 0 and json.loads(out)["judgements_per_split"] == {"test": 2}
    # A judgement given by hand to the unsplit query: info says so, the BEIR export refuses and names it.
    main(["label", str(tmp_path / "p.rsproj"), "3", "1", "positive"])
    capsys.readouterr()
    code, out, _ = run(capsys, "info", tmp_path / "p.rsproj")
    assert "1 judgements belong to queries without a split" in out
    code, _, err = run(capsys, "export", tmp_path / "p.rsproj", tmp_path / "out2", "--format", "beir")
    assert code == 2 and "1 judgements of 1 queries without a split would be left out" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out2").exists()
    code, out, _ = run(capsys, "export", tmp_path / "p.rsproj", tmp_path / "out2", "--format", "beir",
                       "--no-split-as", "extra", "--json")
    assert code == 0 and json.loads(out)["judgements_per_split"] == {"test": 2, "extra": 1}


def test_grade_map_example_in_the_help_works_on_cranfield(tmp_path, capsys):
    from conftest import SHARED_DATA

    cranfield = SHARED_DATA / "cranfield"
    if not cranfield.exists():
        pytest.skip("Cranfield not available")
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    example = help_text.split("e.g. \"")[1].split('"')[0]
    code, out, err = run(capsys, "import", tmp_path / "c.rsproj", cranfield, "--grade-map", example, "--quiet")
    assert code == 0, err
    # The distribution of cranqrel's codes and the gain each became, in the summary.
    assert "-1:      225 -> negative (gain 0)" in out
    assert "1:      128 -> positive, gain 4" in out
    assert "4:      363 -> positive, gain 1" in out
    with Project.open(tmp_path / "c.rsproj") as p:
        assert p.label_counts() == {"positive": {"imported": 1612}, "negative": {"imported": 225}}


def test_reimport_policy(tmp_path, capsys):
    src = write_beir(tmp_path / "beir")
    proj = tmp_path / "p.rsproj"
    assert main(["import", str(proj), str(src), "--quiet"]) == 0
    capsys.readouterr()
    before = dump(proj)
    code, _, err = run(capsys, "import", proj, src, "--quiet")
    assert code == 2 and "document id 'a1' is already in the project" in err and dump(proj) == before
    code, out, _ = run(capsys, "import", proj, src, "--quiet", "--on-existing", "skip", "--json")
    counts = json.loads(out)
    assert code == 0 and counts["existing"] == {"documents": {"identical": 6, "conflicting": 0},
                                                "queries": {"identical": 5, "conflicting": 0},
                                                "judgements": {"identical": 6, "conflicting": 0}}
    # Nothing new, nothing changed but the import record.
    def without_import_records(lines):
        return [line for line in lines if '"imports"' not in line and "'imports'" not in line]

    assert without_import_records(dump(proj)) == without_import_records(before)
    # A changed document, a changed judgement, a new query with a new judgement.
    text = (src / "corpus.jsonl").read_text().replace("Calcium intake and hip fractures.", "Changed text.")
    write_text(src / "corpus.jsonl", text)
    write_text(src / "queries.jsonl", (src / "queries.jsonl").read_text() + '{"_id": "x9", "text": "new one"}\n')
    write_text(src / "qrels" / "train.tsv", "query-id\tcorpus-id\tscore\nx1\ta1\t1\nx1\ta3\t3\nx2\ta4\t1\n"
                                            "x2\ta5\t0\nx9\ta2\t1\n")
    main(["label", str(proj), "x2", "a4", "negative"])  # a user's judgement that differs from the file
    capsys.readouterr()
    snapshot = dump(proj)
    code, out, _ = run(capsys, "import", proj, src, "--quiet", "--on-existing", "skip")
    assert code == 0
    assert "documents 5 identical (passed over), 1 conflicting (kept as in the project)" in out
    assert "corpus.jsonl, line 2: document 'a2' differs from the project's; kept as in the project" in out
    assert "query 'x1' / document 'a3' is positive (gain 2, imported) in the project, positive (gain 3) here" in out
    with Project.open(proj) as p:
        assert p.get_document("a2").text == "Calcium intake and hip fractures."
        assert p.get_label("x1", "a3").gain == 2 and p.get_label("x2", "a4").label == "negative"
        assert p.get_query("x9").split == "train" and p.get_label("x9", "a2").label == "positive"
    # update: the same import against the snapshot replaces the conflicting records.
    proj.unlink()
    import sqlite3

    conn = sqlite3.connect(proj)
    conn.executescript("\n".join(l for l in snapshot if not l.startswith("user_version")))
    conn.execute(f"PRAGMA user_version={snapshot[-1].split('=')[1]}")
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")  # the header mark is not in a dump
    conn.commit()
    conn.close()
    code, out, _ = run(capsys, "import", proj, src, "--quiet", "--on-existing", "update")
    assert code == 0 and "replaced by the imported one" in out
    with Project.open(proj) as p:
        assert p.get_document("a2").text == "Changed text."
        assert p.get_label("x1", "a3").gain == 3
        assert p.get_label("x2", "a4").label == "positive" and p.get_label("x2", "a4").source == "imported"
        assert [h.label for h in p.label_history("x2", "a4")][-2:] == ["negative", "positive"]
        assert p.get_query("x9").split == "train"
