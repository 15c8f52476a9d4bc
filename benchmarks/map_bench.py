"""Embedding map benchmark: time from click to map, and frame time when panning 100k points.

Click to map = the layout job (UMAP of cached embeddings: neighbours, fit,
placement of the documents left out of the fit) plus drawing it in the Map
tab (``MapView`` shows the layout and paints once). Measured for 5k, 20k, 50k
and 100k random clustered embeddings (dim 384, 60 topics, 1 query per 5
documents up to 1,000 queries):

* **cold**: a fresh Python process (what a user's first map after starting
  the app costs when the map was never warmed), numba cache already filled;
* **warm**: the same process after ``warm_up()`` (what the app's background
  warm-up buys).

Each size runs two methods in the same process, one after the other, and
prints their ratio (the machine is shared, so absolute seconds drift between
runs; a ratio from one run does not): **ours** (``layout_points`` defaults:
fit 10,000 documents, place the rest at their fitted neighbours' weighted
mean) and **previous** (fit 20,000, ``UMAP.transform`` of the rest, the
method before issue 13). Each layout's quality is measured on the topics
(:func:`map_quality`).

Also measured:

* **JIT**: a fresh process fitting 5k points with plain umap-learn (its own
  NN-descent, numba's default caching), with our path and an empty numba
  cache (the very first run on a machine), and with our path and a filled
  cache;
* **sample vs full fit** at 50k documents (``fit_limit`` 20k + transform vs
  one fit over everything);
* **SciFact** (5,183 abstracts, 1,109 queries, bundled model, embeddings
  already cached): ``compute_layout`` in a fresh process;
* **panning**: offscreen renders of the Map tab's plot with 100k documents
  while the view is translated, against a plain ``ScatterPlotItem``.

Run: ``.venv/bin/python benchmarks/map_bench.py [--quick] [--sizes N ...]
[--layout-only] [--repeats R]`` (``--quick``: 5k only, no JIT or full-fit runs;
``--sizes``: these document counts instead of 5k-100k; ``--layout-only``:
only the click-to-map rows, no JIT, full-fit, SciFact or panning runs;
``--repeats``: warm runs per method and size, alternating which goes first;
the medians and the median of the pairs' ratios are reported).
Results print as a table and go to ``benchmarks/out/map/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_paths import out_dir, scifact_cache

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path(os.environ.get("RS_MAP_BENCH_DIR") or out_dir("map"))
SCIFACT = scifact_cache()
DIM = 384


# The method before issue 13, for the ratio (layout_points' defaults are ours).
PREVIOUS = {"fit_limit": 20_000, "placement": "transform"}
METHODS = {"ours": {}, "previous": PREVIOUS}


def clustered(n_docs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors around 60 topic centres, and each document's topic.

    Queries sit near a random topic's documents.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(60, DIM)).astype(np.float32)
    topics = rng.integers(0, 60, n_docs)
    docs = centres[topics] + 0.9 * rng.normal(size=(n_docs, DIM)).astype(np.float32)
    n_queries = min(1000, n_docs // 5)
    q_topics = rng.integers(0, 60, n_queries)
    queries = centres[q_topics] + 1.1 * rng.normal(size=(n_queries, DIM)).astype(np.float32)

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return unit(docs), unit(queries), topics


def data_file(n: int) -> Path:
    path = WORK / f"emb-topics-{n}.npz"
    if not path.exists():
        docs, queries, topics = clustered(n)
        np.savez(path, docs=docs, queries=queries, topics=topics)
    return path


def map_quality(doc_xy: np.ndarray, docs: np.ndarray, topics: np.ndarray, fit_rows: np.ndarray,
                sample: int = 3000, seed: int = 0) -> dict:
    """How well a map keeps the synthetic topics and neighbourhoods (higher is better).

    * ``agreement``: share of sampled documents whose nearest other document
      on the map has the same topic;
    * ``placed_agreement``: share of sampled documents left out of the fit
      whose nearest fitted document on the map has their topic (None when
      all were fitted);
    * ``trustworthiness`` (Venna & Kaski 2001, sklearn), 10 neighbours, on a
      seeded sample of 2,000 documents (it is quadratic): 1 when no point's
      2-D neighbours are strangers in the embedding space.
    """
    from scipy.spatial import cKDTree
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(seed)
    n = len(doc_xy)
    rows = rng.choice(n, size=min(sample, n), replace=False)
    _, nearest = cKDTree(doc_xy).query(doc_xy[rows], k=2)
    out = {"agreement": float((topics[rows] == topics[nearest[:, 1]]).mean()),
           "placed_agreement": None}
    placed = np.setdiff1d(np.arange(n), fit_rows)
    if len(placed):
        picked = rng.choice(placed, size=min(sample, len(placed)), replace=False)
        _, fitted = cKDTree(doc_xy[fit_rows]).query(doc_xy[picked], k=1)
        out["placed_agreement"] = float((topics[picked] == topics[fit_rows[fitted]]).mean())
    t_rows = rng.choice(n, size=min(2000, n), replace=False)
    out["trustworthiness"] = float(trustworthiness(docs[t_rows], doc_xy[t_rows], n_neighbors=10))
    return out


# -- children (fresh processes) -------------------------------------------------------------

def child_layout(path: str, method: str) -> dict:
    t0 = time.perf_counter()
    from core.map.layout import layout_points

    with np.load(path) as z:
        docs, queries = z["docs"], z["queries"]
    t1 = time.perf_counter()
    _, _, info = layout_points(docs, queries, **METHODS[method])
    return {"import_s": t1 - t0, "layout_s": time.perf_counter() - t1, "method": info["method"],
            "fitted": info["fitted"], "stages": info["seconds"]}


def child_plain_umap(path: str) -> dict:
    """umap-learn as documented: UMAP(metric="cosine").fit, no cache switch."""
    import warnings

    t0 = time.perf_counter()
    import umap

    with np.load(path) as z:
        data = np.vstack([z["docs"], z["queries"]])
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        umap.UMAP(metric="cosine", random_state=0, n_epochs=200).fit(data)
    return {"import_s": t1 - t0, "layout_s": time.perf_counter() - t1}


def child_scifact(path: str) -> dict:
    t0 = time.perf_counter()
    from core.map.jobs import compute_layout

    layout = compute_layout(path, "bundled", use_cache=False)
    return {"total_s": time.perf_counter() - t0, "stages": layout.seconds,
            "documents": len(layout.doc_ids), "queries": len(layout.query_ids),
            "method": layout.method}


def run_child(args: list[str], env: dict | None = None) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                         text=True, env={**os.environ, **(env or {})}, cwd=ROOT)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


# -- GUI side ---------------------------------------------------------------------------------

def gui_setup():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from core.project.file import Project
    from gui.context import AppContext
    from gui.map_view import MapView

    project_path = WORK / "empty.rsproj"
    if not project_path.exists():
        Project.create(project_path).close()
    context = AppContext(Project.open(project_path))
    view = MapView(context)
    view._requested = True  # the layouts come from this script, not from a job
    view.resize(1400, 860)
    view.show()
    app.processEvents()
    return app, view


def synthetic_layout(doc_xy: np.ndarray, query_xy: np.ndarray):
    from core.map.layout import MapLayout

    return MapLayout([f"d{i}" for i in range(len(doc_xy))], doc_xy.astype(np.float32),
                     [f"q{i}" for i in range(len(query_xy))], query_xy.astype(np.float32),
                     "bundled", "umap", len(doc_xy))


def draw_seconds(app, view, doc_xy: np.ndarray, query_xy: np.ndarray) -> float:
    """Seconds from a finished layout to the Map tab painted with it."""
    from PySide6.QtGui import QImage, QPainter

    layout = synthetic_layout(doc_xy, query_xy)
    image = QImage(view.plot_widget.size(), QImage.Format.Format_ARGB32_Premultiplied)
    t0 = time.perf_counter()
    view._computed(layout)
    _ = layout.doc_index  # the first hover / click builds these
    painter = QPainter(image)
    view.plot_widget.render(painter)
    painter.end()
    return time.perf_counter() - t0


def pan_frames(app, view, doc_xy: np.ndarray, frames: int = 40) -> dict:
    """Median / 95th percentile ms per offscreen paint while panning, ours vs ScatterPlotItem."""
    import pyqtgraph as pg
    from PySide6.QtGui import QImage, QPainter

    view._computed(synthetic_layout(doc_xy, np.zeros((0, 2), np.float32)))
    image = QImage(view.plot_widget.size(), QImage.Format.Format_ARGB32_Premultiplied)
    vb = view.view_box
    step = float(np.ptp(doc_xy[:, 0])) / 200

    def measure() -> list[float]:
        times = []
        for i in range(frames):
            vb.translateBy(x=step if (i // 10) % 2 == 0 else -step)
            app.processEvents()
            t0 = time.perf_counter()
            painter = QPainter(image)
            view.plot_widget.render(painter)
            painter.end()
            times.append((time.perf_counter() - t0) * 1000)
        return times

    measure()  # first paints build caches
    ours = measure()
    view.docs.cloud.hide()
    scatter = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(150, 156, 168, 150),
                                 pxMode=True, antialias=True)
    t0 = time.perf_counter()
    scatter.setData(x=doc_xy[:, 0], y=doc_xy[:, 1])
    scatter_set = time.perf_counter() - t0
    view.plot.addItem(scatter)
    measure()
    theirs = measure()
    view.plot.removeItem(scatter)
    view.docs.cloud.show()
    t0 = time.perf_counter()
    view.docs.cloud.set_points(doc_xy + 0.01)
    ours_set = time.perf_counter() - t0
    return {"points": len(doc_xy), "frames": frames,
            "cloud_ms_median": float(np.median(ours)), "cloud_ms_p95": float(np.percentile(ours, 95)),
            "scatter_ms_median": float(np.median(theirs)),
            "scatter_ms_p95": float(np.percentile(theirs, 95)),
            "cloud_move_all_ms": ours_set * 1000, "scatter_setdata_ms": scatter_set * 1000}


def _rounded(values: dict, digits: int = 1) -> dict:
    return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in values.items()}


# -- main -----------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k only; skip JIT and full-fit runs")
    parser.add_argument("--sizes", nargs="+", type=int, help="document counts (default 5k-100k)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="warm runs of each method per size, alternating (median reported)")
    parser.add_argument("--layout-only", action="store_true",
                        help="click-to-map rows only: no JIT, full-fit, SciFact or panning runs")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "layout":
            result = child_layout(rest[0], rest[1])
        elif kind == "plain":
            result = child_plain_umap(rest[0])
        else:
            result = child_scifact(rest[0])
        print(json.dumps(result))
        return

    WORK.mkdir(parents=True, exist_ok=True)
    sizes = args.sizes or ([5000] if args.quick else [5000, 20000, 50000, 100000])
    extras = not (args.quick or args.layout_only)
    results: dict = {"load_average": os.getloadavg(), "sizes": {}}
    from core.map.jobs import warm_up
    from core.map.layout import layout_points

    # Fill the numba cache (and measure what warm-up costs with it filled).
    t0 = time.perf_counter()
    warm_up()
    results["warm_up_s"] = time.perf_counter() - t0
    # warm_up() leaves UMAP.transform and sklearn's PCA (only the previous
    # method's) cold: run both methods once through every stage (a fit of
    # 4,520 points, above APPROXIMATE_FROM, and 500 placed) so neither pays
    # compilation or first imports.
    with np.load(data_file(5000)) as z:
        for method in METHODS.values():
            layout_points(z["docs"], z["queries"][:20], **{**method, "fit_limit": 4500})
    app, view = gui_setup()

    for n in sizes:
        path = data_file(n)
        row: dict = {"points": None, "methods": {}}
        with np.load(path) as z:
            docs, queries, topics = z["docs"], z["queries"], z["topics"]
        row["points"] = n + len(queries)
        for name in METHODS:
            cold = run_child(["layout", str(path), name])
            row["methods"][name] = dict(
                cold_process_s=cold["process_wall_s"], cold_import_s=cold["import_s"],
                cold_layout_s=cold["layout_s"], cold_stages=cold["stages"], warm_runs=[])
        # Warm runs alternate the two methods (ours first, then previous first,
        # ...) so that a change of load hits both alike; each pair gives a ratio.
        pair_ratios = []
        for repeat in range(args.repeats):
            order = list(METHODS) if repeat % 2 == 0 else list(METHODS)[::-1]
            pair = {}
            for name in order:
                t0 = time.perf_counter()
                doc_xy, query_xy, info = layout_points(docs, queries, **METHODS[name])
                warm_layout = time.perf_counter() - t0
                draw = draw_seconds(app, view, doc_xy, query_xy)
                m = row["methods"][name]
                m["warm_runs"].append(dict(layout_s=warm_layout, draw_s=draw,
                                           click_to_map_s=warm_layout + draw,
                                           stages=info["seconds"],
                                           load_average=os.getloadavg()[0]))
                pair[name] = warm_layout + draw
                if repeat == 0:
                    m.update(method=info["method"], placement=info["placement"],
                             fitted=info["fitted"], draw_s=draw,
                             cold_click_to_map_s=m["cold_import_s"] + m["cold_layout_s"] + draw,
                             quality=map_quality(doc_xy, docs, topics, info["fit_rows"]))
                print(f"{n:>6} docs {name:>8} (warm run {repeat + 1}): "
                      f"{warm_layout + draw:.1f} s (fitted {info['fitted']:,}, placement "
                      f"{info['placement']}, stages {_rounded(info['seconds'])}) load "
                      f"{os.getloadavg()[0]:.1f}", flush=True)
            pair_ratios.append(pair["ours"] / pair["previous"])
        for name, m in row["methods"].items():
            m["warm_click_to_map_s"] = float(np.median([r["click_to_map_s"] for r in m["warm_runs"]]))
            print(f"{n:>6} docs {name:>8}: warm {m['warm_click_to_map_s']:.1f} s (median of "
                  f"{args.repeats}), cold {m['cold_click_to_map_s']:.1f} s, quality "
                  f"{_rounded(m['quality'], 4)}", flush=True)
        ours, previous = row["methods"]["ours"], row["methods"]["previous"]
        row["warm_ratios_ours_to_previous"] = pair_ratios
        row["warm_ratio_ours_to_previous"] = float(np.median(pair_ratios))
        row["cold_ratio_ours_to_previous"] = (ours["cold_click_to_map_s"]
                                              / previous["cold_click_to_map_s"])
        results["sizes"][n] = row
        print(f"{n:>6} docs: ours / previous = {row['warm_ratio_ours_to_previous']:.2f} warm "
              f"(median of {[round(r, 2) for r in pair_ratios]}), "
              f"{row['cold_ratio_ours_to_previous']:.2f} cold", flush=True)

    if extras:
        path = data_file(50000)
        with np.load(path) as z:
            docs, queries = z["docs"], z["queries"]
        t0 = time.perf_counter()
        _, _, info = layout_points(docs, queries, fit_limit=60000)
        results["full_fit_50k"] = {"seconds": time.perf_counter() - t0, "stages": info["seconds"]}
        print(f"50k full fit: {results['full_fit_50k']['seconds']:.1f} s", flush=True)

        small = data_file(5000)
        jit: dict = {}
        jit["plain_umap_learn"] = run_child(["plain", str(small)])
        fresh = Path(tempfile.mkdtemp(prefix="numba-empty-", dir=WORK))
        jit["ours_empty_cache"] = run_child(["layout", str(small), "ours"],
                                            env={"NUMBA_CACHE_DIR": str(fresh)})
        shutil.rmtree(fresh, ignore_errors=True)
        jit["ours_filled_cache"] = run_child(["layout", str(small), "ours"])
        results["jit_5k"] = jit
        print("JIT (5k, fresh process):", {k: round(v["import_s"] + v["layout_s"], 1)
                                           for k, v in jit.items()}, flush=True)

        if SCIFACT.exists():
            copy = WORK / "scifact.rsproj"
            if not copy.exists():
                shutil.copy(SCIFACT, copy)
                shutil.copytree(SCIFACT.with_name(SCIFACT.name + ".data"),
                                copy.with_name(copy.name + ".data"), dirs_exist_ok=True)
            results["scifact"] = run_child(["scifact", str(copy)])
            print(f"SciFact compute_layout (fresh process): {results['scifact']['total_s']:.1f} s "
                  f"{results['scifact']['stages']}", flush=True)

    if not args.layout_only:
        rng = np.random.default_rng(1)
        big = rng.normal(size=(100_000, 2)).astype(np.float32) * np.array([3, 2], np.float32)
        results["pan_100k"] = pan_frames(app, view, big)
        print("pan 100k:", {k: round(v, 1) for k, v in results["pan_100k"].items()}, flush=True)
    results["load_average_end"] = os.getloadavg()
    (WORK / "results.json").write_text(json.dumps(results, indent=2, default=float))
    print(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
