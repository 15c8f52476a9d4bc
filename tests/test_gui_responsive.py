"""The window stays responsive while a job encodes: labeling, hovering the map, switching tabs.

A 10 ms QTimer on the UI thread measures the longest gap between two of
its ticks. The raw gap is what the user sees and is asserted on every
machine. Job threads run niced (gui.workers.lower_thread_priority), and
so do the torch/OpenMP pool threads they start (a thread inherits the
nice value of the thread that creates it): the test checks, in
/proc/self/task/*/stat, that the job thread and every other thread that
used CPU during the measurement ran at BACKGROUND_NICE, except the UI
thread and Qt's own pool, which run at the UI's priority. So the app's own
encode cannot take the CPU from the UI thread; what it can still cost is
GIL hand-overs, bounded much tighter by MAX_OWN_STALL_MS.
"""

from __future__ import annotations

import os
import threading

from helpers_gui import isolated_settings, open_window, shared_encoder  # noqa: F401 (fixtures)
from PySide6.QtCore import QElapsedTimer, Qt, QTimer

from core.project.file import Project
from gui.workers import BACKGROUND_NICE

# The raw bound, asserted everywhere. Written on the shared 2-core machine at
# load average 7-10 (four or five runnable threads of other processes per
# core, all at nice 0 like the UI thread): over nine runs the longest raw
# gap was 57-134 ms, and once 237 ms, of which 226 ms the UI thread spent
# runnable but waiting for a CPU behind other processes (schedstat); its
# own part never exceeded 71 ms. 400 ms leaves that worst case a margin of
# 1.7x; a stall the app causes on this machine (a document chunk encoded on
# the UI thread, a job run there) lasts seconds. On an idle machine the raw
# gap is the UI thread's own work, under MAX_OWN_STALL_MS.
MAX_STALL_MS = 400
# The UI thread's own work plus its GIL waits (the gap minus the time it
# was runnable but waiting for a CPU): what this app's design decides alone.
MAX_OWN_STALL_MS = 100
BUSY_TICKS = 2  # a thread with 20 ms of CPU in the measured stretch "used CPU"


def _runqueue_ms() -> float:
    """Time this thread has spent runnable but waiting for a CPU (Linux schedstat), in ms."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


def thread_cpu_and_nice() -> dict[int, tuple[str, int, int]]:
    """``{thread id: (name, nice, utime + stime in clock ticks)}`` of this process (Linux; else empty)."""
    out = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                comm, rest = f.read().split(" (", 1)[1].rsplit(") ", 1)
        except OSError:
            continue  # the thread ended meanwhile
        fields = rest.split()  # from stat(5) field 3 (state) on: utime 14, stime 15, nice 19
        out[int(tid)] = (comm, int(fields[16]), int(fields[11]) + int(fields[12]))
    return out


# Qt's own thread pool works for the UI thread (image conversion while
# painting); it is not a job and is meant to run at the UI's priority.
QT_POOL_THREAD = "Thread (pooled)"


class StallMeter:
    """A 10 ms QTimer on the UI thread; records the longest gap between two ticks.

    Each gap is also split into the part the kernel kept the UI thread
    waiting for a CPU while it was runnable (``/proc/thread-self/schedstat``)
    and the rest, the UI thread's own work and GIL waits (``longest_own``).
    """

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.last = 0
        self.last_runq = 0.0
        self.longest = 0
        self.longest_own = 0.0
        self.runq_total = 0.0
        self.ticks = 0
        self.phase = ""
        self.by_phase: dict[str, tuple[int, float]] = {}  # phase -> (longest gap, its own part)

    def start(self) -> None:
        self.clock.start()
        self.last = 0
        self.last_runq = _runqueue_ms()
        self.timer.start()

    def _tick(self) -> None:
        now = self.clock.elapsed()
        runq = _runqueue_ms()
        gap, waited = now - self.last, runq - self.last_runq
        self.longest = max(self.longest, gap)
        self.longest_own = max(self.longest_own, gap - waited)
        worst = self.by_phase.get(self.phase, (0, 0.0))
        self.by_phase[self.phase] = (max(worst[0], gap), max(worst[1], gap - waited))
        self.runq_total += waited
        self.last, self.last_runq = now, runq
        self.ticks += 1

    def stop(self) -> None:
        self._tick()  # the stretch since the last tick counts too
        self.timer.stop()


def encode_until(encoder, texts, stop: threading.Event, *, progress):
    """A real encoding job, 16 texts a chunk with progress (as the embedding cache runs it), until ``stop``."""
    chunks = 0
    while not stop.is_set():
        start = (chunks * 16) % len(texts)
        encoder.encode_documents(texts[start:start + 16])
        chunks += 1
        progress.update(chunks, chunks + 1, f"encoding: {chunks} chunks")
    return chunks


def label_first_rows(qtbot, window, meter, query_id: str, keys) -> list[str]:
    """Label the top rows of the dense pane by keyboard; returns the documents labeled."""
    ws = window.workspace
    meter.phase = f"query {query_id}"
    window.show_view("labeling")
    window.context.set_current_query(query_id)
    qtbot.waitUntil(ws.is_ready, timeout=60000)
    pane = ws.panes["dense"]
    pane.view.setFocus()
    pane.select_row(0)
    qtbot.wait(20)
    labeled = []
    for key in keys:
        meter.phase = f"label {query_id} {len(labeled)}"
        labeled.append(pane.current_doc_id())
        qtbot.keyClick(pane.view, key)  # labels, then moves to the next row ("advance")
        qtbot.wait(20)
    return labeled


def hover_documents(qtbot, map_view, count: int) -> list[str]:
    """Move the mouse over ``count`` documents of the map; returns the hover texts shown."""
    shown = []
    for doc_id in map_view._shown.layout.doc_ids[:count]:
        scene = map_view.view_box.mapViewToScene(map_view.view_position("document", doc_id))
        qtbot.mouseMove(map_view.plot_widget.viewport(), map_view.plot_widget.mapFromScene(scene))
        qtbot.wait(30)  # the user lingers on each point (and the meter keeps ticking)
        # pyqtgraph handles mouse moves at most once per frame; under load that
        # can take longer than a fixed pause, so wait (briefly) for the card.
        try:
            qtbot.waitUntil(lambda d=doc_id: map_view.hover_text.isVisible()
                            and d in map_view.hover_text.textItem.toPlainText(), timeout=1000)
        except qtbot.TimeoutError:
            continue
        shown.append(map_view.hover_text.textItem.toPlainText())
    return shown


def test_ui_thread_never_stalls_while_a_job_encodes(qtbot, tiny_project):
    window = open_window(qtbot, tiny_project)
    window.workspace.set_advance(True)
    map_view = window.show_view("map")  # its layout is computed once, before the measurement
    qtbot.waitUntil(map_view.is_ready, timeout=120000)
    window.show_view("labeling")
    encoder = window.context.retrieval().encoder  # loaded already by the dense pane
    texts = [f"document {i} about lung cancer, statins and sleep; " * 4 for i in range(64)]
    stop, done = threading.Event(), []

    meter = StallMeter()
    before = thread_cpu_and_nice()
    meter.start()
    meter.phase = "job start"
    job = window.context.jobs.start("Encoding", encode_until, encoder, texts, stop, on_result=done.append)
    qtbot.wait(20)
    # Meanwhile the user keeps working: labels by keyboard, switches queries and tabs, hovers the map.
    labeled = {"q2": label_first_rows(qtbot, window, meter, "q2", [Qt.Key.Key_N, Qt.Key.Key_N]),
               "q3": label_first_rows(qtbot, window, meter, "q3", [Qt.Key.Key_N, Qt.Key.Key_F])}
    for key in ("review", "map", "training", "compare", "labeling", "map"):
        meter.phase = f"tab {key}"
        window.show_view(key)
        qtbot.wait(60)
    meter.phase = "hovering"
    hovered = hover_documents(qtbot, map_view, 6)
    meter.phase = "tab labeling"
    window.show_view("labeling")
    qtbot.wait(60)
    meter.phase = "end"
    assert not done, "the encode ended before the interactions did: nothing was measured against it"
    after = thread_cpu_and_nice()
    stop.set()
    qtbot.waitUntil(lambda: bool(done), timeout=120000)
    meter.stop()

    # The interactions did what they say.
    with Project.open(tiny_project) as project:
        stored = {q: {d: lab.label for d, lab in project.labels_for_query(q).items()} for q in labeled}
    assert [stored["q2"][d] for d in labeled["q2"]] == ["negative", "negative"]
    assert [stored["q3"][d] for d in labeled["q3"]] == ["negative", "false_negative"]
    assert len(hovered) >= 3, hovered

    ui = threading.main_thread().native_id
    busy = {tid: (name, nice, ticks - before.get(tid, ("", 0, 0))[2])
            for tid, (name, nice, ticks) in after.items() if ticks - before.get(tid, ("", 0, 0))[2] >= BUSY_TICKS}
    print(f"longest UI stall: {meter.longest} ms raw, {meter.longest_own:.0f} ms not waiting for a CPU, "
          f"over {meter.ticks} ticks in {meter.clock.elapsed()} ms; the UI thread waited "
          f"{meter.runq_total:.0f} ms for a CPU in all; {done[0]} chunks encoded; "
          f"busy threads {{tid: (name, nice, CPU ticks)}}: {busy} (UI thread {ui}); "
          f"by phase (raw ms, own ms): {meter.by_phase}")
    assert meter.ticks > 50 and done[0] >= 1
    assert meter.longest < MAX_STALL_MS, f"UI thread stalled {meter.longest} ms"
    assert meter.longest_own < MAX_OWN_STALL_MS, f"UI thread stalled {meter.longest_own:.0f} ms on its own"
    if after:  # Linux: the job and every thread it started ran niced, the UI thread did not
        assert after[ui][1] == 0
        assert after[job.thread.native_id][1] >= BACKGROUND_NICE
        background = {tid: v for tid, v in busy.items() if tid != ui and v[0] != QT_POOL_THREAD}
        assert all(nice >= BACKGROUND_NICE for _, nice, _ in background.values()), background
