"""The project file: labels and their history, migrations, refusals, the v1 fixture,
the application_id mark, read-only projects and new projects that appear whole."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_project import CLEARED, EXTRA_LABELS

import core.project.file as project_module
from core.errors import ProjectError
from core.project.file import Project, new_project
from core.project.schema import APPLICATION_ID, SCHEMA_VERSION

FIXTURE_V1 = Path(__file__).resolve().parent / "fixtures" / "project_v1.rsproj"


def test_label_history_change_and_clear(tiny_project):
    with Project.open(tiny_project) as p:
        c = p.set_label("q1", "d2", "positive", gain=2)
        assert (c.old, c.new, c.new_gain) == (None, "positive", 2)
        c = p.set_label("q1", "d2", "negative")
        assert (c.old, c.new, c.old_gain, c.new_gain) == ("positive", "negative", 2, 0)
        c = p.set_label("q1", "d2", None)
        assert (c.old, c.new) == ("negative", None)
        assert p.get_label("q1", "d2") is None
        hist = [(h.old_label, h.label, h.gain, h.source) for h in p.label_history("q1", "d2")]
        assert hist == [(None, "positive", 2, "user"), ("positive", "negative", 0, "user"),
                        ("negative", None, None, "user")]
        # Clearing nothing records nothing.
        assert p.set_label("q1", "d3", None).new is None
        assert p.label_history("q1", "d3") == []


def test_false_negative_counts_as_relevant_and_gains(tiny_project):
    with Project.open(tiny_project) as p:
        p.set_label("q3", "d8", "false_negative")
        p.set_label("q3", "d6", "negative")
        p.set_label("q1", "d2", "positive", gain=0)  # a relevant label never has gain 0
        assert p.get_label("q1", "d2").gain == 1
        assert p.qrels("test") == {"q3": {"d7": 1, "d9": 2, "d8": 1}, "q4": {"d10": 1}}
        assert p.qrels("test", include_negatives=True)["q3"]["d6"] == 0
        assert p.label_counts() == {"positive": {"imported": 5, "user": 1},
                                    "false_negative": {"user": 1}, "negative": {"user": 1}}


def test_set_labels_is_all_or_nothing(tiny_project):
    with Project.open(tiny_project) as p:
        with pytest.raises(ProjectError, match="unknown document id"):
            p.set_labels([("q1", "d2", "positive", None), ("q1", "nope", "positive", None)])
        assert p.get_label("q1", "d2") is None
        assert p.label_history("q1", "d2") == []
        with pytest.raises(ProjectError, match="unknown query id"):
            p.set_label("nobody", "d1", "positive")
        with pytest.raises(ValueError):
            p.set_label("q1", "d2", "maybe")


def test_label_is_committed_at_once_and_seen_by_another_connection(tiny_project):
    with Project.open(tiny_project) as writer, Project.open(tiny_project) as reader:
        writer.set_label("q2", "d5", "negative")
        assert reader.get_label("q2", "d5").label == "negative"


def test_new_project_is_current_schema_in_wal_mode(tmp_path):
    with Project.create(tmp_path / "n.rsproj") as p:
        assert p.schema_version == SCHEMA_VERSION
        assert p.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert p.corpus_revision
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(tmp_path / "n.rsproj")
    with pytest.raises(ProjectError, match="no such project"):
        Project.open(tmp_path / "missing.rsproj")


def test_migrations_run_in_order_and_roll_back_on_failure(tiny_project, monkeypatch):
    v2 = "CREATE TABLE extra (x INTEGER);"
    v3 = "INSERT INTO extra VALUES (42);"
    monkeypatch.setattr(project_module, "MIGRATIONS", project_module.MIGRATIONS + [v2, v3])
    monkeypatch.setattr(project_module, "SCHEMA_VERSION", SCHEMA_VERSION + 2)
    with Project.open(tiny_project) as p:
        assert p.schema_version == SCHEMA_VERSION + 2
        assert p.conn.execute("SELECT x FROM extra").fetchall() == [(42,)]
        assert p.document_count() == 12


def test_failed_migration_leaves_the_file_at_its_version(tiny_project, monkeypatch):
    bad = "CREATE TABLE extra (x INTEGER); INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(project_module, "MIGRATIONS", project_module.MIGRATIONS + [bad])
    monkeypatch.setattr(project_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(ProjectError):
        Project.open(tiny_project)
    conn = sqlite3.connect(tiny_project)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name='extra'").fetchone()[0] == 0
    conn.close()


def test_refuses_a_newer_schema(tiny_project):
    conn = sqlite3.connect(tiny_project)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(ProjectError, match="newer Retriever Studio"):
        Project.open(tiny_project)


def test_refuses_other_sqlite_and_non_sqlite_files(tmp_path):
    other = tmp_path / "other.rsproj"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE mine (x)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(ProjectError, match="not a Retriever Studio project"):
        Project.open(other)
    assert other.read_bytes() == before  # not switched to WAL behind the user's back
    assert not other.with_name("other.rsproj-wal").exists()
    text = tmp_path / "notes.rsproj"
    text.write_text("just some notes, not a database\n" * 100)
    with pytest.raises(ProjectError, match="not a Retriever Studio project"):
        Project.open(text)


def test_v1_fixture_opens_and_reads(tmp_path):
    raw = sqlite3.connect(f"{FIXTURE_V1.as_uri()}?mode=ro", uri=True)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    raw.close()
    path = tmp_path / "v1.rsproj"  # a copy: opening writes WAL files and may migrate
    shutil.copy(FIXTURE_V1, path)
    assert header_application_id(path) == 0  # written before the mark existed
    # Recognised by its tables, but schema 4 packed the candidates every reader
    # of a pass reads: read-only, it cannot be upgraded, so it is refused and left alone.
    with pytest.raises(ProjectError, match="make it writable once"):
        Project.open(path, read_only=True)
    assert path.read_bytes() == FIXTURE_V1.read_bytes()
    with Project.open(path) as p:
        assert header_application_id(path) == APPLICATION_ID  # marked on its first writable open
        assert p.schema_version == SCHEMA_VERSION
        info = p.info()
        assert info["documents"] == 12 and info["queries"] == 4
        assert info["queries_per_split"] == {"test": 2, "train": 2}
        assert p.get_document("d9").text.startswith("Residential radon exposure")
        assert p.get_query("q3").text == "what causes lung cancer"
        for q, d, label in EXTRA_LABELS:
            assert p.get_label(q, d).label == label
        assert p.get_label(*CLEARED) is None
        assert [h.label for h in p.label_history(*CLEARED)] == ["negative", None]
        assert p.get_label("q2", "d5").source == "imported"
        assert p.qrels("test")["q3"] == {"d7": 1, "d9": 2, "d8": 1}
        assert p.conn.execute("SELECT format FROM imports").fetchall() == [("msmarco",)]
        # And it still takes new labels.
        p.set_label("q4", "d12", "negative")
        assert p.get_label("q4", "d12").label == "negative"


def header_application_id(path: Path) -> int:
    """Bytes 68-71 of the SQLite header, read without SQLite (after the WAL is checkpointed)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return int.from_bytes(path.read_bytes()[68:72], "big")


def test_new_project_carries_the_application_id_in_its_header(tmp_path):
    Project.create(tmp_path / "n.rsproj").close()
    assert header_application_id(tmp_path / "n.rsproj") == APPLICATION_ID == 0x52537475


def _foreign_wal_db(path):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("PRAGMA user_version=1")  # the version our schema 1 has
    conn.commit()
    conn.close()


def _other_application(path):
    # Another program's mark on a file that even has our tables.
    Project.create(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA application_id=1234")
    conn.commit()
    conn.close()


def _unmarked_with_some_of_our_tables(path):
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE meta (key, value); CREATE TABLE documents (id);"
                       "PRAGMA user_version=1;")
    conn.close()


FOREIGN = {
    "foreign sqlite, user_version 1, WAL": (_foreign_wal_db, "not a Retriever Studio project"),
    "another application_id": (_other_application, "another program"),
    "unmarked, some of our tables": (_unmarked_with_some_of_our_tables, "not a Retriever Studio"),
    "empty file": (lambda p: p.write_bytes(b""), "an empty file"),
    "text file": (lambda p: p.write_text("notes\n" * 100), "not an SQLite database"),
    "truncated header": (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x10" * 40), "truncated"),
    "folder": (lambda p: p.mkdir(), "is a folder"),
}


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("create", [False, True], ids=["open", "open-create"])
@pytest.mark.parametrize("kind", list(FOREIGN))
def test_files_that_are_not_ours_are_refused_before_any_change(tmp_path, kind, create):
    make, message = FOREIGN[kind]
    path = tmp_path / "x.rsproj"
    make(path)
    before = _snapshot(tmp_path)
    with pytest.raises(ProjectError, match=message):
        Project.open(path, create=create)
    # Byte for byte, and no -wal/-shm files appeared beside it.
    assert _snapshot(tmp_path) == before


def test_read_only_project_reads_and_refuses_every_change(tiny_project, monkeypatch):
    before = tiny_project.read_bytes()
    with Project.open(tiny_project, read_only=True) as p:
        assert p.read_only and p.info()["read_only"] is True
        assert p.document_count() == 12 and p.get_label("q3", "d9").gain == 2
        with pytest.raises(ProjectError, match="read-only"):
            p.set_label("q1", "d2", "negative")
        with pytest.raises(sqlite3.OperationalError):  # query_only: even raw SQL cannot write
            p.conn.execute("DELETE FROM labels")
    assert tiny_project.read_bytes() == before
    # A file (or folder) the user cannot write opens read-only by itself. As
    # root os.access allows everything, so the check itself is replaced here.
    monkeypatch.setattr(project_module, "file_is_writable", lambda path: False)
    with Project.open(tiny_project) as p:
        assert p.read_only and "not writable" in p.read_only_reason
        with pytest.raises(ProjectError, match="not writable"):
            p.set_meta("k", "v")
    with pytest.raises(ProjectError, match="read-only"):
        Project.open(tiny_project, read_only=False)
    assert tiny_project.read_bytes() == before


def test_new_project_is_linked_into_place_only_when_complete(tmp_path):
    path = tmp_path / "new.rsproj"
    with pytest.raises(RuntimeError):
        with new_project(path) as p:
            p.set_meta("k", "v")
            raise RuntimeError("import failed")
    assert sorted(tmp_path.iterdir()) == []  # neither the project nor its temporary
    with new_project(path) as p:
        p.set_meta("k", "v")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["new.rsproj"]
    with Project.open(path) as p:
        assert p.get_meta("k") == "v"
    with pytest.raises(ProjectError, match="already exists"):
        with new_project(path):
            pass


KILLED_WHILE_BUILDING = """
import os, signal, sys
from core.project.file import new_project
with new_project(sys.argv[1]) as p:
    p.set_meta("half", "done")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_new_project_killed_while_built_leaves_nothing_at_its_path(tmp_path):
    path = tmp_path / "new.rsproj"
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", KILLED_WHILE_BUILDING, str(path)], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert done.returncode == -9
    assert not path.exists()
    leftovers = [x.name for x in tmp_path.iterdir()]
    assert leftovers and all(n.startswith(".new.rsproj.creating-") for n in leftovers)
    with new_project(path) as p:  # the next one sweeps what the killed one left
        p.set_meta("k", "v")
    assert [x.name for x in tmp_path.iterdir()] == ["new.rsproj"]


@pytest.mark.parametrize("split", ["../../../victim", "a/b", "/etc", "..", "x\x00y"])
def test_a_shared_project_whose_split_name_is_a_path_is_refused(tiny_project, split):
    conn = sqlite3.connect(tiny_project)
    conn.execute("UPDATE queries SET split=? WHERE id='q3'", (split,))
    conn.commit()
    conn.close()
    before = tiny_project.read_bytes()
    for read_only in (None, True):
        with pytest.raises(ProjectError, match="would become a file name on export") as err:
            Project.open(tiny_project, read_only=read_only)
        assert repr(split) in str(err.value)
    assert tiny_project.read_bytes() == before


def test_the_empty_split_name_means_no_split(tiny_project):
    conn = sqlite3.connect(tiny_project)
    conn.execute("UPDATE queries SET split='' WHERE id='q3'")
    conn.commit()
    conn.close()
    with Project.open(tiny_project) as p:
        assert p.splits()[""] == 1
