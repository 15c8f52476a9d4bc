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
  documents plus all queries and the remaining documents are placed with
  ``UMAP.transform`` in chunks (``method="umap+transform"``), which keeps
  100,000 documents within a minute on two cores (see benchmarks/README.md).

UMAP has no progress callback, so a job reports its stages (embedding,
neighbour search, graph + layout optimisation, transform chunks) and is
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

import hashlib
import json
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from .progress import Progress

if TYPE_CHECKING:  # pragma: no cover
    from .project import Project

LAYOUT_VERSION = 1
DEFAULT_FIT_LIMIT = 20_000
DEFAULT_N_NEIGHBORS = 15
MIN_UMAP_POINTS = 8
NEIGHBOURS_K = 10  # nearest documents per query, in the embedding space
TRANSFORM_CHUNK = 10_000
TRANSFORM_EPOCHS = 30  # what UMAP itself uses to transform more than 10,000 points
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


# -- numba cache and umap import ------------------------------------------------

def numba_cache_dir() -> Path:
    """Folder for numba's compiled kernels (``NUMBA_CACHE_DIR`` wins when set).

    The folder name carries the umap-learn and pynndescent versions: numba
    checks the source file of each cached function but not the files of
    functions it inlined from the other package.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    from importlib.metadata import PackageNotFoundError, version

    try:
        tag = f"umap-{version('umap-learn')}-pynndescent-{version('pynndescent')}"
    except PackageNotFoundError:  # pragma: no cover - broken install
        tag = "unknown"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "retriever-studio" / f"numba-{tag}"


def _configure_numba_cache() -> Path | None:
    folder = numba_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError:
        return None  # no writable cache: numba compiles in memory as usual
    os.environ.setdefault("NUMBA_CACHE_DIR", str(folder))
    return folder


_umap_lock = threading.Lock()
_umap_module: Any = None


def import_umap():
    """Import ``umap`` with numba's on-disk cache enabled for its kernels.

    umap-learn and pynndescent decorate most kernels with ``numba.njit``
    without ``cache=True``, so ``NUMBA_CACHE_DIR`` alone only caches a few of
    them (measured: first fit 15 s -> 11 s). While umap is imported, this
    makes ``cache=True`` the default of ``numba.njit``/``numba.jit``
    (numba keys each cache entry on the function's bytecode, closure
    variables, signature and CPU, and checks the source file's time stamp),
    then restores numba. Measured: a new process then fits its first map in
    0.1 s instead of 15 s. If umap was already imported elsewhere the patch
    has no effect and everything still works, only slower on first use.
    """
    global _umap_module
    with _umap_lock:
        if _umap_module is not None:
            return _umap_module
        folder = _configure_numba_cache()
        import numba
        from numba.core import config as numba_config

        if folder is not None and not numba_config.CACHE_DIR:
            numba_config.CACHE_DIR = str(folder)  # numba was imported before us
        original = numba.njit, numba.jit

        def cached(decorator: Callable) -> Callable:
            def wrapper(*args, **kwargs):
                kwargs.setdefault("cache", True)
                return decorator(*args, **kwargs)
            return wrapper

        if folder is not None:
            numba.njit, numba.jit = cached(original[0]), cached(original[1])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import umap
        finally:
            numba.njit, numba.jit = original
        _umap_module = umap
        return umap


def warm_up(progress: Progress | None = None) -> float:
    """Compile (or load from the numba cache) every UMAP kernel a map uses.

    Fits a tiny random data set through both code paths (exact neighbours
    for small data, NN-descent + ``transform`` for large), so the user's
    first map does not pay for compilation. Returns the seconds it took.
    """
    progress = progress or Progress()
    start = time.perf_counter()
    progress.fraction(0.0, "Preparing the embedding map (loading UMAP)")
    umap = import_umap()
    progress.fraction(0.3, "Preparing the embedding map (compiling)")
    rng = np.random.default_rng(0)
    data = _unit(rng.normal(size=(120, 16)).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        umap.UMAP(n_neighbors=10, metric="cosine", random_state=0, n_epochs=20).fit(data)
        progress.fraction(0.6, "Preparing the embedding map (compiling)")
        index = HnswNeighbours(data, seed=0)
        knn_idx, knn_dist = index.self_neighbours(10)
        model = umap.UMAP(n_neighbors=10, metric="cosine", random_state=0, n_epochs=20,
                          precomputed_knn=(knn_idx, knn_dist, index),
                          force_approximation_algorithm=True).fit(data)
        model.transform(data[:8])
    progress.fraction(1.0, "Embedding map ready")
    return time.perf_counter() - start


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

def _unit(x: np.ndarray) -> np.ndarray:
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

    def query(self, x: np.ndarray, k: int, epsilon: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """``(indices int32, cosine distances float32)`` of the ``k`` nearest indexed rows."""
        k = min(k, len(self._data))
        self._index.set_ef(max(40, 2 * k))
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


def layout_points(
    doc_emb: np.ndarray,
    query_emb: np.ndarray,
    *,
    n_neighbors: int = DEFAULT_N_NEIGHBORS,
    seed: int = 0,
    fit_limit: int = DEFAULT_FIT_LIMIT,
    init_doc_xy: np.ndarray | None = None,
    init_query_xy: np.ndarray | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """2-D coordinates for documents and queries; returns ``(doc_xy, query_xy, info)``.

    ``init_*_xy`` (both or neither) start UMAP's optimisation from a previous
    layout, so that a second model's map keeps the first one's arrangement
    and movement means something. ``info`` has ``method``, ``fitted`` and
    ``seconds`` per stage.
    """
    progress = progress or Progress()
    n_docs, n_queries = len(doc_emb), len(query_emb)
    n = n_docs + n_queries
    info: dict[str, Any] = {"seconds": {}}
    if n == 0:
        info.update(method="empty", fitted=0)
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32), info
    dim = doc_emb.shape[1] if n_docs else query_emb.shape[1]
    docs = _unit(np.asarray(doc_emb, dtype=np.float32).reshape(n_docs, dim))
    queries = _unit(np.asarray(query_emb, dtype=np.float32).reshape(n_queries, dim))

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
    fit_share = 0.9 if len(rest_rows) else 1.0

    # Spectral initialisation (UMAP's default) costs 40 % of a 20k-point
    # fit on clustered data (one eigensolver per connected component); PCA
    # takes under a second and separates the same clusters (Kobak &
    # Linderman 2021 find both keep global structure).
    init: np.ndarray | str = "pca" if n_fit >= APPROXIMATE_FROM else "spectral"
    learning_rate = 1.0
    if init_doc_xy is not None and init_query_xy is not None:
        init = np.vstack([init_doc_xy[fit_rows], init_query_xy]).astype(np.float64)
        learning_rate = ALIGNED_LEARNING_RATE

    # UMAP runs 500 epochs below 10,000 points and 200 above; 200 gives the
    # same picture at 40 % of the time, so every size gets 200.
    params = dict(n_neighbors=k, metric="cosine", random_state=seed, init=init, n_jobs=1,
                  n_epochs=N_EPOCHS, learning_rate=learning_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seeded -> single thread; tiny-graph notices
        if n_fit >= APPROXIMATE_FROM:
            # From 4096 points UMAP would search neighbours with NN-descent,
            # whose numba kernels cannot be cached on disk ("dynamic
            # globals"): every new process would compile them again (30-70 s
            # on two cores). hnswlib needs no compilation; doing the search
            # here also gives the job a stage boundary (progress, cancel).
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
            # transform() runs n_epochs // 3 epochs; new points start at the
            # weighted mean of their neighbours, so 30 epochs settle them.
            model.n_epochs = 3 * TRANSFORM_EPOCHS
            stage = progress.sub(fit_share, 1.0)
            for start in range(0, len(rest_rows), TRANSFORM_CHUNK):
                stage.update(start, len(rest_rows),
                             f"Placing the other documents: {start:,}/{len(rest_rows):,}")
                rows = rest_rows[start:start + TRANSFORM_CHUNK]
                doc_xy[rows] = model.transform(docs[rows]).astype(np.float32)
            info["seconds"]["transform"] = time.perf_counter() - t
    info.update(method="umap+transform" if len(rest_rows) else "umap", fitted=n_fit)
    progress.fraction(1.0, "Map laid out")
    return doc_xy, query_xy, info


def nearest_documents(doc_emb: np.ndarray, query_emb: np.ndarray, k: int = NEIGHBOURS_K,
                      chunk: int = 256) -> np.ndarray:
    """Row indices of the ``k`` documents most cosine-similar to each query, best first."""
    k = min(k, len(doc_emb))
    out = np.zeros((len(query_emb), k), dtype=np.int32)
    if k == 0 or len(query_emb) == 0:
        return out
    docs = _unit(doc_emb)
    for start in range(0, len(query_emb), chunk):
        sims = _unit(query_emb[start:start + chunk]) @ docs.T
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


# -- project-level job ---------------------------------------------------------------

def _query_set_hash(queries: Sequence[tuple[str, str]]) -> str:
    h = hashlib.sha1()
    for qid, text in queries:
        h.update(f"{qid}\0{text}\0".encode())
    return h.hexdigest()[:16]


def layout_key(project: "Project", model_id: str | None = None, *,
               reference: MapLayout | None = None, n_neighbors: int = DEFAULT_N_NEIGHBORS,
               seed: int = 0, fit_limit: int = DEFAULT_FIT_LIMIT) -> tuple[str, str]:
    """``(model_id, cache key)`` of a layout; cheap (hashes files, loads no model)."""
    from .encoder import model_fingerprint, resolve_model

    model_id, folder = resolve_model(project, model_id)
    queries = [(q.id, q.text) for q in project.queries()]
    parts = {
        "v": LAYOUT_VERSION, "model": model_fingerprint(folder),
        "corpus": project.corpus_revision, "queries": _query_set_hash(queries),
        "n_neighbors": n_neighbors, "seed": seed, "fit_limit": fit_limit,
        "aligned_to": reference.key if reference is not None else None,
    }
    digest = hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]
    return model_id, digest


def _maps_dir(project: "Project") -> Path:
    d = project.data_dir / "maps"
    d.mkdir(exist_ok=True)
    return d


def _load(project: "Project", key: str) -> MapLayout | None:
    folder = _maps_dir(project)
    meta_path, xy_path = folder / f"{key}.json", folder / f"{key}.npy"
    if not (meta_path.is_file() and xy_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        xy = np.load(xy_path, allow_pickle=False)
        nbr_path = folder / f"{key}.neighbors.npy"
        neighbors = np.load(nbr_path, allow_pickle=False) if nbr_path.is_file() else None
    except (OSError, ValueError):
        return None  # a damaged cache entry is recomputed
    n_docs = len(meta["doc_ids"])
    if xy.shape != (n_docs + len(meta["query_ids"]), 2):
        return None
    return MapLayout(meta["doc_ids"], xy[:n_docs], meta["query_ids"], xy[n_docs:],
                     meta["model_id"], meta["method"], meta["fitted"], neighbors,
                     meta.get("aligned_to"), key, meta.get("seconds", {}))


def _save(project: "Project", layout: MapLayout) -> None:
    folder = _maps_dir(project)
    stem = folder / layout.key
    tmp_xy = folder / f".{layout.key}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp_xy, "wb") as f:
        np.save(f, np.vstack([layout.doc_xy, layout.query_xy]).astype(np.float32))
    os.replace(tmp_xy, stem.with_suffix(".npy"))
    if layout.query_neighbors is not None:
        with open(tmp_xy, "wb") as f:
            np.save(f, layout.query_neighbors)
        os.replace(tmp_xy, folder / f"{layout.key}.neighbors.npy")
    meta = {"doc_ids": layout.doc_ids, "query_ids": layout.query_ids, "model_id": layout.model_id,
            "method": layout.method, "fitted": layout.fitted, "aligned_to": layout.aligned_to,
            "seconds": layout.seconds}
    # The json is written last: it marks a complete entry.
    tmp_meta = folder / f".{layout.key}.{os.getpid()}.{threading.get_ident()}.json.tmp"
    tmp_meta.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp_meta, stem.with_suffix(".json"))


def _open(project: "Project | str | Path") -> tuple["Project", bool]:
    from .project import Project

    if isinstance(project, Project):
        return project, False
    return Project.open(project), True


def cached_layout(project: "Project | str | Path", model_id: str | None = None, *,
                  reference: MapLayout | None = None, n_neighbors: int = DEFAULT_N_NEIGHBORS,
                  seed: int = 0, fit_limit: int = DEFAULT_FIT_LIMIT) -> MapLayout | None:
    """The cached layout for these inputs, or None (never computes)."""
    project, owned = _open(project)
    try:
        _, key = layout_key(project, model_id, reference=reference, n_neighbors=n_neighbors,
                            seed=seed, fit_limit=fit_limit)
        return _load(project, key)
    finally:
        if owned:
            project.close()


def compute_layout(
    project: "Project | str | Path",
    model_id: str | None = None,
    *,
    reference: MapLayout | None = None,
    n_neighbors: int = DEFAULT_N_NEIGHBORS,
    seed: int = 0,
    fit_limit: int = DEFAULT_FIT_LIMIT,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> MapLayout:
    """The map of a project's documents and queries under one model (cached).

    ``project`` may be a path: a worker thread then opens its own connection.
    With ``reference`` (a layout of another model over the same corpus) the
    UMAP starts from the reference's coordinates and the result is rotated,
    scaled and shifted onto it (:func:`procrustes_align`), so that points
    move only where the two models disagree.
    """
    from .embeddings import document_embeddings, query_embeddings
    from .encoder import resolve_model, shared_encoder

    progress = progress or Progress()
    project, owned = _open(project)
    try:
        progress.fraction(0.0, "Checking the map cache")
        model_id, key = layout_key(project, model_id, reference=reference,
                                   n_neighbors=n_neighbors, seed=seed, fit_limit=fit_limit)
        if use_cache:
            hit = _load(project, key)
            if hit is not None:
                progress.fraction(1.0, "Map loaded from cache")
                return hit
        seconds: dict[str, float] = {}
        t = time.perf_counter()
        doc_ids = project.document_ids()
        query_ids = [q.id for q in project.queries()]
        progress.fraction(0.01, "Loading the model")
        _, folder = resolve_model(project, model_id)
        encoder = shared_encoder(folder)
        seconds["load_model"] = time.perf_counter() - t
        t = time.perf_counter()
        doc_emb = document_embeddings(project, encoder, progress=progress.sub(0.03, 0.45))
        seconds["embed_documents"] = time.perf_counter() - t
        t = time.perf_counter()
        query_emb = query_embeddings(project, encoder, query_ids, progress=progress.sub(0.45, 0.5))
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
        _save(project, layout)
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


# -- what the map colours by ------------------------------------------------------------

@dataclass(frozen=True)
class QueryOverlay:
    """What one query knows about documents: its labels and mined proposals."""

    query_id: str
    labels: dict[str, str]  # doc_id -> positive / negative / false_negative
    proposals: frozenset[str]  # kept candidates of the latest mining pass, not yet labelled


def query_overlay(project: "Project", query_id: str) -> QueryOverlay:
    """Labels of ``query_id`` and the unlabelled documents the latest mining pass kept for it."""
    labels = {d: lab.label for d, lab in project.labels_for_query(query_id).items()}
    row = project.conn.execute(
        "SELECT max(pass) FROM candidates WHERE query_id=?", (query_id,)).fetchone()
    proposals: frozenset[str] = frozenset()
    if row and row[0] is not None:
        proposals = frozenset(
            r[0] for r in project.conn.execute(
                "SELECT doc_id FROM candidates WHERE query_id=? AND pass=? AND status='kept'",
                (query_id, row[0]))
            if r[0] not in labels)
    return QueryOverlay(query_id, labels, proposals)


def label_summary(project: "Project") -> dict[str, str]:
    """One label per judged document over all queries, for a whole-map view.

    A document is ``positive`` if any query judged it relevant as a
    positive, else ``false_negative`` if any query marked it so, else
    ``negative``; unjudged documents kept by the latest mining pass of some
    query are ``proposal``.
    """
    rank = {"positive": 3, "false_negative": 2, "negative": 1}
    out: dict[str, str] = {}
    for doc_id, label in project.conn.execute("SELECT doc_id, label FROM labels"):
        if rank[label] > rank.get(out.get(doc_id, ""), 0):
            out[doc_id] = label
    for (doc_id,) in project.conn.execute(
        "SELECT DISTINCT c.doc_id FROM candidates c JOIN (SELECT query_id, max(pass) AS pass "
        "FROM candidates GROUP BY query_id) latest ON latest.query_id = c.query_id "
        "AND latest.pass = c.pass WHERE c.status = 'kept'"
    ):
        out.setdefault(doc_id, "proposal")
    return out


def document_splits(project: "Project") -> dict[str, str]:
    """Split of the queries that judged each document: a split name, ``"mixed"``, or absent.

    Documents judged for train and test queries alike are where leakage
    between splits would show.
    """
    out: dict[str, str] = {}
    for doc_id, splits in project.conn.execute(
        "SELECT l.doc_id, group_concat(DISTINCT coalesce(q.split, '')) FROM labels l "
        "JOIN queries q ON q.id = l.query_id GROUP BY l.doc_id"
    ):
        names = {s for s in (splits or "").split(",")}
        out[doc_id] = names.pop() if len(names) == 1 else "mixed"
    return out


def ranks_for_query(retrieval: Any, query_text: str, retriever: str = "dense",
                    k: int = 100) -> dict[str, int]:
    """``{doc_id: rank}`` (1-based) of the top ``k`` hits of a :class:`core.retrieval.Retrieval`."""
    return {hit.doc_id: hit.rank for hit in retrieval.search(query_text, retriever=retriever, k=k)}


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


def before_after(project: "Project | str | Path", before_model: str | None, after_model: str | None,
                 *, progress: Progress | None = None, **params: Any) -> BeforeAfter:
    """Layouts of two models over the same corpus, ``after`` started from and aligned to ``before``."""
    progress = progress or Progress()
    project, owned = _open(project)
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


@dataclass(frozen=True)
class Found:
    kind: str  # "document" or "query"
    id: str
    text: str  # title (or start of the text) of a document; text of a query


def find_points(project: "Project", text: str, limit: int = 20) -> list[Found]:
    """Documents and queries whose id matches ``text`` exactly, then whose title / text contains it."""
    text = text.strip()
    if not text:
        return []
    out: list[Found] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, ident: str, label: str) -> None:
        if (kind, ident) not in seen and len(out) < limit:
            seen.add((kind, ident))
            out.append(Found(kind, ident, label))

    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    for qid, qtext in project.conn.execute("SELECT id, text FROM queries WHERE id=?", (text,)):
        add("query", qid, qtext)
    for did, title, body in project.conn.execute(
            "SELECT id, title, substr(text, 1, 120) FROM documents WHERE id=?", (text,)):
        add("document", did, title or body)
    for qid, qtext in project.conn.execute(
            "SELECT id, text FROM queries WHERE text LIKE ? ESCAPE '\\' ORDER BY rowid LIMIT ?",
            (pattern, limit)):
        add("query", qid, qtext)
    for did, title, body in project.conn.execute(
            "SELECT id, title, substr(text, 1, 120) FROM documents WHERE title LIKE ? ESCAPE '\\' "
            "ORDER BY rowid LIMIT ?", (pattern, limit)):
        add("document", did, title or body)
    return out
