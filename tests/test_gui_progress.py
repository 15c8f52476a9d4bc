"""Issue 15, item 3: one progress widget whose count, bar and percent agree, busy when the
length is unknown, and nothing left behind after a cancel."""

from __future__ import annotations

import threading

from helpers_gui import isolated_settings, shared_encoder  # noqa: F401 (fixtures)

from gui.progress_widget import BAR_STEPS, JobProgress
from gui.workers import JobRunner


def stepped_job(gates: list[threading.Event]):
    """A job in two stages (counted scoring inside 25..90 %, then a busy save) that waits at each
    report until the test lets it go, so what the widget shows can be read at a known point."""

    def job(*, progress):
        scoring = progress.sub(0.25, 0.9)
        scoring.update(0, 60, "Scoring queries: 0/60")
        gates[0].wait(10)
        scoring.update(15, 60, "Scoring queries: 15/60")
        gates[1].wait(10)
        progress.sub(0.9, 1.0).busy("Saving")
        gates[2].wait(10)
        progress.check()
        return "done"

    return job


def test_count_bar_and_percent_agree_then_busy_then_clear(qtbot):
    runner = JobRunner()
    widget = JobProgress(runner)
    qtbot.addWidget(widget)
    gates = [threading.Event() for _ in range(3)]
    results = []
    job = runner.start("Mining", stepped_job(gates), on_result=results.append)
    widget.follow(job)
    assert widget.job is job

    qtbot.waitUntil(lambda: "0/60" in widget.stage.text(), timeout=5000)
    # The job as a whole is at 25 %, but the stage the count belongs to is at 0 %.
    assert widget.bar.value() == 0 and widget.bar.format() == "0 %"
    assert "25 % of the whole job" in widget.bar.toolTip()
    gates[0].set()
    qtbot.waitUntil(lambda: "15/60" in widget.stage.text(), timeout=5000)
    assert widget.bar.value() == BAR_STEPS // 4 and widget.bar.format().startswith("25 %")
    gates[1].set()
    # A stage of unknown length: Qt's busy bar (range 0..0), no percent, no time left.
    qtbot.waitUntil(lambda: widget.stage.text() == "Saving", timeout=5000)
    assert (widget.bar.minimum(), widget.bar.maximum()) == (0, 0)
    assert "left" not in widget.bar.format()
    gates[2].set()
    qtbot.waitUntil(lambda: results == ["done"], timeout=5000)
    assert widget.job is None and not widget.isVisible() and widget.stage.text() == ""
    runner.wait_all(5)


def test_cancel_clears_stage_percent_and_time_left(qtbot):
    runner = JobRunner()
    widget = JobProgress(runner)
    qtbot.addWidget(widget)
    widget.show()
    gates = [threading.Event() for _ in range(3)]
    cancelled = []
    job = runner.start("Mining", stepped_job(gates), on_cancel=lambda: cancelled.append(True))
    widget.follow(job)
    qtbot.waitUntil(lambda: "0/60" in widget.stage.text(), timeout=5000)
    job.cancel()
    for gate in gates:
        gate.set()
    qtbot.waitUntil(lambda: cancelled == [True], timeout=5000)
    assert widget.job is None and not widget.isVisible()
    assert widget.stage.text() == "" and widget.bar.format() == "" and widget.bar.value() == 0
    runner.wait_all(5)


def test_status_bar_shows_the_same_widget_for_the_oldest_job(qtbot):
    from gui.job_status import JobStatus

    runner = JobRunner()
    status = JobStatus()
    qtbot.addWidget(status)
    status.set_runner(runner)
    gates = [threading.Event() for _ in range(3)]
    first = runner.start("First", stepped_job(gates))
    second = runner.start("Second", stepped_job(gates))
    assert status.progress.job is first
    assert status.more.text() == "+1 more" and status.more.toolTip() == "Second"
    for gate in gates:
        gate.set()
    qtbot.waitUntil(lambda: first.done and second.done, timeout=5000)
    qtbot.waitUntil(lambda: status.progress.job is None, timeout=5000)
    assert status.more.text() == ""
    runner.wait_all(5)


def test_a_narrow_bar_shows_the_percent_and_keeps_the_time_left_in_its_tooltip(qtbot):
    from core.progress import Step, TimeLeft

    shown = {}
    for width in (100, 400):
        widget = JobProgress(bar_width=width)
        widget.bar.setMinimumWidth(width)  # the bar this wide, whatever the stage takes
        qtbot.addWidget(widget)
        widget.resize(width + 300, 30)
        widget.setVisible(True)
        qtbot.waitExposed(widget)
        widget._time_left = TimeLeft(warmup=0.0, min_move=0.0)  # an estimate from the second report on
        widget._show_step(Step("Encoding documents: 1/400", 0.1, 1 / 400, 1, 400))
        widget._show_step(Step("Encoding documents: 256/400", 0.5, 256 / 400, 256, 400))
        shown[width] = (widget.bar.format(), widget.bar.toolTip())
    assert shown[100][0] == "64 %" and "64 % · about" in shown[100][1]  # it would wrap in 100 px
    assert shown[400][0].startswith("64 % · about") and shown[400][0].endswith("left")
