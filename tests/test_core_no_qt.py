"""``core/`` never imports PySide6 or pyqtgraph (it must run headless)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"

CHILD = """
import importlib, pkgutil, sys
import core
failed = []
for info in pkgutil.walk_packages(core.__path__, "core."):
    if info.name.endswith(".__main__"):
        continue  # running it is the command line itself
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed.append(f"{info.name}: {exc!r}")
print("MODULES", sum(1 for m in sys.modules if m == "core" or m.startswith("core.")))
print("FAILED", failed)
print("QT", sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6")))
"""


def test_importing_every_core_module_loads_no_qt():
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=180)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert int(lines["MODULES"]) >= 40  # every capability package and its modules
    assert lines["FAILED"] == "[]", lines["FAILED"]
    assert lines["QT"] == "[]", lines["QT"]


_QT_IMPORT = re.compile(
    r"^\s*(?:import|from)\s+(?:PySide6|pyqtgraph|shiboken6)\b"
    r"|(?:import_module|__import__)\(\s*['\"](?:PySide6|pyqtgraph)",
    re.M,
)


def test_no_qt_import_statement_in_core_sources():
    offenders = [str(p.relative_to(ROOT)) for p in CORE.rglob("*.py")
                 if _QT_IMPORT.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
