"""Nearest-neighbour search over unit-normalised document embeddings.

Two backends behind one interface:

* ``exact``: inner products by numpy matmul, queries in chunks so the score
  block stays ~64 MB, top-k by ``argpartition`` then a sort of the k.
* ``hnsw``: hnswlib (Malkov & Yashunin 2018, "Efficient and robust
  approximate nearest neighbor search using HNSW graphs") in inner-product
  space; ``M``, ``ef_construction`` and ``ef_search`` are exposed. The graph
  is persisted under ``project.data_dir / "ann" / <fingerprint>-<revision>``.

``backend="auto"`` picks exact below :data:`EXACT_THRESHOLD` documents and
hnsw above it. The threshold and the default ``ef_search`` come from
``benchmarks/retrieval_bench.py`` (see benchmarks/README.md, "Retrieval").
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from core.progress import Progress

if TYPE_CHECKING:  # pragma: no cover
    from core.project.file import Project

# Chosen from benchmarks/retrieval_bench.py on the shared 2-core machine
# (benchmarks/README.md, "Retrieval"). At 100k x 384, exact search costs
# 25-50 ms for one query and 4-6 ms per query in batches of 1,000, and is
# exact, which matters for mining (a missed near-duplicate becomes a false
# negative). hnswlib is 15-30x faster per query at ef 200, but building its
# graph took 118 s on embedding-like vectors and 627 s on uniform random
# ones, to be paid again after every corpus edit, and on random 384-d data its
# recall@10 was only 0.41 at ef 200. So exact search up to 200k documents
# (~100 ms per interactive query in the worst case), hnswlib beyond.
EXACT_THRESHOLD = 200_000
DEFAULT_M = 32
DEFAULT_EF_CONSTRUCTION = 200
DEFAULT_EF_SEARCH = 200  # recall@10: 0.9997 on SciFact, 0.998 on 100k embedding-like vectors
ANN_DIR = "ann"
_SCORE_BLOCK = 16_000_000  # floats per query-chunk score block (64 MB)
_SMALL_BATCH = 16  # up to this many queries, BLAS runs single-threaded

_blas_controller = None


def _single_thread_blas():
    """Context limiting BLAS to one thread, or a no-op without threadpoolctl.

    A handful of queries is a memory-bound matrix-vector product: OpenBLAS's
    thread start-up and barriers cost more than they save, several times
    more on a loaded machine (measured: 32 ms vs 4 ms per query over
    5k x 384 at load average 9 on 2 cores).
    """
    global _blas_controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    if _blas_controller is None:
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


def default_threads() -> int:
    """Threads for hnswlib: explicit, since its default (all cores) oversubscribes shared machines."""
    return max(1, min(4, os.cpu_count() or 1))


def exact_top_k(
    queries: np.ndarray, vectors: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner products: ``(scores, indices)``, each ``(n_queries, k)``, best first."""
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    n = len(vectors)
    k = min(k, n)
    nq = len(queries)
    scores_out = np.empty((nq, k), dtype=np.float32)
    idx_out = np.empty((nq, k), dtype=np.int64)
    if k == 0 or nq == 0:
        return scores_out, idx_out
    step = max(1, _SCORE_BLOCK // max(n, 1))
    for start in range(0, nq, step):
        chunk = queries[start : start + step]
        if len(chunk) <= _SMALL_BATCH:
            with _single_thread_blas():
                block = chunk @ vectors.T
        else:
            block = chunk @ vectors.T
        if k < n:
            part = np.argpartition(-block, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(n), (len(block), n))
        part_scores = np.take_along_axis(block, part, axis=1)
        # Ties broken by row index so results are deterministic.
        order = np.lexsort((part, -part_scores), axis=1)
        idx_out[start : start + len(block)] = np.take_along_axis(part, order, axis=1)
        scores_out[start : start + len(block)] = np.take_along_axis(part_scores, order, axis=1)
    return scores_out, idx_out


class DenseIndex:
    """Top-k search by inner product (= cosine on unit vectors) over one embedding matrix."""

    def __init__(
        self,
        vectors: np.ndarray,
        doc_ids: Sequence[str],
        *,
        backend: str = "exact",
        hnsw=None,
        params: dict | None = None,
    ) -> None:
        if len(vectors) != len(doc_ids):
            raise ValueError(f"{len(vectors)} vectors but {len(doc_ids)} document ids")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.doc_ids = list(doc_ids)
        self.backend = backend
        self._hnsw = hnsw
        self.params = dict(params or {})
        self.params.setdefault("ef_search", DEFAULT_EF_SEARCH)
        self.params.setdefault("num_threads", default_threads())
        self._lock = threading.Lock()  # hnswlib's ef is index-global state

    def __len__(self) -> int:
        return len(self.doc_ids)

    @property
    def dimension(self) -> int:
        return self.vectors.shape[1] if self.vectors.ndim == 2 else 0

    @property
    def ef_search(self) -> int:
        return int(self.params["ef_search"])

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self.params["ef_search"] = int(value)

    # -- building ------------------------------------------------------------
    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        doc_ids: Sequence[str],
        *,
        backend: str = "auto",
        exact_threshold: int = EXACT_THRESHOLD,
        M: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef_search: int = DEFAULT_EF_SEARCH,
        num_threads: int | None = None,
        progress: Progress | None = None,
    ) -> "DenseIndex":
        """Index ``vectors`` (unit-normalised rows, aligned with ``doc_ids``)."""
        progress = progress or Progress()
        if backend == "auto":
            backend = "hnsw" if len(vectors) >= exact_threshold else "exact"
        if backend not in ("exact", "hnsw"):
            raise ValueError(f"unknown dense index backend {backend!r}; expected auto, exact or hnsw")
        num_threads = num_threads or default_threads()
        params = {"M": M, "ef_construction": ef_construction, "ef_search": ef_search,
                  "num_threads": num_threads}
        if backend == "exact":
            progress.fraction(1.0, "Dense index: exact search")
            return cls(vectors, doc_ids, backend="exact", params=params)
        import hnswlib

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        index = hnswlib.Index(space="ip", dim=dim)
        index.init_index(max_elements=max(n, 1), ef_construction=ef_construction, M=M,
                         random_seed=100)
        step = 10_000
        for start in range(0, n, step):
            progress.update(start, n, f"Building HNSW index: {start}/{n}")
            index.add_items(vectors[start : start + step], np.arange(start, min(start + step, n)),
                            num_threads=num_threads)
        progress.update(n, n, f"Building HNSW index: {n}/{n}")
        return cls(vectors, doc_ids, backend="hnsw", hnsw=index, params=params)

    # -- persistence -----------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the HNSW graph and its settings (exact indexes store only settings)."""
        folder = Path(folder)
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._hnsw is not None:
            self._hnsw.save_index(str(tmp / "index.bin"))
        meta = {"backend": self.backend, "count": len(self), "dimension": self.dimension,
                "params": self.params}
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)

    @classmethod
    def load(cls, folder: Path, vectors: np.ndarray, doc_ids: Sequence[str]) -> "DenseIndex":
        """Reopen an index saved by :meth:`save` for these vectors; raises ValueError if it does not fit."""
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta["count"] != len(doc_ids) or (len(doc_ids) and meta["dimension"] != vectors.shape[1]):
            raise ValueError(f"{folder}: index does not match the embeddings")
        hnsw = None
        if meta["backend"] == "hnsw":
            import hnswlib

            hnsw = hnswlib.Index(space="ip", dim=meta["dimension"])
            hnsw.load_index(str(folder / "index.bin"), max_elements=max(meta["count"], 1))
        return cls(vectors, doc_ids, backend=meta["backend"], hnsw=hnsw, params=meta["params"])

    @classmethod
    def load_or_build(
        cls,
        project: "Project",
        fingerprint: str,
        vectors: np.ndarray,
        doc_ids: Sequence[str],
        *,
        progress: Progress | None = None,
        **build_args,
    ) -> "DenseIndex":
        """The index for this model and corpus revision, from disk when an HNSW graph was saved.

        Exact indexes need nothing on disk (the embedding cache is the index);
        HNSW graphs go to ``data_dir/ann/<fingerprint>-<corpus_revision>``, and
        older revisions of the same model are removed when a new one is saved.
        """
        backend = build_args.get("backend", "auto")
        threshold = build_args.get("exact_threshold", EXACT_THRESHOLD)
        if backend == "exact" or (backend == "auto" and len(vectors) < threshold):
            return cls.build(vectors, doc_ids, progress=progress, **build_args)
        M = build_args.get("M", DEFAULT_M)
        efc = build_args.get("ef_construction", DEFAULT_EF_CONSTRUCTION)
        root = project.data_dir / ANN_DIR
        folder = root / f"{fingerprint}-{project.corpus_revision}-M{M}-efc{efc}"
        if (folder / "meta.json").is_file():
            try:
                index = cls.load(folder, vectors, doc_ids)
                if "ef_search" in build_args:
                    index.ef_search = build_args["ef_search"]
                if "num_threads" in build_args and build_args["num_threads"]:
                    index.params["num_threads"] = build_args["num_threads"]
                return index
            # hnswlib raises RuntimeError on a truncated graph; json ValueError.
            except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
                if progress is not None:  # recomputable: rebuilt below, and said so
                    progress.fraction(0.0, f"Dense index: the saved HNSW graph cannot be used "
                                           f"and is rebuilt ({type(exc).__name__}: {exc})")
        index = cls.build(vectors, doc_ids, progress=progress, **build_args)
        try:
            root.mkdir(parents=True, exist_ok=True)
            index.save(folder)
        except OSError as exc:  # read-only project folder, full disk: serve it from memory
            if progress is not None:
                progress.fraction(1.0, f"Dense index: not saved ({exc.strerror or exc})")
            return index
        for old in root.glob(f"{fingerprint}-*"):
            if old != folder and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        return index

    # -- searching -------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows per query: ``(scores, row_indices)``, both ``(n_queries, k')``, best first.

        ``k' = min(k, len(self))``; scores are inner products (cosine for unit vectors).
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k = min(int(k), len(self))
        if self.backend == "exact" or k == 0 or len(queries) == 0:
            return exact_top_k(queries, self.vectors, k)
        with self._lock:
            self._hnsw.set_ef(max(self.ef_search, k))
            labels, distances = self._hnsw.knn_query(
                queries, k=k, num_threads=int(self.params["num_threads"]))
        # hnswlib's "ip" distance is 1 - <q, d>.
        return (1.0 - distances).astype(np.float32), labels.astype(np.int64)

    def search_ids(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Like :meth:`search` but as ``[(doc_id, score), ...]`` per query."""
        scores, rows = self.search(queries, k)
        ids = self.doc_ids
        return [[(ids[r], float(s)) for r, s in zip(rrow, srow)] for rrow, srow in zip(rows, scores)]
