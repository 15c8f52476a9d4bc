"""Labels are law in the window: exact undo/redo per command, other programs' writes, a locked file.

Each command kind is applied, undone and redone, and the whole label state
(every row of ``labels``, ``label_history`` and ``candidates``, and each
proposal's review state) is compared with the state before and after.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_excepthook import fail_on_escaped_exceptions  # noqa: F401 (autouse fixture)
from helpers_gui import isolated_settings, open_window, shared_encoder  # noqa: F401 (fixtures)
from helpers_labels import LOCKER, add_mining_pass, label_state, round_trip, wait_saved
from helpers_training import StallMeter
from PySide6.QtCore import Qt

from core.project.file import Project

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def mined_project(tiny_project):
    return add_mining_pass(tiny_project)


def open_on_query(qtbot, path, query_id):
    """The main window on ``path`` showing ``query_id``'s candidates."""
    window = open_window(qtbot, path)
    window.context.set_current_query(query_id)
    qtbot.waitUntil(window.workspace.is_ready, timeout=30000)
    return window, window.context, window.workspace


# -- exact undo, per command kind -------------------------------------------------------------

@pytest.fixture
def review(qtbot, mined_project):
    from gui.context import AppContext
    from gui.review_panel import ReviewPanel

    context = AppContext(Project.open(mined_project))
    context.set_current_query("q1")
    panel = ReviewPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.data is not None and panel.model.rowCount() == 3
                    and "pending" in panel.rate_label.text(), timeout=10000)
    yield panel
    panel.shutdown()
    context.close()
    context.jobs.close()
    context.jobs.wait_all(5)
    context.project.close()


def states(panel) -> list[str]:
    return [p.state for p in panel.model.rows]


@pytest.mark.parametrize("command", ["accept", "flip", "accept the rest"])
def test_review_commands_undo_and_redo_exactly(qtbot, review, mined_project, command):
    panel, context = review, review.context
    if command == "accept the rest":
        panel.label_row(1, "negative")  # one reviewed already: "the rest" is the other two
        wait_saved(qtbot, context)
        qtbot.waitUntil(lambda: "1 accepted" in panel.rate_label.text(), timeout=5000)
    header, shown = panel.rate_label.text(), states(panel)
    query = panel._current_query  # "accept the rest" moves on to the next query
    assert "0 rejected" in header

    def act():
        if command == "accept":
            panel.label_row(0, "negative")
        elif command == "flip":
            panel.label_row(0, "false_negative")
        else:
            panel.accept_rest()

    before, _after = round_trip(qtbot, context, mined_project, act)
    # Undone, the proposals are what they were (pending, not "rejected"): in the file and on screen.
    context.undo_stack.undo()
    wait_saved(qtbot, context)
    assert label_state(mined_project) == before
    panel.show_query(query)
    assert states(panel) == shown
    qtbot.waitUntil(lambda: panel.rate_label.text() == header, timeout=5000)


def test_label_and_pane_bulk_commands_undo_and_redo_exactly(qtbot, mined_project):
    window, context, ws = open_on_query(qtbot, mined_project, "q2")
    pane = ws.panes["dense"]
    pane.view.setFocus()

    def set_one():
        pane.select_row(0)
        qtbot.keyClick(pane.view, Qt.Key.Key_1)

    def bulk():
        pane.select_docs(pane.model.doc_ids()[:4], pane.model.doc_ids()[0])
        qtbot.keyClick(pane.view, Qt.Key.Key_N)

    for act in (set_one, bulk):
        _before, after = round_trip(qtbot, context, mined_project, act)
        shown = {d: lab.label for d, lab in pane.model._labels.items()}
        assert shown == {r[2]: r[3] for r in after["labels"] if r[1] == "q2"}
    totals = window.workspace.controller.totals
    assert f"<b>{totals.negatives}</b> neg." in window.counts_label.text()


# -- other programs' writes -----------------------------------------------------------------------

def cli_label(path: Path, query_id: str, doc_id: str, label: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", "label", str(path), query_id, doc_id,
                           label, *extra], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_labels_written_by_another_program_appear_within_a_second(qtbot, mined_project):
    window = open_window(qtbot, mined_project)
    context, ws = window.context, window.workspace
    review = window.show_view("review")
    qtbot.waitUntil(lambda: "pending" in review.rate_label.text(), timeout=10000)
    context.set_current_query("q2")
    qtbot.waitUntil(ws.is_ready, timeout=30000)
    with Project.open(mined_project) as project:
        from core.mining.store import proposals

        proposal = next(p.doc_id for p in proposals(project) if p.query_id == "q2")
    pane = ws.panes["bm25"]
    assert pane.model.label_of(proposal) is None
    assert ws.queries.model.summary("q2").negatives == 0
    assert "<b>0</b> neg." in window.counts_label.text()

    done = cli_label(mined_project, "q2", proposal, "negative")
    assert done.returncode == 0, done.stderr
    seen_at = time.monotonic()
    qtbot.waitUntil(lambda: (pane.model.label_of(proposal) is not None
                             and pane.model.label_of(proposal).label == "negative"
                             and ws.queries.model.summary("q2").negatives == 1
                             and "<b>1</b> neg." in window.counts_label.text()
                             and "1 accepted" in review.rate_label.text()), timeout=1500)
    assert time.monotonic() - seen_at < 1.5


def test_undo_does_not_overwrite_a_newer_label_from_another_program(qtbot, tiny_project):
    window, context, ws = open_on_query(qtbot, tiny_project, "q2")
    pane = ws.panes["bm25"]
    pane.view.setFocus()
    doc = next(d for d in pane.model.doc_ids() if pane.model.label_of(d) is None)
    pane.select_docs([doc], doc)
    qtbot.keyClick(pane.view, Qt.Key.Key_1)
    wait_saved(qtbot, context)
    assert context.project.get_label("q2", doc).label == "positive"

    done = cli_label(tiny_project, "q2", doc, "negative")
    assert done.returncode == 0, done.stderr
    qtbot.waitUntil(lambda: pane.model.label_of(doc).label == "negative", timeout=1500)
    window.undo_action.trigger()
    wait_saved(qtbot, context)
    with Project.open(tiny_project) as project:
        assert project.get_label("q2", doc).label == "negative"  # the other program's label stays
    title, message = window.last_warning
    assert title == "Labels changed elsewhere"
    assert f"q2 / {doc} is now negative, not positive" in message
    # Redo is refused the same way, and nothing changes.
    window.redo_action.trigger()
    wait_saved(qtbot, context)
    assert context.project.get_label("q2", doc).label == "negative"
    assert pane.model.label_of(doc).label == "negative"


# -- a locked project ------------------------------------------------------------------------------

HOLD_S = 2.0  # longer than the writer's busy timeout (0.1 s) and its patience here (0.5 s)

def test_a_label_set_while_another_program_holds_the_lock_is_pending_then_saved(
        qtbot, tiny_project, monkeypatch):
    import core.project.writer

    monkeypatch.setattr(core.project.writer, "PATIENCE_S", 0.5)
    window, context, ws = open_on_query(qtbot, tiny_project, "q2")
    pane = ws.panes["dense"]  # every document of the tiny corpus is in its list
    pane.view.setFocus()
    free = [d for d in pane.model.doc_ids() if pane.model.label_of(d) is None][:2]
    assert len(free) == 2

    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(tiny_project), str(HOLD_S)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        meter = StallMeter(interval_ms=2)  # its raw gaps are used: nothing subtracted
        meter.start()
        qtbot.wait(20)  # the meter is ticking before the first click
        for doc in free:  # two clicks while the file is locked: both kept, in order
            pane.select_docs([doc], doc)
            qtbot.keyClick(pane.view, Qt.Key.Key_2)
            qtbot.wait(50)
        assert context.saver.busy
        assert all(pane.model.label_of(d).label == "negative" for d in free)  # shown as pending
        assert "not saved yet" in pane.model.item(pane.model.row_of(free[0]), 0).toolTip()
        qtbot.waitUntil(lambda: "not saved yet" in window.save_label.text(), timeout=5000)
        qtbot.waitUntil(lambda: locker.poll() is not None, timeout=int(HOLD_S * 1000) + 10000)
        wait_saved(qtbot, context)
        meter.stop()
    finally:
        locker.kill()
        locker.wait()
    longest = max(meter.gaps)
    print(f"longest UI stall while locked: {longest * 1000:.1f} ms over {len(meter.gaps)} ticks")
    assert longest < 0.050
    with Project.open(tiny_project) as project:
        assert all(project.get_label("q2", d).label == "negative" for d in free)
    assert window.save_label.text() == ""
    texts = [context.undo_stack.text(i) for i in range(context.undo_stack.count())]
    assert texts == ["Mark 1 document as hard negative"] * 2, texts  # nothing dropped
    window.undo_action.trigger()
    wait_saved(qtbot, context)
    assert context.project.get_label("q2", free[1]) is None
    assert context.project.get_label("q2", free[0]).label == "negative"
