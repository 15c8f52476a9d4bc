import threading

import pytest

from core.progress import Cancelled, Progress, StderrPrinter


def test_sub_ranges_map_into_parent_range():
    seen = []
    progress = Progress(lambda f, m: seen.append((round(f, 6), m)))
    encode = progress.sub(0.2, 0.8)
    encode.update(1, 4, "chunk 1")
    encode.sub(0.5, 1.0).fraction(1.0, "done")
    assert seen == [(0.35, "chunk 1"), (0.8, "done")]


def test_fraction_is_clamped():
    seen = []
    Progress(lambda f, m: seen.append(f)).fraction(3.0)
    assert seen == [1.0]


def test_cancel_raises_at_next_report_in_every_sub_progress():
    progress = Progress()
    child = progress.sub(0.25, 0.75)
    child.update(1, 2)
    progress.cancel()
    assert child.cancelled
    with pytest.raises(Cancelled):
        child.update(2, 2)  # the end of a sub-job is not the end of the job


def test_the_report_that_completes_the_job_is_not_a_cancellation_point():
    # It follows the job's commit: a late Cancel must not turn a stored result into "cancelled".
    progress = Progress()
    tail = progress.sub(0.5, 1.0)
    progress.cancel()
    tail.fraction(1.0, "done")
    progress.fraction(1.0, "done")
    with pytest.raises(Cancelled):
        tail.fraction(0.99)


def test_external_cancel_event():
    event = threading.Event()
    progress = Progress(cancel_event=event)
    event.set()
    with pytest.raises(Cancelled):
        progress.check()


def test_stderr_printer_throttles(capsys):
    printer = StderrPrinter(interval=60)
    for i in range(5):
        printer(i / 10, "same message")
    printer(1.0, "same message")
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["[  0.0%] same message", "[100.0%] same message"]
