"""The labeling workspace's state, without widgets: indexes, candidates, label counts.

:class:`WorkspaceController` owns what the labeling view knows apart from
what it paints, so it is tested with pytest-qt without showing a window:

* **readiness**: the BM25 index and the dense embeddings of each model are
  prepared as announced, cancellable jobs (``Retrieval.ensure_bm25``, then
  ``ensure_dense``); the controller says which retrievers can search, which
  failed (and why) and which job a waiting pane should show;
* **candidates**: one "latest request wins" channel per retriever
  (:class:`gui.workers.Latest`) running :func:`core.labeling.candidates.fetch_candidates`
  on a worker, an LRU cache of answers keyed by (query, retriever, depth,
  model), and a prefetch of the next query so that moving on is instant;
* **label counts**: the query overview is read once on a worker
  (:func:`core.labeling.overview.load_overview`); afterwards every typed
  ``LabelsChanged`` notice is applied as a delta
  (:class:`core.labeling.overview.LabelCounts`), with no SQL on the UI thread.

The view listens to the signals below and decides what to show.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterable

from PySide6.QtCore import QObject, Signal

from core.labeling.candidates import RETRIEVERS, Candidates, fetch_candidates
from core.labeling.overview import (
    LabelCounts,
    Overview,
    QuerySummary,
    Totals,
    load_overview,
)
from core.progress import describe_step
from core.retrieval.highlight import query_terms

from .context import AppContext, LabelsChanged
from .workers import Job, Latest

DEFAULT_DEPTH = 20
CACHE_SIZE = 256  # candidate lists kept per (query, retriever, depth, model)
MAX_DEPTH = 100


class WorkspaceController(QObject):
    """Index readiness, the candidate cache with prefetch, and label counts of one open project."""

    # -- readiness: "bm25" or "dense" (dense always means the context's current model)
    indexReady = Signal(str)
    indexFailed = Signal(str, str)  # (which, message)
    # (which, stage text, the stage's fraction or None while its length is unknown): still
    # building. Both come from the job's newest core.progress.Step, so "0/60" never sits
    # beside a bar at the whole job's 25 %.
    indexWaiting = Signal(str, str, object)
    # -- candidates
    candidatesReady = Signal(object)  # Candidates a search (not the cache) just delivered
    candidatesFailed = Signal(str, str)  # (retriever, message)
    prefetchDone = Signal(str, str)  # (query id, retriever): rows are cached now, or it failed
    # -- counts
    overviewLoaded = Signal(object)  # Overview
    overviewFailed = Signal(str)
    countsChanged = Signal(object)  # {query id: QuerySummary} of the queries whose counts moved
    totalsChanged = Signal(object)  # Totals

    def __init__(self, context: AppContext, depth: int = DEFAULT_DEPTH,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.depth = max(1, min(MAX_DEPTH, int(depth)))
        self._bm25_ready = False
        # (model id, compute choice) pairs whose embeddings are loaded: another device or
        # encoder is another Retrieval, with its own embeddings (gui.context.AppContext.retrieval).
        self._dense_ready: set[tuple] = set()
        self._errors: dict[str, str] = {}  # "bm25" / "dense": why it cannot search
        self._index_jobs: dict[str, Job] = {}
        self._latest = {r: Latest(context.jobs, f"candidates:{r}", self) for r in RETRIEVERS}
        self._prefetch = {r: Latest(context.jobs, f"prefetch:{r}", self) for r in RETRIEVERS}
        self._prefetching: set[tuple] = set()  # cache keys the running prefetch will fill
        self._cache: OrderedDict[tuple, Candidates] = OrderedDict()
        self._overview_channel = Latest(context.jobs, "Reading queries", self)
        self._overview: Overview | None = None
        self._counts = LabelCounts()
        self._loading = False
        self._stale = False  # labels changed while the overview was being read
        context.labelsChanged.connect(self._labels_changed)
        context.candidatesChanged.connect(self._candidates_changed)
        context.computeChanged.connect(self._compute_changed)
        context.jobs.jobProgress.connect(self._job_progress)

    def start(self) -> None:
        """Read the overview and start preparing the indexes (the project just opened)."""
        self.reload_overview()
        self._start_bm25_job()

    # -- readiness ----------------------------------------------------------------
    def is_ready(self, retriever: str) -> bool:
        """Can ``retriever`` search now (hybrid needs both indexes)?"""
        dense = self._dense_key() in self._dense_ready
        if retriever == "bm25":
            return self._bm25_ready
        if retriever == "dense":
            return dense
        return self._bm25_ready and dense

    def failed(self, retriever: str) -> bool:
        """Preparing what ``retriever`` needs ended in an error (hybrid fails with either)."""
        if retriever == "hybrid":
            return bool(self._errors)
        return retriever in self._errors

    def error(self, which: str) -> str | None:
        return self._errors.get(which)

    def index_job(self, which: str) -> Job | None:
        """The latest job that built (or builds) the ``"bm25"`` or ``"dense"`` index."""
        return self._index_jobs.get(which)

    def waiting_for(self, retriever: str) -> Job | None:
        """The running job a pane of ``retriever`` waits for (None: none is running)."""
        which = "bm25" if retriever == "bm25" or not self._bm25_ready else "dense"
        job = self._index_jobs.get(which)
        return job if job is not None and not job.done else None

    def prepare_indexes(self) -> None:
        """(Re)start building whatever index is missing, e.g. after a cancel or an error."""
        bm25 = self._index_jobs.get("bm25")
        if not self._bm25_ready and (bm25 is None or bm25.done):
            self._errors.pop("bm25", None)
            self._start_bm25_job()
            return
        dense = self._index_jobs.get("dense")
        if self._dense_key() not in self._dense_ready and (dense is None or dense.done):
            self._errors.pop("dense", None)
            self._start_dense_job()

    def model_changed(self) -> None:
        """The context's model (or compute choice) changed: its embeddings may still have to be built."""
        self._errors.pop("dense", None)
        self._start_dense_job()

    def _compute_changed(self, _choice) -> None:
        """Another device or encoder: the dense pane's vectors come from another Retrieval."""
        self.model_changed()

    def _dense_key(self) -> tuple:
        return (self.context.model_id, self.context.compute)

    def _start_bm25_job(self) -> None:
        retrieval = self.context.retrieval(None)
        self._index_jobs["bm25"] = self.context.jobs.start(
            "Building BM25 index", retrieval.ensure_bm25,
            on_result=lambda _r: self._bm25_done(),
            on_error=self._bm25_failed,
            on_cancel=lambda: self._bm25_failed(
                "indexing was cancelled (Model → Build missing indexes resumes)."))

    def _start_dense_job(self) -> None:
        model_id = self.context.model_id
        key = self._dense_key()
        if key in self._dense_ready:
            self.indexReady.emit("dense")
            return
        old = self._index_jobs.get("dense")
        if old is not None and not old.done:
            old.cancel()
        retrieval = self.context.retrieval(model_id)
        self.indexWaiting.emit("dense", "Loading the model…", None)
        self._index_jobs["dense"] = self.context.jobs.start(
            f"Embedding documents ({model_name(model_id)})", retrieval.ensure_dense,
            on_result=lambda _r, k=key: self._dense_done(k),
            on_error=lambda msg, k=key: self._dense_failed(k, msg),
            on_cancel=lambda m=key: self._dense_failed(
                m, "embedding was cancelled (Model → Build missing indexes resumes; "
                   "finished chunks are kept)."))

    def _bm25_done(self) -> None:
        self._bm25_ready = True
        self._errors.pop("bm25", None)
        self.indexReady.emit("bm25")
        self._start_dense_job()

    def _bm25_failed(self, message: str) -> None:
        self._errors["bm25"] = message
        self.indexFailed.emit("bm25", message)
        self._start_dense_job()

    def _dense_done(self, key: tuple) -> None:
        self._dense_ready.add(key)
        self._errors.pop("dense", None)
        if key == self._dense_key():
            self.indexReady.emit("dense")

    def _dense_failed(self, key: tuple, message: str) -> None:
        if key != self._dense_key():
            return  # a job for a model (or compute choice) the user already left
        self._errors["dense"] = message
        self.indexFailed.emit("dense", message)

    def _job_progress(self, job: Job) -> None:
        if job is self._index_jobs.get("dense") and not self.is_ready("dense"):
            self.indexWaiting.emit("dense", *waiting_stage(job))
        elif job is self._index_jobs.get("bm25") and not self._bm25_ready:
            self.indexWaiting.emit("bm25", *waiting_stage(job))

    # -- candidates ------------------------------------------------------------------
    def cache_key(self, query_id: str, retriever: str) -> tuple:
        return (query_id, retriever, self.depth, "" if retriever == "bm25" else self._dense_key())

    def cached(self, query_id: str, retriever: str) -> Candidates | None:
        """The cached answer for this query at the current depth and model, if any."""
        return self._cache.get(self.cache_key(query_id, retriever))

    def fetch(self, query_id: str, text: str, terms: frozenset[str],
              retriever: str) -> Candidates | None:
        """The cached answer at once, or None after asking a worker (``candidatesReady`` follows).

        Either way an older request of this retriever is dropped, so it can
        never overwrite what the pane shows now. A running prefetch of this
        very query is joined rather than searched twice (``prefetchDone`` follows).
        """
        key = self.cache_key(query_id, retriever)
        cached = self._cache.get(key)
        if cached is not None:  # visited or prefetched: no round trip
            self._cache.move_to_end(key)
            self._latest[retriever].cancel()
            return cached
        if key in self._prefetching:
            self._latest[retriever].cancel()
            return None
        self._latest[retriever].request(
            fetch_candidates, self._retrieval_for(retriever), self.context.project_path, query_id,
            text, retriever, self.depth, terms,
            on_result=lambda res, key=key: (self._remember(key, res), self.candidatesReady.emit(res)),
            on_error=lambda msg, name=retriever: self.candidatesFailed.emit(name, msg))
        return None

    def prefetch(self, query_id: str, text: str, retrievers: Iterable[str]) -> None:
        """Fetch ``query_id``'s candidates for the ready ``retrievers`` not cached yet."""
        wanted = [r for r in retrievers
                  if self.is_ready(r) and self.cache_key(query_id, r) not in self._cache]
        if not wanted:
            return
        self._prefetching = {self.cache_key(query_id, r) for r in wanted}
        terms = query_terms(text)
        for r in wanted:
            key = self.cache_key(query_id, r)
            self._prefetch[r].request(
                fetch_candidates, self._retrieval_for(r), self.context.project_path, query_id,
                text, r, self.depth, terms,
                on_result=lambda res, key=key: self._prefetched(key, res),
                on_error=lambda _msg, key=key: self._prefetched(key, None))

    def _prefetched(self, key: tuple, result: Candidates | None) -> None:
        """A prefetch finished (``None``: it failed)."""
        self._prefetching.discard(key)
        query_id, retriever = key[0], key[1]
        if result is not None and key == self.cache_key(query_id, retriever):
            self._remember(key, result)  # (not when depth or model moved on meanwhile)
        self.prefetchDone.emit(query_id, retriever)

    def _retrieval_for(self, retriever: str):
        return self.context.retrieval(None if retriever == "bm25" else self.context.model_id)

    def _remember(self, key: tuple, result: Candidates) -> None:
        self._cache[key] = result
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    # -- label counts ----------------------------------------------------------------
    @property
    def overview_loaded(self) -> bool:
        return self._overview is not None

    @property
    def loading(self) -> bool:
        """The overview is being read (again)."""
        return self._loading

    @property
    def overview(self) -> Overview | None:
        """The overview as last read (its summaries are not kept current; see :meth:`summary`)."""
        return self._overview

    @property
    def totals(self) -> Totals:
        return self._counts.totals

    def summary(self, query_id: str) -> QuerySummary | None:
        """``query_id`` with its current counts (None before the overview or for an unknown id)."""
        return self._counts.summary(query_id)

    def summaries(self) -> list[QuerySummary]:
        return self._counts.summaries()

    def reload_overview(self) -> None:
        """Read all queries with their label counts on a worker (the newest read wins)."""
        self._loading = True
        self._stale = False
        self._overview_channel.request(load_overview, self.context.project_path,
                                       on_result=self._overview_ready,
                                       on_error=self._overview_failed)

    def _overview_ready(self, overview: Overview) -> None:
        self._loading = False
        self._overview = overview
        self._counts = LabelCounts(overview)
        self.totalsChanged.emit(self._counts.totals)
        self.overviewLoaded.emit(overview)
        if self._stale:
            # A label changed while the worker read: its snapshot may predate that change.
            self.reload_overview()

    def _overview_failed(self, message: str) -> None:
        self._loading = False
        self.overviewFailed.emit(message)

    def _labels_changed(self, notice: LabelsChanged) -> None:
        if self._loading:
            self._stale = True
        updated = self._counts.apply(notice.changes)
        if updated:
            self.countsChanged.emit(updated)
            self.totalsChanged.emit(self._counts.totals)
        if notice.restored and not self._loading:
            # Undo/redo can make a reviewed proposal pending again, which deltas do not
            # know: read the counts again (a worker; the label counts above are exact already).
            self.reload_overview()

    def _candidates_changed(self, _pass: int) -> None:
        """A mining pass was stored: new proposals for many queries, so read the overview again."""
        self.reload_overview()

    # -- closing -------------------------------------------------------------------
    def shutdown(self) -> None:
        """The project is closing: cancel the index jobs and stop listening."""
        for job in self._index_jobs.values():
            if not job.done:
                job.cancel()
        ctx = self.context
        for signal, slot in ((ctx.labelsChanged, self._labels_changed),
                             (ctx.candidatesChanged, self._candidates_changed),
                             (ctx.computeChanged, self._compute_changed),
                             (ctx.jobs.jobProgress, self._job_progress)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass


def model_name(model_id: str) -> str:
    """A short name for a job title: the folder's last part, or "bundled model"."""
    if model_id == "bundled":
        return "bundled model"
    return model_id.rstrip("/").rsplit("/", 1)[-1]


def waiting_stage(job: Job) -> tuple[str, float | None]:
    """The job's current stage as (text with its count, the stage's own fraction or None)."""
    step = job.progress.step
    if step is None:  # reported through the bare callback only
        return job.message or job.name, job.fraction
    return describe_step(step) or job.name, step.local
