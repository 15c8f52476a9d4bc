"""The labeling workspace driven like a user: open, pick queries, label by mouse and keys, undo."""

from __future__ import annotations

import pytest
from helpers_gui import isolated_settings, open_window, shared_encoder  # noqa: F401 (fixtures)
from helpers_labels import saved_at_once, wait_saved
from PySide6.QtCore import Qt

from core.project.file import Project
from core.retrieval.service import Retrieval


def labels_in_file(path, query_id):
    """Labels as a second, independent connection reads them from the project file."""
    with Project.open(path) as other:
        return {d: lab.label for d, lab in other.labels_for_query(query_id).items()}


def select_query(qtbot, window, query_id):
    ws = window.workspace
    window.context.set_current_query(query_id)
    qtbot.waitUntil(ws.is_ready, timeout=30000)
    assert ws.queries.current_query_id() == query_id
    return ws


def click_row(qtbot, pane, row, modifier=Qt.KeyboardModifier.NoModifier):
    view = pane.view
    rect = view.visualRect(pane.model.index(row, pane.model.COL_DOC))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())



@pytest.fixture(autouse=True)
def _labels_saved_at_once(monkeypatch):
    saved_at_once(monkeypatch)


def test_open_project_shows_both_panes_with_the_retrievers_results(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    ws = window.workspace
    assert ws.queries.model.rowCount() == 4
    ws = select_query(qtbot, window, "q3")
    with Project.open(tiny_project) as project:
        expected = Retrieval(project)
        for retriever in ("bm25", "dense"):
            hits = expected.search("what causes lung cancer", retriever, ws.depth)
            assert ws.panes[retriever].model.doc_ids() == [h.doc_id for h in hits]
            assert ws.panes[retriever].view.isVisible()
    # Imported positives of q3 are shown as labels; the other pane's rank is marked.
    bm25 = ws.panes["bm25"].model
    assert bm25.label_of("d7").label == "positive"
    dense_rank = ws.panes["dense"].model.row_of("d7") + 1
    assert bm25.data(bm25.index(bm25.row_of("d7"), bm25.COL_OTHER)) == f"D{dense_rank}"
    html = bm25.data(bm25.index(0, bm25.COL_DOC), Qt.ItemDataRole.UserRole + 1)
    assert "lung</span>" in html and "cancer</span>" in html  # query terms highlighted
    assert "5</b> pos." in window.counts_label.text()
    assert "4/4 queries labeled" in window.counts_label.text()


def test_label_with_keys_is_saved_at_once(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    ws = select_query(qtbot, window, "q2")
    pane = ws.panes["dense"]
    pane.view.setFocus()
    pane.select_row(0)
    first = pane.current_doc_id()
    ws.set_advance(False)
    qtbot.keyClick(pane.view, Qt.Key.Key_2)
    assert labels_in_file(tiny_project, "q2")[first] == "negative"
    qtbot.keyClick(pane.view, Qt.Key.Key_P)
    assert labels_in_file(tiny_project, "q2")[first] == "positive"
    qtbot.keyClick(pane.view, Qt.Key.Key_F)
    assert labels_in_file(tiny_project, "q2")[first] == "false_negative"
    qtbot.keyClick(pane.view, Qt.Key.Key_Backspace)
    assert first not in labels_in_file(tiny_project, "q2")
    # j moves down; with "advance" on, labeling moves to the next row by itself.
    ws.set_advance(True)
    qtbot.keyClick(pane.view, Qt.Key.Key_J)
    second = pane.current_doc_id()
    assert second == pane.model.doc_id(1)
    qtbot.keyClick(pane.view, Qt.Key.Key_N)
    assert labels_in_file(tiny_project, "q2")[second] == "negative"
    assert pane.current_doc_id() == pane.model.doc_id(2)
    # The views follow: the row badge, the query list counts and the document panel.
    assert pane.model.label_of(second).label == "negative"
    assert ws.queries.model.summary("q2").negatives == 1


def test_label_with_mouse_buttons_and_context_menu(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    ws = select_query(qtbot, window, "q1")
    pane = ws.panes["dense"]
    click_row(qtbot, pane, 2)
    doc = pane.model.doc_id(2)
    assert ws.document.doc_id == doc  # the click shows the document
    button = ws.findChild(type(ws.document.buttons["positive"]), "label-button-negative")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert labels_in_file(tiny_project, "q1")[doc] == "negative"
    # Labeling one row moves on to the next one, and the document panel follows.
    assert ws.document.doc_id == pane.model.doc_id(3)
    click_row(qtbot, pane, 2)
    # The document panel's own buttons label the shown document.
    qtbot.mouseClick(ws.document.buttons["false_negative"], Qt.MouseButton.LeftButton)
    assert labels_in_file(tiny_project, "q1")[doc] == "false_negative"
    assert ws.document.doc_id == doc
    assert "False negative" in ws.document.label_info.text()
    assert "history" in ws.document.history.toPlainText().lower()
    # Context menu on a row: its label actions act on the selection.
    click_row(qtbot, pane, 3)
    doc3 = pane.model.doc_id(3)
    rect = pane.view.visualRect(pane.model.index(3, pane.model.COL_DOC))
    pane.view.customContextMenuRequested.emit(rect.center())
    menu = ws._menu
    titles = [a.text() for a in menu.actions()]
    assert "Mark positive" in titles
    next(a for a in menu.actions() if a.text() == "Mark positive").trigger()
    menu.close()
    assert labels_in_file(tiny_project, "q1")[doc3] == "positive"


def test_multi_select_labels_rows_at_once_and_undo_reverts_them_together(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    ws = select_query(qtbot, window, "q4")
    pane = ws.panes["dense"]
    pane.view.setFocus()
    click_row(qtbot, pane, 1)
    click_row(qtbot, pane, 3, Qt.KeyboardModifier.ShiftModifier)
    chosen = pane.selected_doc_ids()
    assert chosen == pane.model.doc_ids()[1:4]
    qtbot.keyClick(pane.view, Qt.Key.Key_N)
    stored = labels_in_file(tiny_project, "q4")
    assert all(stored[d] == "negative" for d in chosen)
    assert window.context.undo_stack.count() == 1  # one action, one undo step
    window.undo_action.trigger()
    stored = labels_in_file(tiny_project, "q4")
    assert not any(d in stored for d in chosen)
    assert stored == {"d10": "positive"}  # the imported label was never touched


def test_undo_redo_across_queries_restores_the_file(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    ws = select_query(qtbot, window, "q1")
    pane = ws.panes["bm25"]
    pane.view.setFocus()
    pane.select_row(0)
    d1 = pane.current_doc_id()
    assert d1 == "d1"  # the imported positive of q1
    qtbot.keyClick(pane.view, Qt.Key.Key_2)  # positive -> negative
    qtbot.keyClick(pane.view, Qt.Key.Key_BracketRight)  # next query
    qtbot.waitUntil(lambda: window.context.current_query_id == "q2" and ws.is_ready(), timeout=30000)
    pane.view.setFocus()
    pane.select_row(1)
    d2 = pane.current_doc_id()
    qtbot.keyClick(pane.view, Qt.Key.Key_1)
    assert labels_in_file(tiny_project, "q2")[d2] == "positive"

    qtbot.keyClick(pane.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert d2 not in labels_in_file(tiny_project, "q2")
    qtbot.keyClick(pane.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    with Project.open(tiny_project) as other:
        restored = other.get_label("q1", "d1")
    assert (restored.label, restored.source) == ("positive", "imported")
    assert ws.queries.model.summary("q1").positives == 1
    qtbot.keyClick(pane.view, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert labels_in_file(tiny_project, "q1")["d1"] == "negative"
    qtbot.keyClick(pane.view, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert labels_in_file(tiny_project, "q2")[d2] == "positive"
    assert ws.queries.model.summary("q2").positives == 2


def test_query_filters_and_navigation(qtbot, tiny_project):
    from core.mining.config import MiningConfig
    from core.mining.miner import mine

    with Project.open(tiny_project) as project:
        project.set_label("q1", "d1", None)  # q1 becomes unlabeled
        # A BM25 mining pass over the test split proposes negatives for q3 and q4.
        mine(project, MiningConfig(source="bm25", num_negatives=2, split="test"))
    window = open_window(qtbot, tiny_project, wait_ready=False)
    ws = window.workspace
    qtbot.waitUntil(lambda: ws.queries.model.rowCount() == 4, timeout=10000)
    panel = ws.queries

    def shown():
        return [panel.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole + 2)
                for r in range(panel.proxy.rowCount())]

    panel.status.setCurrentIndex(panel.status.findData("unlabeled"))
    assert shown() == ["q1"]
    panel.status.setCurrentIndex(panel.status.findData("mined"))
    mined = shown()
    assert mined and set(mined) <= {"q3", "q4"}
    panel.status.setCurrentIndex(panel.status.findData("positive"))
    assert shown() == ["q2", "q3", "q4"]
    panel.status.setCurrentIndex(panel.status.findData("all"))
    panel.split.setCurrentIndex(panel.split.findData("test"))
    assert shown() == ["q3", "q4"]
    panel.split.setCurrentIndex(0)
    qtbot.keyClicks(panel.search, "aspirin")
    assert shown() == ["q2"]
    panel.search.clear()
    assert "4 of 4" in panel.count.text()
    # Keyboard: next/previous query shortcuts walk the visible list.
    window.context.set_current_query("q1")
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    assert window.context.current_query_id == "q2"
    qtbot.keyClick(panel.view, Qt.Key.Key_J)
    assert window.context.current_query_id == "q3"
    qtbot.keyClick(panel.view, Qt.Key.Key_BracketLeft)
    assert window.context.current_query_id == "q2"
    qtbot.waitUntil(ws.is_ready, timeout=30000)


def test_mined_proposals_are_marked_and_reviewing_one_updates_the_counts(qtbot, tiny_project):
    from core.mining.config import MiningConfig
    from core.mining.miner import mine
    from core.mining.store import proposals

    with Project.open(tiny_project) as project:
        # No margin: the top BM25 candidates, the ones the pane lists, are proposed.
        mine(project, MiningConfig(source="bm25", num_negatives=2, split="test", relative_margin=None))
        proposed = [p for p in proposals(project) if p.query_id == "q3"]
    assert proposed
    window = open_window(qtbot, tiny_project)
    ws = select_query(qtbot, window, "q3")
    pane = ws.panes["bm25"]
    doc = proposed[0].doc_id
    assert pane.model.proposal_of(doc) is not None
    row = pane.model.row_of(doc)
    assert "Proposed negative" in pane.model.item(row, pane.model.COL_LABEL).toolTip()
    before = ws.queries.model.summary("q3").mined
    pane.view.setFocus()
    pane.select_row(row)
    qtbot.keyClick(pane.view, Qt.Key.Key_N)  # accept the proposal
    assert labels_in_file(tiny_project, "q3")[doc] == "negative"
    assert pane.model.proposal_of(doc) is None
    assert ws.queries.model.summary("q3").mined == before - 1


def test_hybrid_pane_and_depth(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    ws = select_query(qtbot, window, "q1")
    assert not ws.panes["hybrid"].isVisible()
    ws.hybrid_box.setChecked(True)
    qtbot.waitUntil(ws.is_ready, timeout=30000)
    assert ws.panes["hybrid"].isVisible()
    with Project.open(tiny_project) as project:
        hits = Retrieval(project).search("vitamin D improves bone density", "hybrid", ws.depth)
    assert ws.panes["hybrid"].model.doc_ids() == [h.doc_id for h in hits]
    ws.depth_box.setValue(5)
    qtbot.waitUntil(lambda: all(ws.panes[r].model.rowCount() == 5
                                for r in ("bm25", "dense", "hybrid")) or
                    ws.panes["bm25"].model.rowCount() < 5 and ws.panes["dense"].model.rowCount() == 5
                    and ws.panes["hybrid"].model.rowCount() == 5, timeout=30000)


def test_dense_pane_shows_progress_until_embeddings_exist(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project, wait_ready=False)
    ws = window.workspace
    # Right after opening, the dense index is still being prepared in the background.
    dense = ws.panes["dense"]
    assert not dense.showing_candidates
    qtbot.waitUntil(lambda: ws.panes["bm25"].showing_candidates, timeout=30000)
    qtbot.waitUntil(lambda: dense.showing_candidates, timeout=60000)
    assert dense.model.rowCount() == 12


def test_status_bar_follows_jobs_and_cancel_stops_them(qtbot, tiny_project):
    import time

    window = open_window(qtbot, tiny_project)

    def slow(*, progress):
        for i in range(500):
            time.sleep(0.01)
            progress.update(i, 500, f"step {i}")

    cancelled = []
    window.context.jobs.start("Slow job", slow, on_cancel=lambda: cancelled.append(True))
    status = window.job_status
    qtbot.waitUntil(lambda: status.isVisible() and status.bar.value() > 0, timeout=5000)
    assert "step" in status.label.text()
    qtbot.mouseClick(status.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: cancelled == [True], timeout=5000)
    qtbot.waitUntil(lambda: not status.isVisible(), timeout=5000)


def test_shortcut_sheet_lists_label_keys(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project, wait_ready=False)
    rows = dict((what, keys) for keys, what in window.shortcut_rows())
    assert rows["Mark positive"] == "1 or P"
    assert rows["Clear label"] == "0 or Backspace"
    assert "]" in rows["Next query"]
    assert "Ctrl+Z" in rows["Undo"]


def test_next_query_is_prefetched_so_switching_shows_it_at_once(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    ws = select_query(qtbot, window, "q1")
    # While the user reads q1, the workspace fetches q2 for both panes in the background.
    qtbot.waitUntil(lambda: all(ws.controller.cached("q2", r) is not None for r in ("bm25", "dense")),
                    timeout=30000)
    qtbot.keyClick(ws.panes["bm25"].view, Qt.Key.Key_BracketRight)
    # No event loop turn needed: the rows are there as soon as the query changed.
    assert window.context.current_query_id == "q2"
    assert ws.is_ready()
    with Project.open(tiny_project) as project:
        hits = Retrieval(project).search("aspirin prevents heart attacks", "dense", ws.depth)
    assert ws.panes["dense"].model.doc_ids() == [h.doc_id for h in hits]


def test_a_document_chosen_in_another_view_is_shown_and_selected(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    ws = select_query(qtbot, window, "q3")
    window.context.activate_document("d9")  # e.g. a click on the map
    assert ws.document.doc_id == "d9"
    assert "Radon" in ws.document.heading.text()
    for retriever in ("bm25", "dense"):
        pane = ws.panes[retriever]
        if pane.model.row_of("d9") is not None:
            assert pane.selected_doc_ids() == ["d9"]
    qtbot.keyClick(ws.panes["dense"].view, Qt.Key.Key_3)  # and the label keys act on it
    assert labels_in_file(tiny_project, "q3")["d9"] == "false_negative"


def test_switching_the_dense_model_to_a_local_folder(qtbot, tiny_project):
    from core.retrieval.encoder import bundled_model_path

    window = open_window(qtbot, tiny_project)
    ws = select_query(qtbot, window, "q1")
    folder = str(bundled_model_path())
    window.set_model(folder)  # any local sentence-transformers folder
    assert window.context.model_id == folder
    assert window.model_box.currentData() == folder
    assert bundled_model_path().name in window.model_label.text()
    qtbot.waitUntil(ws.is_ready, timeout=60000)
    assert ws.panes["dense"].model.rowCount() == 12
    window.set_model("/no/such/model/folder")  # refused with a message, nothing changes
    assert window.context.model_id == folder
    assert window.last_warning[0] == "Cannot use this model"
    assert "/no/such/model/folder" in window.last_warning[1]


def test_cancelled_embedding_shows_why_and_can_be_resumed(qtbot, tiny_project, monkeypatch):
    import time

    original = Retrieval.ensure_dense

    def slow_start(self, progress=None):
        for i in range(300):  # a long first step, so the cancel lands while it runs
            time.sleep(0.01)
            progress.update(i, 300, "Encoding documents")
        return original(self, progress)

    monkeypatch.setattr(Retrieval, "ensure_dense", slow_start)
    window = open_window(qtbot, tiny_project, wait_ready=False)
    ws = window.workspace
    qtbot.waitUntil(lambda: ws.controller.index_job("dense") is not None
                    and ws.controller.index_job("dense").fraction > 0, timeout=30000)
    dense = ws.panes["dense"]
    assert not dense.showing_candidates and dense.progress.isVisible()  # progress, not rows
    assert ws.panes["bm25"].showing_candidates  # BM25 works meanwhile
    qtbot.waitUntil(lambda: window.job_status.isVisible(), timeout=5000)
    qtbot.mouseClick(window.job_status.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "cancelled" in dense.message.text(), timeout=10000)
    monkeypatch.setattr(Retrieval, "ensure_dense", original)
    window.indexes_action.trigger()
    qtbot.waitUntil(ws.is_ready, timeout=60000)
    assert dense.model.rowCount() == 12


def test_disagreement_filter_compares_bm25_and_dense_top_10(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    panel = window.workspace.queries
    panel.status.setCurrentIndex(panel.status.findData("disagree"))
    qtbot.waitUntil(lambda: all(q.overlap is not None for q in panel.model.summaries()),
                    timeout=30000)
    with Project.open(tiny_project) as project:
        retrieval = Retrieval(project)
        expected = {}
        for q in project.queries():
            bm25 = {h.doc_id for h in retrieval.search(q.text, "bm25", 10)}
            dense = {h.doc_id for h in retrieval.search(q.text, "dense", 10)}
            expected[q.id] = len(bm25 & dense) / 10
    assert {q.id: q.overlap for q in panel.model.summaries()} == expected
    shown = {panel.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole + 2)
             for r in range(panel.proxy.rowCount())}
    assert shown == {qid for qid, overlap in expected.items() if overlap < 0.5}


def counts_in_file(path):
    """Per-query (positives, negatives, false negatives, pending proposals) and totals, by SQL."""
    from core.mining.store import proposals

    with Project.open(path) as other:
        per_query = {q.id: [0, 0, 0, 0] for q in other.queries()}
        column = {"positive": 0, "negative": 1, "false_negative": 2}
        for qid, label, n in other.conn.execute(
                "SELECT query_id, label, count(*) FROM labels GROUP BY query_id, label"):
            per_query[qid][column[label]] = n
        for p in proposals(other):
            per_query[p.query_id][3] += p.state == "pending"
        documents = other.conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    totals = (documents, len(per_query), sum(1 for c in per_query.values() if any(c[:3])),
              *(sum(c[i] for c in per_query.values()) for i in range(3)))
    return {qid: tuple(c) for qid, c in per_query.items()}, totals


def test_label_counts_follow_changes_without_recounting(qtbot, tiny_project):
    """Set, change, clear, undo, redo and bulk actions move the counts exactly as SQL counts them."""
    from core.mining.config import MiningConfig
    from core.mining.miner import mine
    from core.mining.store import proposals
    from gui.context import AppContext
    from gui.workspace_controller import WorkspaceController

    with Project.open(tiny_project) as project:
        mine(project, MiningConfig(source="bm25", num_negatives=3, split=None))
        proposed = {}
        for p in proposals(project):
            proposed.setdefault(p.query_id, []).append(p.doc_id)
    assert all(len(proposed[q]) >= 2 for q in ("q1", "q2", "q3", "q4"))

    context = AppContext(Project.open(tiny_project))
    controller = WorkspaceController(context)  # no window: nothing is shown
    with qtbot.waitSignal(controller.overviewLoaded, timeout=10000):
        controller.reload_overview()

    def check(step):
        # Label counts move by deltas at once; after an undo or redo the pending
        # proposals are read again on a worker (a proposal can be pending again).
        qtbot.waitUntil(lambda: not controller.loading and not context.saver.busy, timeout=10000)
        expected, totals = counts_in_file(tiny_project)
        shown = {q.id: (q.positives, q.negatives, q.false_negatives, q.mined)
                 for q in controller.summaries()}
        assert shown == expected, step
        t = controller.totals
        assert (t.documents, t.queries, t.labeled_queries, t.positives, t.negatives,
                t.false_negatives) == totals, step

    try:
        check("opened")
        label, undo, redo = context.apply_labels, context.undo_stack.undo, context.undo_stack.redo
        label([("q1", "d2")], "positive")
        check("set")
        label([("q1", "d2")], "negative")
        check("change")
        label([("q1", "d1")], None)
        check("clear an imported positive: q1 has no label left")
        label([("q3", proposed["q3"][0])], "negative")
        check("accept a proposal")
        label([("q4", proposed["q4"][0])], None)
        check("clear a proposal that has no label: it stays pending")
        undo()
        undo()
        check("undo the acceptance: the proposal is pending again")
        undo()
        check("undo the clear")
        redo()
        check("redo")
        everything = [(q, d) for q in ("q1", "q2", "q3", "q4")
                      for d in ("d1", "d4", "d7", "d10", proposed[q][1])]
        label(everything + [("q2", "d5"), ("q2", "d5")], "false_negative")  # one pair twice
        check("bulk over every query")
        undo()
        check("undo the bulk action")
        redo()
        check("redo the bulk action")
        label(everything, None)
        check("bulk clear")
    finally:
        controller.shutdown()
        context.close()
        context.jobs.close()
        context.jobs.wait_all(timeout=5.0)
        context.project.close()


def test_a_bulk_change_resets_the_query_list_with_the_moved_counts(qtbot, tiny_project, monkeypatch):
    import gui.workspace

    monkeypatch.setattr(gui.workspace, "ROW_UPDATE_LIMIT", 2)  # 4 queries count as "many" here
    window = open_window(qtbot, tiny_project, wait_ready=False)
    ws = window.workspace
    qtbot.waitUntil(lambda: ws.overview_loaded and window.context.current_query_id == "q1",
                    timeout=10000)
    window.context.set_current_query("q3")
    window.context.apply_labels([(q, "d12") for q in ("q1", "q2", "q3", "q4")], "negative")
    wait_saved(qtbot, window.context)
    assert [ws.queries.model.summary(q).negatives for q in ("q1", "q2", "q3", "q4")] == [1, 1, 1, 1]
    assert ws.queries.current_query_id() == "q3"  # the reset kept the query being labeled
    assert "1 negative" in ws.query_header.text()
    assert "<b>4</b> neg." in window.counts_label.text()


def test_a_label_set_while_the_overview_is_read_is_not_lost(qtbot, tiny_project, monkeypatch):
    import threading

    import gui.workspace_controller as wc
    from gui.context import AppContext

    release = threading.Event()
    calls = []
    load_overview = wc.load_overview

    def read_then_wait(path, *, progress):
        overview = load_overview(path, progress=progress)  # the snapshot is taken here ...
        calls.append(path)
        if len(calls) == 1:
            release.wait(30)  # ... and delivered only after the label below was set
        return overview

    monkeypatch.setattr(wc, "load_overview", read_then_wait)
    context = AppContext(Project.open(tiny_project))
    controller = wc.WorkspaceController(context)
    try:
        controller.reload_overview()
        qtbot.waitUntil(lambda: len(calls) == 1, timeout=10000)
        context.apply_labels([("q2", "d5")], "negative")
        with qtbot.waitSignals([controller.overviewLoaded, controller.overviewLoaded], timeout=10000):
            release.set()
        assert len(calls) == 2  # the stale snapshot was shown, then read again
        assert controller.summary("q2").negatives == 1
        assert controller.totals.negatives == 1
    finally:
        release.set()
        controller.shutdown()
        context.jobs.close()
        context.jobs.wait_all(timeout=5.0)
        context.project.close()


def test_query_list_shows_review_state_progress_and_skips_with_s(qtbot, tiny_project):
    from core.mining.config import MiningConfig
    from core.mining.miner import mine
    from core.mining.store import proposals

    with Project.open(tiny_project) as project:
        project.set_label("q1", "d1", None)  # q1 becomes unlabeled
        # Proposals for q3 and q4 (test split) wait for review.
        mine(project, MiningConfig(source="bm25", num_negatives=2, split="test"))
        waiting = {p.query_id for p in proposals(project) if p.state == "pending"}
        labeled = {q for q in ("q1", "q2", "q3", "q4") if project.labels_for_query(q)}
        pending_q3 = [p.doc_id for p in proposals(project) if p.query_id == "q3" and p.state == "pending"]
    reviewed = labeled - waiting  # labeled and nothing left to review: q2 here
    assert reviewed == {"q2"} and pending_q3
    window = open_window(qtbot, tiny_project, wait_ready=False)
    ws = window.workspace
    qtbot.waitUntil(lambda: ws.queries.model.rowCount() == 4, timeout=10000)
    panel = ws.queries
    model = panel.model

    def state(qid):
        return model.index(model.row_of(qid), model.STATE_COLUMN).data()

    def shown():
        return [panel.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole + 2)
                for r in range(panel.proxy.rowCount())]

    assert [q for q in ("q1", "q2", "q3", "q4") if state(q) == "✓"] == ["q2"]
    assert (panel.progress.value(), panel.progress.maximum()) == (1, 4)
    assert panel.progress.text() == "1 of 4 reviewed"
    panel.status.setCurrentIndex(panel.status.findData("not_reviewed"))
    assert shown() == ["q1", "q3", "q4"]
    # S skips: the query is marked skipped for the session and the next visible one opens.
    window.context.set_current_query("q1")
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_S)
    assert window.context.current_query_id == "q3"
    assert state("q1") == "skip" and model.skipped == {"q1"}
    assert "1 skipped" in panel.count.text()
    # Reviewing q3's proposals (all accepted as negatives) makes it reviewed.
    window.context.apply_labels([("q3", d) for d in pending_q3], "negative")
    qtbot.waitUntil(lambda: state("q3") == "✓", timeout=10000)
    assert panel.progress.value() == 2 and panel.progress.text() == "2 of 4 reviewed"
    qtbot.waitUntil(lambda: shown() == ["q1", "q4"], timeout=10000)
    qtbot.waitUntil(ws.is_ready, timeout=30000)
