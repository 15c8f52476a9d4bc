"""The bundled demo project: a SciFact sample built into a project on first use."""

from __future__ import annotations

import os
from pathlib import Path

from .progress import Progress

DEMO_SOURCE = Path(__file__).resolve().parent.parent / "resources" / "demo" / "scifact-sample"


def default_demo_path() -> Path:
    """Where the demo project lives: ``$RS_DEMO_PROJECT`` or the user's data folder."""
    override = os.environ.get("RS_DEMO_PROJECT")
    if override:
        return Path(override)
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "retriever-studio" / "demo.rsproj"


def ensure_demo_project(path: Path | None = None, progress: Progress | None = None) -> Path:
    """Build the demo project from the bundled sample unless it already exists."""
    from .importers import import_source

    path = path or default_demo_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        import_source(path, DEMO_SOURCE, format="beir", progress=progress)
    return path
