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
