"""What the map's colour modes need, loaded for the Map tab (the latest request wins).

The current query's labels and proposals are one small read on the UI
thread's connection; the whole-map label summary, the split of each
document's judging queries and a retriever's ranks run on job threads. The
result is one :class:`core.map.overlays.OverlayData`, which
:func:`core.map.overlays.map_overlays` turns into what is drawn.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from core.map.jobs import ask_project, ranks_for_query
from core.map.overlays import RANK_DEPTH, OverlayData
from core.project.queries import document_splits, label_summary, query_overlay

from .context import AppContext
from .workers import Latest


class OverlayLoader(QObject):
    """Holds the map's :class:`OverlayData` and loads the parts a colour mode needs."""

    changed = Signal()  # ``data`` changed: redraw
    loaded = Signal()  # a background load has finished
    failed = Signal(str)  # a user-facing message

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.data = OverlayData()
        self.pending = False  # a background load is under way
        self._ranks = Latest(context.jobs, "Map ranks", self)
        self._splits = Latest(context.jobs, "Map splits", self)
        self._all_labels = Latest(context.jobs, "Map labels", self)

    def load(self, mode: str, retriever: str) -> None:
        """The current query's labels, and what ``mode`` colours by."""
        self.refresh_query()
        if mode == "split":
            self.load_splits()
        elif mode == "all":
            self.load_all_labels()
        elif mode == "rank":
            self.load_ranks(retriever)

    def refresh_query(self) -> None:
        """Re-read the current query's labels and proposals (at once)."""
        qid = self.context.current_query_id
        self.data = replace(self.data, query=query_overlay(self.context.project, qid) if qid else None)
        self.changed.emit()

    def load_splits(self) -> None:
        self._request(self._splits, "splits", ask_project, self.context.project_path,
                      document_splits)

    def load_all_labels(self) -> None:
        self._request(self._all_labels, "all_labels", ask_project, self.context.project_path,
                      label_summary)

    def load_ranks(self, retriever: str) -> None:
        """Ranks of the current query's top :data:`RANK_DEPTH` under ``retriever`` (none without a query)."""
        qid = self.context.current_query_id
        query = self.context.project.get_query(qid) if qid else None
        if query is None:
            self.forget_ranks()
            self.changed.emit()
            return
        self._request(self._ranks, "ranks", ranks_for_query, self.context.retrieval(), query.text,
                      retriever, k=RANK_DEPTH)

    def forget_ranks(self) -> None:
        """Drop ranks of a query that is no longer current (without redrawing)."""
        self.data = replace(self.data, ranks=None)

    def _request(self, lookup: Latest, part: str, fn: Callable[..., Any], *args: Any,
                 **kwargs: Any) -> None:
        self.pending = True

        def store(value: Any) -> None:
            self.data = replace(self.data, **{part: value})
            self.pending = False
            self.changed.emit()
            self.loaded.emit()

        lookup.request(fn, *args, on_result=store, on_error=self._failed, **kwargs)

    def _failed(self, message: str) -> None:
        self.pending = False
        self.failed.emit(message)
