"""The window stays responsive while workers encode: the UI thread's longest stall < 100 ms."""

from __future__ import annotations

import time

import numpy as np
from helpers_gui import isolated_settings, open_window, shared_encoder  # noqa: F401 (fixtures)
from PySide6.QtCore import QElapsedTimer, QTimer

MAX_STALL_MS = 100


def _runqueue_ms() -> float:
    """Time this thread has spent runnable but waiting for a CPU (Linux schedstat), in ms."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


class StallMeter:
    """A 10 ms QTimer on the UI thread; records the longest gap between two ticks.

    Each gap is also split into the part the kernel kept the UI thread
    waiting for a CPU while it was runnable (``/proc/thread-self/schedstat``;
    on a machine with more runnable threads than cores, other processes take
    turns) and the rest: the UI thread's own work plus its waits for the GIL,
    which is what this application's design decides. Both are reported; the
    test bounds the second, and the first on a machine that is not overloaded.
    """

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = 0
        self.last_runq = 0.0
        self.longest = 0
        self.longest_own = 0.0
        self.runq_total = 0.0
        self.ticks = 0

    def start(self) -> None:
        self.clock.start()
        self.last = 0
        self.last_runq = _runqueue_ms()
        self.runq_total = 0.0
        self.timer.start()

    def _tick(self) -> None:
        now = self.clock.elapsed()
        runq = _runqueue_ms()
        gap, waited = now - self.last, runq - self.last_runq
        self.longest = max(self.longest, gap)
        self.longest_own = max(self.longest_own, gap - waited)
        self.runq_total += waited
        self.last, self.last_runq = now, runq
        self.ticks += 1

    def stop(self) -> None:
        self.timer.stop()

    @property
    def overloaded(self) -> bool:
        """The UI thread waited for a CPU more than 10 % of the time (other processes)."""
        return self.runq_total > 0.1 * self.clock.elapsed()


def encode_many(encoder, texts, *, progress):
    """A real encoding job, in chunks with progress (as the embedding cache runs it)."""
    out = []
    for start in range(0, len(texts), 16):
        out.append(encoder.encode_documents(texts[start:start + 16]))
        progress.update(start + 16, len(texts), "encoding")
    return np.concatenate(out)


def numpy_work(seconds, *, progress):
    """A synthetic CPU job: matrix products (GIL released) and Python loops (GIL held)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 300))
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        a = np.tanh(a @ a.T / 300.0)
        sum(range(20000))  # pure-Python stretch
        i += 1
        progress.update(min(time.monotonic() - (end - seconds), seconds), seconds, f"round {i}")
    return i


def test_ui_thread_never_stalls_while_workers_encode_and_compute(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    ws = window.workspace
    retrieval = window.context.retrieval()
    encoder = retrieval.encoder  # loaded already by the dense pane
    texts = [f"document {i} about lung cancer, statins and sleep; " * 4 for i in range(64)]
    meter = StallMeter()
    done = []
    meter.start()
    window.context.jobs.start("Encoding", encode_many, encoder, texts, on_result=done.append)
    window.context.jobs.start("Numbers", numpy_work, 1.5, on_result=done.append)
    # Meanwhile the user keeps working: switch queries, candidates keep arriving.
    for qid in ("q2", "q3", "q4", "q1"):
        window.context.set_current_query(qid)
        qtbot.waitUntil(ws.is_ready, timeout=30000)
    qtbot.waitUntil(lambda: len(done) == 2, timeout=120000)
    meter.stop()
    print(f"longest UI stall while encoding: {meter.longest} ms "
          f"({meter.longest_own:.0f} ms not waiting for a CPU) over {meter.ticks} ticks; "
          f"UI thread waited {meter.runq_total:.0f} ms for a CPU in total")
    assert meter.ticks > 50
    assert meter.longest_own < MAX_STALL_MS, f"UI thread stalled {meter.longest_own:.0f} ms"
    if not meter.overloaded:
        assert meter.longest < MAX_STALL_MS, f"UI thread stalled {meter.longest} ms"
