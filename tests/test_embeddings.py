"""Embedding cache: only changed texts are encoded; reopening encodes nothing; cancel keeps a consistent cache."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ProjectError
from core.progress import Cancelled, Progress
from core.project.file import Project
from core.retrieval.embeddings import (
    cache_folder,
    document_embeddings,
    query_embeddings,
)
from core.retrieval.encoder import Encoder


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder(chunk_size=4, batch_size=4)


@pytest.fixture
def counted(encoder, monkeypatch):
    """Record every text the model encodes."""
    seen: list[str] = []
    original = encoder.model.encode

    def encode(texts, *args, **kwargs):
        seen.extend(texts)
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(encoder.model, "encode", encode)
    return seen


def _edit(project: Project, doc_id: str, text: str) -> None:
    with project.transaction():
        project.conn.execute("UPDATE documents SET text=? WHERE id=?", (text, doc_id))
        project.touch_corpus()


def test_rows_aligned_with_document_ids(tiny_project, encoder, counted):
    with Project.open(tiny_project) as project:
        vecs = document_embeddings(project, encoder)
        texts = [d.retrieval_text for d in project.iter_documents()]
    assert vecs.dtype == np.float32 and vecs.shape == (12, encoder.dimension)
    assert len(counted) == 12
    np.testing.assert_allclose(vecs, encoder.encode_documents(texts), atol=2e-5)


def test_reopen_encodes_nothing_and_reads_no_texts(tiny_project, encoder, counted, monkeypatch):
    with Project.open(tiny_project) as project:
        first = document_embeddings(project, encoder)
    counted.clear()

    def no_reading(*a, **k):
        raise AssertionError("fast path must not read document texts")

    monkeypatch.setattr(Project, "iter_documents", no_reading)
    with Project.open(tiny_project) as project:
        again = document_embeddings(project, encoder)
    assert counted == []
    np.testing.assert_array_equal(first, again)


def test_editing_documents_reencodes_only_those(tiny_project, encoder, counted):
    with Project.open(tiny_project) as project:
        before = document_embeddings(project, encoder)
        counted.clear()
        _edit(project, "d3", "Resistance training strengthens bones.")
        _edit(project, "d8", "Traffic exhaust and lung tumours.")
        after = document_embeddings(project, encoder)
        assert sorted(counted) == sorted(["Exercise and bones Resistance training strengthens bones.",
                                          "Air pollution Traffic exhaust and lung tumours."])
        ids = project.document_ids()
        changed = [ids.index("d3"), ids.index("d8")]
        same = [i for i in range(12) if i not in changed]
        np.testing.assert_array_equal(after[same], before[same])
        assert not np.allclose(after[changed], before[changed])

        counted.clear()
        with project.transaction():
            project.db["documents"].insert({"id": "d13", "title": "New", "text": "A new study."})
            project.touch_corpus()
        grown = document_embeddings(project, encoder)
        assert counted == ["New A new study."] and grown.shape == (13, encoder.dimension)

        counted.clear()
        with project.transaction():
            project.touch_corpus()  # new revision, same texts: the cache still answers
        np.testing.assert_array_equal(document_embeddings(project, encoder), grown)
        assert counted == []
        # Compaction keeps a single segment in document order.
        assert len(list(cache_folder(project, encoder).glob("seg-*.npz"))) == 1


def test_float16_cache(tiny_project, encoder):
    with Project.open(tiny_project) as project:
        full = document_embeddings(project, encoder)
        half = document_embeddings(project, encoder, dtype="float16")
        folder = cache_folder(project, encoder, "float16")
    assert folder.name.endswith("-f16")
    seg = next(folder.glob("seg-*.npz"))
    with np.load(seg) as z:
        assert z["vectors"].dtype == np.float16
    assert half.dtype == np.float32
    np.testing.assert_allclose(half, full, atol=2e-3)


def test_cancel_mid_encode_keeps_finished_chunks(tiny_project, encoder, counted):
    def cancel_after_first_chunk(fraction, message):
        if "Encoding documents: 4/" in message:
            progress.cancel()

    progress = Progress(cancel_after_first_chunk)
    with Project.open(tiny_project) as project:
        with pytest.raises(Cancelled):
            document_embeddings(project, encoder, progress)
        assert len(counted) == 8  # two chunks ran: the second was cut at its progress call
        assert not (cache_folder(project, encoder) / "aligned.json").exists()
        counted.clear()
        vecs = document_embeddings(project, encoder)
        assert len(counted) == 4  # only the chunk that never finished
        texts = [d.retrieval_text for d in project.iter_documents()]
    np.testing.assert_allclose(vecs, encoder.encode_documents(texts), atol=2e-5)


def test_damaged_fast_path_falls_back(tiny_project, encoder, counted):
    with Project.open(tiny_project) as project:
        good = document_embeddings(project, encoder)
        (cache_folder(project, encoder) / "aligned.json").write_text("{broken")
        counted.clear()
        np.testing.assert_array_equal(document_embeddings(project, encoder), good)
        assert counted == []


def test_query_embeddings_cached(tiny_project, encoder, counted):
    with Project.open(tiny_project) as project:
        q = query_embeddings(project, encoder, ["q3", "q1"])
        assert sorted(counted) == ["vitamin D improves bone density", "what causes lung cancer"]
        counted.clear()
        again = query_embeddings(project, encoder, ["q1", "q3", "q2"])
        assert counted == ["aspirin prevents heart attacks"]
        np.testing.assert_array_equal(again[[1, 0]], q)
        np.testing.assert_allclose(q, encoder.encode_queries(
            ["what causes lung cancer", "vitamin D improves bone density"]), atol=2e-5)
        with pytest.raises(ProjectError, match="unknown query id 'zz'"):
            query_embeddings(project, encoder, ["zz"])


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.97])
def test_truncated_segment_is_removed_and_reencoded_with_a_notice(tiny_project, encoder, counted, keep):
    with Project.open(tiny_project) as project:
        good = document_embeddings(project, encoder)
        folder = cache_folder(project, encoder)
        (segment,) = folder.glob("seg-*.npz")  # the compacted one aligned.json points at
        data = segment.read_bytes()
        segment.write_bytes(data[: int(len(data) * keep)])
        counted.clear()
        messages = []
        again = document_embeddings(project, encoder, Progress(lambda f, m: messages.append(m)))
        assert any("removed a damaged segment" in m and segment.name in m for m in messages), messages
        assert len(counted) == 12  # every text of the lost segment, encoded once more
        np.testing.assert_allclose(again, good, atol=2e-5)
        assert segment.name not in [p.name for p in folder.glob("seg-*.npz")]
        counted.clear()
        np.testing.assert_array_equal(document_embeddings(project, encoder), again)
        assert counted == []  # whole again: the fast path serves it


def test_segment_temporaries_of_killed_writers_are_swept(tiny_project, encoder):
    import os

    with Project.open(tiny_project) as project:
        folder = cache_folder(project, encoder)
        folder.mkdir(parents=True)
        dead = folder / f".tmp-{2 ** 22 + 12345}-abc-seg-1.npz"  # above pid_max: no such process
        live = folder / f".tmp-{os.getpid()}-def-seg-2.npz"
        for tmp in (dead, live):
            tmp.write_bytes(b"half a segment")
        document_embeddings(project, encoder)
        names = sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-"))
    assert names == [live.name]
