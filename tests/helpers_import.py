"""Small input fixtures for import/export tests, written into tmp_path."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import TINY_DOCS, TINY_QRELS, TINY_QUERIES

DOCS = [
    ("a1", "Vitamin D", "Vitamin D supplementation increases bone density."),
    ("a2", "Calcium", "Calcium intake and hip fractures."),
    ("a3", "", "Exercise improves bone strength."),
    ("a4", "Aspirin", "Aspirin lowers the risk of heart attacks."),
    ("a5", "Smoking", "Smoking causes lung cancer."),
    ("a6", "Sleep", "Sleep consolidates memory."),
]
QUERIES = [
    ("x1", "does vitamin d help bones"),
    ("x2", "aspirin heart attack"),
    ("x3", "what causes lung cancer"),
    ("x4", "sleep and memory"),
    ("x5", "a query without judgements"),
]
# split -> (query, doc, score)
QRELS = {
    "train": [("x1", "a1", 1), ("x1", "a3", 2), ("x2", "a4", 1), ("x2", "a5", 0)],
    "test": [("x3", "a5", 1), ("x4", "a6", 1)],
}


def write_text(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def write_beir(root: Path, *, docs=DOCS, queries=QUERIES, qrels=QRELS, header: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_text(root / "corpus.jsonl", jsonl([{"_id": i, "title": t, "text": x} for i, t, x in docs]))
    write_text(root / "queries.jsonl", jsonl([{"_id": i, "text": t, "metadata": {}} for i, t in queries]))
    for split, rows in qrels.items():
        lines = (["query-id\tcorpus-id\tscore"] if header else []) + [f"{q}\t{d}\t{s}" for q, d, s in rows]
        write_text(root / "qrels" / f"{split}.tsv", "\n".join(lines) + "\n")
    return root


def dump(project_path: Path) -> list[str]:
    """The full SQL content of a project file (schema and rows), for exact comparisons."""
    conn = sqlite3.connect(str(project_path))
    try:
        return list(conn.iterdump()) + [f"user_version={conn.execute('PRAGMA user_version').fetchone()[0]}"]
    finally:
        conn.close()


def project_files(path: Path) -> list[Path]:
    return [p for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
            if p.exists()]


__all__ = ["DOCS", "QUERIES", "QRELS", "TINY_DOCS", "TINY_QUERIES", "TINY_QRELS", "write_text", "jsonl",
           "write_beir", "dump", "project_files"]
