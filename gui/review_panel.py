"""Review tab: walk the queries a mining pass proposed negatives for, and judge each one.

Two ways in, on the left: **Queue** lists every proposal of the pass across
queries, most suspicious first (:mod:`core.mining.queue`; what goes into the
score is its help text, :data:`core.mining.suspicion.HELP_TEXT`), with the
candidates a margin rule dropped as too close to the positive offered first as
possible positives; labeling from the queue moves to the next item, whatever
its query. **By query** lists the queries; the centre table shows the chosen
query's proposals either way.

Per proposal: accept (label ``negative``), flip to ``false_negative`` (or
``positive``), clear, or leave it; "Accept the rest" labels every pending
proposal of the query. Keys are the labeling workspace's (1/P positive,
2/N negative, 3/F false negative, 0/Backspace clear; j/k move, [ / ] query).
Every change goes through ``context.apply_labels`` (one undoable, committed
action) and comes back as a ``labelsChanged`` notice, which updates the
rows it names.

The pass table on top shows, per pass, how many proposals were accepted,
flipped to false negative, rejected and still pending, and the miner's
false-negative rate (flipped / reviewed, :class:`core.mining.store.PassReview`):
the number that says whether the margin suits the model.
"""

from __future__ import annotations

import html
from dataclasses import replace
from typing import Sequence

import shiboken6
from PySide6.QtCore import QModelIndex, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.mining.review import ReviewData, load_documents, load_review, load_stats
from core.mining.store import (
    PassReview,
    Proposal,
    pass_candidates,
    proposal_state,
    proposals,
)
from core.mining.suspicion import HELP_TEXT
from core.retrieval.highlight import highlight_html, query_terms

from .context import AppContext, LabelsChanged
from .review_table import ProposalModel, ProposalTable, QueueModel, status_text
from .style import LABEL_COLORS, label_icon
from .table_model import format_score, show_rows
from .view import View
from .workers import Latest

REVIEW_KEYS = (
    ("positive", ("1", "P"), "Positive"),
    ("negative", ("2", "N"), "Accept as negative"),
    ("false_negative", ("3", "F"), "False negative"),
    (None, ("0", "Backspace"), "Clear"),
)
BUTTON_TEXT = {"negative": "Negative", "false_negative": "False neg."}


# -- the panel --------------------------------------------------------------------------------

class ReviewPanel(QWidget, View):
    """Review proposals of a mining pass, query by query."""

    PASS_COLUMNS = ("Pass", "Scores", "Model", "Proposed", "Accepted", "False neg.", "Rejected",
                    "Pending", "False-negative rate")

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("review-panel")
        self.data: ReviewData | None = None
        self._loaded = False
        self._current_query: str | None = None
        self._loader = Latest(context.jobs, "Review", self)
        self._stats_loader = Latest(context.jobs, "Review counts", self)
        self._docs_loader = Latest(context.jobs, "Review documents", self)
        self._queue_docs_loader = Latest(context.jobs, "Review queue documents", self)
        self._syncing = False  # the centre table and the queue follow each other, once
        self._stats_timer = QTimer(self)
        self._stats_timer.setSingleShot(True)
        self._stats_timer.setInterval(400)
        self._stats_timer.timeout.connect(self._reload_stats)

        # -- top: pass choice and the per-pass table
        self.pass_box = QComboBox()
        self.pass_box.setObjectName("review-pass")
        self.pass_box.setMinimumWidth(300)
        self.pass_box.activated.connect(self._pass_chosen)
        self.rate_label = QLabel()
        self.rate_label.setObjectName("review-rate")
        self.rate_label.setTextFormat(Qt.TextFormat.RichText)
        # Wraps: once a proposal is reviewed the line gains its false-negative rate, which
        # unwrapped widened a 1024-pixel window by 80 pixels.
        self.rate_label.setWordWrap(True)
        self.pass_table = QTableWidget(0, len(self.PASS_COLUMNS))
        self.pass_table.setObjectName("review-pass-table")
        self.pass_table.setHorizontalHeaderLabels(self.PASS_COLUMNS)
        self.pass_table.verticalHeader().setVisible(False)
        self.pass_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.pass_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.pass_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.pass_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.pass_table.horizontalHeader().setStretchLastSection(False)
        self.pass_table.verticalHeader().setDefaultSectionSize(22)
        self.pass_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        # -- left: the queue across queries, most suspicious first
        self.queue_help = QLabel("Most suspicious first: proposals that may be relevant after all. "
                                 "Labeling here moves to the next item. <a href='#'>What counts?</a>")
        self.queue_help.setObjectName("review-queue-help")
        self.queue_help.setWordWrap(True)
        self.queue_help.setTextFormat(Qt.TextFormat.RichText)
        self.queue_help.setToolTip(HELP_TEXT)
        self.queue_help.setWhatsThis(HELP_TEXT)
        self.queue_help.linkActivated.connect(self._show_help)
        self.queue_model = QueueModel(self)
        self.queue_table = ProposalTable()
        self.queue_table.setObjectName("review-queue")
        show_rows(self.queue_table, self.queue_model, row_height=22)
        self.queue_table.setWhatsThis(HELP_TEXT)
        self.queue_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.queue_table.selectionModel().currentRowChanged.connect(self._queue_row_changed)
        self.queue_table.doubleClicked.connect(self._activate_queue)

        # -- left: queries with proposals
        self.pending_only = QCheckBox("Only queries with proposals to review")
        self.pending_only.setToolTip("The list shows, per query, proposals to review / proposed")
        self.pending_only.toggled.connect(self._fill_queries)
        self.query_list_header = QLabel("<b>to review / proposed</b> · query")
        self.query_list_header.setObjectName("review-queries-header")
        self.query_list_header.setToolTip(
            "\"3/5\": 3 of the query's 5 proposals still wait for a decision (accept, flip or "
            "reject); 0/5 means the query is reviewed.")
        self.query_list = QListWidget()
        self.query_list.setObjectName("review-queries")
        # Long query texts end in "…" (full text in the tooltip) instead of hiding behind a
        # horizontal scrollbar.
        self.query_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.query_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.query_list.setUniformItemSizes(True)
        self.query_list.currentItemChanged.connect(self._query_chosen)

        # -- centre: the query's proposals
        self.query_label = QLabel("<i>No mining pass yet: open Tools → Mine hard negatives.</i>")
        self.query_label.setObjectName("review-query")
        self.query_label.setWordWrap(True)
        self.query_label.setTextFormat(Qt.TextFormat.RichText)
        self.model = ProposalModel(self)
        self.table = ProposalTable()
        self.table.setObjectName("review-proposals")
        show_rows(self.table, self.model, row_height=24)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.table.stepPastEnd.connect(self._step_query_from_table)
        self.table.doubleClicked.connect(self._activate)

        self.actions: dict[str | None, QAction] = {}
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        for label, keys, title in REVIEW_KEYS:
            act = QAction(title, self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.setToolTip(f"{title} ({' or '.join(keys)})")
            act.triggered.connect(lambda _=False, lab=label: self.label_selection(lab))
            self.addAction(act)
            self.actions[label] = act
            # Short button texts so the tab fits a 1024-pixel window; the action keeps the title.
            button = QPushButton(f"{BUTTON_TEXT.get(label, title)}  ({keys[0]})")
            button.setObjectName(f"review-{label or 'clear'}")
            if label:
                button.setIcon(label_icon(label))
            button.setToolTip(act.toolTip())
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(act.trigger)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.accept_rest_action = QAction("Accept the rest of this query", self)
        self.accept_rest_action.setShortcut(QKeySequence("A"))
        self.accept_rest_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.accept_rest_action.triggered.connect(self.accept_rest)
        self.addAction(self.accept_rest_action)
        self.accept_rest_button = QPushButton("Accept rest  (A)")
        self.accept_rest_button.setObjectName("review-accept-rest")
        self.accept_rest_button.setToolTip("Label every still-pending proposal of this query negative")
        self.accept_rest_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.accept_rest_button.clicked.connect(self.accept_rest)
        buttons.addWidget(self.accept_rest_button)
        for text, keys, step in (("Next query", ("]",), 1), ("Previous query", ("[",), -1)):
            act = QAction(text, self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(lambda _=False, s=step: self.step_query(s))
            self.addAction(act)

        # -- right: the document
        self.document = QTextBrowser()
        self.document.setObjectName("review-document")
        self.document.setMinimumWidth(200)  # the proposals table would squeeze it to a sliver
        self.document.setOpenLinks(False)
        # The query's known positive under the proposal being judged: is this one as relevant?
        self.positive_view = QTextBrowser()
        self.positive_view.setObjectName("review-positive")
        self.positive_view.setOpenLinks(False)
        self.positive_view.setToolTip("The query's labeled positive(s), to compare the proposal with")
        self._positives: list[tuple[str, float | None]] = []  # (doc id, score in the pass)
        right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("review-right")
        right.addWidget(self.document)
        right.addWidget(self.positive_view)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)

        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.query_label)
        cl.addWidget(self.table, 1)
        cl.addLayout(buttons)
        queue_box = QWidget()
        ql = QVBoxLayout(queue_box)
        ql.setContentsMargins(0, 0, 0, 0)
        ql.addWidget(self.queue_help)
        ql.addWidget(self.queue_table, 1)
        by_query = QWidget()
        ll = QVBoxLayout(by_query)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.pending_only)
        ll.addWidget(self.query_list_header)
        ll.addWidget(self.query_list, 1)
        self.left_tabs = QTabWidget()
        self.left_tabs.setObjectName("review-left")
        self.left_tabs.addTab(queue_box, "Queue")
        self.left_tabs.addTab(by_query, "By query")
        self.left_tabs.setTabToolTip(0, "Every proposal of the pass, most suspicious first")
        self.left_tabs.setTabToolTip(1, "The queries with proposals, in project order")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.left_tabs)
        split.addWidget(centre)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 4)
        split.setStretchFactor(2, 3)
        split.setSizes([380, 560, 360])
        top = QHBoxLayout()
        top.addWidget(QLabel("Mining pass"))
        top.addWidget(self.pass_box)
        top.addWidget(self.rate_label, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.pass_table)
        layout.addWidget(split, 1)

        context.labelsChanged.connect(self._labels_changed)
        context.candidatesChanged.connect(self.load)
        self.load()

    # -- loading ----------------------------------------------------------------------------
    def load(self, pass_number: int | None = None) -> None:
        """(Re)load a pass (default: the latest) in the background."""
        self._loader.request(load_review, self.context.project_path, pass_number,
                             on_result=self._loaded_data, on_error=self._load_failed)

    def is_ready(self) -> bool:
        return self._loaded

    def _load_failed(self, message: str) -> None:
        if not shiboken6.isValid(self):
            return  # a late answer for a closed panel
        self._loaded = True
        self.query_label.setText(f"<span style='color:#b91c1c'>{html.escape(message)}</span>")

    def _loaded_data(self, data: ReviewData) -> None:
        if not shiboken6.isValid(self):
            return  # a late answer for a closed panel
        keep_query = self._current_query if self.data and data.pass_number == self.data.pass_number else None
        self.data = data
        self._loaded = True
        self.pass_box.clear()
        for s in reversed(data.stats):
            self.pass_box.addItem(f"Pass {s.pass_number} · {s.source}"
                                  + (f" · {s.model_version}" if s.model_version else "")
                                  + f" · {s.created_at[:16].replace('T', ' ')}", s.pass_number)
        if data.pass_number is not None:
            self.pass_box.setCurrentIndex(max(0, self.pass_box.findData(data.pass_number)))
        self._show_stats(data.stats)
        self.queue_model.set_rows(list(data.queue))
        # The teacher column only where the pass had a teacher.
        self.table.setColumnHidden(ProposalModel.TEACHER_COLUMN,
                                   not any(p.teacher_score is not None for p in data.queue))
        self.queue_model.set_docs({})
        if data.queue:
            self._queue_docs_loader.request(load_documents, self.context.project_path,
                                            list(dict.fromkeys(p.doc_id for p in data.queue)),
                                            on_result=self._queue_docs_loaded)
        self._fill_queries(select=keep_query)
        if data.pass_number is None:
            self.query_label.setText("<i>No mining pass yet: open Tools → Mine hard negatives.</i>")
        elif not data.queries:
            self.query_label.setText(
                f"<i>Pass {data.pass_number} proposed no negatives: the rules dropped every "
                "candidate. Loosen the margins or widen the rank window in the mining dialog.</i>")

    def _pass_chosen(self, index: int) -> None:
        number = self.pass_box.itemData(index)
        if number is not None and (self.data is None or number != self.data.pass_number):
            self.load(number)

    def _show_stats(self, stats: Sequence[PassReview]) -> None:
        if not shiboken6.isValid(self):
            return  # a late answer for a closed panel
        self.pass_table.setRowCount(len(stats))
        for r, s in enumerate(reversed(stats)):
            rate = "–" if s.false_negative_rate is None else f"{s.false_negative_rate:.1%}"
            values = (s.pass_number, s.source, s.model_version or "–", s.proposed, s.accepted,
                      s.flipped, s.rejected, s.pending, rate)
            for c, v in enumerate(values):
                item = QTableWidgetItem(f"{v:,}" if isinstance(v, int) and c >= 3 else str(v))
                if c >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == 5 and s.flipped:
                    item.setForeground(QBrush(QColor(LABEL_COLORS["false_negative"])))
                self.pass_table.setItem(r, c, item)
        # As tall as its rows (up to four; older passes scroll).
        rows = max(1, min(4, len(stats)))
        self.pass_table.setFixedHeight(self.pass_table.horizontalHeader().height() + 22 * rows + 4)
        current = next((s for s in stats if self.data and s.pass_number == self.data.pass_number), None)
        if current is None:
            self.rate_label.setText("")
            return
        rate = ("no proposal reviewed yet" if current.false_negative_rate is None else
                f"<b style='color:{LABEL_COLORS['false_negative']}'>{current.false_negative_rate:.1%}</b> "
                f"of reviewed proposals were false negatives")
        self.rate_label.setText(
            f"{current.proposed:,} proposed · {current.accepted:,} accepted · "
            f"{current.flipped:,} flipped · {current.rejected:,} rejected · "
            f"{current.pending:,} pending — {rate}")

    def _reload_stats(self) -> None:
        self._stats_loader.request(load_stats, self.context.project_path,
                                   on_result=self._show_stats)

    # -- queries ------------------------------------------------------------------------------
    def _query_text(self, qid: str, text: str) -> str:
        props = self.data.proposals.get(qid, []) if self.data else []
        pending = sum(p.state == "pending" for p in props)
        return f"{pending}/{len(props)}  {qid} · {text}"

    def _query_tooltip(self, qid: str, text: str) -> str:
        props = self.data.proposals.get(qid, []) if self.data else []
        pending = sum(p.state == "pending" for p in props)
        return f"{pending} of {len(props)} proposals still to review\n{qid}: {text}"

    def _fill_queries(self, *_args, select: str | None = None) -> None:
        select = select or self._current_query
        self.query_list.blockSignals(True)
        self.query_list.clear()
        chosen = None
        row_height = self.query_list.fontMetrics().height() + 6
        if self.data is not None:
            for qid, text in self.data.queries:
                props = self.data.proposals.get(qid, [])
                if self.pending_only.isChecked() and not any(p.state == "pending" for p in props) \
                        and qid != select:
                    continue
                item = QListWidgetItem(self._query_text(qid, text))
                item.setData(Qt.ItemDataRole.UserRole, qid)
                item.setToolTip(self._query_tooltip(qid, text))
                # A nominal width: the view then lays the item out as wide as the list and
                # elides its text, instead of widening the contents past the viewport.
                item.setSizeHint(QSize(1, row_height))
                self.query_list.addItem(item)
                if qid == select:
                    chosen = item
        self.query_list.blockSignals(False)
        if chosen is None and self.query_list.count():
            chosen = self.query_list.item(0)
        if chosen is not None:
            self.query_list.setCurrentItem(chosen)
        else:
            self._current_query = None
            self.model.set_rows([])
            self.document.clear()

    def _query_chosen(self, item: QListWidgetItem | None, _previous=None) -> None:
        if item is None or self.data is None:
            return
        qid = item.data(Qt.ItemDataRole.UserRole)
        self.show_query(qid)

    def show_query(self, qid: str, doc_id: str | None = None) -> None:
        """Show a query's proposals, ``doc_id``'s row (default: the first pending) selected.

        The query also becomes the workspace's current query.
        """
        if self.data is None or qid not in self.data.proposals:
            return
        self._current_query = qid
        text = dict(self.data.queries).get(qid, "")
        self.query_label.setText(f"<b>{html.escape(qid)}</b> · {html.escape(text)}")
        rows = self.data.proposals[qid]
        self.model.set_rows(rows)
        self.model.set_docs({})
        self._positives = self._known_positives(qid)
        self.positive_view.clear()
        self._docs_loader.request(load_documents, self.context.project_path,
                                  list(dict.fromkeys([p.doc_id for p in rows] + [d for d, _ in self._positives])),
                                  on_result=self._docs_loaded)
        first_pending = next((i for i, p in enumerate(rows) if p.state == "pending"), 0)
        chosen = next((i for i, p in enumerate(rows) if p.doc_id == doc_id), first_pending)
        if rows:
            self.table.select_row(chosen)
        for i in range(self.query_list.count()):
            if self.query_list.item(i).data(Qt.ItemDataRole.UserRole) == qid:
                if self.query_list.currentRow() != i:
                    self.query_list.blockSignals(True)
                    self.query_list.setCurrentRow(i)
                    self.query_list.blockSignals(False)
                break
        self.context.set_current_query(qid)

    def _known_positives(self, qid: str) -> list[tuple[str, float | None]]:
        """The query's positive labels now, with their scores in the pass where it scored them."""
        labels = self.context.project.labels_for_query(qid)
        scores = {d.doc_id: d.score for d in pass_candidates(self.context.project, qid, self.data.pass_number)
                  if d.reason == "positive"} if self.data and self.data.pass_number is not None else {}
        return [(doc_id, scores.get(doc_id)) for doc_id, lab in labels.items() if lab.label == "positive"]

    def _show_positives(self, query_id: str) -> None:
        if not self._positives:
            self.positive_view.setHtml(f"<p style='color:#6b7280'>Known positive: none labeled for "
                                       f"{html.escape(query_id)}.</p>")
            return
        terms = query_terms(dict(self.data.queries).get(query_id, "")) if self.data else frozenset()
        parts = []
        for doc_id, score in self._positives:
            title, text = self.model.docs.get(doc_id, ("", ""))
            score_text = "" if score is None else f" · score {format_score(score)}"
            parts.append(f"<p style='color:#15803d'><b>Known positive</b> · {html.escape(doc_id)}{score_text}</p>"
                         f"<h4>{highlight_html(title, terms)}</h4><p>{highlight_html(text, terms)}</p>")
        self.positive_view.setHtml("".join(parts))

    def _docs_loaded(self, docs: dict[str, tuple[str, str]]) -> None:
        if not shiboken6.isValid(self):
            return  # a late answer for a closed panel
        self.model.set_docs(docs)
        self._row_changed(self.table.currentIndex())

    def step_query(self, step: int) -> None:
        n = self.query_list.count()
        if not n:
            return
        row = min(max(self.query_list.currentRow() + step, 0), n - 1)
        self.query_list.setCurrentRow(row)

    def _step_query_from_table(self, step: int) -> None:
        before = self.query_list.currentRow()
        self.step_query(step)
        if step < 0 and self.query_list.currentRow() != before and self.model.rowCount():
            self.table.select_row(self.model.rowCount() - 1)

    def current_query(self) -> str | None:
        return self._current_query

    # -- the queue ---------------------------------------------------------------------------------
    def _queue_docs_loaded(self, docs: dict[str, tuple[str, str]]) -> None:
        if not shiboken6.isValid(self):
            return  # a late answer for a closed panel
        self.queue_model.set_docs(docs)

    def _queue_row_changed(self, index: QModelIndex, _previous=None) -> None:
        if self._syncing or not index.isValid() or index.row() >= len(self.queue_model.rows):
            return
        p = self.queue_model.rows[index.row()]
        self._syncing = True
        try:
            self.show_query(p.query_id, p.doc_id)
        finally:
            self._syncing = False

    def _sync_queue(self, p: Proposal) -> None:
        """Select ``p`` in the queue too (without moving the centre table again)."""
        row = next((i for i, q in enumerate(self.queue_model.rows)
                    if q.query_id == p.query_id and q.doc_id == p.doc_id), None)
        if row is None or row == self.queue_table.currentIndex().row():
            return
        self._syncing = True
        try:
            self.queue_table.select_row(row)
        finally:
            self._syncing = False

    def _activate_queue(self, index: QModelIndex) -> None:
        if index.isValid():
            self.context.activate_document(self.queue_model.rows[index.row()].doc_id)

    def _show_help(self, _link: str = "") -> None:
        from PySide6.QtWidgets import QToolTip

        QToolTip.showText(self.queue_help.mapToGlobal(self.queue_help.rect().bottomLeft()),
                          HELP_TEXT, self.queue_help)

    def queue_focused(self) -> bool:
        """Whether labeling comes from the queue (its table has the focus)."""
        return self.left_tabs.currentIndex() == 0 and self.queue_table.hasFocus()

    # -- documents -------------------------------------------------------------------------------
    def _row_changed(self, index: QModelIndex, _previous=None) -> None:
        if not index.isValid() or index.row() >= len(self.model.rows):
            self.document.clear()
            self.positive_view.clear()
            return
        p = self.model.rows[index.row()]
        self._show_positives(p.query_id)
        if not self._syncing:
            self._sync_queue(p)
        title, text = self.model.docs.get(p.doc_id, ("", ""))
        terms = query_terms(dict(self.data.queries).get(p.query_id, "")) if self.data else frozenset()
        teacher = "" if p.teacher_score is None else f" · teacher {format_score(p.teacher_score)}"
        suspicion = "" if p.suspicion is None else f" · suspicion {p.suspicion:.2f}"
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in p.reasons)
        self.document.setHtml(
            f"<p style='color:#6b7280'>{html.escape(p.doc_id)} · rank {p.rank} · score {format_score(p.score)}"
            f"{teacher}{suspicion} · {html.escape(status_text(p))}</p>"
            + (f"<ul style='color:#6b7280; margin:0'>{reasons}</ul>" if reasons else "")
            + f"<h3>{highlight_html(title, terms)}</h3><p>{highlight_html(text, terms)}</p>")

    def _activate(self, index: QModelIndex) -> None:
        if index.isValid():
            self.context.activate_document(self.model.rows[index.row()].doc_id)

    # -- labeling ----------------------------------------------------------------------------------
    def selected_rows(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        if not rows and self.table.currentIndex().isValid():
            rows = [self.table.currentIndex().row()]
        return rows

    def label_selection(self, label: str | None) -> None:
        """Label the selected proposals (one undoable action), then move to the next row.

        From the queue, the next row is the queue's next item, whatever its query.
        """
        if self.queue_focused():
            row = self.queue_table.currentIndex().row()
            if not 0 <= row < self.queue_model.rowCount():
                return
            p = self.queue_model.rows[row]
            self.context.apply_labels([(p.query_id, p.doc_id)], label)
            if row + 1 < self.queue_model.rowCount():
                self.queue_table.select_row(row + 1)
            return
        rows = self.selected_rows()
        if not rows or self._current_query is None:
            return
        pairs = [(self._current_query, self.model.rows[r].doc_id) for r in rows]
        self.context.apply_labels(pairs, label)
        if len(rows) == 1 and rows[0] + 1 < self.model.rowCount():
            self.table.select_row(rows[0] + 1)

    def label_row(self, row: int, label: str | None) -> None:
        """Label one proposal of the current query (as the keys do for the current row)."""
        self.table.select_row(row)
        self.label_selection(label)

    def accept_rest(self) -> None:
        """Label every pending proposal of the current query negative (one undoable action)."""
        if self._current_query is None:
            return
        # Possible positives are not negatives to accept in bulk: each needs a look.
        pairs = [(self._current_query, p.doc_id) for p in self.model.rows
                 if p.state == "pending" and p.kind == "proposal"]
        self.context.apply_labels(pairs, "negative")
        self.step_query(1)  # this query is done: on to the next one

    def _labels_changed(self, notice: LabelsChanged) -> None:
        if self.data is None:
            return
        touched = False
        replaced: dict[tuple[str, str], Proposal] = {}
        stored = {}
        if notice.restored:  # an undo/redo can make a proposal pending again: read its state
            stored = {(p.query_id, p.doc_id): p.state for p in proposals(
                self.context.project, self.data.pass_number, sorted(notice.query_ids))}
        for change in notice.changes:
            props = self.data.proposals.get(change.query_id)
            if not props:
                continue
            for i, p in enumerate(props):
                if p.doc_id == change.doc_id:
                    state = stored.get((p.query_id, p.doc_id)) or proposal_state(change.new, touched=True)
                    new = replace(p, label=change.new, state=state)
                    props[i] = new
                    touched = True
                    if change.query_id == self._current_query and i < len(self.model.rows) \
                            and self.model.rows[i].doc_id == p.doc_id:
                        self.model.replace(i, new)
                    replaced[(p.query_id, p.doc_id)] = new
        if not touched:
            return
        for i, p in enumerate(self.queue_model.rows):
            new = replaced.get((p.query_id, p.doc_id))
            if new is not None:
                self.queue_model.replace(i, new)
        for i in range(self.query_list.count()):
            item = self.query_list.item(i)
            qid = item.data(Qt.ItemDataRole.UserRole)
            if qid in notice.query_ids:
                text = dict(self.data.queries).get(qid, "")
                item.setText(self._query_text(qid, text))
                item.setToolTip(self._query_tooltip(qid, text))
        self._row_changed(self.table.currentIndex())
        self._stats_timer.start()

    def shutdown(self) -> None:
        self._stats_timer.stop()
