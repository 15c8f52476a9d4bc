"""A 2-D map of the embedding space: documents and queries laid out by UMAP.

The layout is UMAP (McInnes, Healy & Melville 2018, arXiv:1802.03426) with the
cosine metric over the document embeddings plus the query embeddings of one
model, seeded so that the same inputs give the same picture. It is plain
data (:class:`MapLayout`) and is cached per (model fingerprint, corpus
revision, query set, parameters) under ``project.data_dir / "maps"``.

Sizes:

* fewer than :data:`MIN_UMAP_POINTS` points: UMAP's spectral initialisation
  cannot work (it needs more points than eigenvectors), so the map is the
  first two principal components of the unit vectors (``method="pca"``);
* up to ``fit_limit`` documents: one UMAP fit over all documents and queries,
  ``n_neighbors = min(15, n - 1)``;
* more documents: UMAP is fitted on a seeded sample of ``fit_limit``
  documents plus all queries and each remaining document is placed at the
  weighted mean of its nearest fitted points (:func:`place_by_neighbours`,
  ``method="umap+transform"``), which keeps 100,000 documents within about
  20 s on two cores; the method before (``UMAP.transform`` of the rest with
  30 epochs) stays available as ``placement="transform"`` for comparison
  (see benchmarks/README.md, Map).

UMAP has no progress callback, so a job reports its stages (embedding,
neighbour search, graph + layout optimisation, placement chunks) and is
cancellable between them; during a long stage a ticker reports the elapsed
time so the bar never looks frozen.

Numba compiles UMAP's kernels on the first call in a process (about 15 s on
two cores). Three things hide that: :func:`import_umap` imports
umap/pynndescent with numba's on-disk cache switched on for all their
kernels (in a versioned folder under the user cache directory), so a new
process loads compiled code instead of compiling it again; neighbours of
large maps come from hnswlib (:class:`HnswNeighbours`) rather than
NN-descent, whose kernels numba refuses to cache; and :func:`warm_up` runs
every kernel once on a tiny random data set (the GUI does that in the
background at start), which fills the cache on the very first run and
loads it afterwards.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from core.map.umap_runtime import import_umap
from core.progress import Progress

if TYPE_CHECKING:  # pragma: no cover
    pass


LAYOUT_VERSION = 2  # 2: sample of 10,000, the rest placed by their neighbours
# Fitting 10,000 documents instead of 20,000 halves the fit (its epochs cost
# in proportion to the points) and kept every measured quality figure on the
# benchmark's clustered data (benchmarks/README.md, Map).
DEFAULT_FIT_LIMIT = 10_000
DEFAULT_N_NEIGHBORS = 15
MIN_UMAP_POINTS = 8
NEIGHBOURS_K = 10  # nearest documents per query, in the embedding space
TRANSFORM_CHUNK = 10_000
TRANSFORM_EPOCHS = 30  # what UMAP itself uses to transform more than 10,000 points
# hnswlib search breadth when placing documents: at 50,000 documents ef 15
# saved 1.4 s of 4.5 but put 0.5 % of them beside another topic, ef 40 none.
PLACE_EF = 40
PLACE_CHUNK = 20_000  # documents placed between two progress reports / cancel checks
N_EPOCHS = 200
# Started from a previous map, a small learning rate keeps points where they
# were unless the new model's neighbours pull them. Measured on the demo
# (400 SciFact abstracts, 100 queries, bundled vs a 4-epoch fine-tune): the
# same model refitted from its own map drifts 0.18 (median, in units of the
# map's spread) at UMAP's default 1.0 and 0.11 at 0.1, while the fine-tuned
# model's positives come 0.085 -> 0.056 closer to their queries at 0.1
# (0.085 -> 0.071 at 1.0): less noise, more of the model's real change.
ALIGNED_LEARNING_RATE = 0.1
APPROXIMATE_FROM = 4096  # UMAP's own switch from exact to approximate neighbours


# -- layout data -------------------------------------------------------------------

@dataclass(frozen=True)
class MapLayout:
    """Map coordinates of every document and query of one model.

    ``query_neighbors[i]`` holds the row indices (into ``doc_ids``) of the
    :data:`NEIGHBOURS_K` documents nearest to query ``i`` in the embedding
    space (cosine), so a view can show where UMAP kept or tore a query's
    true neighbourhood.
    """

    doc_ids: list[str]
    doc_xy: np.ndarray  # (n_docs, 2) float32
    query_ids: list[str]
    query_xy: np.ndarray  # (n_queries, 2) float32
    model_id: str
    method: str = "umap"  # "umap", "umap+transform", "pca", "empty"
    fitted: int = 0  # points the 2-D model was fitted on (the rest transformed)
    query_neighbors: np.ndarray | None = None  # (n_queries, k) int32
    aligned_to: str | None = None  # key of the layout this one was aligned to
    key: str = ""
    seconds: dict[str, float] = field(default_factory=dict)  # time per stage

    @cached_property
    def doc_index(self) -> dict[str, int]:
        return {d: i for i, d in enumerate(self.doc_ids)}

    @cached_property
    def query_index(self) -> dict[str, int]:
        return {q: i for i, q in enumerate(self.query_ids)}

    def doc_position(self, doc_id: str) -> np.ndarray | None:
        i = self.doc_index.get(doc_id)
        return None if i is None else self.doc_xy[i]

    def query_position(self, query_id: str) -> np.ndarray | None:
        i = self.query_index.get(query_id)
        return None if i is None else self.query_xy[i]


# -- numeric core ------------------------------------------------------------------

def unit_vectors(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32)


def _pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal components (zero-padded when there are fewer)."""
    out = np.zeros((len(x), 2), dtype=np.float32)
    if len(x) < 2:
        return out
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    k = min(2, len(s))
    out[:, :k] = (u[:, :k] * s[:k]).astype(np.float32)
    return out


class _Ticker:
    """Reports elapsed time inside a stage that has no progress of its own.

    The bar creeps towards the stage's end as ``1 - exp(-t / expected)``
    (never reaching it) and the message says how long the stage has run.
    """

    def __init__(self, progress: Progress, message: str, expected_s: float) -> None:
        self._progress = progress
        self._message = message
        self._expected = max(expected_s, 0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="map-ticker")

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.wait(0.5):
            t = time.monotonic() - start
            try:
                self._progress.fraction(0.95 * (1 - np.exp(-t / self._expected)),
                                        f"{self._message} ({t:.0f} s)")
            except Exception:  # cancelled: the stage ends at its own pace
                return

    def __enter__(self) -> "_Ticker":
        self._progress.fraction(0.0, self._message)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class HnswNeighbours:
    """Cosine k-nearest-neighbour search with hnswlib, shaped for UMAP.

    Passed as the third element of UMAP's ``precomputed_knn``, it is the
    search index ``UMAP.transform`` queries (UMAP only calls ``query`` and
    reads ``_angular_trees``). The graph is built on one thread so that the
    same data always gives the same neighbours (a seeded map stays the
    same); queries run on all cores.
    """

    _angular_trees = True  # UMAP picks its search epsilon from this; unused here

    def __init__(self, data: np.ndarray, *, seed: int = 0, m: int = 12,
                 ef_construction: int = 64) -> None:
        import hnswlib

        self._data = np.ascontiguousarray(data, dtype=np.float32)
        self._index = hnswlib.Index(space="cosine", dim=self._data.shape[1])
        self._index.init_index(max_elements=len(self._data), ef_construction=ef_construction,
                               M=m, random_seed=seed)
        self._index.set_num_threads(1)
        self._index.add_items(self._data, np.arange(len(self._data)))
        self._index.set_num_threads(os.cpu_count() or 1)

    def query(self, x: np.ndarray, k: int, epsilon: float = 0.1,
              ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(indices int32, cosine distances float32)`` of the ``k`` nearest indexed rows.

        ``ef`` is hnswlib's search breadth (at least ``k``; default
        ``max(40, 2k)``): larger finds the true neighbours more often, slower.
        """
        k = min(k, len(self._data))
        self._index.set_ef(max(k, ef if ef is not None else max(40, 2 * k)))
        idx, dist = self._index.knn_query(np.ascontiguousarray(x, dtype=np.float32), k=k)
        return idx.astype(np.int32), np.maximum(dist, 0.0).astype(np.float32)

    def self_neighbours(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each indexed row's ``k`` neighbours, itself first at distance 0 (as UMAP expects)."""
        idx, dist = self.query(self._data, k)
        rows = np.arange(len(idx))
        missing = ~(idx == rows[:, None]).any(axis=1)
        idx[missing, -1] = rows[missing]  # the search missed the point itself
        dist[idx == rows[:, None]] = 0.0
        order = np.argsort(dist, axis=1, kind="stable")
        return np.take_along_axis(idx, order, axis=1), np.take_along_axis(dist, order, axis=1)


def _expected_fit_seconds(n: int) -> float:
    # Measured on 2 shared cores: about 17-20 s for 50,000 points.
    return 1.0 + n * 3.5e-4


def _pca_init(x: np.ndarray) -> np.ndarray:
    """UMAP's ``init="pca"`` start, from the ``dim x dim`` covariance instead of a full SVD.

    sklearn's PCA decomposes the whole ``n x dim`` matrix (1.6 s for 21,000
    points of 384 dimensions on two busy cores); the covariance's
    eigenvectors are the same axes in a tenth of that. Signs are fixed (the
    largest loading positive) so the start does not depend on the solver,
    and the coordinates are scaled to +-10 as UMAP scales its own PCA start.
    """
    centred = x - x.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, ::-1][:, :2]
    axes *= np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])
    coords = centred @ axes
    return (10.0 * coords / max(float(np.abs(coords).max()), 1e-12)).astype(np.float32)


def place_by_neighbours(index: "HnswNeighbours", fit_xy: np.ndarray, x: np.ndarray,
                        k: int) -> np.ndarray:
    """Map positions of ``x`` as the weighted mean of their ``k`` nearest fitted points.

    The weights are the fuzzy memberships ``exp(-d / sigma)`` that
    ``UMAP.transform`` gives a new point's neighbours (``smooth_knn_dist``
    with local connectivity 0, so that ``log2(k)`` is the weights' sum), and
    the weighted mean is where ``transform`` starts each point before its
    optimisation epochs. Without those epochs (and without ``transform``'s
    row-by-row Python loop over a sparse matrix), placing 30,000 documents
    took 4 s instead of 15-19 s on two busy cores, and as many landed beside
    a fitted document of their own topic (benchmarks/README.md, Map).
    """
    from umap.umap_ import smooth_knn_dist

    idx, dist = index.query(x, k, ef=PLACE_EF)
    sigmas, _ = smooth_knn_dist(dist, float(k), local_connectivity=0.0)
    weights = np.exp(-dist / sigmas[:, None]).astype(np.float32)
    weights /= weights.sum(axis=1, keepdims=True)
    xy = np.einsum("nk,nkd->nd", weights, fit_xy[idx]).astype(np.float32)
    same = dist[:, 0] == 0  # a copy of a fitted point sits on it, as transform puts it
    xy[same] = fit_xy[idx[same, 0]]
    return xy


def fit_on_hnsw(data: np.ndarray, k: int, *, seed: int = 0,
                n_epochs: int = N_EPOCHS) -> tuple[Any, "HnswNeighbours", np.ndarray]:
    """``(model, index, 2-D float32 coordinates)`` of a seeded cosine UMAP on hnswlib neighbours.

    The path of large maps in one call, without stages or progress: for
    :func:`core.map.jobs.warm_up` and for tests.
    """
    umap = import_umap()
    index = HnswNeighbours(data, seed=seed)
    knn_idx, knn_dist = index.self_neighbours(k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seeded -> single thread; tiny-graph notices
        model = umap.UMAP(n_neighbors=k, metric="cosine", random_state=seed, n_epochs=n_epochs,
                          precomputed_knn=(knn_idx, knn_dist, index),
                          force_approximation_algorithm=True)
        fit_xy = model.fit_transform(data).astype(np.float32)
    return model, index, fit_xy


PLACEMENTS = ("neighbours", "transform")


def layout_points(
    doc_emb: np.ndarray,
    query_emb: np.ndarray,
    *,
    n_neighbors: int = DEFAULT_N_NEIGHBORS,
    seed: int = 0,
    fit_limit: int = DEFAULT_FIT_LIMIT,
    init_doc_xy: np.ndarray | None = None,
    init_query_xy: np.ndarray | None = None,
    placement: str = "neighbours",
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """2-D coordinates for documents and queries; returns ``(doc_xy, query_xy, info)``.

    ``init_*_xy`` (both or neither) start UMAP's optimisation from a previous
    layout, so that a second model's map keeps the first one's arrangement
    and movement means something. ``info`` has ``method``, ``fitted``,
    ``seconds`` per stage and, for UMAP, ``fit_rows`` (the documents fitted)
    and ``placement`` (how the others were placed, None if none were).

    Documents beyond ``fit_limit`` are placed by ``placement``:
    ``"neighbours"`` (:func:`place_by_neighbours`) or ``"transform"``,
    ``UMAP.transform`` in chunks of :data:`TRANSFORM_CHUNK` with
    :data:`TRANSFORM_EPOCHS` epochs: the method before issue 13, kept so that
    benchmarks/map_bench.py can compare the two in one run.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, not {placement!r}")
    progress = progress or Progress()
    n_docs, n_queries = len(doc_emb), len(query_emb)
    n = n_docs + n_queries
    info: dict[str, Any] = {"seconds": {}}
    if n == 0:
        info.update(method="empty", fitted=0)
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32), info
    dim = doc_emb.shape[1] if n_docs else query_emb.shape[1]
    docs = unit_vectors(np.asarray(doc_emb, dtype=np.float32).reshape(n_docs, dim))
    queries = unit_vectors(np.asarray(query_emb, dtype=np.float32).reshape(n_queries, dim))

    if n < MIN_UMAP_POINTS:
        xy = _pca_2d(np.vstack([docs, queries]))
        info.update(method="pca", fitted=n)
        progress.fraction(1.0, "Map laid out (PCA: too few points for UMAP)")
        return xy[:n_docs], xy[n_docs:], info

    t = time.perf_counter()
    progress.sub(0.0, 0.1).fraction(0.0, "Loading UMAP")
    umap = import_umap()
    info["seconds"]["import"] = time.perf_counter() - t

    if n_docs > fit_limit:
        rng = np.random.default_rng(seed)
        fit_rows = np.sort(rng.choice(n_docs, size=fit_limit, replace=False))
    else:
        fit_rows = np.arange(n_docs)
    rest_rows = np.setdiff1d(np.arange(n_docs), fit_rows, assume_unique=True)
    fit_data = np.vstack([docs[fit_rows], queries])
    n_fit = len(fit_data)
    k = max(2, min(n_neighbors, n_fit - 1))
    # Share of the bar for neighbours + fit; placing a document costs about
    # a tenth of fitting one.
    fit_share = n_fit / (n_fit + 0.1 * len(rest_rows))

    # Spectral initialisation (UMAP's default) costs 40 % of a 20k-point
    # fit on clustered data (one eigensolver per connected component); PCA
    # takes under a second and separates the same clusters (Kobak &
    # Linderman 2021 find both keep global structure).
    init: np.ndarray | str = "spectral"
    if n_fit >= APPROXIMATE_FROM:
        init = "pca" if placement == "transform" else _pca_init(fit_data)
    learning_rate = 1.0
    if init_doc_xy is not None and init_query_xy is not None:
        init = np.vstack([init_doc_xy[fit_rows], init_query_xy]).astype(np.float64)
        learning_rate = ALIGNED_LEARNING_RATE

    # UMAP runs 500 epochs below 10,000 points and 200 above; 200 gives the
    # same picture at 40 % of the time, so every size gets 200.
    params = dict(n_neighbors=k, metric="cosine", random_state=seed, init=init, n_jobs=1,
                  n_epochs=N_EPOCHS, learning_rate=learning_rate)
    index: HnswNeighbours | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seeded -> single thread; tiny-graph notices
        if n_fit >= APPROXIMATE_FROM or len(rest_rows):
            # From 4096 points UMAP would search neighbours with NN-descent,
            # whose numba kernels cannot be cached on disk ("dynamic
            # globals"): every new process would compile them again (30-70 s
            # on two cores). hnswlib needs no compilation; doing the search
            # here also gives the job a stage boundary (progress, cancel),
            # and the same index then places the documents left out of the fit.
            t = time.perf_counter()
            stage = progress.sub(0.1, 0.1 + 0.35 * fit_share)
            with _Ticker(stage, f"Finding neighbours of {n_fit:,} points",
                         _expected_fit_seconds(n_fit) * 0.4):
                index = HnswNeighbours(fit_data, seed=seed)
                knn_idx, knn_dist = index.self_neighbours(k)
            info["seconds"]["neighbours"] = time.perf_counter() - t
            stage.fraction(1.0, "Neighbours found")
            params["precomputed_knn"] = (knn_idx, knn_dist, index)
            fit_stage = progress.sub(0.1 + 0.35 * fit_share, fit_share)
        else:
            fit_stage = progress.sub(0.1, fit_share)
        t = time.perf_counter()
        model = umap.UMAP(**params)
        with _Ticker(fit_stage, f"Laying out {n_fit:,} points (UMAP)",
                     _expected_fit_seconds(n_fit) * 0.6):
            fit_xy = model.fit_transform(fit_data).astype(np.float32)
        info["seconds"]["fit"] = time.perf_counter() - t
        fit_stage.fraction(1.0, "Layout fitted")

        doc_xy = np.empty((n_docs, 2), np.float32)
        doc_xy[fit_rows] = fit_xy[: len(fit_rows)]
        query_xy = fit_xy[len(fit_rows):]
        if len(rest_rows):
            t = time.perf_counter()
            stage = progress.sub(fit_share, 1.0)
            if placement == "transform":
                # transform() runs n_epochs // 3 epochs; new points start at the
                # weighted mean of their neighbours, so 30 epochs settle them.
                model.n_epochs = 3 * TRANSFORM_EPOCHS
                chunk = TRANSFORM_CHUNK
            else:
                chunk = PLACE_CHUNK
            for start in range(0, len(rest_rows), chunk):
                stage.update(start, len(rest_rows),
                             f"Placing the other documents: {start:,}/{len(rest_rows):,}")
                rows = rest_rows[start:start + chunk]
                if index is None or placement == "transform":
                    doc_xy[rows] = model.transform(docs[rows]).astype(np.float32)
                else:
                    doc_xy[rows] = place_by_neighbours(index, fit_xy, docs[rows], k)
            info["seconds"]["transform" if placement == "transform" else "place"] = (
                time.perf_counter() - t)
    # "umap+transform" names the family (a fitted sample, the rest placed
    # out of sample) whichever placement ran; info["placement"] says which.
    info.update(method="umap+transform" if len(rest_rows) else "umap", fitted=n_fit,
                placement=placement if len(rest_rows) else None, fit_rows=fit_rows)
    progress.fraction(1.0, "Map laid out")
    return doc_xy, query_xy, info


def nearest_documents(doc_emb: np.ndarray, query_emb: np.ndarray, k: int = NEIGHBOURS_K,
                      chunk: int = 256) -> np.ndarray:
    """Row indices of the ``k`` documents most cosine-similar to each query, best first."""
    k = min(k, len(doc_emb))
    out = np.zeros((len(query_emb), k), dtype=np.int32)
    if k == 0 or len(query_emb) == 0:
        return out
    docs = unit_vectors(doc_emb)
    for start in range(0, len(query_emb), chunk):
        sims = unit_vectors(query_emb[start:start + chunk]) @ docs.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        out[start:start + chunk] = np.take_along_axis(top, order, axis=1)
    return out


def procrustes_align(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Similarity transform (rotation/reflection, scale, shift) taking ``source`` onto ``target``.

    Least squares over corresponding rows (orthogonal Procrustes, Schönemann
    1966). Returns ``(R, s, t_source_mean, t_target_mean)``; apply with
    :func:`apply_alignment`.
    """
    from scipy.linalg import orthogonal_procrustes

    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    a, b = source - mu_s, target - mu_t
    norm = float((a * a).sum())
    if len(source) < 2 or norm == 0.0:
        return np.eye(2), 1.0, mu_s, mu_t
    rotation, singular_sum = orthogonal_procrustes(a, b)
    return rotation, float(singular_sum / norm), mu_s, mu_t


def apply_alignment(xy: np.ndarray, alignment: tuple[np.ndarray, float, np.ndarray, np.ndarray]) -> np.ndarray:
    rotation, scale, mu_s, mu_t = alignment
    return (((xy - mu_s) @ rotation) * scale + mu_t).astype(np.float32)


def pair_distances(layout: MapLayout, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """Map distance of each (query, document) pair, in units of the map's RMS spread.

    Dividing by the spread makes two layouts comparable; pairs whose ids the
    layout lacks are skipped.
    """
    all_xy = np.vstack([layout.doc_xy, layout.query_xy])
    if len(all_xy) == 0:
        return np.zeros(0)
    spread = float(np.sqrt(((all_xy - all_xy.mean(axis=0)) ** 2).sum(axis=1).mean())) or 1.0
    out = []
    for q, d in pairs:
        qi, di = layout.query_index.get(q), layout.doc_index.get(d)
        if qi is not None and di is not None:
            out.append(float(np.linalg.norm(layout.query_xy[qi] - layout.doc_xy[di])) / spread)
    return np.asarray(out)


