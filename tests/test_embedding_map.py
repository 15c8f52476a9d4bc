"""Embedding map core: layouts for every size, the cache, alignment, overlays."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_candidates import store_candidates

from core.map import jobs as map_jobs
from core.map import layout as layout_module
from core.map.jobs import before_after, compute_layout, warm_up
from core.map.layout import (
    HnswNeighbours,
    MapLayout,
    apply_alignment,
    fit_on_hnsw,
    layout_points,
    nearest_documents,
    pair_distances,
    place_by_neighbours,
    procrustes_align,
)
from core.map.layout_cache import cached_layout
from core.map.umap_runtime import numba_cache_dir
from core.progress import Cancelled, Progress
from core.project.file import Project
from core.project.queries import (
    document_splits,
    find_points,
    label_summary,
    query_overlay,
)


def clustered(n: int, clusters: int = 6, dim: int = 32, seed: int = 0, noise: float = 0.35):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    labels = rng.integers(0, clusters, n)
    return (centres[labels] + noise * rng.normal(size=(n, dim))).astype(np.float32), labels


def cluster_agreement(xy: np.ndarray, labels: np.ndarray, rows: np.ndarray, ref_rows: np.ndarray) -> float:
    """Share of ``rows`` whose nearest point among ``ref_rows`` (in 2-D) has the same cluster."""
    d = ((xy[rows, None, :] - xy[None, ref_rows, :]) ** 2).sum(-1)
    nearest = ref_rows[d.argmin(axis=1)]
    return float((labels[rows] == labels[nearest]).mean())


@pytest.mark.parametrize("n_docs,n_queries,method", [(0, 0, "empty"), (1, 0, "pca"), (3, 1, "pca"),
                                                     (6, 1, "pca"), (12, 4, "umap")])
def test_small_corpora_get_a_finite_layout(n_docs, n_queries, method):
    rng = np.random.default_rng(n_docs)
    doc_xy, query_xy, info = layout_points(rng.normal(size=(n_docs, 16)),
                                              rng.normal(size=(n_queries, 16)))
    assert doc_xy.shape == (n_docs, 2) and query_xy.shape == (n_queries, 2)
    assert np.isfinite(doc_xy).all() and np.isfinite(query_xy).all()
    assert info["method"] == method
    if n_docs + n_queries >= 3:  # points are spread out, not collapsed
        assert np.ptp(np.vstack([doc_xy, query_xy]), axis=0).min() > 0


def test_umap_keeps_clusters_apart():
    x, labels = clustered(240)
    doc_xy, _, info = layout_points(x[:230], x[230:])
    assert info["method"] == "umap" and info["fitted"] == 240
    rows = np.arange(0, 230, 3)
    others = np.setdiff1d(np.arange(230), rows)
    assert cluster_agreement(doc_xy, labels[:230], rows, others) > 0.95


@pytest.mark.parametrize("placement", ["neighbours", "transform"])
def test_large_corpus_fits_a_sample_and_places_the_rest(monkeypatch, placement):
    # Lower the thresholds so the hnswlib + placement path runs on 400 points;
    # "transform" is the method before issue 13, kept for the benchmark.
    monkeypatch.setattr(layout_module, "APPROXIMATE_FROM", 100)
    monkeypatch.setattr(layout_module, "TRANSFORM_CHUNK", 90)
    monkeypatch.setattr(layout_module, "PLACE_CHUNK", 90)
    x, labels = clustered(400, seed=1)
    messages = []
    progress = Progress(lambda f, m: messages.append((f, m)))
    doc_xy, query_xy, info = layout_points(x[:390], x[390:], fit_limit=150, placement=placement,
                                           progress=progress)
    assert info["method"] == "umap+transform" and info["fitted"] == 160
    assert info["placement"] == placement
    stage = "place" if placement == "neighbours" else "transform"
    assert set(info["seconds"]) >= {"neighbours", "fit", stage}
    assert np.isfinite(doc_xy).all() and np.isfinite(query_xy).all()
    # The same seeded sample as layout_points draws.
    fitted = np.sort(np.random.default_rng(0).choice(390, size=150, replace=False))
    placed = np.setdiff1d(np.arange(390), fitted)
    assert cluster_agreement(doc_xy, labels[:390], placed, fitted) > 0.9
    fractions = [f for f, _ in messages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    placing = [m for _, m in messages if "Placing the other documents" in m]
    assert len(placing) == 3  # 240 documents in chunks of 90: a report (and cancel point) each


def test_sampled_layout_is_the_same_for_the_same_seed(monkeypatch):
    monkeypatch.setattr(layout_module, "APPROXIMATE_FROM", 100)
    x, _ = clustered(400, seed=5)
    first = layout_points(x[:390], x[390:], fit_limit=150, seed=3)
    again = layout_points(x[:390], x[390:], fit_limit=150, seed=3)
    other = layout_points(x[:390], x[390:], fit_limit=150, seed=4)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_placement_is_where_umaps_transform_starts_a_new_point():
    # UMAP.transform starts each new point at the membership-weighted mean of
    # its fitted neighbours (its init_graph_transform, from the graph that
    # transform_mode="graph" returns); place_by_neighbours must give the same,
    # copies of a fitted point included.
    from umap.umap_ import init_graph_transform

    x, _ = clustered(260, seed=6)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    fit, new = unit[:200], np.vstack([unit[200:], unit[:3]])
    model, index, fit_xy = fit_on_hnsw(fit, 15, n_epochs=30)
    model.transform_mode = "graph"
    graph = model.transform(new).tocsr()
    graph.eliminate_zeros()
    expected = init_graph_transform(graph, model.embedding_)
    got = place_by_neighbours(index, fit_xy, new, 15)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_array_equal(got[-3:], fit_xy[:3])


def test_hnsw_neighbours_put_each_point_first_and_match_exact_search():
    x, _ = clustered(300, seed=2)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    index = HnswNeighbours(unit, seed=0)
    idx, dist = index.self_neighbours(10)
    assert (idx[:, 0] == np.arange(300)).all() and (dist[:, 0] == 0).all()
    assert (np.diff(dist, axis=1) >= -1e-6).all()
    exact = np.argsort(-(unit @ unit.T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, exact)])
    assert recall > 0.95
    np.testing.assert_allclose(dist[:, 1], 1 - (unit * unit[idx[:, 1]]).sum(1), atol=1e-4)


def test_nearest_documents_are_exact_cosine_top_k():
    rng = np.random.default_rng(3)
    docs, queries = rng.normal(size=(50, 8)), rng.normal(size=(7, 8))
    got = nearest_documents(docs, queries, k=5, chunk=3)
    sims = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (
        docs / np.linalg.norm(docs, axis=1, keepdims=True)).T
    np.testing.assert_array_equal(got, np.argsort(-sims, axis=1)[:, :5])


def test_procrustes_recovers_rotation_scale_and_shift():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(40, 2))
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    b = 2.5 * a @ rot + np.array([3.0, -1.0])
    aligned = apply_alignment(a, procrustes_align(a, b))
    np.testing.assert_allclose(aligned, b, atol=1e-4)


# -- on a project -----------------------------------------------------------------------

def test_layout_is_computed_once_and_then_read_from_the_cache(tiny_project, monkeypatch):
    messages = []
    layout = compute_layout(tiny_project, progress=Progress(lambda f, m: messages.append(m)))
    with Project.open(tiny_project) as project:
        assert layout.doc_ids == project.document_ids()
        assert layout.query_ids == [q.id for q in project.queries()]
        maps = project.data_dir / "maps"
    assert layout.doc_xy.shape == (12, 2) and layout.query_xy.shape == (4, 2)
    assert layout.method == "umap" and layout.model_id == "bundled"
    assert any("Laying out" in m for m in messages)
    assert (maps / f"{layout.key}.npy").is_file() and (maps / f"{layout.key}.json").is_file()
    # q1 "vitamin D improves bone density": d1 is its nearest document.
    assert layout.query_neighbors is not None
    assert layout.doc_ids[layout.query_neighbors[layout.query_index["q1"], 0]] == "d1"

    def must_not_run(*args, **kwargs):
        raise AssertionError("the cached layout was recomputed")

    monkeypatch.setattr(map_jobs, "layout_points", must_not_run)
    monkeypatch.setattr(layout_module, "import_umap", must_not_run)
    again = compute_layout(tiny_project)
    np.testing.assert_array_equal(again.doc_xy, layout.doc_xy)
    np.testing.assert_array_equal(again.query_xy, layout.query_xy)
    np.testing.assert_array_equal(again.query_neighbors, layout.query_neighbors)
    assert cached_layout(tiny_project).key == layout.key

    # Labels do not change the layout; a new query does.
    with Project.open(tiny_project) as project:
        project.set_label("q1", "d2", "negative")
        assert cached_layout(project) is not None
        with project.transaction():
            project.db["queries"].insert({"id": "q5", "text": "statins and cholesterol", "split": "test"})
        assert cached_layout(project) is None


def test_cancel_between_stages_writes_no_cache(tiny_project):
    progress = Progress()

    def cancel_at_layout(fraction, message):
        if "Loading UMAP" in message or "Laying out" in message:
            progress.cancel()

    progress._shared.callback = cancel_at_layout
    with pytest.raises(Cancelled):
        compute_layout(tiny_project, progress=progress)
    assert cached_layout(tiny_project) is None


def test_aligned_layout_starts_from_the_reference(tiny_project):
    base = compute_layout(tiny_project)
    aligned = compute_layout(tiny_project, reference=base)
    assert aligned.aligned_to == base.key and aligned.key != base.key
    # Same model, started from the same layout, aligned back onto it: the
    # points stay where they were, relative to the map's size.
    spread = np.ptp(np.vstack([base.doc_xy, base.query_xy]), axis=0).max()
    moved = np.linalg.norm(aligned.doc_xy - base.doc_xy, axis=1)
    assert np.median(moved) < 0.25 * spread
    assert cached_layout(tiny_project, reference=base).key == aligned.key


def test_query_overlay_labels_and_latest_kept_proposals(tiny_project):
    with Project.open(tiny_project) as project:
        project.set_label("q1", "d2", "negative")
        with project.transaction():
            for p in (1, 2):
                project.db["mining_passes"].insert(
                    {"pass": p, "created_at": "now", "source": "bm25", "config": "{}", "counts": "{}"})
            store_candidates(project.conn, [
                (1, "q1", "d5", 1, 1.0, "kept", "ok"),
                (2, "q1", "d3", 1, 1.0, "kept", "ok"),
                (2, "q1", "d2", 2, 0.9, "kept", "ok"),
                (2, "q1", "d6", 3, 0.8, "dropped", "too close to positive"),
            ])
        overlay = query_overlay(project, "q1")
        assert overlay.labels == {"d1": "positive", "d2": "negative"}
        assert overlay.proposals == {"d3"}  # latest pass, kept, not yet labelled
        assert query_overlay(project, "q4").proposals == frozenset()

        summary = label_summary(project)
        assert summary["d1"] == "positive" and summary["d2"] == "negative"
        assert summary["d3"] == "proposal" and "d5" not in summary  # d5 only in an older pass
        assert "d6" not in summary  # dropped

        project.set_label("q3", "d1", "negative")  # q3 is a test query, q1 a train query
        splits = document_splits(project)
        assert splits["d1"] == "mixed" and splits["d4"] == "train" and splits["d7"] == "test"
        assert "d12" not in splits


def test_pair_distances_are_relative_to_the_map_spread():
    layout = MapLayout(["a", "b"], np.array([[0, 0], [2, 0]], np.float32), ["q"],
                          np.array([[1, 0]], np.float32), "bundled")
    scaled = MapLayout(["a", "b"], layout.doc_xy * 10, ["q"], layout.query_xy * 10, "bundled")
    d = pair_distances(layout, [("q", "a"), ("q", "b"), ("q", "missing")])
    assert len(d) == 2 and d[0] == pytest.approx(d[1])
    np.testing.assert_allclose(pair_distances(scaled, [("q", "a"), ("q", "b")]), d)


def test_warm_up_caches_umaps_own_kernels_on_disk():
    # umap-learn does not ask numba to cache _optimize_layout_euclidean_single_epoch;
    # finding it in the cache folder shows import_umap's switch took effect.
    seconds = warm_up()
    assert seconds >= 0
    folder = numba_cache_dir()
    assert any(folder.rglob("layouts._optimize_layout_euclidean_single_epoch-*.nbi"))
    assert any(folder.rglob("*.nbc"))


def test_find_points_matches_ids_first_then_words(tiny_project):
    with Project.open(tiny_project) as project:
        found = find_points(project, "q3")
        assert [(f.kind, f.id) for f in found] == [("query", "q3")]
        found = find_points(project, "lung")
        assert ("query", "q3") in [(f.kind, f.id) for f in found]
        assert {"d7"} <= {f.id for f in found if f.kind == "document"}
        assert find_points(project, "100%") == []  # LIKE wildcards are literal
        assert find_points(project, "   ") == []


def test_before_after_summarises_how_labelled_pairs_moved(tiny_project):
    pair = before_after(tiny_project, "bundled", "bundled")
    assert pair.after.aligned_to == pair.before.key
    before, after, n = pair.summary["positive"]
    assert n == 5 and before > 0 and after > 0


def test_points_in_a_concave_lasso():
    from core.map.picking import points_in_polygon

    u_shape = np.array([(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)], float)
    xy = np.array([(0.5, 2), (1.5, 2), (2.5, 2), (1.5, 0.5), (4, 4)], np.float32)
    assert points_in_polygon(xy, u_shape).tolist() == [0, 2, 3]  # (1.5, 2) is in the notch
    assert points_in_polygon(xy, u_shape[:2]).tolist() == []  # two corners enclose nothing


def test_a_click_picks_a_query_within_its_larger_reach_before_a_nearer_document():
    from core.map.picking import QUERY_REACH, PointPicker

    picker = PointPicker(np.array([(0, 0), (10, 0)], np.float32), np.array([(1.5, 0)], np.float32))
    assert QUERY_REACH == 1.6
    assert picker.nearest(0.4, 0, radius=1.0) == ("query", 0)  # query 1.1 away, document 0.4
    assert picker.nearest(-0.5, 0, radius=1.0) == ("document", 0)  # query 2.0 away: out of reach
    assert picker.nearest(9.5, 0, radius=1.0) == ("document", 1)
    assert picker.nearest(5, 0, radius=1.0) is None


def test_query_window_is_twice_the_median_distance_to_its_documents():
    from core.map.framing import query_window
    from core.project.queries import QueryOverlay

    doc_xy = np.array([(3, 0), (0, 4), (0, -8), (30, 40)], np.float32)
    query_xy = np.zeros((1, 2), np.float32)
    layout = MapLayout(["d0", "d1", "d2", "d3"], doc_xy, ["q0"], query_xy, "bundled",
                       query_neighbors=np.array([[2]], np.int32))
    overlay = QueryOverlay("q0", {"d0": "positive"}, frozenset({"d1"}))
    # Distances 3 (label), 4 (proposal), 8 (neighbour): median 4; d3 far away does not count.
    assert query_window(layout, doc_xy, query_xy, 0, overlay) == (0.0, 0.0, 8.0)
    other = QueryOverlay("q9", {"d0": "positive"}, frozenset())
    assert query_window(layout, doc_xy, query_xy, 0, other) == (0.0, 0.0, 16.0)
