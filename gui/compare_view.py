"""Compare view: metrics per retriever, a per-query scatter, worse queries first, rankings side by side.

The comparison itself is :func:`core.evaluation.compare.compare_project_file`, run as a
background job; this view only lays out its plain-data result:

* a table of mean metrics per retriever (BM25, each model's dense and hybrid
  retriever) with the delta, wins/ties/losses and paired-test p-values
  against the baseline (the first model, dense);
* a scatter of a metric per query under system A (x) against system B (y),
  one ScatterPlotItem created once and updated with ``setData``; each point
  carries its query id, points above the diagonal improved;
* the queries sorted by B − A, the ones that got worse first;
* clicking a point or a query fetches that query's top 10 under A and B
  (newest request wins) and shows them side by side with their labels.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.evaluation.compare import (
    compare_project_file,
    query_deltas,
    rankings_for_file,
)

from .context import AppContext
from .progress_widget import JobProgress
from .style import LABEL_TINTS, LABEL_TITLES, label_icon
from .view import View
from .workers import Job, Latest

METRIC_TITLES = {"ndcg@10": "nDCG@10", "recall@10": "Recall@10", "recall@100": "Recall@100",
                 "mrr@10": "MRR@10", "map@100": "MAP@100"}
BETTER, WORSE, SAME = "#1f5fa8", "#d55e00", "#9a9a9a"  # blue / vermilion: colour-blind safe


def _p(value) -> str:
    if value is None:
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


class _NumberItem(QTableWidgetItem):
    """Sorts by its number, not its text."""

    def __init__(self, text: str, value: float) -> None:
        super().__init__(text)
        self._value = value
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other) -> bool:
        if isinstance(other, _NumberItem):
            return self._value < other._value
        return super().__lt__(other)


def _blank_icon() -> QIcon:
    """Keeps unlabeled rows aligned with the badge rows."""
    pix = QPixmap(20, 20)
    pix.fill(Qt.GlobalColor.transparent)
    return QIcon(pix)


class RankingList(QListWidget):
    """One system's top-k for a query: rank, label badge, title."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setWordWrap(True)
        self.setAlternatingRowColors(False)

    def show_ranking(self, hits: list[dict]) -> None:
        self.clear()
        for h in hits:
            label = h["label"]
            item = QListWidgetItem(f"{h['rank']:>2}. {h['title'] or h['doc_id']}  [{h['doc_id']}]")
            item.setIcon(label_icon(label) if label else _blank_icon())
            if label:
                item.setBackground(QBrush(QColor(LABEL_TINTS[label])))
                item.setToolTip(f"{LABEL_TITLES[label]} · score {h['score']:.4f}")
            else:
                item.setToolTip(f"unjudged · score {h['score']:.4f}")
            item.setData(Qt.ItemDataRole.UserRole, h["doc_id"])
            self.addItem(item)


class CompareView(QWidget, View):
    """Compare BM25, model versions and hybrids on a held-out split."""

    comparisonReady = Signal(object)  # the result dict

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.result: dict | None = None
        self._job: Job | None = None
        self._rankings = Latest(context.jobs, "Rankings", self)
        self._selected_query: str | None = None

        # -- controls -------------------------------------------------------------
        self.model_a = QComboBox()
        self.model_a.setObjectName("compare-model-a")
        self.model_b = QComboBox()
        self.model_b.setObjectName("compare-model-b")
        # Until the user picks a model, new versions move the default pair along.
        self._models_chosen = False
        for combo in (self.model_a, self.model_b):
            combo.activated.connect(self._models_picked)
        self.split = QLineEdit("test")
        self.split.setMaximumWidth(90)
        self.split.setToolTip("Held-out split to evaluate on ('all' = every query)")
        self.run_button = QPushButton("Compare")
        self.run_button.setObjectName("run-compare")
        self.run_button.clicked.connect(self.run_comparison)
        self.progress = JobProgress(context.jobs, bar_width=200)
        self.state = QLabel("Choose two models and press Compare")
        self.state.setObjectName("compare-state")
        # The summary names each model's fusion and can outgrow a 1024-px window: wrap, never widen it.
        self.state.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Model A"))
        controls.addWidget(self.model_a)
        controls.addWidget(QLabel("vs B"))
        controls.addWidget(self.model_b)
        controls.addWidget(QLabel("on split"))
        controls.addWidget(self.split)
        controls.addWidget(self.run_button)
        controls.addWidget(self.progress)
        controls.addWidget(self.state, 1)

        # -- metrics table ----------------------------------------------------------
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("compare-table")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)

        # -- scatter ------------------------------------------------------------------
        self.axis_a = QComboBox()
        self.axis_b = QComboBox()
        self.metric_combo = QComboBox()
        for m, title in METRIC_TITLES.items():
            self.metric_combo.addItem(title, m)
        for combo in (self.axis_a, self.axis_b, self.metric_combo):
            combo.currentIndexChanged.connect(self._refresh_pair)
        pair = QHBoxLayout()
        pair.addWidget(QLabel("x:"))
        pair.addWidget(self.axis_a, 1)
        pair.addWidget(QLabel("y:"))
        pair.addWidget(self.axis_b, 1)
        pair.addWidget(self.metric_combo)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("compare-scatter")
        # Both axes hold the same metric in [0, 1]; fixed ranges keep the
        # diagonal meaningful without locking the aspect (which wasted width).
        self.plot.setLimits(xMin=-0.1, xMax=1.1, yMin=-0.1, yMax=1.1)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setXRange(-0.05, 1.05, padding=0)
        self.plot.setYRange(-0.05, 1.05, padding=0)
        self.diagonal = pg.PlotDataItem([0, 1], [0, 1], pen=pg.mkPen("#888", width=1, style=Qt.PenStyle.DashLine))
        self.plot.addItem(self.diagonal)
        self.scatter = pg.ScatterPlotItem(size=9, pen=pg.mkPen("w", width=0.5), hoverable=True,
                                          tip=self._tip)
        self.scatter.sigClicked.connect(self._point_clicked)
        self.plot.addItem(self.scatter)
        self.highlight = pg.ScatterPlotItem(size=16, pen=pg.mkPen("#111", width=2), brush=None)
        self.plot.addItem(self.highlight)
        scatter_box = QWidget()
        sl = QVBoxLayout(scatter_box)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addLayout(pair)
        sl.addWidget(self.plot, 1)
        self.scatter_summary = QLabel("")
        sl.addWidget(self.scatter_summary)

        # -- worse queries first --------------------------------------------------------
        self.queries = QTableWidget(0, 5)
        self.queries.setObjectName("compare-queries")
        self.queries.setHorizontalHeaderLabels(["Δ", "A", "B", "query", "id"])
        self.queries.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.queries.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.queries.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.queries.verticalHeader().setVisible(False)
        hh = self.queries.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.queries.itemSelectionChanged.connect(self._query_row_selected)
        queries_box = QWidget()
        ql = QVBoxLayout(queries_box)
        ql.setContentsMargins(0, 0, 0, 0)
        self.queries_title = QLabel("<b>Queries, worse first</b>")
        self.queries_title.setWordWrap(True)
        ql.addWidget(self.queries_title)
        ql.addWidget(self.queries, 1)

        # -- rankings side by side ---------------------------------------------------------
        self.rank_title = QLabel("Click a point or a query to see both rankings")
        self.rank_title.setObjectName("compare-rank-title")
        self.rank_title.setWordWrap(True)
        self.rank_a_title = QLabel("A")
        self.rank_b_title = QLabel("B")
        self.rank_a = RankingList()
        self.rank_a.setObjectName("ranking-a")
        self.rank_b = RankingList()
        self.rank_b.setObjectName("ranking-b")
        for lst in (self.rank_a, self.rank_b):
            lst.itemActivated.connect(
                lambda item: self.context.activate_document(item.data(Qt.ItemDataRole.UserRole)))
        ra = QVBoxLayout()
        ra.addWidget(self.rank_a_title)
        ra.addWidget(self.rank_a, 1)
        rb = QVBoxLayout()
        rb.addWidget(self.rank_b_title)
        rb.addWidget(self.rank_b, 1)
        lists = QHBoxLayout()
        lists.addLayout(ra)
        lists.addLayout(rb)
        rank_box = QWidget()
        rl = QVBoxLayout(rank_box)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.rank_title)
        rl.addLayout(lists, 1)

        middle = QSplitter(Qt.Orientation.Horizontal)
        middle.addWidget(scatter_box)
        middle.addWidget(queries_box)
        middle.setSizes([420, 520])
        vertical = QSplitter(Qt.Orientation.Vertical)
        vertical.addWidget(self.table)
        vertical.addWidget(middle)
        vertical.addWidget(rank_box)
        vertical.setSizes([170, 360, 260])
        # A small window takes its height from the metrics table (a few rows, it scrolls)
        # before the scatter and the rankings.
        for index, stretch in enumerate((0, 3, 2)):
            vertical.setStretchFactor(index, stretch)
        self.table.setMinimumHeight(100)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(vertical, 1)

        context.modelVersionsChanged.connect(self.reload_models)
        self.reload_models()

    # -- models ------------------------------------------------------------------------
    def default_pair(self) -> tuple[str, str]:
        """(A, B) the view opens on: the newest model version against the model it was trained from."""
        versions = self.context.project.model_versions()
        if not versions:
            return "bundled", "bundled"
        newest = versions[-1]
        return newest.get("base") or "bundled", newest["id"]

    def reload_models(self) -> None:
        """List every model version (and any base they came from); keep a pair the user chose."""
        versions = self.context.project.model_versions()
        items = [("bundled", "bundled")] + [
            (v["id"] if v["name"] == v["id"] else f"{v['name']} ({v['id']})", v["id"]) for v in versions]
        listed = {mid for _t, mid in items}
        for v in versions:  # a base that is a model folder, not a version of this project
            base = v.get("base") or ""
            if base and base not in listed:
                items.append((f"folder: {Path(base).name}", base))
                listed.add(base)
        default_a, default_b = self.default_pair()
        for combo, default in ((self.model_a, default_a), (self.model_b, default_b)):
            current = combo.currentData() if self._models_chosen else default
            combo.blockSignals(True)
            combo.clear()
            for title, mid in items:
                combo.addItem(title, mid)
                combo.setItemData(combo.count() - 1, mid, Qt.ItemDataRole.ToolTipRole)
            index = combo.findData(current)
            combo.setCurrentIndex(index if index >= 0 else 0)
            combo.blockSignals(False)

    def _models_picked(self, _index: int) -> None:
        self._models_chosen = True

    def set_models(self, a: str, b: str) -> None:
        for combo, mid in ((self.model_a, a), (self.model_b, b)):
            index = combo.findData(mid)
            if index >= 0:
                combo.setCurrentIndex(index)

    # -- screenshots (gui.screenshot calls these) ----------------------------------------
    def prepare_screenshot(self) -> None:
        """Compare the bundled model with the newest version and open the worst query."""
        if self.result is None and self._job is None:
            self.comparisonReady.connect(self._open_worst_query)
            self.run_comparison()

    def _open_worst_query(self, result: dict) -> None:
        self.comparisonReady.disconnect(self._open_worst_query)
        rows = getattr(self, "_rows", [])
        if rows:
            self.queries.selectRow(0)

    def is_ready(self) -> bool:
        """A result is shown and, when a query was opened, both of its rankings too."""
        if self.result is None or self._job is not None:
            return False
        return self._selected_query is None or self.rank_b.count() > 0

    # -- running ----------------------------------------------------------------------
    def run_comparison(self) -> None:
        if self._job is not None:
            return
        models = [self.model_a.currentData() or "bundled"]
        b = self.model_b.currentData() or "bundled"
        if b not in models:
            models.append(b)
        split = self.split.text().strip()
        split = None if split in ("", "all") else split
        self.run_button.setEnabled(False)
        self.state.setText("")
        self._job = self.context.jobs.start(
            "Comparing retrievers", compare_project_file, self.context.project_path, models, split,
            **self.context.compute_kwargs(), on_result=self.set_result, on_error=self._on_error, on_cancel=self._on_cancel)
        self.progress.follow(self._job, "Evaluating…")

    def _done(self) -> None:
        self._job = None
        self.run_button.setEnabled(True)
        self.progress.clear()

    def _on_error(self, message: str) -> None:
        self._done()
        self.state.setText(f"<span style='color:#b42318'>{html.escape(message)}</span>")

    def _on_cancel(self) -> None:
        self._done()
        self.state.setText("Cancelled")

    # -- showing a result -------------------------------------------------------------------
    def set_result(self, result: dict) -> None:
        """Show a :func:`core.evaluation.compare.compare_models` result (also usable without running one)."""
        if self._job is not None:
            self._done()
        self.result = result
        self._fill_table(result)
        keys = [s["key"] for s in result["systems"]]
        labels = {s["key"]: s["label"] for s in result["systems"]}
        a, b = result["main_pair"]
        for combo, default in ((self.axis_a, a), (self.axis_b, b)):
            combo.blockSignals(True)
            combo.clear()
            for k in keys:
                combo.addItem(labels[k], k)
            combo.setCurrentIndex(max(combo.findData(default), 0))
            combo.blockSignals(False)
        self.metric_combo.blockSignals(True)
        self.metric_combo.setCurrentIndex(max(self.metric_combo.findData(result["primary_metric"]), 0))
        self.metric_combo.blockSignals(False)
        split = result["split"] if result["split"] is not None else "all queries"
        # Each model's hybrid fusion, chosen on the train queries (core.evaluation.fusion_choice).
        fusion = result.get("fusion") or {}
        fusion_text = "; ".join(f"{m.rsplit('/', 1)[-1]}: {f['label']}" for m, f in fusion.items())
        self.state.setText(f"{result['queries']} queries of split {split!r} · baseline "
                           f"{labels[result['baseline']]}"
                           + (f" · hybrid fusion {fusion_text}" if fusion_text else ""))
        notes = [f"{m}: {f['note']}" for m, f in fusion.items() if f.get("note")]
        self.state.setToolTip("\n".join([self.state.text(), *notes]))
        self._refresh_pair()
        self.comparisonReady.emit(result)

    def _fill_table(self, result: dict) -> None:
        metrics = result["metrics"]
        primary = result["primary_metric"]
        by_b = {c["b"]: c for c in result["comparisons"] if c["metric"] == primary}
        headers = (["Retriever"] + [METRIC_TITLES.get(m, m) for m in metrics]
                   + [f"Δ {METRIC_TITLES.get(primary, primary)}", "W / T / L", "p (t-test)", "p (perm.)"])
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(result["systems"]))
        best = {m: max(s["mean"][m] for s in result["systems"]) for m in metrics}
        for row, s in enumerate(result["systems"]):
            name = QTableWidgetItem(s["label"])
            name.setData(Qt.ItemDataRole.UserRole, s["key"])
            if s["key"] == result["baseline"]:
                name.setText(s["label"] + "  (baseline)")
            self.table.setItem(row, 0, name)
            for col, m in enumerate(metrics, start=1):
                item = _NumberItem(f"{s['mean'][m]:.4f}", s["mean"][m])
                if s["mean"][m] == best[m]:
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                self.table.setItem(row, col, item)
            c = by_b.get(s["key"])
            col = len(metrics) + 1
            if c is None:
                for j in range(4):
                    self.table.setItem(row, col + j, QTableWidgetItem("–" if j else ""))
                continue
            delta = _NumberItem(f"{c['delta']:+.4f}", c["delta"])
            delta.setForeground(QBrush(QColor(BETTER if c["delta"] > 0 else WORSE if c["delta"] < 0 else SAME)))
            significant = c["t_pvalue"] is not None and c["t_pvalue"] < 0.05
            if significant:
                f = delta.font()
                f.setBold(True)
                delta.setFont(f)
                delta.setToolTip("significant at p < 0.05 (paired t-test)")
            self.table.setItem(row, col, delta)
            wtl = QTableWidgetItem(f"{c['wins']} / {c['ties']} / {c['losses']}")
            wtl.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.table.setItem(row, col + 1, wtl)
            self.table.setItem(row, col + 2, _NumberItem(_p(c["t_pvalue"]), c["t_pvalue"] or 0.0))
            self.table.setItem(row, col + 3, _NumberItem(_p(c["permutation_pvalue"]),
                                                         c["permutation_pvalue"] or 0.0))
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def _pair(self) -> tuple[str, str, str] | None:
        if self.result is None:
            return None
        a, b, m = self.axis_a.currentData(), self.axis_b.currentData(), self.metric_combo.currentData()
        if not a or not b or not m or m not in self.result["metrics"]:
            return None
        return a, b, m

    def _refresh_pair(self, *_args) -> None:
        pair = self._pair()
        if pair is None:
            return
        a, b, metric = pair
        rows = query_deltas(None, self.result, a, b, metric)
        self._rows = rows
        xs = np.array([r["a"] for r in rows], dtype=float)
        ys = np.array([r["b"] for r in rows], dtype=float)
        colors = [pg.mkBrush(BETTER if r["delta"] > 1e-9 else WORSE if r["delta"] < -1e-9 else SAME)
                  for r in rows]
        self.scatter.setData(x=xs, y=ys, brush=colors, data=[r["query_id"] for r in rows])
        self.highlight.setData([], [])
        title = METRIC_TITLES.get(metric, metric)
        self.plot.setLabel("bottom", f"{title} · {self.axis_a.currentText()}")
        self.plot.setLabel("left", f"{title} · {self.axis_b.currentText()}")
        better = sum(r["delta"] > 1e-9 for r in rows)
        worse = sum(r["delta"] < -1e-9 for r in rows)
        self.scatter_summary.setText(
            f"<span style='color:{BETTER}'>● {better} better</span> · "
            f"<span style='color:{WORSE}'>● {worse} worse</span> · "
            f"<span style='color:{SAME}'>● {len(rows) - better - worse} same</span> under y than x")
        self.queries_title.setText(f"<b>Queries, worse first</b> ({worse} got worse under "
                                   f"{html.escape(self.axis_b.currentText())})")
        self._fill_queries(rows)

    def _fill_queries(self, rows: list[dict]) -> None:
        self.queries.setSortingEnabled(False)
        self.queries.blockSignals(True)
        self.queries.setRowCount(len(rows))
        for i, r in enumerate(rows):
            d = _NumberItem(f"{r['delta']:+.3f}", r["delta"])
            d.setForeground(QBrush(QColor(BETTER if r["delta"] > 1e-9 else WORSE if r["delta"] < -1e-9 else SAME)))
            self.queries.setItem(i, 0, d)
            self.queries.setItem(i, 1, _NumberItem(f"{r['a']:.3f}", r["a"]))
            self.queries.setItem(i, 2, _NumberItem(f"{r['b']:.3f}", r["b"]))
            text = QTableWidgetItem(r["text"])
            text.setToolTip(r["text"])
            self.queries.setItem(i, 3, text)
            qid = QTableWidgetItem(r["query_id"])
            qid.setData(Qt.ItemDataRole.UserRole, r["query_id"])
            self.queries.setItem(i, 4, qid)
        self.queries.blockSignals(False)

    def _tip(self, x, y, data) -> str:
        text = (self.result or {}).get("query_texts", {}).get(data, "")
        return f"{data}: {text}\nx = {x:.3f}, y = {y:.3f}"

    # -- one query ----------------------------------------------------------------------------
    def _point_clicked(self, _item, points, *_args) -> None:
        if len(points):
            self.show_query(points[0].data())

    def _query_row_selected(self) -> None:
        rows = self.queries.selectionModel().selectedRows(4)
        if rows:
            self.show_query(rows[0].data(Qt.ItemDataRole.UserRole))

    def show_query(self, query_id: str) -> None:
        """Fetch ``query_id``'s rankings under the x and y systems and show them side by side."""
        pair = self._pair()
        if pair is None:
            return
        a, b, _metric = pair
        self._selected_query = query_id
        for i, r in enumerate(getattr(self, "_rows", [])):
            if r["query_id"] == query_id:
                self.highlight.setData([r["a"]], [r["b"]])
                break
        text = self.result.get("query_texts", {}).get(query_id, "")
        self.rank_title.setText(f"<b>{html.escape(query_id)}</b>: {html.escape(text)} — loading rankings…")
        models = {k.partition(":")[2] or "bundled" for k in (a, b)}
        retrievals = {m: self.context.retrieval(m) for m in models}
        self._rankings.request(rankings_for_file, self.context.project_path, query_id, [a, b], 10,
                               retrievals=retrievals, **self.context.compute_kwargs(),
                               on_result=self._show_rankings,
                               on_error=lambda msg: self.rank_title.setText(
                                   f"<span style='color:#b42318'>{html.escape(msg)}</span>"))
        self.context.set_current_query(query_id)

    def _show_rankings(self, data: dict) -> None:
        pair = self._pair()
        if pair is None or data["query_id"] != self._selected_query:
            return
        a, b, _ = pair
        labels = {s["key"]: s["label"] for s in self.result["systems"]}
        n_rel = len(data["relevant"])
        self.rank_title.setText(f"<b>{html.escape(data['query_id'])}</b>: {html.escape(data['text'])} "
                                f"· {n_rel} relevant document{'s' if n_rel != 1 else ''}")
        for key, title, lst in ((a, self.rank_a_title, self.rank_a), (b, self.rank_b_title, self.rank_b)):
            hits = data["rankings"].get(key, [])
            found = sum(1 for h in hits if h["gain"])
            title.setText(f"<b>{html.escape(labels.get(key, key))}</b> · {found} of {n_rel} relevant in top 10")
            lst.show_ranking(hits)
