"""Issue 15, item 4 (Compare): open on the newest version vs its base; list every version."""

from __future__ import annotations

import json

from helpers_gui import isolated_settings, shared_encoder  # noqa: F401 (fixtures)

from core.project.file import Project
from gui.compare_view import CompareView
from gui.context import AppContext


def add_version(project: Project, vid: str, base: str, when: str) -> None:
    # Only the registry row matters here: the view lists versions, it does not load them.
    project.db["model_versions"].insert({"id": vid, "name": vid, "path": f"models/{vid}",
                                        "base": base, "created_at": when,
                                        "config": json.dumps({}), "train_counts": "{}",
                                        "metrics": "{}"})


def listed(combo) -> list[str]:
    return [combo.itemData(i) for i in range(combo.count())]


def test_compare_opens_on_newest_version_against_its_base(qtbot, tiny_project, tmp_path):
    project = Project.open(tiny_project)
    folder = str(tmp_path / "my-st-model")
    add_version(project, "v1", folder, "2026-01-01T00:00:00")
    add_version(project, "v2", "v1", "2026-01-02T00:00:00")
    context = AppContext(project)
    view = CompareView(context)
    qtbot.addWidget(view)
    try:
        assert (view.model_a.currentData(), view.model_b.currentData()) == ("v1", "v2")
        # Every version, the bundled model and a base that is a folder are all offered.
        for combo in (view.model_a, view.model_b):
            assert listed(combo) == ["bundled", "v1", "v2", folder]

        # A new version moves the default along...
        add_version(project, "v3", "v2", "2026-01-03T00:00:00")
        context.modelVersionsChanged.emit()
        assert (view.model_a.currentData(), view.model_b.currentData()) == ("v2", "v3")
        # ...until the user picks a model: then their pair stays.
        view.model_a.setCurrentIndex(view.model_a.findData("bundled"))
        view.model_a.activated.emit(view.model_a.currentIndex())
        add_version(project, "v4", "v3", "2026-01-04T00:00:00")
        context.modelVersionsChanged.emit()
        assert (view.model_a.currentData(), view.model_b.currentData()) == ("bundled", "v3")
        assert "v4" in listed(view.model_b)
    finally:
        context.jobs.cancel_all()
        context.jobs.wait_all(10)
        project.close()
