"""Label writes in GUI tests: waiting for the writer, and reading the whole label state."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from helpers_candidates import candidate_rows


def wait_saved(qtbot, context, timeout: int = 10000) -> None:
    """Wait until every label write the window queued has committed and been announced."""
    qtbot.waitUntil(lambda: not context.saver.busy, timeout=timeout)


def label_state(path: Path) -> dict:
    """Every row of the label tables, the candidates and each proposal's review state.

    Read through a separate connection, as an outside observer sees the file.
    """
    from core.mining.store import review_stats
    from core.project.file import Project

    conn = sqlite3.connect(path)
    try:
        state = {
            "labels": conn.execute("SELECT rowid, * FROM labels ORDER BY rowid").fetchall(),
            "history": conn.execute("SELECT * FROM label_history ORDER BY id").fetchall(),
            "candidates": candidate_rows(conn),
        }
    finally:
        conn.close()
    with Project.open(path, read_only=True) as project:
        from core.mining.store import proposals

        state["review"] = [(p.pass_number, p.query_id, p.doc_id, p.state)
                           for p in proposals(project)]
        state["passes"] = [(r.accepted, r.flipped, r.rejected, r.pending)
                           for r in review_stats(project)]
    return state


def saved_at_once(monkeypatch) -> None:
    """Let the UI thread wait for each label write (tests of what labels do, not of when).

    The app waits a few milliseconds and then shows the label as pending;
    tests that read the file right after a click would otherwise depend on
    the machine's load.
    """
    import gui.label_saver

    monkeypatch.setattr(gui.label_saver, "INLINE_WAIT_S", 10.0)


def round_trip(qtbot, context, path, act) -> tuple[dict, dict]:
    """Apply ``act``, undo, redo: after undo the state is the state before, after redo the state after."""
    before = label_state(path)
    act()
    wait_saved(qtbot, context)
    after = label_state(path)
    assert after["labels"] != before["labels"] or after["history"] != before["history"]
    context.undo_stack.undo()
    wait_saved(qtbot, context)
    assert label_state(path) == before
    context.undo_stack.redo()
    wait_saved(qtbot, context)
    assert label_state(path) == after
    return before, after


def add_mining_pass(path: Path) -> Path:
    """One bm25 mining pass proposing three negatives for every query of the project."""
    from core.mining.config import MiningConfig
    from core.mining.miner import mine
    from core.project.file import Project

    with Project.open(path) as project:
        mine(project, MiningConfig(source="bm25", num_negatives=3, split=None))
    return path


# A second process holding the project's write lock: argv = project, seconds.
LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""
