"""The bundled demo project: a SciFact sample built into a project on first use.

The sample ships with its document embeddings under the bundled model
(``resources/demo/minilm-embeddings.npz``: text sha1 -> vector), seeded into
the project's embedding cache, so the dense pane is ready at once instead of
encoding 400 abstracts on first start.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.progress import Progress

DEMO_ROOT = Path(__file__).resolve().parents[2] / "resources" / "demo"
DEMO_SOURCE = DEMO_ROOT / "scifact-sample"
DEMO_EMBEDDINGS = DEMO_ROOT / "minilm-embeddings.npz"


def default_demo_path() -> Path:
    """Where the demo project lives: ``$RS_DEMO_PROJECT`` or the user's data folder."""
    override = os.environ.get("RS_DEMO_PROJECT")
    if override:
        return Path(override)
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "retriever-studio" / "demo.rsproj"


def ensure_demo_project(path: Path | None = None, progress: Progress | None = None) -> Path:
    """Build the demo project from the bundled sample unless it already exists."""
    from core.io.importers import import_source

    path = path or default_demo_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        import_source(path, DEMO_SOURCE, format="beir", progress=progress)
        seed_demo_embeddings(path)
    return path


def seed_demo_embeddings(path: Path) -> int:
    """Put the shipped embeddings into the project's cache; returns rows seeded."""
    from core.project.file import Project
    from core.retrieval.embeddings import SegmentStore, cache_folder
    from core.retrieval.encoder import shared_encoder

    if not DEMO_EMBEDDINGS.exists():
        return 0
    with np.load(DEMO_EMBEDDINGS) as shipped:
        hashes, vectors = shipped["hashes"], shipped["vectors"]
        fingerprint = str(shipped["fingerprint"])
    encoder = shared_encoder()
    if fingerprint != encoder.fingerprint:  # another model build: encode instead
        return 0
    with Project.open(path) as project:
        store = SegmentStore(cache_folder(project, encoder), encoder.dimension)
        store.append([bytes(h) for h in hashes], vectors.astype(np.float32))
    return len(vectors)


def write_demo_embeddings(path: Path) -> None:
    """Regenerate the shipped embeddings from a demo project (maintainers only)."""
    from core.project.file import Project
    from core.retrieval.embeddings import document_embeddings, text_hash
    from core.retrieval.encoder import shared_encoder

    encoder = shared_encoder()
    with Project.open(path) as project:
        vectors = document_embeddings(project, encoder)
        hashes = np.stack([np.frombuffer(text_hash(d.retrieval_text), dtype=np.uint8)
                           for d in project.iter_documents()])
    np.savez_compressed(DEMO_EMBEDDINGS, hashes=hashes, vectors=vectors.astype(np.float32),
                        fingerprint=np.array(encoder.fingerprint))
