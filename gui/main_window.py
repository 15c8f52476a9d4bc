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

Keyboard reach: Ctrl+Tab / Ctrl+Shift+Tab and Ctrl+PgDown / Ctrl+PgUp step
through the tabs, Alt+1…Alt+5 go to one; Help → Keyboard shortcuts is built
from the menus' actions at the moment it opens, so it lists every key there is.

Session memory (:mod:`gui.session`): window geometry, the views' splitter
sizes, File → Open Recent, Model → Compute (device and encoder), and per
project the last query and query filter.

Views talk to the workspace only through the shared :class:`AppContext`
signals (``currentQueryChanged``, ``documentActivated``, ``labelsChanged``,
``modelChanged``, ``modelVersionsChanged``, ``candidatesChanged``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
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
    QMenu,
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
from core.retrieval.device import ComputeChoice

from . import errors, session
from .compute_menu import APPLIES, ComputeMenu, choice_text
from .context import AppContext
from .dialogs import (
    AboutDialog,
    GuideDialog,
    SettingsDialog,
    ShortcutSheet,
    shortcut_rows,
)
from .job_status import JobStatus
from .progress_widget import ElidedLabel
from .view import View, as_view_class
from .workers import tune_interpreter_for_ui
from .workspace import MAX_DEPTH, LabelingWorkspace

settings = session.settings


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
# Below this window width the labeling tab starts with its side panels at their minimum.
SMALL_WINDOW_WIDTH = 1300


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
        recent = [Path(p) for p in session.recent_projects() if Path(p).is_file()][:5]
        if recent:
            layout.addWidget(QLabel("<b>Recent projects</b>"))
            for path in recent:
                b = QPushButton(f"{path.name}   ({path.parent.name or path.parent})")
                b.setObjectName("welcome-recent")
                b.setToolTip(str(path))
                b.setFlat(True)
                b.setStyleSheet("text-align: left")
                b.clicked.connect(lambda _=False, p=path: window.open_project(p))
                layout.addWidget(b)
        guide = QPushButton("How the loop works (label → mine → review → train → compare)")
        guide.setFlat(True)
        guide.clicked.connect(window.guide_action.trigger)
        layout.addWidget(guide)
        layout.addStretch(2)
        self.setMaximumWidth(720)


class EmptyState(QWidget):
    """A line above the tabs while the project lacks what the next step needs, with that step."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.setObjectName("empty-state")
        self._window = window
        self.text = QLabel()
        self.text.setObjectName("empty-state-text")
        self.text.setWordWrap(True)
        self.button = QPushButton()
        self.button.setObjectName("empty-state-action")
        self.button.clicked.connect(self._act)
        self._action: QAction | None = None
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        row.addWidget(self.text, 1)
        row.addWidget(self.button)
        self.setStyleSheet("#empty-state { background: #fff7e0; border-bottom: 1px solid #e8d9a8; }")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setVisible(False)

    def show_for(self, totals: Totals) -> None:
        """Say what to do first: import documents, import queries, or label a first query."""
        w = self._window
        if totals.documents == 0:
            text, action = ("<b>This project has no documents yet.</b> Import a corpus with its "
                            "queries (BEIR, MS MARCO, TREC, CSV/TSV, JSONL, Parquet) to start.",
                            w.import_action)
            button = "Import…"
        elif totals.queries == 0:
            text, action = ("<b>No queries yet.</b> Import queries (and judgements, if you have "
                            "them) to see candidates for them.", w.import_action)
            button = "Import…"
        elif totals.positives + totals.negatives + totals.false_negatives == 0:
            text, action = ("<b>Nothing is labeled yet.</b> Pick a query on the left, then press "
                            "<b>1</b> on a relevant candidate and <b>2</b> on a hard negative. "
                            "With a few positives, mine more negatives (Tools → Mine, Ctrl+M).",
                            w.guide_action)
            button = "How the loop works"
        else:
            self._action = None
            self.setVisible(False)
            return
        self.text.setText(text)
        self._action = action
        self.button.setText(button)
        self.setVisible(True)

    def _act(self) -> None:
        if self._action is not None:
            self._action.trigger()


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
        if not session.restore_window(self):
            self.resize(*session.default_size(self))  # a 1024×700 laptop gets a window that fits

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
        self.close_action = self._action("&Close project", self.close_project)
        # Ctrl+W everywhere, plus the platform's own Close keys (only Ctrl+F4 on some).
        close_keys = [QKeySequence("Ctrl+W")] + [
            k for k in QKeySequence.keyBindings(QKeySequence.StandardKey.Close) if k != QKeySequence("Ctrl+W")]
        self.close_action.setShortcuts(close_keys)
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.settings_action = self._action("&Settings…", self.edit_settings,
                                            QKeySequence.StandardKey.Preferences)
        self.shortcuts_action = self._action("&Keyboard shortcuts", self.show_shortcuts, "F1")
        self.guide_action = self._action("&Guide: the labeling loop", self.show_guide,
                                         tip="Label, mine, review, see, train, compare: what each step is for")
        self.next_tab_action = self._action("&Next tab", lambda: self.step_tab(1), None,
                                            "Show the next tab")
        self.next_tab_action.setShortcuts([QKeySequence("Ctrl+Tab"), QKeySequence("Ctrl+PgDown")])
        self.prev_tab_action = self._action("&Previous tab", lambda: self.step_tab(-1), None,
                                            "Show the previous tab")
        self.prev_tab_action.setShortcuts([QKeySequence("Ctrl+Shift+Tab"),
                                           QKeySequence("Ctrl+PgUp")])
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.setObjectName("recent-projects")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.about_action = self._action("&About Retriever Studio", self.show_about)
        self.folder_model_action = self._action("Model from a &folder…", self.choose_model_folder,
                                                tip="Use any local sentence-transformers folder")
        self.indexes_action = self._action(
            "&Build missing indexes",
            lambda: self.workspace and self.workspace.controller.prepare_indexes(),
            tip="Build the BM25 index and the dense embeddings if they are missing")
        self.compute_menu = ComputeMenu(session.compute_choice(), self)
        self.compute_menu.choiceChanged.connect(self.set_compute)
        self.undo_action = QAction("&Undo", self)
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = QAction("&Redo", self)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.undo_action.triggered.connect(lambda: self.context and self.context.undo_stack.undo())
        self.redo_action.triggered.connect(lambda: self.context and self.context.undo_stack.redo())

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for a in (self.new_action, self.open_action, self.recent_menu, self.demo_action, None,
                  self.import_action, self.export_action, None, self.close_action, self.quit_action):
            if a is None:
                file_menu.addSeparator()
            elif isinstance(a, QMenu):
                file_menu.addMenu(a)
            else:
                file_menu.addAction(a)
        self._fill_recent_menu()
        self.edit_menu = bar.addMenu("&Edit")
        self.view_menu = bar.addMenu("&View")
        self.label_menu = bar.addMenu("&Label")
        self.model_menu = bar.addMenu("&Model")
        self.tools_menu = bar.addMenu("&Tools")
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.guide_action)
        help_menu.addAction(self.shortcuts_action)
        help_menu.addSeparator()
        help_menu.addAction(self.about_action)
        self.tab_actions: list[QAction] = []
        self._fill_view_menu()
        self._fill_edit_menu()

    def _fill_edit_menu(self) -> None:
        m = self.edit_menu
        m.clear()
        m.addAction(self.undo_action)
        m.addAction(self.redo_action)
        m.addSeparator()
        m.addAction(self.settings_action)

    def _fill_view_menu(self) -> None:
        """Tab navigation: next/previous and Alt+N for each tab the open project has."""
        m = self.view_menu
        m.clear()
        m.addAction(self.next_tab_action)
        m.addAction(self.prev_tab_action)
        m.addSeparator()
        for act in self.tab_actions:
            self.removeAction(act)
        self.tab_actions = []
        for i in range(self.tabs.count() if self.context is not None else 0):
            title = self.tabs.tabText(i).replace("&", "")
            act = self._action(f"{title} tab", lambda _=False, n=i: self.tabs.setCurrentIndex(n),
                               f"Alt+{i + 1}" if i < 9 else None, f"Show the {title} tab")
            act.setObjectName(f"tab-{i + 1}")
            self.tab_actions.append(act)
            m.addAction(act)
        if self.workspace is not None:
            m.addSeparator()
            # Side panels collapse (their splitter handles drag them back): room for the
            # candidate panes on a small screen.
            for index, title in ((0, "&Query list"), (2, "&Document panel")):
                act = m.addAction(title)
                act.setObjectName(f"side-panel-{index}")
                act.setCheckable(True)
                act.setChecked(self.workspace.splitter.sizes()[index] > 0
                               or not self.workspace.isVisible())
                act.toggled.connect(lambda on, i=index: self.show_side_panel(i, on))
        for act in (self.next_tab_action, self.prev_tab_action):
            act.setEnabled(self.context is not None)
        m.setEnabled(self.context is not None)

    def show_side_panel(self, index: int, shown: bool) -> None:
        """Collapse (or bring back) the labeling tab's query list (0) or document panel (2)."""
        if self.workspace is None:
            return
        splitter = self.workspace.splitter
        sizes = splitter.sizes()
        if shown == (sizes[index] > 0):
            return
        if shown:
            width = splitter.widget(index).minimumSizeHint().width() + 40
            sizes[1] = max(sizes[1] - width, 0)
            sizes[index] = width
        else:
            sizes[1] += sizes[index]
            sizes[index] = 0
        splitter.setSizes(sizes)
        session.save_splitter(LABELING_KEY, session.splitter_index(self.workspace, splitter), splitter)

    def step_tab(self, delta: int) -> None:
        """Show the tab ``delta`` steps on, wrapping around at the ends."""
        if self.context is None or self.tabs.count() == 0:
            return
        self.tabs.setCurrentIndex((self.tabs.currentIndex() + delta) % self.tabs.count())

    def _fill_recent_menu(self) -> None:
        m = self.recent_menu
        m.clear()
        paths = session.recent_projects()
        for path in paths:
            act = m.addAction(Path(path).name)
            act.setToolTip(path)
            act.setStatusTip(path)
            exists = Path(path).is_file()
            act.setEnabled(exists)
            if not exists:
                act.setText(f"{Path(path).name} (moved or deleted)")
            act.triggered.connect(lambda _=False, p=path: self.open_project(p))
        if paths:
            m.addSeparator()
            clear = m.addAction("Clear the list")
            clear.triggered.connect(lambda: (session.forget_recent(), self._fill_recent_menu()))
        else:
            m.addAction("No recent projects").setEnabled(False)

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
        # Project and model names give way (shortened with "…", whole in the tooltip)
        # so that the counts and a running job fit a 1024 px window.
        self.project_label = ElidedLabel()
        self.project_label.setObjectName("status-project")
        self.model_label = ElidedLabel()
        self.model_label.setObjectName("status-model")
        self.counts_label = QLabel()
        self.counts_label.setObjectName("status-counts")
        self.job_status = JobStatus(self)
        sb.addWidget(self.project_label, 2)
        sb.addWidget(self.model_label, 3)
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
        self.model_menu.addMenu(self.compute_menu)  # an app setting: there without a project too
        self.counts_label.setText("")
        self._fill_view_menu()
        self._fill_recent_menu()
        self.save_label.setText("")

    def open_project(self, path: str | Path) -> bool:
        """Open (and show) a project file; returns False after telling the user why not."""
        try:
            project = Project.open(Path(path))
        except StudioError as exc:
            self.warn("Cannot open project", str(exc))
            return False
        self.close_project()
        self.context = AppContext(project, self, compute=self.compute_menu.choice)
        self.context.model_id = str(settings().value(_model_key(project.path), "bundled"))
        self.compute_menu.set_choice(self.context.compute)  # Automatic if the remembered GPU is absent
        # The workspace selects this query once the list is read, if it still exists.
        last_query = session.project_value(project.path, "query")
        if last_query:
            self.context.set_current_query(last_query)
        self._build_views()
        session.remember_recent(project.path)
        self._fill_recent_menu()
        if self.context.compute_problem:
            self.warn("Compute setting not available here", self.context.compute_problem)
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
        self.empty_state = EmptyState(self)
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(self.empty_state)
        central_layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        narrow_side_panels = not session.has_splitter(LABELING_KEY, 0)
        for key, view in self.views.items():
            session.remember_splitters(key, view)
        if narrow_side_panels and self.width() < SMALL_WINDOW_WIDTH:
            # Nothing remembered and a small window: side panels at their minimum give
            # the candidate panes their width (titles wrap less).
            sizes = self.workspace.splitter.sizes()
            side = [self.workspace.splitter.widget(i).minimumSizeHint().width() for i in (0, 2)]
            total = sum(sizes)
            self.workspace.splitter.setSizes([side[0], total - side[0] - side[1], side[1]])
        self._fill_view_menu()

        # Label actions live on the workspace (their shortcuts work while it has focus);
        # the menu shows them with their keys.
        self.label_menu.clear()
        for act in self.workspace.actions.values():
            self.label_menu.addAction(act)
        self.label_menu.addSeparator()
        self.label_menu.addAction(self.workspace.next_query)
        self.label_menu.addAction(self.workspace.prev_query)
        self.label_menu.addAction(self.workspace.skip_query)
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
        self._remember_query_and_filter()
        self._fill_models()
        self._update_title()
        self.workspace.queries.view.setFocus()

    def close_project(self, *, job_wait_s: float = 5.0) -> None:
        """Close the open project: views, tool windows, label writes, then jobs.

        Jobs are cancelled, and their threads get ``job_wait_s`` seconds in
        all to end (a thread still in native code when the interpreter
        shuts down can abort the process).
        """
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
        ctx.jobs.wait_all(timeout=job_wait_s)
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
        self.project_label.setText(f"Project: {path.name}")
        self.project_label.setToolTip(str(path))
        self.model_label.setText(f"Model: {self._model_title(self.context.model_id)}")

    def _remember_query_and_filter(self) -> None:
        """Save the query and the query-list filter as they change; put the filter back once read."""
        ctx, panel = self.context, self.workspace.queries
        path = ctx.project_path

        def save_filter(*_args) -> None:
            if self.context is ctx:
                session.set_project_value(path, "filter/search", panel.search.text())
                session.set_project_value(path, "filter/split", panel.split.currentData() or "")
                session.set_project_value(path, "filter/status", panel.status.currentData() or "")

        def restore_filter() -> None:
            self.workspace.overviewLoaded.disconnect(restore_filter)
            for box, name in ((panel.split, "filter/split"), (panel.status, "filter/status")):
                index = box.findData(session.project_value(path, name))
                if index >= 0:
                    box.setCurrentIndex(index)
            panel.search.setText(session.project_value(path, "filter/search"))
            for signal in (panel.search.textChanged, panel.split.currentIndexChanged,
                           panel.status.currentIndexChanged):
                signal.connect(save_filter)

        self.workspace.overviewLoaded.connect(restore_filter)
        ctx.currentQueryChanged.connect(
            lambda qid: session.set_project_value(path, "query", qid) if self.context is ctx else None)
        self.workspace.controller.totalsChanged.connect(self.empty_state.show_for)

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
        def opened(path) -> None:
            self.statusBar().clearMessage()  # else "Preparing…" stays beside the opened project
            self.open_project(path)

        def failed(message: str) -> None:
            self.statusBar().clearMessage()
            self.warn("Demo project", message)

        runner.start("Building the demo project",
                     lambda progress: ensure_demo_project(progress=progress),
                     on_result=opened, on_error=failed)

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
            if hasattr(win, "reviewRequested"):  # the mining dialog's "Review now"
                win.reviewRequested.connect(self.review_pass)
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
        self.model_menu.addSeparator()
        self.model_menu.addMenu(self.compute_menu)

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

    def set_compute(self, choice: ComputeChoice) -> None:
        """Model → Compute: remember ``choice``; jobs started from now on use it."""
        session.remember_compute(choice)
        self.compute_menu.set_choice(choice)
        if self.context is not None:
            self.context.set_compute(choice)
        self.statusBar().showMessage(f"Compute: {choice_text(choice)}. {APPLIES}", 10000)

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

    def shortcut_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """(menu title, rows) for every menu action with a key, read from the live menus.

        Built when asked, from the actions themselves, so a new action or a
        changed key shows up here without anyone editing a list.
        """
        from .workspace import LABEL_KEYS

        sections: list[tuple[str, list[tuple[str, str]]]] = []
        for menu_action in self.menuBar().actions():
            menu = menu_action.menu()
            if menu is None:
                continue
            rows = shortcut_rows(_menu_actions(menu))
            if menu is self.label_menu and not rows:  # no project: the keys it will have
                rows = [(" or ".join(k), t) for _l, k, t in LABEL_KEYS]
            if rows:
                sections.append((menu_action.text().replace("&", ""), rows))
        sections.append(("In lists", [
            ("J / K or Down / Up", "Next / previous row in the focused list"),
            ("Shift+J / Shift+K, Shift+click, Ctrl+click", "Select several rows"),
            ("Double-click", "Read the document"),
            ("Tab / Shift+Tab", "Move focus: query list, panes, document"),
        ]))
        return sections

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """Every row of the shortcut sheet, in menu order."""
        return [row for _title, rows in self.shortcut_sections() for row in rows]

    def show_shortcuts(self) -> None:
        ShortcutSheet(self.shortcut_sections(), self).open()

    def show_about(self) -> None:
        AboutDialog(self).open()

    def show_guide(self) -> None:
        GuideDialog(self).open()

    # -- views (screenshots, tests) ----------------------------------------------------------
    def show_view(self, key: str) -> View:
        """Bring a view's tab to the front; raises KeyError naming the views that exist."""
        if self.context is None:
            raise KeyError("no project is open")
        if key not in self.views:
            raise KeyError(f"no view {key!r}; available: {', '.join(self.views)}")
        self.tabs.setCurrentWidget(self.views[key])
        return self.views[key]

    def review_pass(self, pass_number: int) -> None:
        """The Review tab, showing mining pass ``pass_number``."""
        self.show_view("review").load(pass_number)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Quit at once: the window goes first, every job is cancelled, training children end.

        Only then does closing wait, briefly and out of sight, for job
        threads to wind down (they were all cancelled together, not one by
        one after the views and label writes closed).
        """
        session.save_window(self)
        self.hide()
        if self.context is not None:
            self.context.jobs.close()
            _stop_training_children()  # a child would otherwise train on without the app
        self.close_project(job_wait_s=QUIT_JOB_WAIT_S)
        super().closeEvent(event)


# On quit, how long job threads (already cancelled) get in all to end, out of sight (a
# thread still in native code when the interpreter shuts down can abort the process).
QUIT_JOB_WAIT_S = 5.0


def _stop_training_children() -> None:
    """Terminate running training/re-mine child processes (none unless training was loaded)."""
    worker = sys.modules.get("core.training.worker")  # not imported: no child was started
    if worker is not None:
        worker.stop_children()


def _menu_actions(menu: QMenu) -> list[QAction]:
    """The actions of ``menu`` and of its submenus, in order."""
    out = []
    for act in menu.actions():
        if act.menu() is not None:
            out.extend(_menu_actions(act.menu()))
        elif not act.isSeparator():
            out.append(act)
    return out


# -- remembered paths (QSettings) ---------------------------------------------------------
def _model_key(project_path: Path) -> str:
    digest = hashlib.sha1(str(Path(project_path).resolve()).encode()).hexdigest()[:16]
    return f"models/project-{digest}"


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
