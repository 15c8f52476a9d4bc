"""The Review tab's queue across queries (most suspicious first) and the dialog's teacher field."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from helpers_gui import app_context
from helpers_labels import saved_at_once

from core.mining.config import MiningConfig
from core.mining.miner import mine
from core.mining.suspicion import HELP_TEXT
from core.project.file import Project
from gui.mining_dialog import MiningDialog
from gui.review_panel import ReviewPanel


@pytest.fixture(autouse=True)
def _labels_saved_at_once(monkeypatch):
    # The assertions read states right after a key: the label write must be done by then
    # (under load it was not, and the state still read "pending").
    saved_at_once(monkeypatch)


@pytest.fixture
def context(tiny_project, qtbot):
    with Project.open(tiny_project) as project:
        # BM25 over every query; the relative margin drops some candidates as too close.
        mine(project, MiningConfig(source="bm25", split=None, num_negatives=2, range_max=6,
                                   relative_margin=0.8))
    with app_context(tiny_project) as ctx:
        yield ctx


def open_panel(context, qtbot) -> ReviewPanel:
    panel = ReviewPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.data is not None and panel.queue_model.rowCount() > 0, timeout=10000)
    return panel


def test_queue_lists_every_query_most_suspicious_first_and_documents_its_score(context, qtbot):
    panel = open_panel(context, qtbot)
    rows = panel.queue_model.rows
    assert [p.suspicion for p in rows] == sorted((p.suspicion for p in rows), reverse=True)
    assert len({p.query_id for p in rows}) > 1  # across queries
    assert rows[0].kind == "possible_positive"  # dropped as too close: offered first
    assert panel.queue_table.model().index(0, 3).data() is not None
    # The help of the view says what goes into the score.
    assert panel.queue_help.toolTip() == HELP_TEXT
    for words in ("teacher", "fine-tuned", "retriever", "BM25", "possible positives"):
        assert words in HELP_TEXT
    # Choosing an item shows its query with that row selected; the centre shows the reasons.
    last = len(rows) - 1
    panel.queue_table.select_row(last)
    assert panel.current_query() == rows[last].query_id
    assert panel.model.rows[panel.table.currentIndex().row()].doc_id == rows[last].doc_id
    assert "suspicion" in panel.document.toPlainText()


def test_labeling_from_the_queue_moves_to_the_next_item(context, qtbot):
    panel = open_panel(context, qtbot)
    rows = list(panel.queue_model.rows)
    panel.left_tabs.setCurrentIndex(0)
    panel.queue_table.setFocus()
    qtbot.waitUntil(panel.queue_table.hasFocus, timeout=2000)
    panel.queue_table.select_row(0)
    qtbot.keyClick(panel.queue_table, "3")  # a possible positive: flip it to false negative
    assert context.project.get_label(rows[0].query_id, rows[0].doc_id).label == "false_negative"
    assert panel.queue_table.currentIndex().row() == 1
    assert panel.current_query() == rows[1].query_id
    qtbot.keyClick(panel.queue_table, "2")
    assert context.project.get_label(rows[1].query_id, rows[1].doc_id).label == "negative"
    assert panel.queue_table.currentIndex().row() == 2
    assert panel.queue_model.rows[0].state == "flipped"
    assert panel.queue_model.rows[1].state == "accepted"
    # "Accept the rest" accepts proposals only: a possible positive needs its own look.
    for qid, _ in panel.data.queries:
        panel.show_query(qid)
        panel.accept_rest()
    untouched = [p for p in rows[2:] if p.kind == "possible_positive"]
    assert len(untouched) >= 2
    for p in untouched:
        assert context.project.get_label(p.query_id, p.doc_id) is None
    assert all(p.state == "accepted" for p in panel.queue_model.rows if p.kind == "proposal")


def test_mining_dialog_passes_the_teacher_to_the_pass(context, qtbot, tmp_path):
    dialog = MiningDialog(context)
    qtbot.addWidget(dialog)
    assert dialog.config().teacher is None
    dialog.teacher.setText(str(tmp_path / "reranker"))
    assert dialog.config().teacher == str(tmp_path / "reranker")
    dialog.set_config(MiningConfig(teacher="some-version"))
    assert dialog.teacher.text() == "some-version"
    assert dialog.model.COLUMNS[2].header == "Teacher"
