"""The labeling workspace: query list | BM25, Dense (and Hybrid) panes | the document.

Data flow (STYLE.md patterns 4, 6, 7, 8):

* choosing a query asks each visible pane's :class:`gui.workers.Latest`
  channel for candidates; ``gui.lookups.fetch_candidates`` runs on a worker
  and the newest request wins;
* indexes are prepared in the background when the workspace opens
  (``Retrieval.ensure_bm25`` then ``ensure_dense``) as announced jobs, so the
  status bar shows their progress and a cancel button; a pane whose index is
  not ready shows that job's progress instead of rows;
* every label action goes through ``AppContext.apply_labels`` (an undoable,
  immediately committed command); the views refresh from ``labelsChanged``,
  reading only the labels of the queries the notice names.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Sequence

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

from .context import AppContext, LabelsChanged
from .document_panel import DocumentPanel
from .highlight import query_terms
from .lookups import (
    RETRIEVERS,
    Candidates,
    Overview,
    QuerySummary,
    fetch_candidates,
    load_overview,
    pending_proposals,
    recount,
    top_overlap,
)
from .panes import CandidatePane
from .query_panel import QueryPanel
from .style import LABEL_TITLES, label_icon
from .workers import Job, Latest

DEFAULT_DEPTH = 20
CACHE_SIZE = 256  # candidate lists kept per (query, retriever, depth, model)
MAX_DEPTH = 100
# Above this many queries in one notice (a mining pass, an import), recounting
# is a scan: reload the overview on a worker instead of on the UI thread.
RECOUNT_INLINE_LIMIT = 64

# (label, shortcuts, title) of the label actions, in menu order.
LABEL_KEYS = (
    ("positive", ("1", "P"), "Mark positive"),
    ("negative", ("2", "N"), "Mark negative"),
    ("false_negative", ("3", "F"), "Mark false negative"),
    (None, ("0", "Backspace"), "Clear label"),
)


@dataclass(frozen=True)
class Totals:
    """Project-wide counts for the status bar, kept up to date from label notices."""

    documents: int = 0
    queries: int = 0
    labeled_queries: int = 0
    positives: int = 0
    negatives: int = 0
    false_negatives: int = 0

    @classmethod
    def of(cls, queries: Sequence[QuerySummary], documents: int) -> "Totals":
        return cls(documents, len(queries), sum(q.labeled for q in queries),
                   sum(q.positives for q in queries), sum(q.negatives for q in queries),
                   sum(q.false_negatives for q in queries))

    def replaced(self, old: QuerySummary, new: QuerySummary) -> "Totals":
        """These totals after one query's counts went from ``old`` to ``new``."""
        return replace(self, labeled_queries=self.labeled_queries + new.labeled - old.labeled,
                       positives=self.positives + new.positives - old.positives,
                       negatives=self.negatives + new.negatives - old.negatives,
                       false_negatives=self.false_negatives + new.false_negatives
                       - old.false_negatives)


def settings() -> QSettings:
    return QSettings("Retriever Studio", "Retriever Studio")


class LabelingWorkspace(QWidget):
    """The first tab of the main window; takes ``(context, parent)`` like every view."""

    candidatesShown = Signal(str, str)  # (retriever, query id) a pane now shows rows
    overviewLoaded = Signal()
    totalsChanged = Signal(object)  # Totals

    def __init__(self, context: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("labeling-workspace")
        store = settings()
        self.depth = int(store.value("labeling/depth", DEFAULT_DEPTH))
        self.advance = str(store.value("labeling/advance", "true")).lower() == "true"
        self._terms: frozenset[str] = frozenset()
        self._summary: QuerySummary | None = None
        self._results: dict[str, Candidates] = {}
        self._active = "bm25"
        self._ready = {"bm25": False}
        self._dense_ready: set[str] = set()
        self._errors: dict[str, str] = {}
        self._index_jobs: dict[str, Job] = {}
        self._overview_loaded = False
        self._from_pane = False
        self._closed = False
        self.totals = Totals()
        self._overlap_job: Job | None = None
        self._latest = {r: Latest(context.jobs, f"candidates:{r}", self) for r in RETRIEVERS}
        self._prefetch = {r: Latest(context.jobs, f"prefetch:{r}", self) for r in RETRIEVERS}
        self._prefetching: set[tuple] = set()  # cache keys the running prefetch will fill
        self._cache: OrderedDict[tuple, Candidates] = OrderedDict()

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
        self.find_query = QAction("Find query", self)
        self.find_query.setShortcut(QKeySequence.StandardKey.Find)
        self.find_query.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.find_query.triggered.connect(lambda: (self.queries.search.setFocus(),
                                                   self.queries.search.selectAll()))
        for act in (self.next_query, self.prev_query, self.find_query):
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

        context.currentQueryChanged.connect(self._query_changed)
        context.labelsChanged.connect(self._labels_changed)
        context.documentActivated.connect(self._show_document)
        context.modelChanged.connect(self._model_changed)
        context.candidatesChanged.connect(self._candidates_changed)
        context.jobs.jobProgress.connect(self._job_progress)

        for r in RETRIEVERS:
            self.panes[r].show_message("Loading queries…")
        self.reload_overview()
        self._start_index_jobs()

    # -- opening ------------------------------------------------------------------
    def reload_overview(self) -> None:
        """Read all queries with their label counts on a worker."""
        self.context.jobs.start("Reading queries", load_overview, self.context.project_path,
                                on_result=self._overview_ready, on_error=self._overview_failed,
                                announce=False)

    def _overview_ready(self, overview: Overview) -> None:
        first = not self._overview_loaded
        self._overview_loaded = True
        self.queries.set_queries(overview.queries, overview.splits)
        self.totals = Totals.of(overview.queries, overview.documents)
        self.totalsChanged.emit(self.totals)
        if first:
            current = self.context.current_query_id
            if not (current and self.queries.select_query(current)):
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

    def _start_index_jobs(self) -> None:
        retrieval = self.context.retrieval(None)
        self._index_jobs["bm25"] = self.context.jobs.start(
            "Building BM25 index", retrieval.ensure_bm25,
            on_result=lambda _r: self._index_ready("bm25"),
            on_error=lambda m: self._index_failed("bm25", m),
            on_cancel=lambda: self._index_failed(
                "bm25", "indexing was cancelled (Model → Build missing indexes resumes)."))

    def prepare_indexes(self) -> None:
        """(Re)start building whatever index is missing, e.g. after a cancel or an error."""
        bm25 = self._index_jobs.get("bm25")
        if not self._ready["bm25"] and (bm25 is None or bm25.done):
            self._errors.pop("bm25", None)
            self._start_index_jobs()
            return
        dense = self._index_jobs.get("dense")
        if self.context.model_id not in self._dense_ready and (dense is None or dense.done):
            self._errors.pop("dense", None)
            self._start_dense_job()

    def _start_dense_job(self) -> None:
        model_id = self.context.model_id
        if model_id in self._dense_ready:
            self._refresh_panes(("dense", "hybrid"))
            return
        old = self._index_jobs.get("dense")
        if old is not None and not old.done:
            old.cancel()
        retrieval = self.context.retrieval(model_id)
        self._show_dense_waiting("Loading the model…", 0.0)
        self._index_jobs["dense"] = self.context.jobs.start(
            f"Embedding documents ({_model_name(model_id)})", retrieval.ensure_dense,
            on_result=lambda _r, m=model_id: self._dense_done(m),
            on_error=lambda msg, m=model_id: self._dense_failed(m, msg),
            on_cancel=lambda m=model_id: self._dense_failed(
                m, "embedding was cancelled (Model → Build missing indexes resumes; "
                   "finished chunks are kept)."))

    def _index_ready(self, which: str) -> None:
        self._ready[which] = True
        self._errors.pop(which, None)
        self._refresh_panes(("bm25",))
        self._start_dense_job()

    def _index_failed(self, which: str, message: str) -> None:
        self._errors[which] = message
        self.panes["bm25"].show_message(f"BM25 unavailable: {message}")
        self._start_dense_job()

    def _dense_done(self, model_id: str) -> None:
        self._dense_ready.add(model_id)
        self._errors.pop("dense", None)
        if model_id == self.context.model_id:
            self._refresh_panes(("dense", "hybrid"))
            if self.queries.proxy.status == "disagree":
                self._compute_overlap()

    def _dense_failed(self, model_id: str, message: str) -> None:
        if model_id != self.context.model_id:
            return
        self._errors["dense"] = message
        for r in ("dense", "hybrid"):
            self.panes[r].show_message(f"Dense retrieval unavailable: {message}")
        if self.queries.proxy.status == "disagree":
            self.queries.count.setText(f"Cannot compare BM25 and dense: {message}")

    def _show_dense_waiting(self, message: str, fraction: float | None) -> None:
        if self.context.current_query_id is None:
            return
        for r in ("dense", "hybrid"):
            self.panes[r].show_message(message, fraction)

    def _job_progress(self, job: Job) -> None:
        if self.context.current_query_id is None:
            return  # the panes show why there is nothing to search (the status bar shows the job)
        if job is self._index_jobs.get("dense") and not self._is_ready("dense"):
            self._show_dense_waiting(job.message or job.name, job.fraction)
        elif job is self._index_jobs.get("bm25") and not self._ready["bm25"]:
            self.panes["bm25"].show_message(job.message or job.name, job.fraction)
            if not self._is_ready("dense"):
                self.panes["hybrid"].show_message("Waiting for the BM25 index…")

    def _model_changed(self, model_id: str) -> None:
        for q in self.queries.model.summaries():
            q.overlap = None  # overlaps were measured with the previous model
        self._errors.pop("dense", None)
        self._results.pop("dense", None)
        self._results.pop("hybrid", None)
        self._start_dense_job()

    # -- readiness ----------------------------------------------------------------
    @property
    def overview_loaded(self) -> bool:
        """The query list has been read (screenshots and tests wait for it)."""
        return self._overview_loaded

    def _is_ready(self, retriever: str) -> bool:
        if retriever == "bm25":
            return self._ready["bm25"]
        if retriever == "dense":
            return self.context.model_id in self._dense_ready
        return self._ready["bm25"] and self.context.model_id in self._dense_ready

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
            failed = r in self._errors or (r == "hybrid" and ("dense" in self._errors
                                                              or "bm25" in self._errors))
            if not failed and not (res and res.query_id == qid and self.panes[r].showing_candidates):
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
        for r in retrievers:
            if r == "hybrid" and not self.hybrid_box.isChecked():
                continue
            pane = self.panes[r]
            if not self._is_ready(r):
                if r in self._errors or (r == "hybrid" and self._errors):
                    continue
                job = self._index_jobs.get("bm25" if r == "bm25" or not self._ready["bm25"] else "dense")
                if job is not None and not job.done:
                    pane.show_message(job.message or job.name, job.fraction)
                else:
                    pane.show_message("Waiting for the index…")
                continue
            key = self._cache_key(qid, r)
            cached = self._cache.get(key)
            if cached is not None:  # visited or prefetched: show it without a round trip
                self._cache.move_to_end(key)
                self._latest[r].cancel()  # an older request must not overwrite it
                self._candidates_ready(cached)
                continue
            if self._results.get(r) is None or self._results[r].query_id != qid:
                pane.info.setText("searching…")
            if key in self._prefetching:
                # The prefetch of this very query is running: use it rather than search twice.
                self._latest[r].cancel()
                continue
            self._latest[r].request(
                fetch_candidates, self._retrieval_for(r), self.context.project_path, qid,
                self._summary.text, r, self.depth, self._terms,
                on_result=lambda res, key=key: (self._remember(key, res), self._candidates_ready(res)),
                on_error=lambda msg, name=r: self.panes[name].show_message(f"Search failed: {msg}"))

    def _retrieval_for(self, retriever: str):
        return self.context.retrieval(None if retriever == "bm25" else self.context.model_id)

    def _cache_key(self, query_id: str, retriever: str) -> tuple:
        return (query_id, retriever, self.depth, "" if retriever == "bm25" else self.context.model_id)

    def _remember(self, key: tuple, result: Candidates) -> None:
        self._cache[key] = result
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def _prefetch_next(self) -> None:
        """Fetch the next query's candidates while the user reads this one (``]`` is then instant)."""
        nxt = self.queries.neighbour(1)
        summary = self.queries.model.summary(nxt) if nxt else None
        if summary is None:
            return
        wanted = [r for r in self.visible_retrievers()
                  if self._is_ready(r) and self._cache_key(nxt, r) not in self._cache]
        if not wanted:
            return
        self._prefetching = {self._cache_key(nxt, r) for r in wanted}
        terms = query_terms(summary.text)
        for r in wanted:
            key = self._cache_key(nxt, r)
            self._prefetch[r].request(
                fetch_candidates, self._retrieval_for(r), self.context.project_path, nxt,
                summary.text, r, self.depth, terms,
                on_result=lambda res, key=key: self._prefetched(key, res),
                on_error=lambda _msg, key=key: self._prefetched(key, None))

    def _prefetched(self, key: tuple, result: Candidates | None) -> None:
        """A prefetch finished (``None``: it failed); show it if the user is already there."""
        self._prefetching.discard(key)
        query_id, retriever = key[0], key[1]
        if result is not None and key == self._cache_key(query_id, retriever):
            self._remember(key, result)
        if query_id == self.context.current_query_id:
            self._refresh_panes((retriever,))  # from the cache, or a normal search if it failed

    def _candidates_ready(self, result: Candidates) -> None:
        if result.query_id != self.context.current_query_id:
            return
        pane = self.panes[result.retriever]
        new_query = pane.model.query_id != result.query_id
        self._results[result.retriever] = result
        pane.set_candidates(result)
        ranks = {name: {row.doc_id: row.rank for row in res.rows}
                 for name, res in self._results.items()
                 if res.query_id == result.query_id and (name != "hybrid" or self.hybrid_box.isChecked())}
        for p in self.panes.values():
            p.model.set_other_ranks(ranks)
        if new_query and result.retriever == self._active and result.rows:
            pane.select_row(0)
        self.candidatesShown.emit(result.retriever, result.query_id)
        if all(self._results.get(r) is not None and self._results[r].query_id == result.query_id
               for r in self.visible_retrievers() if self._is_ready(r)):
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

    def _labels_changed(self, notice: LabelsChanged) -> None:
        project = self.context.project
        qid = self.context.current_query_id
        if len(notice.query_ids) > RECOUNT_INLINE_LIMIT:
            self.reload_overview()
        else:
            for changed in notice.query_ids:
                summary = self.queries.model.summary(changed)
                if summary is not None:
                    fresh = recount(project, summary)
                    self.totals = self.totals.replaced(summary, fresh)
                    self.queries.model.update_query(fresh)
            self.queries.refresh_counts()
            self.totalsChanged.emit(self.totals)
        if qid in notice.query_ids:
            self._show_labels(qid)
            self._summary = self.queries.model.summary(qid) or self._summary
            self._show_query_header()
            if self.document.doc_id and any(c.doc_id == self.document.doc_id and c.query_id == qid
                                            for c in notice.changes):
                self.document.show_label(project.get_label(qid, self.document.doc_id),
                                         project.label_history(qid, self.document.doc_id))

    def _candidates_changed(self, _pass: int) -> None:
        """A mining pass was stored: new proposals for many queries."""
        self.reload_overview()
        if self.context.current_query_id:
            self._show_labels(self.context.current_query_id)

    def _show_labels(self, query_id: str) -> None:
        """Read one query's labels and pending proposals (indexed lookups) into the panes."""
        project = self.context.project
        labels = project.labels_for_query(query_id)
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
        self.depth = depth
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
        ranks = {name: {row.doc_id: row.rank for row in res.rows}
                 for name, res in self._results.items()}
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
        if not self._is_ready("dense") or not self._ready["bm25"]:
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
        for job in self._index_jobs.values():
            if not job.done:
                job.cancel()
        ctx = self.context
        for signal, slot in ((ctx.currentQueryChanged, self._query_changed),
                             (ctx.labelsChanged, self._labels_changed),
                             (ctx.documentActivated, self._show_document),
                             (ctx.modelChanged, self._model_changed),
                             (ctx.candidatesChanged, self._candidates_changed),
                             (ctx.jobs.jobProgress, self._job_progress)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass


def _model_name(model_id: str) -> str:
    if model_id == "bundled":
        return "bundled model"
    return model_id.rstrip("/").rsplit("/", 1)[-1]
