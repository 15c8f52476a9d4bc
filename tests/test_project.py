"""The project file: labels and their history, migrations, refusals, the v1 fixture."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers_project import CLEARED, EXTRA_LABELS

import core.project.file as project_module
from core.errors import ProjectError
from core.project.file import Project
from core.project.schema import SCHEMA_VERSION

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
    with Project.open(path) as p:
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
