"""The per-project cache of map layouts.

A layout's key hashes what decides it (:func:`layout_key`): the model's
files, the corpus revision, the query ids and texts, the UMAP parameters and
the layout it was aligned to; entries live under
``project.data_dir / "maps"`` as ``<key>.npy`` (coordinates),
``<key>.neighbors.npy`` and ``<key>.json``, which is written last so that a
half-written entry is never read. A damaged entry is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from core.map.layout import (
    DEFAULT_FIT_LIMIT,
    DEFAULT_N_NEIGHBORS,
    LAYOUT_VERSION,
    MapLayout,
)

if TYPE_CHECKING:  # pragma: no cover
    from core.project.file import Project


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
    from core.retrieval.encoder import model_fingerprint, resolve_model

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


def load_layout(project: "Project", key: str) -> MapLayout | None:
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


def save_layout(project: "Project", layout: MapLayout) -> None:
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


def open_project(project: "Project | str | Path") -> tuple["Project", bool]:
    from core.project.file import Project

    if isinstance(project, Project):
        return project, False
    return Project.open(project), True


def cached_layout(project: "Project | str | Path", model_id: str | None = None, *,
                  reference: MapLayout | None = None, n_neighbors: int = DEFAULT_N_NEIGHBORS,
                  seed: int = 0, fit_limit: int = DEFAULT_FIT_LIMIT) -> MapLayout | None:
    """The cached layout for these inputs, or None (never computes)."""
    project, owned = open_project(project)
    try:
        _, key = layout_key(project, model_id, reference=reference, n_neighbors=n_neighbors,
                            seed=seed, fit_limit=fit_limit)
        return load_layout(project, key)
    finally:
        if owned:
            project.close()


