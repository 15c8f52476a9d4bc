"""Exact label edits, the retrying label writer and the CLI's wait for a locked project (no Qt)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers_labels import LOCKER, add_mining_pass, label_state

from core.errors import ProjectError
from core.mining.store import proposals
from core.project.file import LabelConflict, Project
from core.project.writer import LabelWriter, write_when_free

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def mined_project(tiny_project):
    return add_mining_pass(tiny_project)


def test_revert_and_reapply_restore_rows_history_and_review_states(mined_project):
    with Project.open(mined_project) as project:
        q1 = [p.doc_id for p in proposals(project) if p.query_id == "q1"]
        before = label_state(mined_project)
        # Accept two proposals, flip one, overwrite the imported positive, one pair twice.
        edit = project.edit_labels([("q1", q1[0], "negative", None), ("q1", q1[1], "negative", None),
                                    ("q1", q1[2], "false_negative", 2), ("q1", "d1", "negative", None),
                                    ("q1", q1[0], "negative", None)])
        after = label_state(mined_project)
        assert {p.doc_id: p.state for p in proposals(project) if p.query_id == "q1"} == {
            q1[0]: "accepted", q1[1]: "accepted", q1[2]: "flipped"}
        assert len(edit.history_ids) == 5
        changes = project.revert_label_edit(edit)
        assert label_state(mined_project) == before  # rows, rowids, history, pending proposals
        assert ("q1", "d1", "negative", "positive") in {
            (c.query_id, c.doc_id, c.old, c.new) for c in changes}
        project.reapply_label_edit(edit)
        assert label_state(mined_project) == after
        project.revert_label_edit(edit)
        assert label_state(mined_project) == before


def test_undo_is_refused_when_another_program_changed_the_label(tiny_project):
    with Project.open(tiny_project) as project, Project.open(tiny_project) as other:
        edit = project.edit_labels([("q2", "d5", "positive", None), ("q2", "d6", "positive", None)])
        other.set_label("q2", "d5", "negative")
        state = label_state(tiny_project)
        with pytest.raises(LabelConflict, match=r"Not undone.*q2 / d5 is now negative, not positive"):
            project.revert_label_edit(edit)
        assert label_state(tiny_project) == state  # not even d6, whose label was still ours
        other.set_label("q2", "d5", "positive")  # same label, but a newer row: still not ours
        with pytest.raises(LabelConflict):
            project.revert_label_edit(edit)


def hold_lock(path: Path, seconds: float, locked: threading.Event) -> threading.Thread:
    def hold():
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def test_the_writer_retries_while_locked_and_reports_the_wait(tiny_project):
    reports = []
    writer = LabelWriter(tiny_project, lambda kind, req: reports.append(kind), patience_s=0.3)
    locked = threading.Event()
    holder = hold_lock(tiny_project, 1.0, locked)
    assert locked.wait(10)
    request = writer.submit(lambda p: p.set_label("q2", "d5", "negative"))
    assert not request.done.wait(0.5)  # still locked
    holder.join()
    assert request.done.wait(10) and request.error is None
    assert reports == ["stalled", "done"] and request.stalled
    assert writer.close(5)
    with Project.open(tiny_project) as project:
        assert project.get_label("q2", "d5").label == "negative"


def test_closing_the_writer_while_locked_reports_what_was_not_saved(tiny_project):
    reports = []
    writer = LabelWriter(tiny_project, lambda kind, req: reports.append(kind))
    locked = threading.Event()
    holder = hold_lock(tiny_project, 1.5, locked)
    assert locked.wait(10)
    request = writer.submit(lambda p: p.set_label("q2", "d5", "negative"))
    assert not writer.close(0.2)
    assert request.done.is_set() and "not saved" in request.error
    assert reports == ["failed"]
    holder.join()
    with Project.open(tiny_project) as project:
        assert project.get_label("q2", "d5") is None


def test_write_when_free_gives_up_with_a_clear_error(tiny_project):
    locked = threading.Event()
    holder = hold_lock(tiny_project, 1.0, locked)
    assert locked.wait(10)
    waited = []
    with Project.open(tiny_project) as project:
        with pytest.raises(ProjectError, match="another program kept the project locked"):
            write_when_free(project, lambda p: p.set_label("q2", "d5", "negative"), wait_s=0.3,
                            on_wait=lambda: waited.append(1))
        assert waited == [1]
        holder.join()
        assert project.get_label("q2", "d5") is None


@pytest.mark.parametrize("hold, wait, ok", [(3.0, "0.5", False), (3.0, "20", True)])
def test_cli_label_waits_for_a_lock_and_gives_up_in_one_line(tiny_project, hold, wait, ok):
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(tiny_project), str(hold)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        done = subprocess.run([sys.executable, "-m", "core.cli", "label", str(tiny_project), "q2",
                               "d5", "negative", "--wait", wait],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
    finally:
        locker.wait(30)
    lines = done.stderr.strip().splitlines()
    assert "waiting up to" in lines[0]
    with Project.open(tiny_project) as project:
        label = project.get_label("q2", "d5")
    if ok:
        assert done.returncode == 0 and label.label == "negative"
        assert done.stdout.strip() == "q2 / d5: (none) -> negative"
    else:
        assert done.returncode != 0 and label is None
        assert len(lines) == 2 and "another program kept the project locked" in lines[1]
        assert "Traceback" not in done.stderr


def test_opening_the_project_again_keeps_the_locks_of_the_connections_already_open(tiny_project):
    """Another program closing its connection must not delete the WAL under ours.

    Reading the header with open()/close() used to drop this process's SQLite
    locks; the other program then believed it was the last connection and
    removed the -wal/-shm files, and the next read here failed with
    "disk I/O error".
    """
    with Project.open(tiny_project) as first:
        first.set_label("q2", "d5", "negative")
        with Project.open(tiny_project) as second:
            assert second.get_label("q2", "d5").label == "negative"
            reader = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                      "c.execute('SELECT count(*) FROM labels').fetchone(); c.close()")
            subprocess.run([sys.executable, "-c", reader, str(tiny_project)], check=True, timeout=60)
            assert tiny_project.with_name(tiny_project.name + "-wal").exists()
            assert first.get_label("q2", "d5").label == "negative"
            first.set_label("q2", "d6", "negative")
            assert second.get_label("q2", "d6").label == "negative"
