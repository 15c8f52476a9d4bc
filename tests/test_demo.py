"""The bundled demo: builds into a real project whose dense pane needs no encoding."""

import numpy as np

from core.io.demo import ensure_demo_project
from core.project.file import Project
from core.retrieval.embeddings import document_embeddings
from core.retrieval.encoder import shared_encoder


def test_demo_project_is_built_once_with_seeded_embeddings(tmp_path, monkeypatch):
    path = tmp_path / "demo.rsproj"
    monkeypatch.setenv("RS_DEMO_PROJECT", str(path))
    assert ensure_demo_project() == path
    with Project.open(path) as project:
        info = project.info()
        assert info["documents"] == 400
        assert info["queries_per_split"] == {"train": 60, "test": 40}
        assert info["labels"]["positive"]["imported"] == 113

        encoder = shared_encoder()

        def refuse(*args, **kwargs):
            raise AssertionError("the demo's embeddings should come from the shipped file")

        monkeypatch.setattr(encoder, "encode_documents", refuse)
        monkeypatch.setattr(encoder, "iter_encode_documents", refuse)
        vectors = document_embeddings(project, encoder)
    assert vectors.shape == (400, encoder.dimension)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)

    mtime = path.stat().st_mtime_ns
    assert ensure_demo_project() == path
    assert path.stat().st_mtime_ns == mtime
