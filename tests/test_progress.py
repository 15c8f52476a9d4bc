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


# -- structured steps (issue 15, item 3: stage, count, percent and time left agree) ----------
from core.progress import Step, TimeLeft, describe_step, percent_text  # noqa: E402


def test_step_keeps_the_stage_count_and_its_own_fraction_beside_the_overall_one():
    progress = Progress(lambda f, m: None)
    scoring = progress.sub(0.25, 0.92)  # the miner's scoring stage
    scoring.update(0, 60, "Scoring queries: 0/60")
    step = progress.step
    assert (step.done, step.total, step.local) == (0, 60, 0.0)
    assert step.overall == pytest.approx(0.25)
    # What a display shows: the count and a percent that agree (0 %, not the job's 25 %).
    assert describe_step(step) == "Scoring queries: 0/60"
    assert percent_text(step, None) == "0 %"
    scoring.update(15, 60, "Scoring queries: 15/60")
    assert percent_text(progress.step, None) == "25 %"
    assert progress.step.overall == pytest.approx(0.25 + 0.67 * 0.25)


def test_count_is_added_once_when_the_message_lacks_it():
    assert describe_step(Step("Ranking for bm25", 0.5, 0.5, 2, 4)) == "Ranking for bm25 2/4"
    assert describe_step(Step("BM25: tokenizing 1,000/5,000 documents", 0.1, 0.2, 1000, 5000)) == \
        "BM25: tokenizing 1,000/5,000 documents"


def test_busy_stage_has_no_fraction_and_no_time_left():
    seen = []
    progress = Progress(lambda f, m: seen.append((f, m)))
    progress.sub(0.4, 0.9).busy("Loading model")
    assert seen == [(0.4, "Loading model")]
    step = progress.step
    assert step.local is None and not step.counted
    assert percent_text(step, None) == "working…"
    assert TimeLeft().seconds(step, now=100.0) is None
    progress.cancel()
    with pytest.raises(Cancelled):
        progress.busy("again")


def test_time_left_follows_the_stage_rate_and_restarts_with_a_new_stage():
    clock = TimeLeft(warmup=2.0, min_move=0.02)
    encode = lambda done: Step(f"Encoding documents: {done}/400", 0.0, done / 400, done, 400)  # noqa: E731
    assert clock.seconds(encode(0), now=10.0) is None  # first report: no rate yet
    assert clock.seconds(encode(40), now=11.0) is None  # within the warm-up
    # 100 of 400 in 4 s: 300 more take 12 s.
    assert clock.seconds(encode(100), now=14.0) == pytest.approx(12.0)
    # Another stage starts its own estimate instead of reusing the encode rate.
    assert clock.seconds(Step("Building HNSW index: 0/400", 0.9, 0.0, 0, 400), now=15.0) is None


def test_notes_reach_the_callback_and_every_sub_progress():
    heard = []
    progress = Progress(on_note=lambda name, value: heard.append((name, value)))
    sub = progress.sub(0.5, 1.0)
    sub.note("encoder", {"kind": "fast"})
    sub.note("encoder", {"kind": "exact"})
    progress.note("version", "v2")
    assert heard == [("encoder", {"kind": "fast"}), ("encoder", {"kind": "exact"}), ("version", "v2")]
    assert dict(progress.notes) == {"encoder": {"kind": "exact"}, "version": "v2"}
    assert sub.notes is progress.notes
    progress.cancel()
    progress.note("late", 1)  # no cancellation point: a note never raises Cancelled


def test_a_relayed_step_keeps_its_stage_fraction_and_count():
    heard = []
    progress = Progress(lambda fraction, message: heard.append((fraction, message)))
    progress.sub(0.5, 1.0).relay(Step("Encoding documents: 3/12", 0.8, 0.25, 3, 12))
    assert heard == [(0.9, "Encoding documents: 3/12")]
    assert progress.step == Step("Encoding documents: 3/12", 0.9, 0.25, 3, 12)
    progress.cancel()
    with pytest.raises(Cancelled):
        progress.relay(Step("Encoding documents: 4/12", 0.85, 4 / 12, 4, 12))
