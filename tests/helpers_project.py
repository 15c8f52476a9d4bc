"""Builds tests/fixtures/project_v1.rsproj, the project file kept from schema v1.

Run ``.venv/bin/python tests/helpers_project.py tests/fixtures/project_v1.rsproj``
only to recreate it for schema v1; later schema versions keep this file as
is and must keep opening it (tests/test_project.py).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import make_tiny_project  # noqa: E402

# What the fixture holds beyond the tiny project (checked by the tests).
EXTRA_LABELS = [("q1", "d2", "negative"), ("q3", "d8", "false_negative")]
CLEARED = ("q4", "d11")
IMPORTED_QRELS = "q2\t0\td5\t1\n"


def make_fixture(path: Path) -> Path:
    from core.io.importers import ImportOptions, import_source
    from core.project.file import Project

    path = Path(path)
    make_tiny_project(path)
    with Project.open(path) as project:
        for q, d, label in EXTRA_LABELS:
            project.set_label(q, d, label)
        project.set_label(*CLEARED, "negative")
        project.set_label(*CLEARED, None)
    qrels = path.with_name("fixture-qrels.tsv")
    qrels.write_text(IMPORTED_QRELS, encoding="utf-8")
    try:
        import_source(path, qrels, format="msmarco", options=ImportOptions(kind="qrels"))
    finally:
        qrels.unlink()
    # One self-contained small file: fold the WAL in, leave WAL mode, shrink pages.
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA page_size=1024")
    conn.execute("VACUUM")
    conn.close()
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1])
    if out.exists():
        out.unlink()
    make_fixture(out)
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
