"""The import layers of ``pyproject.toml`` hold, and the checker really checks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def lint_available():
    if not LINT.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")


def test_the_layer_contract_is_kept(lint_available):
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize("module, line", [
    ("core/project/schema.py", "import core.mining.config\n"),  # the bottom layer reaching up
    ("core/retrieval/fusion.py", "import PySide6\n"),  # Qt in the core
])
def test_a_violation_breaks_the_contract(lint_available, tmp_path, module, line):
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy)
    for package in ("core", "gui"):
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(line + target.read_text())
    out = subprocess.run([str(LINT), "--no-cache"], cwd=copy, capture_output=True, text=True,
                         timeout=300, env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0, out.stdout
    assert "BROKEN" in out.stdout
