"""Test helpers for retrieval: a BEIR loader and the shared SciFact project.

The loader prefers engineer A's importer (``core.io.importers.import_source``)
and falls back to a minimal BEIR reader so that retrieval tests do not depend
on the import module's progress.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCIFACT = SHARED_DATA / "scifact"


def load_beir(project_path: Path, folder: Path) -> Path:
    """Create a project from a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."""
    try:
        from core.io.importers import import_source
    except ImportError:
        import_source = None
    if import_source is not None:
        import_source(project_path, folder, format="beir")
        return project_path
    from core.project.file import Project

    splits: dict[str, str] = {}
    qrels: list[tuple[str, str, str, int]] = []
    for tsv in sorted((folder / "qrels").glob("*.tsv")):
        with open(tsv, newline="", encoding="utf-8") as f:
            reader = csv.reader(f, delimiter="\t")
            next(reader)
            for qid, did, score in reader:
                splits.setdefault(qid, tsv.stem)
                qrels.append((qid, did, tsv.stem, int(score)))
    with Project.create(project_path) as project:
        with project.transaction():
            with open(folder / "corpus.jsonl", encoding="utf-8") as f:
                project.db["documents"].insert_all(
                    ({"id": str(r["_id"]), "title": r.get("title") or "", "text": r.get("text") or ""}
                     for r in map(json.loads, f)), batch_size=1000)
            with open(folder / "queries.jsonl", encoding="utf-8") as f:
                project.db["queries"].insert_all(
                    ({"id": str(r["_id"]), "text": r["text"], "split": splits.get(str(r["_id"]))}
                     for r in map(json.loads, f)), batch_size=1000)
            project.touch_corpus()
        project.set_labels([(q, d, "positive", s) for q, d, _, s in qrels if s > 0],
                           source="imported", pass_number=0)
    return project_path


_session_scifact: Path | None = None


def _encoded_scifact() -> Path:
    """SciFact imported and encoded with the bundled model once per test session.

    ``RS_SCIFACT_CACHE`` may name such a ``.rsproj`` (with its ``.data``
    folder) made earlier; otherwise the first caller builds one in a
    session temp folder (about 5 minutes of encoding on 2 cores) and every
    later caller copies it, so the slow tests encode SciFact once in all.
    """
    global _session_scifact
    cached = os.environ.get("RS_SCIFACT_CACHE")
    if cached and Path(cached).is_file():
        return Path(cached)
    if _session_scifact is None:
        import tempfile

        from core.project.file import Project
        from core.retrieval.embeddings import document_embeddings
        from core.retrieval.encoder import shared_encoder

        path = load_beir(Path(tempfile.mkdtemp(prefix="rs-scifact-")) / "scifact.rsproj", SCIFACT)
        with Project.open(path) as project:
            document_embeddings(project, shared_encoder())
        _session_scifact = path
    return _session_scifact


def scifact_project(tmp_path: Path) -> Path:
    """A private copy of the encoded SciFact project (see :func:`_encoded_scifact`)."""
    source = _encoded_scifact()
    target = tmp_path / "scifact.rsproj"
    shutil.copy2(source, target)
    data = Path(str(source) + ".data")
    if data.is_dir():
        shutil.copytree(data, Path(str(target) + ".data"))
    return target


def linked_model_copy(target: Path, *, copy: tuple[str, ...] = ()) -> Path:
    """A model folder mirroring the bundled one via symlinks (fast); names in ``copy`` are real copies."""
    from core.retrieval.encoder import bundled_model_path

    source = bundled_model_path()
    for path in source.rglob("*"):
        rel = path.relative_to(source)
        dest = target / rel
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rel.as_posix() in copy:
            shutil.copy2(path, dest)
        else:
            dest.symlink_to(path)
    return target
