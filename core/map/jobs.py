"""The jobs the Map tab runs, each a plain function a worker thread can call.

A model's map (:func:`compute_layout`, cached), two models' maps aligned for
before/after (:func:`before_after`), the current query's ranks
(:func:`ranks_for_query`), one read-only question asked of a project by path
(:func:`ask_project`), and the UMAP warm-up (:func:`warm_up`, run once per
process in the background by :func:`start_warm_up`). How layouts are
computed is in :mod:`core.map.layout`.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TypeVar

import numpy as np

from core.map.layout import (
    DEFAULT_FIT_LIMIT,
    DEFAULT_N_NEIGHBORS,
    MapLayout,
    apply_alignment,
    fit_on_hnsw,
    layout_points,
    nearest_documents,
    pair_distances,
    place_by_neighbours,
    procrustes_align,
    unit_vectors,
)
from core.map.layout_cache import layout_key, load_layout, open_project, save_layout
from core.map.umap_runtime import import_umap
from core.progress import Progress

if TYPE_CHECKING:  # pragma: no cover
    from core.project.file import Project

T = TypeVar("T")


def warm_up(progress: Progress | None = None) -> float:
    """Compile (or load from the numba cache) every UMAP kernel a map uses.

    Fits a tiny random data set through both code paths (exact neighbours
    for small data; hnswlib neighbours and the placement of documents left
    out of the fit for large), so the user's first map does not pay for
    compilation. Returns the seconds it took.
    """
    progress = progress or Progress()
    start = time.perf_counter()
    progress.fraction(0.0, "Preparing the embedding map (loading UMAP)")
    umap = import_umap()
    progress.fraction(0.3, "Preparing the embedding map (compiling)")
    rng = np.random.default_rng(0)
    data = unit_vectors(rng.normal(size=(120, 16)).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        umap.UMAP(n_neighbors=10, metric="cosine", random_state=0, n_epochs=20).fit(data)
        progress.fraction(0.6, "Preparing the embedding map (compiling)")
        _, index, fit_xy = fit_on_hnsw(data, 10, n_epochs=20)
        place_by_neighbours(index, fit_xy, data[:8], 10)
    progress.fraction(1.0, "Embedding map ready")
    return time.perf_counter() - start


_warm_started = threading.Event()


def start_warm_up() -> None:
    """Run :func:`warm_up` on a background thread, once per process.

    Called when the app starts, so the first map does not wait for numba.
    """
    if _warm_started.is_set():
        return
    _warm_started.set()

    def run() -> None:
        try:
            warm_up()
        except Exception:  # a failed warm-up only means the first map compiles
            pass

    threading.Thread(target=run, name="map-warm-up", daemon=True).start()


def compute_layout(
    project: "Project | str | Path",
    model_id: str | None = None,
    *,
    reference: MapLayout | None = None,
    n_neighbors: int = DEFAULT_N_NEIGHBORS,
    seed: int = 0,
    fit_limit: int = DEFAULT_FIT_LIMIT,
    use_cache: bool = True,
    device: str | None = "auto",
    encoder: str | None = "exact",
    progress: Progress | None = None,
) -> MapLayout:
    """The map of a project's documents and queries under one model (cached).

    ``project`` may be a path: a worker thread then opens its own connection.
    With ``reference`` (a layout of another model over the same corpus) the
    UMAP starts from the reference's coordinates and the result is rotated,
    scaled and shifted onto it (:func:`procrustes_align`), so that points
    move only where the two models disagree.

    ``device`` and ``encoder`` choose what encodes (:mod:`core.retrieval.device`;
    the choice is noted on ``progress``), so vectors the dense index or a
    finished fine-tune already cached for that encoder are reused. A cached
    map is reused whichever encoder made it (fast and exact vectors agree to
    a cosine of 0.99 or more, which no map shows).
    """
    from core.retrieval.embeddings import document_embeddings, query_embeddings
    from core.retrieval.encoder import resolve_model
    from core.retrieval.encoder_choice import select_encoder

    progress = progress or Progress()
    project, owned = open_project(project)
    try:
        progress.fraction(0.0, "Checking the map cache")
        model_id, key = layout_key(project, model_id, reference=reference,
                                   n_neighbors=n_neighbors, seed=seed, fit_limit=fit_limit)
        if use_cache:
            hit = load_layout(project, key)
            if hit is not None:
                progress.fraction(1.0, "Map loaded from cache")
                return hit
        seconds: dict[str, float] = {}
        t = time.perf_counter()
        doc_ids = project.document_ids()
        query_ids = [q.id for q in project.queries()]
        progress.fraction(0.01, "Loading the model")
        _, folder = resolve_model(project, model_id)
        chosen = select_encoder(project, model_id, folder, encoder=encoder, device=device,
                                progress=progress.sub(0.01, 0.03)).encoder
        seconds["load_model"] = time.perf_counter() - t
        t = time.perf_counter()
        doc_emb = document_embeddings(project, chosen, progress=progress.sub(0.03, 0.45))
        seconds["embed_documents"] = time.perf_counter() - t
        t = time.perf_counter()
        query_emb = query_embeddings(project, chosen, query_ids, progress=progress.sub(0.45, 0.5))
        seconds["embed_queries"] = time.perf_counter() - t

        init_doc = init_query = None
        if reference is not None:
            init_doc, init_query = _reference_init(reference, doc_ids, query_ids)
        doc_xy, query_xy, info = layout_points(
            doc_emb, query_emb, n_neighbors=n_neighbors, seed=seed, fit_limit=fit_limit,
            init_doc_xy=init_doc, init_query_xy=init_query, progress=progress.sub(0.5, 0.97))
        seconds.update(info["seconds"])
        if init_doc is not None:
            ref_all = np.vstack([init_doc, init_query])
            alignment = procrustes_align(np.vstack([doc_xy, query_xy]), ref_all)
            doc_xy, query_xy = apply_alignment(doc_xy, alignment), apply_alignment(query_xy, alignment)
        progress.fraction(0.98, "Finding each query's nearest documents")
        neighbors = nearest_documents(doc_emb, query_emb)
        layout = MapLayout(doc_ids, doc_xy, query_ids, query_xy, model_id,
                           info["method"], info["fitted"], neighbors,
                           reference.key if reference is not None else None, key, seconds)
        save_layout(project, layout)
        progress.fraction(1.0, "Map ready")
        return layout
    finally:
        if owned:
            project.close()


def _reference_init(reference: MapLayout, doc_ids: Sequence[str],
                    query_ids: Sequence[str]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The reference's coordinates in this corpus' row order, or (None, None) if ids differ."""
    d_index, q_index = reference.doc_index, reference.query_index
    if any(d not in d_index for d in doc_ids) or any(q not in q_index for q in query_ids):
        return None, None
    doc = reference.doc_xy[[d_index[d] for d in doc_ids]] if doc_ids else np.zeros((0, 2), np.float32)
    query = (reference.query_xy[[q_index[q] for q in query_ids]] if query_ids
             else np.zeros((0, 2), np.float32))
    return doc, query


def ranks_for_query(retrieval: Any, query_text: str, retriever: str = "dense",
                    k: int = 100, *, progress: Progress | None = None) -> dict[str, int]:
    """``{doc_id: rank}`` (1-based) of the top ``k`` hits of a :class:`core.retrieval.service.Retrieval`."""
    if progress is not None:
        progress.fraction(0.0, "Ranking documents for the map")
    return {hit.doc_id: hit.rank for hit in retrieval.search(query_text, retriever=retriever, k=k)}


@dataclass(frozen=True)
class BeforeAfter:
    """Two models' maps, the second aligned onto the first, and how labelled pairs moved.

    ``summary[label] = (median_before, median_after, pairs)``: median map
    distance between each query and its documents with that label, in units
    of the map's spread (:func:`pair_distances`). Fine-tuning that works
    pulls positives in (after < before) and pushes negatives out.
    """

    before: MapLayout
    after: MapLayout
    summary: dict[str, tuple[float, float, int]]

    def blend(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Document and query positions a fraction ``t`` of the way from before (0) to after (1)."""
        a, b = self.before, self.after
        if t >= 1.0:
            return b.doc_xy, b.query_xy
        return (1 - t) * a.doc_xy + t * b.doc_xy, (1 - t) * a.query_xy + t * b.query_xy

    def trails(self, query_row: int, doc_ids: Iterable[str]) -> np.ndarray:
        """Segments from where a query and its documents sat before to where they sit after.

        Rows alternate start, end (2k x 2), for a line item that connects pairs.
        """
        a, b = self.before, self.after
        rows = [b.doc_index[d] for d in doc_ids if d in b.doc_index]
        start = np.vstack([a.query_xy[[query_row]], a.doc_xy[rows]]) if rows else a.query_xy[[query_row]]
        end = np.vstack([b.query_xy[[query_row]], b.doc_xy[rows]]) if rows else b.query_xy[[query_row]]
        pts = np.empty((2 * len(start), 2), np.float32)
        pts[0::2], pts[1::2] = start, end
        return pts


def before_after(project: "Project | str | Path", before_model: str | None, after_model: str | None,
                 *, progress: Progress | None = None, **params: Any) -> BeforeAfter:
    """Layouts of two models over the same corpus, ``after`` started from and aligned to ``before``."""
    progress = progress or Progress()
    project, owned = open_project(project)
    try:
        before = compute_layout(project, before_model, progress=progress.sub(0.0, 0.5), **params)
        after = compute_layout(project, after_model, reference=before,
                               progress=progress.sub(0.5, 0.98), **params)
        summary: dict[str, tuple[float, float, int]] = {}
        by_label: dict[str, list[tuple[str, str]]] = {}
        for lab in project.all_labels():
            by_label.setdefault(lab.label, []).append((lab.query_id, lab.doc_id))
        for label, pairs in by_label.items():
            a, b = pair_distances(before, pairs), pair_distances(after, pairs)
            if len(a):
                summary[label] = (float(np.median(a)), float(np.median(b)), len(a))
        progress.fraction(1.0, "Before/after maps ready")
        return BeforeAfter(before, after, summary)
    finally:
        if owned:
            project.close()


def ask_project(path: "str | Path", question: Callable[..., T], *args: Any,
                progress: Progress | None = None) -> T:
    """``question(project, *args)`` on the project at ``path``, opened and closed on this thread.

    For read-only questions (``core.project.queries``) asked from a worker
    thread, which must not share the UI thread's connection.
    """
    project, owned = open_project(path)
    try:
        return question(project, *args)
    finally:
        if owned:
            project.close()
