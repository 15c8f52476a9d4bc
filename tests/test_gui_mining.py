"""Mining dialog and review tab with pytest-qt on the tiny project (BM25, so no model loads)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from helpers_labels import saved_at_once

pytest.importorskip("pytestqt")

from helpers_candidates import candidate_rows
from helpers_gui import app_context

from core.project.file import Project
from gui.context import AppContext
from gui.mining_dialog import DEBOUNCE_MS, MiningDialog
from gui.review_panel import ReviewPanel


@pytest.fixture
def context(tiny_project, qtbot):
    with app_context(tiny_project) as ctx:
        yield ctx


def reasons(dialog):
    return [d.reason for d in dialog.model.rows]


def open_dialog(context, qtbot) -> MiningDialog:
    dialog = MiningDialog(context)
    qtbot.addWidget(dialog)
    dialog.source.setCurrentIndex(dialog.source.findData("bm25"))
    dialog.range_max.setValue(8)
    dialog.num_negatives.setValue(3)
    dialog.show()
    # Settled: the preview of the last setting is shown and no scoring is under way. A
    # refresh still pending would clear the status line, "Pass 1: ..." included.
    qtbot.waitUntil(lambda: dialog.is_ready() and dialog._loading_key is None
                    and dialog.model.rowCount() > 0, timeout=10000)
    return dialog



@pytest.fixture(autouse=True)
def _labels_saved_at_once(monkeypatch):
    saved_at_once(monkeypatch)


def test_preview_follows_the_margin_slider(context, qtbot):
    dialog = open_dialog(context, qtbot)
    assert dialog._bundle.data.query_id == "q1"
    assert reasons(dialog).count("kept") == 3
    assert "relative_margin" not in reasons(dialog)
    assert "positive" in reasons(dialog)
    # Turn on the relative margin and drag the slider: candidates near the positive drop out.
    dialog.relative_margin.check.setChecked(True)
    dialog.relative_margin.slider.setValue(900)  # m = 0.9
    qtbot.waitUntil(lambda: "relative_margin" in reasons(dialog), timeout=5000)
    assert dialog.relative_margin.value() == pytest.approx(0.9)
    assert "relative margin" in dialog.summary.text()
    # The histogram got a threshold line for the margin.
    assert any(getattr(line, "label", None) is not None for line in dialog.histogram._lines)
    dialog.relative_margin.check.setChecked(False)
    qtbot.waitUntil(lambda: "relative_margin" not in reasons(dialog), timeout=5000)


def test_conflicting_settings_disable_mining(context, qtbot):
    dialog = open_dialog(context, qtbot)
    dialog.num_negatives.setValue(20)  # more than the window of 8
    qtbot.waitUntil(lambda: not dialog.mine_button.isEnabled(), timeout=5000)
    assert "cannot mine 20" in dialog.status.text()


def test_mine_review_flip_and_export(context, qtbot, tmp_path):
    dialog = open_dialog(context, qtbot)
    with qtbot.waitSignal(context.candidatesChanged, timeout=20000) as blocker:
        dialog.mine_button.click()
    assert blocker.args == [1]
    assert "Pass 1" in dialog.outcome.message.text()

    panel = ReviewPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.data is not None and panel.model.rowCount() == 3, timeout=10000)
    assert panel.current_query() == "q1"
    flipped = panel.model.rows[0].doc_id
    # Keyboard, as a reviewer would: "3" flips the current proposal to false negative.
    panel.table.setFocus()
    panel.table.select_row(0)
    qtbot.keyClick(panel.table, "3")
    assert context.project.get_label("q1", flipped).label == "false_negative"
    assert panel.model.rows[0].state == "flipped"
    # "2" accepts the next one (the table moved on by itself).
    qtbot.keyClick(panel.table, "2")
    accepted = panel.model.rows[1].doc_id
    assert context.project.get_label("q1", accepted).label == "negative"
    # The pass table reports the miner's false-negative rate: 1 of 2 reviewed.
    qtbot.waitUntil(lambda: "50.0%" in panel.rate_label.text(), timeout=5000)
    assert panel.pass_table.item(0, 8).text() == "50.0%"
    # Undo works through the shared stack.
    context.undo_stack.undo()
    assert context.project.get_label("q1", accepted) is None
    context.undo_stack.redo()

    from core.io.export import export

    out = tmp_path / "pairs.jsonl"
    export(context.project, out, format="labeled-pairs", split="train", use_proposed=True)
    flipped_text = context.project.get_document(flipped).retrieval_text
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    q1 = [r for r in rows if r["anchor"] == "vitamin D improves bone density"]
    assert {"anchor": q1[0]["anchor"], "positive": flipped_text, "label": 0} not in q1
    assert {"anchor": q1[0]["anchor"], "positive": flipped_text, "label": 1} in q1
    assert sum(r["label"] == 0 for r in q1) == 2  # accepted + the one left pending


def mined_and_reviewing(context, qtbot) -> ReviewPanel:
    """Mine with the dialog, then a Review panel showing q1's 3 proposals."""
    dialog = open_dialog(context, qtbot)
    with qtbot.waitSignal(context.candidatesChanged, timeout=20000):
        dialog.mine_all()
    panel = ReviewPanel(context)
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.show()
    qtbot.waitUntil(lambda: panel.data is not None and panel.model.rowCount() == 3, timeout=10000)
    return panel


def test_accept_rest_and_walk_with_keys(context, qtbot):
    panel = mined_and_reviewing(context, qtbot)
    panel.accept_rest()
    assert all(p.state == "accepted" for p in panel.data.proposals["q1"])
    labels = context.project.labels_for_query("q1")
    assert sum(lab.label == "negative" for lab in labels.values()) == 3
    # The query is done: "Accept the rest" moved on to the next one.
    assert panel.current_query() == "q2"
    assert context.current_query_id == "q2"
    assert panel.query_list.item(0).text().startswith("0/3  q1")
    assert panel.query_list.item(0).toolTip().startswith("0 of 3 proposals still to review")
    # k before the first proposal goes back; j past the last proposal moves on again.
    panel.table.setFocus()
    panel.table.select_row(0)
    qtbot.keyClick(panel.table, "k")
    assert panel.current_query() == "q1"
    panel.table.select_row(2)
    qtbot.keyClick(panel.table, "j")
    assert panel.current_query() == "q2"
    assert context.current_query_id == "q2"


def test_review_shows_the_known_positive_and_explains_the_counts(context, qtbot):
    panel = mined_and_reviewing(context, qtbot)
    # q1's positive (d1, from the tiny project's qrels) is shown beside the proposal, with the
    # score the pass gave it (read here from the stored candidates).
    positive_score, = [r.score for r in candidate_rows(context.project.conn, 1)
                       if r.query_id == "q1" and r.reason == "positive"]
    d1 = context.project.get_document("d1")
    qtbot.waitUntil(lambda: d1.title in panel.positive_view.toPlainText(), timeout=10000)
    shown = panel.positive_view.toPlainText()
    assert "Known positive · d1" in shown and f"{positive_score:.3f}"[:4] in shown
    assert panel.model.rows[0].doc_id not in shown
    # "3/3" is explained: a header above the list and each item's tooltip.
    assert "to review / proposed" in panel.query_list_header.text()
    assert panel.query_list.item(0).text().startswith("3/3  q1")
    assert panel.query_list.item(0).toolTip().startswith("3 of 3 proposals still to review")
    # A long query text is elided inside the list, not hidden behind a horizontal scrollbar.
    panel.left_tabs.setCurrentIndex(1)
    panel.query_list.setFixedWidth(160)
    qtbot.wait(50)
    assert panel.query_list.horizontalScrollBar().maximum() == 0
    rect = panel.query_list.visualItemRect(panel.query_list.item(0))
    assert rect.right() <= panel.query_list.viewport().width()


def _stored_pass(project: Project) -> tuple[list[tuple], list[tuple]]:
    """The pass rows (without their time) and every candidate row, in a fixed order."""
    passes = project.conn.execute(
        "SELECT pass, source, model_version, config, counts FROM mining_passes ORDER BY pass").fetchall()
    candidates = sorted((r.pass_number, r.query_id, r.doc_id, r.rank, r.score, r.status, r.reason)
                        for r in candidate_rows(project.conn))
    return passes, candidates


def test_mine_all_on_the_demo_reports_progress_cancels_and_stores_the_real_pass(
        tmp_path, qtbot, monkeypatch):
    """The real miner behind "Mine all" on the bundled demo (SciFact sample with its qrels).

    A wrapper holds the real run at its first "Scoring queries" report, so the
    test sees the progress bar move and cancels at a known point: nothing is
    stored. Released, a second run stores a pass equal, row for row, to what
    :func:`core.mining.miner.mine` stores with the same settings on an
    untouched copy; it is also checked against the demo's labels directly.
    """
    import shutil
    import threading

    import gui.mining_dialog as md
    from core.io.demo import DEMO_SOURCE
    from core.io.importers import import_source
    from core.mining.miner import mine
    from core.progress import Progress

    # The demo project minus its seeded embeddings: BM25 mining never reads them.
    demo = tmp_path / "demo.rsproj"
    import_source(demo, DEMO_SOURCE, format="beir")
    reference = tmp_path / "reference.rsproj"
    shutil.copy(demo, reference)

    release = threading.Event()
    held_at: list[str] = []
    real_run_mining = md.run_mining

    def held_run_mining(project_path, config, retrieval, *, progress):
        def report(fraction: float, message: str) -> None:
            progress.fraction(fraction, message)  # on to the dialog, and a cancellation point
            if message.startswith("Scoring queries") and not release.is_set():
                held_at.append(message)
                while not release.wait(0.01):
                    progress.check()  # raises Cancelled once the dialog's Cancel was clicked

        return real_run_mining(project_path, config, retrieval, progress=Progress(report))

    monkeypatch.setattr(md, "run_mining", held_run_mining)
    project = Project.open(demo)
    context = AppContext(project)
    try:
        dialog = open_dialog(context, qtbot)
        # No margin, so every query can reach its 3 proposals (checked independently below).
        dialog.relative_margin.check.setChecked(False)
        config = dialog.config()
        assert config.relative_margin is None

        dialog.mine_all()
        assert not dialog.mine_button.isEnabled() and dialog.cancel_button.isEnabled()
        # The shared progress widget shows the stage (and, with it, the stage's own fraction).
        qtbot.waitUntil(lambda: bool(held_at) and "Scoring queries" in dialog.progress.stage.text(),
                        timeout=20000)
        assert dialog.progress.bar.value() > 0
        dialog.cancel_button.click()
        qtbot.waitUntil(lambda: "cancelled" in dialog.outcome.message.text(), timeout=10000)
        assert dialog.mine_button.isEnabled() and not dialog.progress.isVisible()
        assert _stored_pass(project) == ([], [])

        release.set()
        with qtbot.waitSignal(context.candidatesChanged, timeout=30000) as blocker:
            dialog.mine_button.click()
        assert blocker.args == [1]
        assert "Pass 1" in dialog.outcome.message.text()
        stored = _stored_pass(project)
    finally:
        context.jobs.cancel_all()
        context.jobs.wait_all(5)
        project.close()

    with Project.open(reference) as ref:
        mine(ref, config)
        assert stored == _stored_pass(ref)
        minable = {q for (q,) in ref.conn.execute(
            "SELECT DISTINCT l.query_id FROM labels l JOIN queries q ON q.id=l.query_id "
            "WHERE q.split='train' AND l.label='positive'")}
        positives = {(q, d) for q, d in ref.conn.execute(
            "SELECT query_id, doc_id FROM labels WHERE label='positive'")}
    # Independent of the miner: every train query with a positive got exactly 3
    # proposals from 400 documents, and no proposal is one of its positives.
    (pass_row,), candidates = stored
    counts = json.loads(pass_row[4])
    assert counts["queries_mined"] == len(minable) == 60
    kept = [(q, d) for _, q, d, _, _, status, reason in candidates if reason == "kept"]
    assert len(kept) == counts["proposed"] == 3 * len(minable)
    assert {q for q, _ in kept} == minable
    assert not set(kept) & positives
    assert {(q, d) for _, q, d, _, _, _, reason in candidates if reason == "positive"} \
        == {(q, d) for q, d in positives if q in minable}


def test_the_histogram_empties_without_an_error_when_the_query_loses_its_positives(qtbot):
    """A bulk label from the map can leave the preview query without positives: no candidates."""
    from core.mining.rules import CandidateDecision
    from gui.mining_histogram import ScoreHistogram

    histogram = ScoreHistogram()
    qtbot.addWidget(histogram)
    histogram.resize(400, 250)
    histogram.show()
    decisions = [CandidateDecision(f"d{i}", i, 0.1 * i, "kept" if i % 2 else "dropped",
                                   "kept" if i % 2 else "absolute_margin") for i in range(1, 11)]
    histogram.set_data(decisions + [CandidateDecision("p", 0, 1.2, "dropped", "positive")],
                       [(0.5, "margin")])
    histogram.grab()
    histogram.set_data([], [])
    histogram.grab()  # painted the stale 30-bin stacking and raised a broadcast error
    assert len(histogram.kept_bars.opts["x"]) == 0


def test_a_refresh_due_after_the_project_closed_does_nothing(tiny_project, qtbot):
    # The debounced preview refresh may fire after the project closed (the user
    # opened another one): it must not touch the closed database.
    with app_context(tiny_project) as ctx:
        dialog = MiningDialog(ctx)
        qtbot.addWidget(dialog)
        dialog._debounce.start()
    assert ctx.project.closed
    qtbot.wait(DEBOUNCE_MS + 200)  # an exception in the slot fails this test (helpers_excepthook)
    assert not dialog._debounce.isActive()


def test_the_dialog_starts_with_nv_retrievers_relative_margin(context, qtbot):
    dialog = open_dialog(context, qtbot)  # settled: no refresh left for after the test
    assert dialog.relative_margin.check.isChecked()
    assert dialog.relative_margin.value() == pytest.approx(0.05)
    assert dialog.config().relative_margin == pytest.approx(0.05)


def test_the_dialog_opens_no_larger_than_the_screen(context, qtbot):
    """Without a window manager to shrink it, a 1180×760 dialog hid Mine all below a 700-px screen."""
    dialog = open_dialog(context, qtbot)
    room = dialog.screen().availableGeometry()
    assert dialog.width() <= room.width() and dialog.height() <= room.height()


def test_mine_all_says_what_happened_and_review_now_opens_that_pass(tiny_project, qtbot):
    from helpers_gui import open_window

    from core.mining.queue import review_queue
    from core.mining.rules import REASON_TEXT

    window = open_window(qtbot, tiny_project)
    context = window.context
    dialog = window.open_tool("mining")
    dialog.source.setCurrentIndex(dialog.source.findData("bm25"))
    dialog.range_max.setValue(8)
    dialog.num_negatives.setValue(3)
    dialog.relative_margin.set_value(0.9)  # wide: some candidates are "too close" to the positive
    qtbot.waitUntil(lambda: dialog.is_ready() and dialog._loading_key is None, timeout=10000)
    assert not dialog.outcome.isVisible()
    for expected in (1, 2):
        with qtbot.waitSignal(context.candidatesChanged, timeout=20000):
            dialog.mine_all()
        qtbot.waitUntil(lambda: dialog.outcome.isVisible(), timeout=5000)
    text = dialog.outcome.message.text()
    # What the pass stored, counted here from its rows, is what the dialog says.
    counts = Counter(r.reason for r in candidate_rows(context.project.conn, 2))
    assert f"<b>Pass 2</b>: {counts['kept']} negatives proposed" in text
    dropped = {r: n for r, n in counts.items() if r not in ("kept", "confirmed", "positive", "false_negative")}
    assert dropped.get("relative_margin")
    for reason, n in dropped.items():
        assert f"{REASON_TEXT[reason].removeprefix('dropped: ')} {n}" in text
    suspected = [p for p in review_queue(context.project, 2) if p.kind == "possible_positive"]
    assert suspected and f"{len(suspected)} suspected false negatives" in text
    # "Review now" opens the Review tab on the pass just mined, even while it shows another.
    review = window.views["review"]
    review.load(1)
    qtbot.waitUntil(lambda: review.data is not None and review.data.pass_number == 1, timeout=10000)
    assert window.tabs.currentWidget() is not review
    dialog.outcome.review_button.click()
    assert window.tabs.currentWidget() is review
    qtbot.waitUntil(lambda: review.data.pass_number == 2, timeout=10000)


def test_a_failed_pass_shows_the_reason_and_no_review_button(context, qtbot, monkeypatch):
    import gui.mining_dialog as md
    from core.errors import StudioError

    def failing_run_mining(project_path, config, retrieval, *, progress):
        raise StudioError("the project file is read-only; copy it somewhere writable")

    monkeypatch.setattr(md, "run_mining", failing_run_mining)
    dialog = open_dialog(context, qtbot)
    dialog.mine_all()
    qtbot.waitUntil(lambda: dialog.outcome.isVisible(), timeout=10000)
    assert "Mining failed: the project file is read-only" in dialog.outcome.message.text()
    assert dialog.outcome.review_button.isHidden()
    assert dialog.mine_button.isEnabled()
