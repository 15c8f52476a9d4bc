"""Test helpers for retrieval: a BEIR loader and the shared SciFact project.

The loader prefers engineer A's importer (``core.importers.import_source``)
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
        from core.importers import import_source
    except ImportError:
        import_source = None
    if import_source is not None:
        import_source(project_path, folder, format="beir")
        return project_path
    from core.project import Project

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


def scifact_project(tmp_path: Path) -> Path:
    """A SciFact project; reuses (copies) the encoded one at $RS_SCIFACT_CACHE if set.

    ``RS_SCIFACT_CACHE`` names a ``.rsproj`` whose ``.data`` folder already
    holds the bundled model's embeddings, so a test run need not re-encode
    5,183 abstracts.
    """
    cached = os.environ.get("RS_SCIFACT_CACHE")
    target = tmp_path / "scifact.rsproj"
    if cached and Path(cached).is_file():
        shutil.copy2(cached, target)
        data = Path(cached + ".data")
        if data.is_dir():
            shutil.copytree(data, Path(str(target) + ".data"))
        return target
    return load_beir(target, SCIFACT)


def linked_model_copy(target: Path, *, copy: tuple[str, ...] = ()) -> Path:
    """A model folder mirroring the bundled one via symlinks (fast); names in ``copy`` are real copies."""
    from core.encoder import bundled_model_path

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
