"""A process killed with SIGKILL in the middle of an import leaves the project intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers_import import dump

from core.project.file import Project

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import sys, time
    from core.io.importers import import_source
    from core.progress import Progress

    calls = 0

    def report(fraction, message):
        global calls
        calls += 1
        if calls == 30:  # 30 batches of 1,000 documents are in the open transaction
            print("WRITING", flush=True)
        elif calls > 30:
            time.sleep(0.05)  # keep writing, slowly, until the parent kills us

    import_source(sys.argv[1], sys.argv[2], progress=Progress(report))
    print("DONE", flush=True)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_mid_import_keeps_earlier_content(tiny_project, tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    filler = "lorem ipsum dolor sit amet consectetur adipiscing elit " * 4
    with open(big / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i in range(60_000):
            f.write(json.dumps({"_id": f"g{i}", "title": f"doc {i}", "text": f"{i} {filler}"}) + "\n")
    with Project.open(tiny_project) as p:
        before_info = p.info()
    before = dump(tiny_project)
    wal = tiny_project.with_name(tiny_project.name + "-wal")

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tiny_project), str(big)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = child.stdout.readline()
        assert line.strip() == "WRITING", child.stderr.read()
        # The uncommitted documents have spilled from SQLite's page cache into the WAL.
        assert wal.exists() and wal.stat().st_size > 1_000_000
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    with Project.open(tiny_project) as p:
        assert p.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        info = p.info()
        assert info == before_info
        assert p.document_count() == 12
        assert p.get_document("g0") is None
        assert p.conn.execute("SELECT count(*) FROM imports").fetchone()[0] == 0
    assert dump(tiny_project) == before
