"""Label writes in GUI tests: waiting for the writer, and reading the whole label state."""

from __future__ import annotations

import sqlite3
from pathlib import Path


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
            "candidates": conn.execute(
                "SELECT * FROM candidates ORDER BY pass, query_id, doc_id").fetchall(),
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
