"""Export and index waiting show the stage's count with the stage's own fraction (the shared progress)."""

from __future__ import annotations

import threading

import pytest

import gui.export_dialog as export_dialog
from core.progress import Progress
from core.project.file import Project
from gui.context import AppContext
from gui.workers import Job
from gui.workspace_controller import waiting_stage


@pytest.fixture
def context(tiny_project):
    project = Project.open(tiny_project)
    ctx = AppContext(project)
    yield ctx
    ctx.jobs.cancel_all()
    ctx.jobs.wait_all(10)
    ctx.close()
    project.close()


def test_export_dialog_bar_shows_the_stage_fraction_beside_its_count(qtbot, context, tmp_path,
                                                                     monkeypatch):
    release = threading.Event()

    def held_export(project_path, out, *, progress: Progress, **options) -> dict:
        progress.fraction(0.5, "Reading labels")
        progress.sub(0.5, 1.0).update(3, 60, "Writing rows")  # whole job 52.5 %, this stage 5 %
        while not release.wait(0.01):
            progress.check()
        return {"rows": 60}

    monkeypatch.setattr(export_dialog, "run_export", held_export)
    dialog = export_dialog.ExportDialog(context)
    qtbot.addWidget(dialog)
    dialog.out.setText(str(tmp_path / "out.jsonl"))
    dialog.start_export()
    qtbot.waitUntil(lambda: "3/60" in dialog.progress.stage.text(), timeout=10000)
    bar = dialog.progress.bar
    assert bar.value() == round(3 / 60 * bar.maximum())  # not the whole job's 52.5 %
    release.set()
    qtbot.waitUntil(lambda: "Written to" in dialog.status.text(), timeout=10000)
    assert dialog.progress.isHidden() and dialog.progress.stage.text() == ""


def test_index_waiting_stage_is_the_jobs_current_step():
    job = Job("Embedding documents", Progress())
    job.progress.sub(0.25, 1.0).update(0, 400, "Encoding documents")
    assert waiting_stage(job) == ("Encoding documents 0/400", 0.0)  # not 25 % beside "0/400"
    job.progress.busy("Loading model")
    assert waiting_stage(job) == ("Loading model", None)  # unknown length: no bar at 0 %
