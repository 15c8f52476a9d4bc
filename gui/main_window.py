"""The main window: menus, toolbar, the view tabs and the status bar.

Registration point for the other views
---------------------------------------
Views written by other areas are listed in :data:`VIEWS` (tabs) and
:data:`TOOLS` (dialogs opened from the Tools menu) as ``"module:Class"``
strings. Each class is constructed as ``Class(context: AppContext, parent)``
when a project opens. A module that does not exist yet is simply skipped (no
tab, no menu entry); a module that fails to import is skipped with its error
printed on stderr, so one broken view never takes the workspace down.

Every view is a :class:`gui.view.View`: the main window calls its hooks
``prepare_screenshot()`` and ``is_ready()`` (``retriever-studio screenshot
--view KEY`` waits for it) and ``shutdown()`` (before the project closes).
A view inherits ``View`` to declare them; one that does not yet gets it mixed
in at registration (:func:`gui.view.as_view_class`), so the hooks it has are
called and the others are no-ops.

Views talk to the workspace only through the shared :class:`AppContext`
signals (``currentQueryChanged``, ``documentActivated``, ``labelsChanged``,
``modelChanged``, ``modelVersionsChanged``, ``candidatesChanged``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import traceback
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core.errors import StudioError
from core.labeling.overview import Totals
from core.project.file import PROJECT_SUFFIX, Project

from . import errors
from .context import AppContext
from .dialogs import AboutDialog, SettingsDialog, ShortcutSheet, shortcut_rows
from .job_status import JobStatus
from .view import View, as_view_class
from .workers import tune_interpreter_for_ui
from .workspace import MAX_DEPTH, LabelingWorkspace, settings


@dataclass(frozen=True)
class ViewSpec:
    """A view other areas contribute: ``key`` (for ``screenshot --view``), tab title, class."""

    key: str
    title: str
    target: str  # "package.module:ClassName"


@dataclass(frozen=True)
class ToolSpec:
    """A dialog in the Tools menu, constructed with ``(context, parent)`` and shown modeless."""

    key: str
    title: str
    target: str
    shortcut: str = ""


# Tabs after the labeling workspace, in this order.
VIEWS: list[ViewSpec] = [
    ViewSpec("review", "Review", "gui.review_panel:ReviewPanel"),
    ViewSpec("map", "Map", "gui.map_view:MapView"),
    ViewSpec("training", "Training", "gui.training_panel:TrainingPanel"),
    ViewSpec("compare", "Compare", "gui.compare_view:CompareView"),
]

TOOLS: list[ToolSpec] = [
    ToolSpec("mining", "Mine hard negatives…", "gui.mining_dialog:MiningDialog", "Ctrl+M"),
]

LABELING_KEY = "labeling"


def load_class(target: str):
    """The class named by ``"module:Class"``, or None when the module is not written yet.

    Any other failure (a bug in that module) is printed and also gives None.
    """
    module_name, _, class_name = target.partition(":")
    try:
        if importlib.util.find_spec(module_name) is None:
            return None
    except ModuleNotFoundError:
        return None
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except Exception as exc:  # one broken view must not take the window down
        errors.report_unexpected(f"cannot load {target}: {exc}", traceback.format_exc())
        return None


def _icon_path() -> Path:
    return Path(__file__).resolve().parent.parent / "resources" / "icons" / "retriever-studio.svg"


def app_icon() -> QIcon:
    path = _icon_path()
    return QIcon(str(path)) if path.exists() else QIcon()


class WelcomePage(QWidget):
    """Shown while no project is open: the ways to get one."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        title = QLabel("<h2>Retriever Studio</h2><p>Open a project to start labeling, or create "
                       "one and import a corpus (BEIR, MS MARCO, TREC, SMART, CSV/TSV, JSONL, "
                       "Parquet).</p>")
        title.setWordWrap(True)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        buttons = QHBoxLayout()
        for text, action in (("Open project…", window.open_action),
                             ("New project…", window.new_action),
                             ("Open the demo project", window.demo_action)):
            b = QPushButton(text)
            b.setMinimumHeight(36)
            b.clicked.connect(action.trigger)
            b.setEnabled(action.isEnabled())
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(title)
        layout.addLayout(buttons)
        layout.addStretch(2)
        self.setMaximumWidth(720)


class MainWindow(QMainWindow):
    """One window, one open project at a time."""

    projectOpened = Signal(object)  # AppContext

    def __init__(self, project_path: str | Path | None = None) -> None:
        super().__init__()
        tune_interpreter_for_ui()
        errors.reporter.unexpected.connect(self._unexpected_error)
        self.context: AppContext | None = None
        self.workspace: LabelingWorkspace | None = None
        self.views: dict[str, View] = {}  # each one a QWidget too (a tab)
        self._tool_windows: dict[str, QWidget] = {}
        self._versions: list[dict] = []
        self.last_warning: tuple[str, str] | None = None
        self.setWindowIcon(app_icon())
        self.resize(1400, 900)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._show_welcome()
        self._update_title()
        if project_path is not None:
            self.open_project(project_path)

    # -- construction -------------------------------------------------------------
    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
            act.setToolTip(tip)
        act.triggered.connect(slot)
        return act

    def _build_actions(self) -> None:
        self.new_action = self._action("&New project…", self.new_project, QKeySequence.StandardKey.New,
                                       "Create an empty project file")
        self.open_action = self._action("&Open project…", self.choose_project,
                                        QKeySequence.StandardKey.Open, "Open a project file")
        self.demo_action = self._action("Open the &demo project", self.open_demo,
                                        tip="A small SciFact sample with labels")
        self.demo_action.setEnabled(importlib.util.find_spec("core.io.demo") is not None)
        self.import_action = self._action("&Import…", self.import_data, "Ctrl+I",
                                          "Import documents, queries and judgements")
        self.export_action = self._action("&Export…", self.export_data, "Ctrl+E",
                                          "Export labels and training data")
        self.close_action = self._action("&Close project", self.close_project,
                                         QKeySequence.StandardKey.Close)
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.settings_action = self._action("&Settings…", self.edit_settings,
                                            QKeySequence.StandardKey.Preferences)
        self.shortcuts_action = self._action("&Keyboard shortcuts", self.show_shortcuts, "F1")
        self.about_action = self._action("&About Retriever Studio", self.show_about)
        self.folder_model_action = self._action("Model from a &folder…", self.choose_model_folder,
                                                tip="Use any local sentence-transformers folder")
        self.indexes_action = self._action(
            "&Build missing indexes",
            lambda: self.workspace and self.workspace.controller.prepare_indexes(),
            tip="Build the BM25 index and the dense embeddings if they are missing")
        self.undo_action = QAction("&Undo", self)
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = QAction("&Redo", self)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.undo_action.triggered.connect(lambda: self.context and self.context.undo_stack.undo())
        self.redo_action.triggered.connect(lambda: self.context and self.context.undo_stack.redo())

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for a in (self.new_action, self.open_action, self.demo_action, None, self.import_action,
                  self.export_action, None, self.close_action, self.quit_action):
            file_menu.addSeparator() if a is None else file_menu.addAction(a)
        self.edit_menu = bar.addMenu("&Edit")
        self.label_menu = bar.addMenu("&Label")
        self.model_menu = bar.addMenu("&Model")
        self.tools_menu = bar.addMenu("&Tools")
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)
        self._fill_edit_menu()

    def _fill_edit_menu(self) -> None:
        m = self.edit_menu
        m.clear()
        m.addAction(self.undo_action)
        m.addAction(self.redo_action)
        m.addSeparator()
        m.addAction(self.settings_action)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in (self.open_action, self.import_action, self.export_action):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.undo_action)
        tb.addAction(self.redo_action)
        tb.addSeparator()
        tb.addWidget(QLabel(" Dense model: "))
        self.model_box = QComboBox()
        self.model_box.setObjectName("model-selector")
        self.model_box.setMinimumWidth(240)
        self.model_box.setToolTip("The model the dense pane (and mining, map) uses")
        self.model_box.activated.connect(self._model_box_activated)
        tb.addWidget(self.model_box)
        self.addToolBar(tb)
        self.toolbar = tb

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.project_label = QLabel()
        self.model_label = QLabel()
        self.counts_label = QLabel()
        self.counts_label.setObjectName("status-counts")
        self.job_status = JobStatus(self)
        sb.addWidget(self.project_label)
        sb.addWidget(self.model_label)
        self.save_label = QLabel()
        self.save_label.setObjectName("status-saving")
        sb.addPermanentWidget(self.save_label)
        sb.addPermanentWidget(self.counts_label)
        sb.addPermanentWidget(self.job_status)

    # -- project lifecycle -------------------------------------------------------------
    def _show_welcome(self) -> None:
        holder = QWidget()
        layout = QHBoxLayout(holder)
        layout.addStretch(1)
        layout.addWidget(WelcomePage(self))
        layout.addStretch(1)
        self.setCentralWidget(holder)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for a in (self.import_action, self.export_action, self.close_action):
            a.setEnabled(False)
        self.model_box.clear()
        self.model_box.setEnabled(False)
        self.label_menu.clear()
        self.tools_menu.clear()
        self.model_menu.clear()
        self.counts_label.setText("")
        self.save_label.setText("")

    def open_project(self, path: str | Path) -> bool:
        """Open (and show) a project file; returns False after telling the user why not."""
        try:
            project = Project.open(Path(path))
        except StudioError as exc:
            self.warn("Cannot open project", str(exc))
            return False
        self.close_project()
        self.context = AppContext(project, self)
        self.context.model_id = str(settings().value(_model_key(project.path), "bundled"))
        self._build_views()
        remember_recent(project.path)
        self.projectOpened.emit(self.context)
        return True

    def _build_views(self) -> None:
        ctx = self.context
        assert ctx is not None
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setObjectName("views")
        self.workspace = LabelingWorkspace(ctx, self.tabs)
        self.tabs.addTab(self.workspace, "Labeling")
        self.views = {LABELING_KEY: self.workspace}
        for spec in VIEWS:
            cls = load_class(spec.target)
            if cls is None:
                continue
            try:
                view = as_view_class(cls)(ctx, self.tabs)
            except Exception as exc:
                errors.report_unexpected(f"the {spec.title} view failed to start: {exc}",
                                         traceback.format_exc())
                continue
            self.tabs.addTab(view, spec.title)
            self.views[spec.key] = view
        self.setCentralWidget(self.tabs)

        # Label actions live on the workspace (their shortcuts work while it has focus);
        # the menu shows them with their keys.
        self.label_menu.clear()
        for act in self.workspace.actions.values():
            self.label_menu.addAction(act)
        self.label_menu.addSeparator()
        self.label_menu.addAction(self.workspace.next_query)
        self.label_menu.addAction(self.workspace.prev_query)
        self.label_menu.addAction(self.workspace.find_query)
        self.tools_menu.clear()
        for tool in TOOLS:
            if importlib.util.find_spec(tool.target.partition(":")[0]) is None:
                continue
            act = self._action(tool.title, lambda _=False, t=tool: self.open_tool(t.key),
                               tool.shortcut or None)
            self.tools_menu.addAction(act)
        self.tools_menu.setEnabled(not self.tools_menu.isEmpty())

        for a in (self.import_action, self.export_action, self.close_action):
            a.setEnabled(True)
        ctx.undo_stack.canUndoChanged.connect(self.undo_action.setEnabled)
        ctx.undo_stack.canRedoChanged.connect(self.redo_action.setEnabled)
        # Bound methods, not lambdas: Qt drops them with the window (the stack outlives it).
        ctx.undo_stack.undoTextChanged.connect(self._undo_text_changed)
        ctx.undo_stack.redoTextChanged.connect(self._redo_text_changed)
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)
        ctx.modelChanged.connect(self._model_changed)
        ctx.modelVersionsChanged.connect(self._fill_models)
        ctx.jobs.jobFailed.connect(self._job_failed)
        ctx.problem.connect(self.warn)
        ctx.labelsPending.connect(self._show_saving)
        self.workspace.controller.totalsChanged.connect(self._show_totals)
        self.job_status.set_runner(ctx.jobs)
        self._fill_models()
        self._update_title()
        self.workspace.queries.view.setFocus()

    def close_project(self) -> None:
        if self.context is None:
            return
        for view in self.views.values():
            try:
                view.shutdown()
            except Exception as exc:  # one broken view must not keep the project open
                errors.report_unexpected(f"closing a view failed: {exc}", traceback.format_exc())
        for win in self._tool_windows.values():
            win.close()
        self._tool_windows.clear()
        for dialog in self.findChildren(QDialog):
            if getattr(dialog, "context", None) is self.context:
                dialog.reject()  # cancels its running job, if any
                dialog.close()
        ctx = self.context
        unsaved = ctx.close()
        if unsaved:
            self.warn("Labels not saved", "These changes could not be saved before the project "
                      "closed (another program kept it locked):\n" + "\n".join(unsaved))
        ctx.jobs.close()
        ctx.jobs.wait_all(timeout=5.0)
        self.job_status.set_runner(None)
        self.context = None
        self.workspace = None
        self.views = {}
        self._show_welcome()
        ctx.project.close()
        ctx.deleteLater()
        self._update_title()

    def _update_title(self) -> None:
        if self.context is None:
            self.setWindowTitle("Retriever Studio")
            self.project_label.setText("No project open")
            self.model_label.setText("")
            return
        path = self.context.project_path
        self.setWindowTitle(f"{path.stem} — Retriever Studio")
        self.project_label.setText(f"Project: <b>{path.name}</b>")
        self.project_label.setToolTip(str(path))
        self.model_label.setText(f"Model: <b>{self._model_title(self.context.model_id)}</b>")

    def _show_totals(self, totals: Totals) -> None:
        self.counts_label.setText(
            f"{totals.documents:,} docs · {totals.labeled_queries:,}/{totals.queries:,} queries labeled · "
            f"<span style='color:#1b7f3b'><b>{totals.positives:,}</b> pos.</span> · "
            f"<span style='color:#c2410c'><b>{totals.negatives:,}</b> neg.</span> · "
            f"<span style='color:#7c3aed'><b>{totals.false_negatives:,}</b> false neg.</span>")
        self.counts_label.setToolTip(
            f"{totals.positives:,} positive, {totals.negatives:,} negative and "
            f"{totals.false_negatives:,} false negative labels over {totals.queries:,} queries")

    def warn(self, title: str, message: str) -> None:
        """Tell the user something went wrong, without blocking the event loop (jobs keep running)."""
        self.last_warning = (title, message)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _undo_text_changed(self, text: str) -> None:
        self.undo_action.setToolTip(f"Undo {text}" if text else "Undo")

    def _redo_text_changed(self, text: str) -> None:
        self.redo_action.setToolTip(f"Redo {text}" if text else "Redo")

    def _unexpected_error(self, summary: str, log: str) -> None:
        where = f"\n\nThe details were written to {log}." if log else ""
        self.warn("Something went wrong", f"{summary}{where}")

    def _show_saving(self) -> None:
        """Labels being saved, or waiting for another program's lock ("" when all are saved)."""
        text = self.context.saver.status() if self.context is not None else ""
        waiting = self.context is not None and self.context.saver.waiting_for_lock
        self.save_label.setText(f"<span style='color:#b45309'><b>{text}</b></span>"
                                if waiting else text)
        self.save_label.setToolTip(
            "Another program is writing to the project (an import, the command line). The "
            "labels are kept and saved as soon as it is free; closing the project before "
            "then reports what could not be saved." if waiting else "")

    def _job_failed(self, job, message: str) -> None:
        self.statusBar().showMessage(f"{job.name} failed: {message}", 15000)

    # -- file actions ---------------------------------------------------------------
    def choose_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open project", str(last_folder()),
            f"Retriever Studio projects (*{PROJECT_SUFFIX});;All files (*)")
        if path:
            self.open_project(path)

    def new_project(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "New project", str(last_folder() / f"untitled{PROJECT_SUFFIX}"),
            f"Retriever Studio projects (*{PROJECT_SUFFIX})")
        if not path:
            return
        path = Path(path)
        if path.suffix != PROJECT_SUFFIX:
            path = path.with_suffix(PROJECT_SUFFIX)
        if path.exists():
            self.warn("New project", f"{path} already exists; open it instead.")
            return
        try:
            Project.create(path).close()
        except StudioError as exc:
            self.warn("New project", str(exc))
            return
        if self.open_project(path):
            self.import_data()

    def open_demo(self) -> None:
        from core.io.demo import ensure_demo_project

        self.statusBar().showMessage("Preparing the demo project…")
        runner = self.context.jobs if self.context is not None else None
        if runner is None:
            from .workers import JobRunner

            runner = self._demo_runner = JobRunner(self)
            self.job_status.set_runner(runner)
        runner.start("Building the demo project",
                     lambda progress: ensure_demo_project(progress=progress),
                     on_result=self.open_project,
                     on_error=lambda m: self.warn("Demo project", m))

    def import_data(self) -> None:
        if self.context is None:
            return
        from .import_dialog import ImportDialog

        dialog = ImportDialog(self.context, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.imported.connect(self._after_import)
        dialog.open()

    def _after_import(self, _counts) -> None:
        if self.context is None:
            return
        # A new corpus changes every index: reopen the project's views afresh.
        path = self.context.project_path
        self.close_project()
        self.open_project(path)

    def export_data(self) -> None:
        if self.context is None:
            return
        from .export_dialog import ExportDialog

        dialog = ExportDialog(self.context, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def open_tool(self, key: str) -> QWidget | None:
        if self.context is None:
            return None
        win = self._tool_windows.get(key)
        if win is None:
            spec = next(t for t in TOOLS if t.key == key)
            cls = load_class(spec.target)
            if cls is None:
                self.warn(spec.title, f"{spec.target} could not be loaded; "
                                    "see the terminal for the error.")
                return None
            win = cls(self.context, self)
            self._tool_windows[key] = win
        win.show()
        win.raise_()
        return win

    # -- models ---------------------------------------------------------------------
    def _model_title(self, model_id: str) -> str:
        if model_id == "bundled":
            return "Bundled (all-MiniLM-L6-v2)"
        if self.context is not None:
            for m in self._versions:
                if m["id"] == model_id:
                    return f"{m['name']} ({m['id']})" if m["name"] != m["id"] else m["id"]
        return Path(model_id).name or model_id

    def _fill_models(self) -> None:
        if self.context is None:
            return
        self._versions = self.context.project.model_versions()
        box = self.model_box
        box.blockSignals(True)
        box.clear()
        box.addItem("Bundled (all-MiniLM-L6-v2)", "bundled")
        for m in self._versions:
            box.addItem(f"Version: {self._model_title(m['id'])}", m["id"])
        for folder in recent_model_folders():
            if box.findData(folder) < 0:
                box.addItem(f"Folder: {Path(folder).name}", folder)
                box.setItemData(box.count() - 1, folder, Qt.ItemDataRole.ToolTipRole)
        current = self.context.model_id
        if box.findData(current) < 0:
            box.addItem(f"Folder: {Path(current).name}", current)
        box.addItem("Other folder…", "__folder__")
        box.setCurrentIndex(box.findData(current))
        box.setEnabled(True)
        box.blockSignals(False)

        self.model_menu.clear()
        for i in range(box.count() - 1):
            act = self.model_menu.addAction(box.itemText(i))
            act.setCheckable(True)
            act.setChecked(box.itemData(i) == current)
            act.triggered.connect(lambda _=False, mid=box.itemData(i): self.set_model(mid))
        self.model_menu.addSeparator()
        self.model_menu.addAction(self.folder_model_action)
        self.model_menu.addAction(self.indexes_action)

    def _model_box_activated(self, index: int) -> None:
        data = self.model_box.itemData(index)
        if data == "__folder__":
            self._fill_models()  # put the selection back until a folder is chosen
            self.choose_model_folder()
        elif data:
            self.set_model(data)

    def choose_model_folder(self) -> None:
        if self.context is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Sentence-transformers model folder",
                                                  str(last_folder()))
        if folder:
            self.set_model(folder)

    def set_model(self, model_id: str) -> None:
        """Use ``model_id`` ("bundled", a version id or a folder) for dense retrieval."""
        if self.context is None:
            return
        from core.retrieval.encoder import check_model_folder

        if model_id != "bundled" and not any(m["id"] == model_id for m in self._versions):
            try:
                # Reads a few small files; fails fast with a clear message.
                check_model_folder(Path(model_id))
            except StudioError as exc:
                self.warn("Cannot use this model", str(exc))
                self._fill_models()
                return
            remember_model_folder(model_id)
        settings().setValue(_model_key(self.context.project_path), model_id)
        self.context.set_model(model_id)
        self._fill_models()

    def _model_changed(self, _model_id: str) -> None:
        self._fill_models()
        self._update_title()

    # -- settings and help ---------------------------------------------------------------
    def edit_settings(self) -> None:
        ws = self.workspace
        store = settings()
        depth = ws.depth if ws else int(store.value("labeling/depth", 20))
        advance = ws.advance if ws else str(store.value("labeling/advance", "true")) == "true"
        dialog = SettingsDialog(depth, advance, MAX_DEPTH, self)
        if dialog.exec():
            if ws is not None:
                ws.set_depth(dialog.depth.value())
                ws.set_advance(dialog.advance.isChecked())
            else:
                store.setValue("labeling/depth", dialog.depth.value())
                store.setValue("labeling/advance", "true" if dialog.advance.isChecked() else "false")

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """The shortcut sheet's rows, read from the live actions where there are any."""
        from .workspace import LABEL_KEYS

        ws = self.workspace
        if ws is not None:
            labeling: list = list(ws.actions.values()) + [ws.next_query, ws.prev_query,
                                                          ws.find_query]
        else:
            labeling = [(" or ".join(k), t) for _l, k, t in LABEL_KEYS] + [
                ("] or Ctrl+Down", "Next query"), ("[ or Ctrl+Up", "Previous query"),
                ("Ctrl+F", "Find query")]
        moving = [
            ("J / K or Down / Up", "Next / previous row in the focused list"),
            ("Shift+J / Shift+K, Shift+click, Ctrl+click", "Select several rows"),
            ("Double-click", "Read the document"),
            ("Tab / Shift+Tab", "Move focus: query list, panes, document"),
        ]
        window = [self.undo_action, self.redo_action, self.open_action, self.new_action,
                  self.import_action, self.export_action, self.settings_action,
                  self.shortcuts_action, self.quit_action]
        return shortcut_rows(labeling + moving + window)

    def show_shortcuts(self) -> None:
        ShortcutSheet(self.shortcut_rows(), self).open()

    def show_about(self) -> None:
        AboutDialog(self).open()

    # -- views (screenshots, tests) ----------------------------------------------------------
    def show_view(self, key: str) -> View:
        """Bring a view's tab to the front; raises KeyError naming the views that exist."""
        if self.context is None:
            raise KeyError("no project is open")
        if key not in self.views:
            raise KeyError(f"no view {key!r}; available: {', '.join(self.views)}")
        self.tabs.setCurrentWidget(self.views[key])
        return self.views[key]

    def closeEvent(self, event: QCloseEvent) -> None:
        self.close_project()
        super().closeEvent(event)


# -- remembered paths (QSettings) ---------------------------------------------------------
def _model_key(project_path: Path) -> str:
    digest = hashlib.sha1(str(Path(project_path).resolve()).encode()).hexdigest()[:16]
    return f"models/project-{digest}"


def remember_recent(path: Path) -> None:
    store = settings()
    store.setValue("paths/last_folder", str(Path(path).parent))
    recent = [p for p in (store.value("paths/recent_projects") or []) if p != str(path)]
    store.setValue("paths/recent_projects", [str(path)] + recent[:9])


def last_folder() -> Path:
    value = settings().value("paths/last_folder")
    return Path(value) if value and Path(value).is_dir() else Path.home()


def recent_model_folders() -> list[str]:
    value = settings().value("models/folders") or []
    if isinstance(value, str):
        value = [value]
    return [v for v in value if Path(v).is_dir()]


def remember_model_folder(folder: str) -> None:
    store = settings()
    folders = [f for f in recent_model_folders() if f != folder]
    store.setValue("models/folders", [folder] + folders[:7])
