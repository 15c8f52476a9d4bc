"""Nothing an export does reaches outside OUT, whatever the split names, ids or OUT say.

Split names come from the command line, from qrels file names at import, or
from a project file someone shared (simulated here by writing them into the
database directly). Every check snapshots the whole temporary tree (path ->
content hash) before and after, and allows changes only under OUT.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers_import import write_beir

from core.cli.main import main
from core.errors import ProjectError
from core.io.export import ExportError, export
from core.io.importers import ImportOptions, import_source
from core.project.file import Project

# "{abs}" stands for an absolute path inside the test's own temporary folder.
BAD_SPLITS = ["../../victim", "../victim", "..", "{abs}", "a/b", "a\\b", "a\x00b", ".hidden", ""]


def snapshot(root: Path, *, skip: Path | None = None) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.name.endswith(("-wal", "-shm")):
            continue  # the project's own SQLite side files
        out[str(path.relative_to(root))] = (hashlib.sha256(path.read_bytes()).hexdigest()
                                            if path.is_file() else "dir")
    return out


@pytest.fixture
def world(tmp_path):
    """A project with two splits, a victim file where ../ would land, and a place for OUT."""
    project = tmp_path / "work" / "p.rsproj"
    import_source(project, write_beir(tmp_path / "work" / "src"))
    (tmp_path / "victim.tsv").write_text("precious\n")
    (tmp_path / "work" / "victim.tsv").write_text("precious too\n")
    return tmp_path, project


def _set_split(project: Path, name: str, *, labeled: bool) -> None:
    with Project.open(project) as p:
        qid = "x1" if labeled else "x5"  # x1 has judgements, x5 none
        p.conn.execute("UPDATE queries SET split=? WHERE id=?", (name, qid))


@pytest.mark.parametrize("labeled", [True, False], ids=["judged", "unjudged"])
@pytest.mark.parametrize("name", BAD_SPLITS)
def test_project_split_names_never_become_paths(world, name, labeled):
    root, project = world
    name = name.format(abs=root / "abs-victim")
    _set_split(project, name, labeled=labeled)
    before = snapshot(root)
    out = root / "work" / "out" / "beir"
    # Opening the shared project already refuses it (core.project.file); the
    # export's own check is the second line of defence for projects opened before.
    with pytest.raises((ExportError, ProjectError), match="split"):
        with Project.open(project) as p:
            export(p, out, format="beir")
    assert snapshot(root) == before  # nothing written or deleted, not even OUT


@pytest.mark.parametrize("name", [n for n in BAD_SPLITS if n])
@pytest.mark.parametrize("command", [
    ["export", "{p}", "{out}", "--format", "beir", "--split", "{s}"],
    ["export", "{p}", "{out}", "--format", "triplets", "--split", "{s}"],
    ["export", "{p}", "{out}", "--format", "beir", "--no-split-as", "{s}"],
    ["import", "{p}", "{src}", "--split", "{s}"],
])
def test_cli_split_names_are_refused_before_anything_runs(world, capsys, name, command):
    root, project = world
    before = snapshot(root)
    name = name.format(abs=root / "abs-victim")
    argv = [a.format(p=project, out=root / "work" / "out", src=root / "work" / "src", s=name) for a in command]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "split" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert snapshot(root) == before


def test_qrels_file_names_are_checked_at_import(tmp_path):
    src = write_beir(tmp_path / "src")
    (src / "qrels" / "-..victim.tsv").write_text("query-id\tcorpus-id\tscore\nx1\ta1\t1\n")
    with pytest.raises(Exception, match="not allowed"):
        import_source(tmp_path / "p.rsproj", src, options=ImportOptions())
    assert not (tmp_path / "p.rsproj").exists()


@pytest.mark.parametrize("doc_id", ["../../escape", "/etc/passwd", "a/b", "..", "C:\\x"])
def test_ids_that_look_like_paths_stay_data(world, doc_id):
    """Ids are written inside files, never used as paths: the export works and stays under OUT."""
    root, project = world
    with Project.open(project) as p:
        p.conn.execute("PRAGMA foreign_keys=OFF")
        p.conn.execute("UPDATE documents SET id=? WHERE id='a6'", (doc_id,))
        p.conn.execute("UPDATE labels SET doc_id=? WHERE doc_id='a6'", (doc_id,))
        p.conn.execute("UPDATE label_history SET doc_id=? WHERE doc_id='a6'", (doc_id,))
    out = root / "work" / "out"
    before = snapshot(root, skip=out)
    with Project.open(project) as p:
        export(p, out, format="beir")
    assert snapshot(root, skip=out) == before
    assert sorted(str(x.relative_to(out)) for x in out.rglob("*")) == [
        "corpus.jsonl", "qrels", "qrels/test.tsv", "qrels/train.tsv", "queries.jsonl"]
    assert f"x4\t{doc_id}\t1" in (out / "qrels" / "test.tsv").read_text()


@pytest.mark.parametrize("doc_id", ["a\tb", "a\nb", "a\x00b"])
def test_ids_that_would_break_a_qrels_line_are_refused(world, doc_id):
    root, project = world
    with Project.open(project) as p:
        p.conn.execute("PRAGMA foreign_keys=OFF")
        p.conn.execute("UPDATE labels SET doc_id=? WHERE doc_id='a6'", (doc_id,))
    before = snapshot(root)
    with Project.open(project) as p:
        with pytest.raises(ExportError, match="cannot write BEIR qrels"):
            export(p, root / "work" / "out", format="beir")
    assert snapshot(root) == before


@pytest.mark.parametrize("out", ["bad\x00name", "", "   "])
def test_out_with_nul_or_empty_is_refused(world, out):
    root, project = world
    before = snapshot(root)
    with Project.open(project) as p:
        for fmt in ("beir", "triplets"):
            with pytest.raises(ExportError, match="cannot be an output path"):
                export(p, out, format=fmt)
    assert snapshot(root) == before


def test_out_with_dot_dot_is_where_the_user_said(world):
    """``..`` in OUT is the user's own choice: written exactly there, nowhere else."""
    root, project = world
    out = root / "work" / "src" / ".." / "elsewhere"
    before = snapshot(root, skip=root / "work" / "elsewhere")
    with Project.open(project) as p:
        export(p, out, format="beir")
    assert snapshot(root, skip=root / "work" / "elsewhere") == before
    assert (root / "work" / "elsewhere" / "corpus.jsonl").is_file()


def test_existing_out_is_not_replaced(world):
    root, project = world
    for out in (root / "work", root / "victim.tsv"):  # a non-empty folder, a file
        before = snapshot(root)
        with Project.open(project) as p:
            with pytest.raises(ExportError, match="already exists"):
                export(p, out, format="beir")
            with pytest.raises(ExportError, match="already exists"):
                export(p, out, format="labeled-pairs", split="all")
        assert snapshot(root) == before
