"""Temporary files and folders that name their owner process, and sweeping those a killed job left.

Every writer in the project's folders writes into a temporary name first and
renames it into place when complete. A job killed in between leaves the
temporary behind. The name carries the writer's process id
(``<prefix><pid>-<random><suffix>``), so the next job can tell a leftover
(its process is gone) from a file another live job is writing right now and
remove the leftovers at once. Names without a process id (written by an older
version) are removed once they are older than ``unowned_after`` seconds.

Process ids are only meaningful on one machine: a project folder shared by
two machines at once may keep a leftover until it is old enough.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

UNOWNED_AFTER_S = 3600.0


def temp_name(prefix: str, suffix: str = "") -> str:
    """A fresh temporary name owned by this process: ``<prefix><pid>-<random><suffix>``."""
    return f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:12]}{suffix}"


def owner_pid(name: str, prefix: str) -> int | None:
    """The process id recorded in a :func:`temp_name`, or None for other names."""
    if not name.startswith(prefix):
        return None
    head = name[len(prefix):].split("-", 1)[0]
    return int(head) if head.isdigit() and head != "0" else None


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except OSError:
        return True  # cannot tell (platform): assume alive, keep the file
    return True


def is_leftover(path: Path, prefix: str, *, unowned_after: float = UNOWNED_AFTER_S) -> bool:
    """Whether ``path`` (named ``prefix...``) was left by a job that is gone."""
    pid = owner_pid(path.name, prefix)
    if pid is not None:
        return pid != os.getpid() and not process_alive(pid)
    try:
        age = time.time() - path.lstat().st_mtime
    except OSError:
        return False
    return age > unowned_after


def sweep(folder: Path, prefix: str, *, unowned_after: float = UNOWNED_AFTER_S) -> list[Path]:
    """Remove the entries of ``folder`` named ``prefix*`` whose job is gone; returns what went.

    Never raises: a folder that cannot be listed or an entry that cannot be
    removed (read-only media) is left as it is.
    """
    removed: list[Path] = []
    try:
        entries = list(folder.glob(f"{prefix}*"))
    except OSError:
        return removed
    for entry in entries:
        if not is_leftover(entry, prefix, unowned_after=unowned_after):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed
