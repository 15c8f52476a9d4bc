"""Importing UMAP with numba's on-disk cache for its compiled kernels.

Numba compiles UMAP's kernels on the first call in a process (about 15 s on
two cores). :func:`import_umap` imports umap/pynndescent with numba's cache
switched on for all their kernels, in a folder named after their versions
(:func:`numba_cache_dir`), so a new process loads compiled code instead of
compiling it again.
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

