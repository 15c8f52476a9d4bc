"""The labeling workspace: query list | BM25, Dense (and Hybrid) panes | the document.

This module holds the widgets; what they show comes from a
:class:`gui.workspace_controller.WorkspaceController` (no widgets), which
owns index readiness, the candidate cache with prefetch, and the label counts.

Data flow (STYLE.md patterns 4, 6, 7, 8):

* choosing a query asks the controller for each visible pane's candidates:
  a cached answer is shown at once, otherwise
  ``core.labeling.candidates.fetch_candidates`` runs on a worker and the
  newest request wins;
* indexes are prepared in the background when the workspace opens
  (``Retrieval.ensure_bm25`` then ``ensure_dense``) as announced jobs, so the
  status bar shows their progress and a cancel button; a pane whose index is
  not ready shows that job's progress instead of rows;
* every label action goes through ``AppContext.apply_labels`` (an undoable,
  immediately committed command); the controller moves the counts by the
  ``labelsChanged`` notice's changes, and the panes re-read only the labels
  of the current query when the notice names it.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.labeling.candidates import (
    RETRIEVERS,
    Candidates,
    other_pane_ranks,
    top_overlap,
)
from core.labeling.overview import Overview, QuerySummary, pending_proposals
from core.project.file import Label
from core.retrieval.highlight import query_terms

from .context import AppContext, LabelsChanged
from .document_panel import DocumentPanel
from .panes import CandidatePane
from .query_panel import QueryPanel
from .style import LABEL_TITLES, UNSAVED_SOURCE, label_icon
from .view import View
from .workers import Job
from .workspace_controller import DEFAULT_DEPTH, MAX_DEPTH, WorkspaceController

# Above this many queries whose counts moved in one notice (a bulk action),
# the query list is reset in one go rather than row by row.
ROW_UPDATE_LIMIT = 64

# (label, shortcuts, title) of the label actions, in menu order.
LABEL_KEYS = (
    ("positive", ("1", "P"), "Mark positive"),
    ("negative", ("2", "N"), "Mark negative"),
    ("false_negative", ("3", "F"), "Mark false negative"),
    (None, ("0", "Backspace"), "Clear label"),
)


def settings() -> QSettings:
    return QSettings("Retriever Studio", "Retriever Studio")


class LabelingWorkspace(QWidget, View):
    """The first tab of the main window; takes ``(context, parent)`` like every view."""

    candidatesShown = Signal(str, str)  # (retriever, query id) a pane now shows rows
    overviewLoaded = Signal()

    def __init__(self, context: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("labeling-workspace")
        store = settings()
        self.controller = WorkspaceController(
            context, int(store.value("labeling/depth", DEFAULT_DEPTH)), self)
        self.advance = str(store.value("labeling/advance", "true")).lower() == "true"
        self._terms: frozenset[str] = frozenset()
        self._summary: QuerySummary | None = None
        self._results: dict[str, Candidates] = {}
        self._active = "bm25"
        self._overview_loaded = False
        self._from_pane = False
        self._closed = False
        self._overlap_job: Job | None = None

        # -- left: queries
        self.queries = QueryPanel(self)
        self.queries.querySelected.connect(context.set_current_query)
        self.queries.status.currentIndexChanged.connect(self._status_filter_changed)

        # -- centre: query header, label bar, panes
        self.query_header = QLabel("<i>No query selected</i>")
        self.query_header.setWordWrap(True)
        self.query_header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.query_header.setObjectName("query-header")

        self.actions: dict[str | None, QAction] = {}
        bar = QHBoxLayout()
        bar.setSpacing(4)
        for label, keys, title in LABEL_KEYS:
            act = QAction(title, self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.setToolTip(f"{title} for the selected rows ({' or '.join(keys)})")
            if label:
                act.setIcon(label_icon(label))
            act.triggered.connect(lambda _=False, lab=label: self.label_selection(lab))
            self.addAction(act)
            self.actions[label] = act
            button = QPushButton(f"{LABEL_TITLES[label] if label else 'Clear'}  ({keys[0]})")
            button.setObjectName(f"label-button-{label or 'clear'}")
            if label:
                button.setIcon(label_icon(label))
            button.setToolTip(act.toolTip())
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keep focus (and keys) in the pane
            button.clicked.connect(act.trigger)
            bar.addWidget(button)
        bar.addStretch(1)

        self.next_query = QAction("Next query", self)
        self.next_query.setShortcuts([QKeySequence("]"), QKeySequence("Ctrl+Down")])
        self.next_query.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.next_query.triggered.connect(lambda: self.queries.step(1))
        self.prev_query = QAction("Previous query", self)
        self.prev_query.setShortcuts([QKeySequence("["), QKeySequence("Ctrl+Up")])
        self.prev_query.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.prev_query.triggered.connect(lambda: self.queries.step(-1))
        self.skip_query = QAction("Skip query", self)
        self.skip_query.setShortcut(QKeySequence("S"))
        self.skip_query.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.skip_query.setToolTip("Mark this query skipped (this session) and go to the next (S)")
        self.skip_query.triggered.connect(self.queries.skip_current)
        self.find_query = QAction("Find query", self)
        self.find_query.setShortcut(QKeySequence.StandardKey.Find)
        self.find_query.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.find_query.triggered.connect(lambda: (self.queries.search.setFocus(),
                                                   self.queries.search.selectAll()))
        for act in (self.next_query, self.prev_query, self.skip_query, self.find_query):
            self.addAction(act)

        self.depth_box = QSpinBox()
        self.depth_box.setRange(5, MAX_DEPTH)
        self.depth_box.setSingleStep(10)
        self.depth_box.setValue(self.depth)
        self.depth_box.setPrefix("top ")
        self.depth_box.setToolTip("How many candidates each pane shows (up to 100)")
        self.depth_box.valueChanged.connect(self.set_depth)
        self.hybrid_box = QCheckBox("Hybrid pane")
        self.hybrid_box.setToolTip("Show a third pane with the fusion of BM25 and dense")
        self.hybrid_box.setChecked(str(store.value("labeling/hybrid", "false")).lower() == "true")
        self.hybrid_box.toggled.connect(self.set_hybrid_visible)

        self.panes: dict[str, CandidatePane] = {}
        pane_split = QSplitter(Qt.Orientation.Horizontal)
        pane_split.setChildrenCollapsible(False)
        for r in RETRIEVERS:
            pane = CandidatePane(r, self)
            pane.activated.connect(lambda doc_id, name=r: self._row_activated(name, doc_id))
            pane.focused.connect(lambda name=r: self._set_active(name))
            pane.contextMenuRequested.connect(self._context_menu)
            pane.view.doubleClicked.connect(lambda _i: self.document.body.setFocus())
            pane_split.addWidget(pane)
            self.panes[r] = pane
        self.panes["hybrid"].setVisible(self.hybrid_box.isChecked())

        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(2, 4, 2, 2)
        top = QHBoxLayout()
        top.addWidget(self.query_header, 1)
        top.addWidget(self.depth_box, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.hybrid_box, 0, Qt.AlignmentFlag.AlignTop)
        centre_layout.addLayout(top)
        centre_layout.addLayout(bar)
        centre_layout.addWidget(pane_split, 1)

        # -- right: the document
        self.document = DocumentPanel(self)
        self.document.labelRequested.connect(self._label_document)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.queries)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(self.document)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([250, 850, 300])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        ctl = self.controller
        ctl.indexReady.connect(self._index_ready)
        ctl.indexFailed.connect(self._index_failed)
        ctl.indexWaiting.connect(self._index_waiting)
        ctl.candidatesReady.connect(self._candidates_ready)
        ctl.candidatesFailed.connect(
            lambda name, msg: self.panes[name].show_message(f"Search failed: {msg}"))
        ctl.prefetchDone.connect(self._prefetched)
        ctl.overviewLoaded.connect(self._overview_ready)
        ctl.overviewFailed.connect(self._overview_failed)
        ctl.countsChanged.connect(self._counts_changed)
        context.currentQueryChanged.connect(self._query_changed)
        context.labelsChanged.connect(self._labels_changed)
        context.labelsPending.connect(self._pending_changed)
        context.documentActivated.connect(self._show_document)
        context.modelChanged.connect(self._model_changed)
        context.computeChanged.connect(self._compute_changed)
        context.candidatesChanged.connect(self._candidates_changed)

        for r in RETRIEVERS:
            self.panes[r].show_message("Loading queries…")
        ctl.start()

    # -- opening ------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """How many candidates each pane shows."""
        return self.controller.depth

    def _overview_ready(self, overview: Overview) -> None:
        first = not self._overview_loaded
        self._overview_loaded = True
        self.queries.set_queries(overview.queries, overview.splits)
        if first:
            current = self.context.current_query_id
            if current and self.queries.select_query(current):
                # The remembered query was the context's before this view existed: selecting
                # its row changes nothing there, so nothing would show it.
                self._query_changed(current)
            else:
                self.queries.select_first()
            if not overview.queries:
                for r in RETRIEVERS:
                    self.panes[r].show_message(
                        "This project has no queries yet. Use File → Import… to add a corpus "
                        "and queries.")
        self.overviewLoaded.emit()

    def _overview_failed(self, message: str) -> None:
        for r in RETRIEVERS:
            self.panes[r].show_message(f"Could not read the project: {message}")

    def _index_ready(self, which: str) -> None:
        if which == "bm25":
            self._refresh_panes(("bm25",))
            return
        self._refresh_panes(("dense", "hybrid"))
        if self.queries.proxy.status == "disagree":
            self._compute_overlap()

    def _index_failed(self, which: str, message: str) -> None:
        if which == "bm25":
            self.panes["bm25"].show_message(f"BM25 unavailable: {message}")
            return
        for r in ("dense", "hybrid"):
            self.panes[r].show_message(f"Dense retrieval unavailable: {message}")
        if self.queries.proxy.status == "disagree":
            self.queries.count.setText(f"Cannot compare BM25 and dense: {message}")

    def _index_waiting(self, which: str, message: str, fraction: float | None) -> None:
        if self.context.current_query_id is None:
            return  # the panes show why there is nothing to search (the status bar shows the job)
        if which == "dense":
            for r in ("dense", "hybrid"):
                self.panes[r].show_message(message, fraction)
            return
        self.panes["bm25"].show_message(message, fraction)
        if not self.controller.is_ready("dense"):
            self.panes["hybrid"].show_message("Waiting for the BM25 index…")

    def _model_changed(self, _model_id: str) -> None:
        self._compute_changed(None)
        self.controller.model_changed()

    def _compute_changed(self, _choice) -> None:
        """Another model or encoder: dense results and overlaps were another encoder's vectors.

        (The controller prepares the dense index again itself on a compute change.)
        """
        for q in self.queries.model.summaries():
            q.overlap = None  # overlaps were measured with the previous model
        self._results.pop("dense", None)
        self._results.pop("hybrid", None)

    # -- readiness ----------------------------------------------------------------
    @property
    def overview_loaded(self) -> bool:
        """The query list has been read (screenshots and tests wait for it)."""
        return self._overview_loaded

    def visible_retrievers(self) -> list[str]:
        return [r for r in RETRIEVERS if r != "hybrid" or self.hybrid_box.isChecked()]

    def is_ready(self) -> bool:
        """Every visible pane shows rows for the current query, or a final error."""
        if not self._overview_loaded:
            return False
        qid = self.context.current_query_id
        if qid is None:
            return self.queries.model.rowCount() == 0
        for r in self.visible_retrievers():
            res = self._results.get(r)
            if not self.controller.failed(r) and not (
                    res and res.query_id == qid and self.panes[r].showing_candidates):
                return False
        return True

    # -- queries ----------------------------------------------------------------
    def _query_changed(self, query_id: str) -> None:
        self.queries.select_query(query_id)
        summary = self.queries.model.summary(query_id)
        if summary is None:  # e.g. a query another view picked that was just imported
            q = self.context.project.get_query(query_id)
            if q is None:
                return
            summary = QuerySummary(q.id, q.text, q.split or "")
        self._summary = summary
        self._terms = query_terms(summary.text)
        self._show_query_header()
        self._show_labels(query_id)
        self.document.clear()
        self._refresh_panes(RETRIEVERS)

    def _show_query_header(self) -> None:
        q = self._summary
        if q is None:
            self.query_header.setText("<i>No query selected</i>")
            return
        counts = (f"{q.positives} positive · {q.negatives} negative · "
                  f"{q.false_negatives} false negative")
        self.query_header.setText(
            f"<span style='font-size:120%; font-weight:600'>{html.escape(q.text)}</span>"
            f"&nbsp;&nbsp;<span style='color:#666'>{html.escape(q.id)} · "
            f"{html.escape(q.split or 'no split')} · {counts}</span>")

    def _refresh_panes(self, retrievers) -> None:
        qid = self.context.current_query_id
        if qid is None or self._summary is None:
            return
        ctl = self.controller
        for r in retrievers:
            if r == "hybrid" and not self.hybrid_box.isChecked():
                continue
            pane = self.panes[r]
            if not ctl.is_ready(r):
                if ctl.failed(r):
                    continue
                job = ctl.waiting_for(r)
                if job is not None:
                    pane.show_message(job.message or job.name, job.fraction)
                else:
                    pane.show_message("Waiting for the index…")
                continue
            cached = ctl.fetch(qid, self._summary.text, self._terms, r)
            if cached is not None:  # visited or prefetched: shown without a round trip
                self._candidates_ready(cached)
                continue
            if self._results.get(r) is None or self._results[r].query_id != qid:
                pane.info.setText("searching…")

    def _prefetch_next(self) -> None:
        """Fetch the next query's candidates while the user reads this one (``]`` is then instant)."""
        nxt = self.queries.neighbour(1)
        summary = self.queries.model.summary(nxt) if nxt else None
        if summary is not None:
            self.controller.prefetch(nxt, summary.text, self.visible_retrievers())

    def _prefetched(self, query_id: str, retriever: str) -> None:
        """A prefetch ended; if the user is already there, show it (or search if it failed)."""
        if query_id == self.context.current_query_id:
            self._refresh_panes((retriever,))

    def _show_other_ranks(self) -> None:
        """Mark in every pane the rows another visible pane also found."""
        qid = self.context.current_query_id
        ranks = other_pane_ranks({name: res.rows for name, res in self._results.items()
                                  if res.query_id == qid
                                  and (name != "hybrid" or self.hybrid_box.isChecked())})
        for p in self.panes.values():
            p.model.set_other_ranks(ranks)

    def _candidates_ready(self, result: Candidates) -> None:
        if result.query_id != self.context.current_query_id:
            return
        pane = self.panes[result.retriever]
        new_query = pane.model.query_id != result.query_id
        self._results[result.retriever] = result
        pane.set_candidates(result)
        self._show_other_ranks()
        if new_query and result.retriever == self._active and result.rows:
            pane.select_row(0)
        self.candidatesShown.emit(result.retriever, result.query_id)
        if all(self._results.get(r) is not None and self._results[r].query_id == result.query_id
               for r in self.visible_retrievers() if self.controller.is_ready(r)):
            self._prefetch_next()

    # -- labels -----------------------------------------------------------------
    def active_pane(self) -> CandidatePane:
        return self.panes[self._active]

    def _set_active(self, retriever: str) -> None:
        self._active = retriever

    def label_selection(self, label: str | None) -> None:
        """Label the active pane's selected rows (or the shown document) for the current query."""
        qid = self.context.current_query_id
        if qid is None:
            return
        pane = self.active_pane()
        doc_ids = pane.selected_doc_ids()
        if not doc_ids and self.document.doc_id:
            doc_ids = [self.document.doc_id]
        if not doc_ids:
            return
        self.context.apply_labels([(qid, d) for d in doc_ids], label)
        if self.advance and len(doc_ids) == 1 and pane.current_doc_id() == doc_ids[0]:
            pane.view.move_current(1)

    def _label_document(self, doc_id: str, label: str | None) -> None:
        qid = self.context.current_query_id
        if qid is not None:
            self.context.apply_labels([(qid, doc_id)], label)

    def _counts_changed(self, updated: dict[str, QuerySummary]) -> None:
        """The controller moved these queries' counts: show them in the list and the header."""
        if len(updated) > ROW_UPDATE_LIMIT:
            overview = self.controller.overview
            self.queries.set_queries(self.controller.summaries(), overview.splits if overview else ())
        else:
            for summary in updated.values():
                self.queries.model.update_query(summary)
        self.queries.refresh_counts()
        qid = self.context.current_query_id
        if qid in updated:
            self._summary = updated[qid]
            self._show_query_header()

    def _labels_changed(self, notice: LabelsChanged) -> None:
        """Re-read the current query's labels (indexed) when the notice names it."""
        qid = self.context.current_query_id
        if qid not in notice.query_ids:
            return
        self._show_labels(qid)
        if self.document.doc_id and any(c.doc_id == self.document.doc_id and c.query_id == qid
                                        for c in notice.changes):
            project = self.context.project
            self.document.show_label(project.get_label(qid, self.document.doc_id),
                                     project.label_history(qid, self.document.doc_id))

    def _candidates_changed(self, _pass: int) -> None:
        """A mining pass was stored: new proposals (the controller re-reads the counts)."""
        if self.context.current_query_id:
            self._show_labels(self.context.current_query_id)

    def _pending_changed(self) -> None:
        if self.context.current_query_id and not self._closed:
            self._show_labels(self.context.current_query_id)

    def _show_labels(self, query_id: str) -> None:
        """Read one query's labels and pending proposals (indexed lookups) into the panes.

        Labels not saved yet show as what they will be, marked as unsaved.
        """
        project = self.context.project
        labels = project.labels_for_query(query_id)
        for doc_id, target in self.context.saver.pending_targets(query_id).items():
            if target is None:
                labels.pop(doc_id, None)
            elif isinstance(target, str):
                labels[doc_id] = Label(query_id, doc_id, target, 0, UNSAVED_SOURCE,
                                       project.current_pass, "")
        proposed = pending_proposals(project, [query_id]).get(query_id, {})
        for pane in self.panes.values():
            pane.model.set_labels(labels, proposed)

    # -- document -----------------------------------------------------------------
    def _row_activated(self, retriever: str, doc_id: str) -> None:
        self._active = retriever
        self._from_pane = True
        try:
            self.context.activate_document(doc_id)
        finally:
            self._from_pane = False

    def _show_document(self, doc_id: str) -> None:
        if self._closed:
            return
        if not self._from_pane:
            # Chosen elsewhere (map, compare, review): point at it in the panes too.
            active = self._active
            for pane in self.panes.values():
                row = pane.model.row_of(doc_id)
                if row is not None and pane.current_doc_id() != doc_id:
                    pane.select_docs([doc_id], doc_id)
                    pane.view.scrollTo(pane.model.index(row, 0))
            self._active = active
        project = self.context.project
        doc = project.get_document(doc_id)
        if doc is None:
            self.document.clear()
            return
        qid = self.context.current_query_id
        label = project.get_label(qid, doc_id) if qid else None
        history = project.label_history(qid, doc_id) if qid else []
        self.document.show_document(doc.id, doc.title, doc.text, self._terms, label, history,
                                    can_label=qid is not None)

    def _context_menu(self, pane: CandidatePane, pos) -> None:
        self._active = pane.retriever
        n = len(pane.selected_doc_ids())
        if not n:
            return
        menu = QMenu(self)
        for label, _keys, _title in LABEL_KEYS:
            menu.addAction(self.actions[label])
        menu.addSeparator()
        show = menu.addAction("Show document")
        show.triggered.connect(lambda: self.context.activate_document(pane.current_doc_id() or
                                                                      pane.selected_doc_ids()[0]))
        menu.setTitle(f"{n} selected")
        menu.popup(pos)
        self._menu = menu  # keep it alive (and reachable from tests)

    # -- settings ---------------------------------------------------------------
    def set_depth(self, depth: int) -> None:
        depth = max(1, min(MAX_DEPTH, int(depth)))
        if depth == self.depth:
            return
        self.controller.depth = depth
        settings().setValue("labeling/depth", depth)
        if self.depth_box.value() != depth:
            self.depth_box.setValue(depth)
        self._refresh_panes(RETRIEVERS)

    def set_hybrid_visible(self, on: bool) -> None:
        settings().setValue("labeling/hybrid", "true" if on else "false")
        if self.hybrid_box.isChecked() != on:
            self.hybrid_box.setChecked(on)
        self.panes["hybrid"].setVisible(on)
        sizes = self.splitter.sizes()
        if on and sum(sizes) > 0:
            # Three panes need the room: narrow the side panels (the user can drag them back).
            left, right = min(sizes[0], 210), min(sizes[2], 270)
            self.splitter.setSizes([left, sum(sizes) - left - right, right])
        if not on:
            self._results.pop("hybrid", None)
            if self._active == "hybrid":
                self._active = "bm25"
        self._refresh_panes(("hybrid",) if on else ())
        ranks = other_pane_ranks({name: res.rows for name, res in self._results.items()})
        for p in self.panes.values():
            p.model.set_other_ranks(ranks)

    def set_advance(self, on: bool) -> None:
        self.advance = on
        settings().setValue("labeling/advance", "true" if on else "false")

    # -- disagreement -------------------------------------------------------------
    def _status_filter_changed(self, _index: int) -> None:
        if self.queries.proxy.status == "disagree":
            self._compute_overlap()

    def _compute_overlap(self) -> None:
        if any(q.overlap is None for q in self.queries.model.summaries()) is False:
            return
        if self._overlap_job is not None and not self._overlap_job.done:
            return
        if not (self.controller.is_ready("dense") and self.controller.is_ready("bm25")):
            self.queries.count.setText("Comparing BM25 and dense needs both indexes; "
                                       "waiting for them…")
            return
        queries = {q.id: q.text for q in self.queries.model.summaries()}
        self.queries.count.setText("Comparing BM25 and dense top 10…")
        self._overlap_job = self.context.jobs.start(
            "Comparing BM25 and dense", top_overlap, self.context.retrieval(self.context.model_id),
            queries, on_result=self._overlap_ready)

    def _overlap_ready(self, overlaps: dict[str, float]) -> None:
        self.queries.model.set_overlaps(overlaps)
        self.queries.refresh_counts()
        self.queries.proxy.refilter()

    # -- closing ----------------------------------------------------------------
    def shutdown(self) -> None:
        """The project is closing: stop jobs and stop listening (nothing may read it now)."""
        self._closed = True
        self.controller.shutdown()
        ctx = self.context
        for signal, slot in ((ctx.currentQueryChanged, self._query_changed),
                             (ctx.labelsChanged, self._labels_changed),
                             (ctx.labelsPending, self._pending_changed),
                             (ctx.documentActivated, self._show_document),
                             (ctx.modelChanged, self._model_changed),
                             (ctx.computeChanged, self._compute_changed),
                             (ctx.candidatesChanged, self._candidates_changed)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
