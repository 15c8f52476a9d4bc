"""Every CLI command against every kind of bad project: one line, a non-zero exit, foreign files untouched.

The table crosses each command of ``core.cli.main.build_parser()`` with a
non-project file, an empty file, another program's SQLite file, a folder, a
truncated project, a project with damaged pages, a read-only project and a
damaged BM25 cache. Refusals must be exactly one ``retriever-studio CMD:
error: ...`` line on stderr with exit status 2 (1 would mean "unexpected
error", i.e. a bug); a damaged cache must be rebuilt and the command succeed.

Read-only: the suite runs as root, for whom chmod does not stop writes, so
the test replaces ``core.project.file.file_is_writable`` (the os.access
check Project.open uses to pick SQLite's ``mode=ro``).
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_tiny_project
from helpers_import import write_beir

import core.project.file as project_module
from core.cli.main import build_parser, main

# argv after the command name; {P} is the project, {OUT} an export folder, {SRC} a BEIR folder.
COMMANDS = {
    "import": ["{P}", "{SRC}", "--quiet"],
    "info": ["{P}"],
    "label": ["{P}", "q1", "d2", "negative"],
    "export": ["{P}", "{OUT}", "--format", "beir"],
    "search": ["{P}", "lung cancer"],
    "evaluate": ["{P}", "--split", "test"],
    "mine": ["{P}", "--source", "bm25", "--split", "train"],
    "train": ["{P}"],
    "compare": ["{P}", "--models", "bundled", "--retrievers", "bm25", "--split", "test"],
    "encode": ["{P}", "--encoder", "exact"],
    "review-queue": ["{P}", "--json"],
}
# Commands that need a stored mining pass to succeed.
NEEDS_PASS = {"review-queue"}
# Commands that change the project (evaluate and compare record their runs).
WRITING = {"import", "label", "evaluate", "mine", "train", "compare"}
# Commands that read the BM25 cache.
USING_BM25 = {"search", "evaluate", "mine", "compare"}


def _project_for(command: str, tmp_path: Path, capsys) -> Path:
    """The tiny project, with a BM25 mining pass when ``command`` needs one."""
    project = make_tiny_project(tmp_path / "p.rsproj")
    if command in NEEDS_PASS:
        assert main(["mine", str(project), "--source", "bm25", "--split", "train"]) == 0
        capsys.readouterr()
    return project


def test_the_table_covers_every_command():
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert commands == set(COMMANDS)


# -- inputs ------------------------------------------------------------------------

def _text_file(path: Path) -> None:
    path.write_text("my notes, not a database\n" * 200)


def _foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE accounts (name TEXT, balance REAL)")
    conn.execute("INSERT INTO accounts VALUES ('a', 1.5)")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()


FOREIGN = {
    "text file": (_text_file, "not an SQLite database"),
    "empty file": (lambda p: p.write_bytes(b""), "an empty file"),
    "foreign sqlite": (_foreign_sqlite, "not a Retriever Studio project"),
    "folder": (lambda p: p.mkdir(), "is a folder"),
}


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _damage_pages(path: Path) -> None:
    """Overwrite the pages that hold the documents table and its id index with noise."""
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    roots = [r for (r,) in conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE tbl_name='documents' AND rootpage > 1")]
    conn.close()
    with open(path, "r+b") as fh:
        for page in roots:
            fh.seek((page - 1) * page_size)
            fh.write(bytes(range(256)) * (page_size // 256))


DAMAGED = {"truncated project": _truncate, "damaged pages": _damage_pages}


def _damage_bm25_cache(project_path: Path) -> None:
    from core.project.file import Project
    from core.retrieval.bm25 import load_or_build

    with Project.open(project_path) as project:
        load_or_build(project)
        (entry,) = (project.data_dir / "bm25").iterdir()
    weights = entry / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:100])
    (entry / "doc_lengths.npy").write_bytes(b"")


# -- running -----------------------------------------------------------------------

def _run(command: str, project: Path, tmp_path: Path, capsys) -> tuple[int, str, str]:
    values = {"{P}": str(project), "{OUT}": str(tmp_path / "out"),
              "{SRC}": str(write_beir(tmp_path / "beir-source"))}
    argv = [command] + [values.get(a, a) for a in COMMANDS[command]]
    capsys.readouterr()
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _messages(err: str) -> list[str]:
    """stderr without progress lines (``[ 42.0%] ...``)."""
    return [line for line in err.splitlines() if line.strip() and not line.startswith("[")]


def _assert_one_error_line(command: str, rc: int, err: str, *expected: str) -> str:
    lines = _messages(err)
    assert rc == 2, (rc, err)
    assert len(lines) == 1, err
    assert lines[0].startswith(f"retriever-studio {command}: error: "), lines[0]
    assert "Traceback" not in err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in folder.iterdir() if p.name != "beir-source"}


def _foreign_cases():
    for command in COMMANDS:
        for kind in FOREIGN:
            yield pytest.param(command, kind, id=f"{command}-{kind}")


@pytest.mark.parametrize("command, kind", list(_foreign_cases()))
def test_files_that_are_not_projects_are_refused_and_left_untouched(tmp_path, capsys, command, kind):
    make, reason = FOREIGN[kind]
    project = tmp_path / "x.rsproj"
    make(project)
    write_beir(tmp_path / "beir-source")
    before = _snapshot(tmp_path)
    rc, out, err = _run(command, project, tmp_path, capsys)
    line = _assert_one_error_line(command, rc, err, str(project))
    # import checks the path itself first (core.io), in its own words.
    reasons = (reason,) if command != "import" else (reason, "not a Retriever Studio project")
    assert any(r in line for r in reasons), line
    assert out == ""
    # Checksums of every file beside it: nothing changed, no -wal/-shm, no .data folder, no OUT.
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", list(DAMAGED))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_damaged_projects_are_refused_in_one_line(tmp_path, capsys, command, kind):
    project = make_tiny_project(tmp_path / "p.rsproj")
    DAMAGED[kind](project)
    rc, out, err = _run(command, project, tmp_path, capsys)
    _assert_one_error_line(command, rc, err, str(project), "damaged")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_read_only_project_reads_and_refuses_changes_in_one_line(tmp_path, capsys, monkeypatch, command):
    project = _project_for(command, tmp_path, capsys)
    before = project.read_bytes()
    monkeypatch.setattr(project_module, "file_is_writable", lambda path: False)
    rc, out, err = _run(command, project, tmp_path, capsys)
    if command in WRITING:
        _assert_one_error_line(command, rc, err, str(project), "read-only")
    else:
        assert rc == 0, err
        assert _messages(err) == [] and out
    # Not a byte written, and no -wal/-shm files of ours left beside a file we may not write.
    assert project.read_bytes() == before
    assert not [p.name for p in tmp_path.glob("p.rsproj-*")]


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"train"}))
def test_damaged_cache_is_rebuilt_and_the_command_succeeds(tmp_path, capsys, command):
    # train reads no retrieval cache (and would train a model here); its own
    # leftovers are covered in test_leftovers.py.
    project = _project_for(command, tmp_path, capsys)
    _damage_bm25_cache(project)
    rc, out, err = _run(command, project, tmp_path, capsys)
    assert rc == 0, err
    assert "Traceback" not in err
    if command in USING_BM25:
        assert "BM25: the cached index was damaged and is rebuilt" in err


def test_output_into_a_closed_pipe_exits_quietly(tmp_path):
    """`retriever-studio info P | head -0`: no traceback, the SIGPIPE status 141."""
    project = make_tiny_project(tmp_path / "p.rsproj")
    root = Path(__file__).resolve().parents[1]
    child = subprocess.Popen([sys.executable, "-m", "core.cli", "info", str(project), "--json"],
                             cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # the reader is gone before anything was written
    err = child.stderr.read().decode()
    assert child.wait() == 141, err
    assert err == ""


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_shared_project_with_a_path_as_split_name_is_refused(tmp_path, capsys, command):
    project = make_tiny_project(tmp_path / "p.rsproj")
    conn = sqlite3.connect(project)
    conn.execute("UPDATE queries SET split='../../victim' WHERE split='test'")
    conn.commit()
    conn.close()
    before = project.read_bytes()
    rc, out, err = _run(command, project, tmp_path, capsys)
    _assert_one_error_line(command, rc, err, str(project), "'../../victim'", "file name")
    assert project.read_bytes() == before
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "victim.tsv").exists()


def test_info_says_a_read_only_project_is_read_only(tmp_path, capsys, monkeypatch):
    project = make_tiny_project(tmp_path / "p.rsproj")
    monkeypatch.setattr(project_module, "file_is_writable", lambda path: False)
    assert main(["info", str(project)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "read-only" in first and "not a Retriever Studio project" not in first
    assert main(["info", str(project), "--json"]) == 0
    assert '"read_only": true' in capsys.readouterr().out
