"""Where benchmarks keep their work files and caches: never a machine-specific path.

``RS_BENCH_OUT`` names the folder (default ``benchmarks/out/``, ignored by
git); ``RS_SCIFACT_CACHE`` names an encoded SciFact project to reuse (default
``<out>/scifact.rsproj``).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def out_dir(name: str = "") -> Path:
    """``$RS_BENCH_OUT/name`` (default ``benchmarks/out/name``), created."""
    folder = Path(os.environ.get("RS_BENCH_OUT") or ROOT / "benchmarks" / "out") / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def scifact_cache() -> Path:
    """The encoded SciFact project benchmarks reuse (``$RS_SCIFACT_CACHE``)."""
    return Path(os.environ.get("RS_SCIFACT_CACHE") or out_dir() / "scifact.rsproj")
