"""Dense index: exact top-k against brute force, hnswlib recall against exact, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from core.project.file import Project
from core.retrieval.dense_index import DenseIndex, exact_top_k


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int = 64, clusters: int = 50, seed: int = 0) -> np.ndarray:
    """Unit vectors around random centres: embedding-like structure, hard enough for HNSW."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    return _unit(centres[rng.integers(0, clusters, n)] + 0.6 * rng.normal(size=(n, dim)))


def recall_at(k: int, truth: np.ndarray, found: np.ndarray) -> float:
    return float(np.mean([len(set(t[:k]) & set(f[:k])) / k for t, f in zip(truth, found)]))


def test_exact_top_k_matches_full_sort():
    rng = np.random.default_rng(1)
    docs = _unit(rng.normal(size=(500, 32)))
    queries = _unit(rng.normal(size=(7, 32)))
    scores, idx = exact_top_k(queries, docs, 20)
    full = queries @ docs.T
    for q in range(7):
        expected = np.argsort(-full[q], kind="stable")[:20]
        np.testing.assert_array_equal(idx[q], expected)
        np.testing.assert_allclose(scores[q], full[q][expected], rtol=1e-6)
    s, i = exact_top_k(queries[:1], docs[:5], 10)  # k larger than the corpus
    assert i.shape == (1, 5) and sorted(i[0]) == [0, 1, 2, 3, 4]


def test_exact_ties_break_by_row():
    docs = np.array([[1, 0], [0, 1], [1, 0], [1, 0]], dtype=np.float32)
    _, idx = exact_top_k(np.array([[1, 0]], dtype=np.float32), docs, 2)
    assert idx.tolist() == [[0, 2]]


def test_search_ids_and_auto_backend():
    vecs = clustered(300)
    ids = [f"d{i}" for i in range(300)]
    index = DenseIndex.build(vecs, ids)
    assert index.backend == "exact"
    hits = index.search_ids(vecs[[5]], 3)[0]
    assert hits[0][0] == "d5" and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert DenseIndex.build(vecs, ids, exact_threshold=100).backend == "hnsw"
    with pytest.raises(ValueError):
        DenseIndex.build(vecs, ids[:-1])


def test_hnsw_recall_against_exact():
    vecs = clustered(5000, seed=2)
    queries = clustered(200, seed=3)
    ids = [str(i) for i in range(len(vecs))]
    exact = DenseIndex.build(vecs, ids, backend="exact")
    hnsw = DenseIndex.build(vecs, ids, backend="hnsw", num_threads=1)
    _, truth = exact.search(queries, 10)
    scores, found = hnsw.search(queries, 10)
    assert recall_at(10, truth, found) >= 0.99
    # Scores are inner products like the exact ones.
    np.testing.assert_allclose(scores[:, 0], np.sum(queries * vecs[found[:, 0]], axis=1), atol=1e-5)
    hnsw.ef_search = 10
    assert hnsw.search(queries, 10)[1].shape == (200, 10)


def test_hnsw_persisted_per_model_and_revision(tiny_project, monkeypatch):
    vecs = clustered(400, seed=4)
    ids = [f"d{i}" for i in range(400)]
    with Project.open(tiny_project) as project:
        built = DenseIndex.load_or_build(project, "fp", vecs, ids, exact_threshold=100)
        assert built.backend == "hnsw"
        folders = list((project.data_dir / "ann").iterdir())
        assert len(folders) == 1 and folders[0].name.startswith(f"fp-{project.corpus_revision}")

        def no_build(*a, **k):
            raise AssertionError("a persisted index must be loaded, not rebuilt")

        with monkeypatch.context() as m:
            m.setattr(DenseIndex, "build", no_build)
            loaded = DenseIndex.load_or_build(project, "fp", vecs, ids, exact_threshold=100, ef_search=64)
        assert loaded.backend == "hnsw" and loaded.ef_search == 64
        np.testing.assert_array_equal(loaded.search(vecs[:20], 5)[1], built.search(vecs[:20], 5)[1])

        with project.transaction():
            project.touch_corpus()
        DenseIndex.load_or_build(project, "fp", vecs, ids, exact_threshold=100)
        folders = list((project.data_dir / "ann").iterdir())
        assert len(folders) == 1 and project.corpus_revision in folders[0].name
