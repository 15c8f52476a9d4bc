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

import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    pass


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

