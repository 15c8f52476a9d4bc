"""Temporaries left by killed jobs: named after their process, swept once it is gone."""

from __future__ import annotations

import json
import os
import socket
import time

from core.project.leftovers import owner_pid, sweep, temp_name
from core.training.trainer import _TMP_PREFIX, _sweep_abandoned

NO_SUCH_PID = 2 ** 22 + 12345  # above Linux's largest pid_max: never a live process


def test_temp_names_record_this_process():
    name = temp_name(".tmp-", "-seg.npz")
    assert name.startswith(f".tmp-{os.getpid()}-") and name.endswith("-seg.npz")
    assert owner_pid(name, ".tmp-") == os.getpid()
    assert owner_pid(".tmp-aligned.json", ".tmp-") is None
    assert owner_pid("seg-1.npz", ".tmp-") is None


def test_sweep_removes_what_dead_processes_left_and_keeps_the_rest(tmp_path):
    dead_file = tmp_path / f".tmp-{NO_SUCH_PID}-a-seg.npz"
    dead_dir = tmp_path / f".tmp-{NO_SUCH_PID}-b"
    live = tmp_path / f".tmp-{os.getpid()}-c-seg.npz"
    old_unowned = tmp_path / ".tmp-aligned.json"  # an older version's name, no process id
    young_unowned = tmp_path / ".tmp-other.json"
    other = tmp_path / "seg-1.npz"
    for f in (dead_file, live, old_unowned, young_unowned, other):
        f.write_bytes(b"x")
    (dead_dir / "inner").mkdir(parents=True)
    hour_ago = time.time() - 3700
    os.utime(old_unowned, (hour_ago, hour_ago))
    removed = sweep(tmp_path, ".tmp-")
    assert sorted(p.name for p in removed) == sorted([dead_file.name, dead_dir.name, old_unowned.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, young_unowned.name, other.name])
    assert sweep(tmp_path / "missing", ".tmp-") == []


def test_training_sweep_removes_empty_folders_of_killed_runs(tmp_path):
    models = tmp_path
    empty_dead = models / f"{_TMP_PREFIX}{NO_SUCH_PID}-aaa"  # killed before writing owner.json
    empty_live = models / f"{_TMP_PREFIX}{os.getpid()}-bbb"  # a run about to write it
    empty_legacy = models / f"{_TMP_PREFIX}cccccccccccc"  # older naming, young: may be running
    owned_dead = models / f"{_TMP_PREFIX}{os.getpid()}-ddd"  # the owner file is what counts
    for folder in (empty_dead, empty_live, empty_legacy, owned_dead):
        folder.mkdir()
    (owned_dead / "owner.json").write_text(json.dumps({"pid": NO_SUCH_PID,
                                                       "host": socket.gethostname()}))
    _sweep_abandoned(models)
    assert sorted(p.name for p in models.iterdir()) == sorted([empty_live.name, empty_legacy.name])
