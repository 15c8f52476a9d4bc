"""The job protocol the whole GUI uses: results, failures, cancellation, latest-wins."""

import threading
import time

from core.errors import StudioError
from gui.workers import JobRunner, Latest


def slow_sum(n, *, progress, delay=0.01):
    total = 0
    for i in range(n):
        time.sleep(delay)
        total += i
        progress.update(i + 1, n, f"item {i + 1}")
    return total


def test_result_and_progress_arrive_on_ui_thread(qtbot):
    runner = JobRunner()
    results, fractions, threads = [], [], []
    runner.jobProgress.connect(lambda job: (fractions.append(job.fraction),
                                            threads.append(threading.current_thread())))
    with qtbot.waitSignal(runner.jobFinished, timeout=5000):
        runner.start("sum", slow_sum, 10, on_result=results.append)
    assert results == [45]
    assert fractions and fractions[-1] == 1.0
    assert all(t is threading.main_thread() for t in threads)
    assert runner.jobs == []


def test_failure_reports_user_message(qtbot):
    def broken(*, progress):
        raise StudioError("corpus.jsonl, line 3: missing field '_id'")

    runner = JobRunner()
    errors = []
    with qtbot.waitSignal(runner.jobFailed, timeout=5000) as blocker:
        runner.start("import", broken, on_error=errors.append)
    assert blocker.args[1] == "corpus.jsonl, line 3: missing field '_id'"
    assert errors == ["corpus.jsonl, line 3: missing field '_id'"]


def test_cancel_stops_at_next_progress_report(qtbot):
    runner = JobRunner()
    cancelled, results = [], []
    job = runner.start("sum", slow_sum, 1000, on_result=results.append,
                       on_cancel=lambda: cancelled.append(True))
    qtbot.waitUntil(lambda: job.fraction > 0, timeout=5000)
    job.cancel()
    qtbot.waitUntil(lambda: job.done, timeout=5000)
    assert cancelled == [True] and results == []


def test_latest_request_wins(qtbot):
    runner = JobRunner()
    latest = Latest(runner, "lookup")
    delivered = []

    def lookup(value, *, progress, delay):
        time.sleep(delay)
        progress.check()
        return value

    latest.request(lookup, "old", delay=0.3, on_result=delivered.append)
    latest.request(lookup, "new", delay=0.01, on_result=delivered.append)
    qtbot.waitUntil(lambda: delivered == ["new"], timeout=5000)
    qtbot.wait(400)
    assert delivered == ["new"]
