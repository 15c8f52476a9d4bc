"""Encoder: model resolution, validation, fingerprints, output parity with sentence-transformers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import TINY_DOCS
from helpers_retrieval import linked_model_copy

from core.errors import ModelError
from core.progress import Cancelled, Progress
from core.project.file import Project
from core.retrieval.encoder import (
    BUNDLED,
    Encoder,
    bundled_model_path,
    model_fingerprint,
    resolve_model,
)

TEXTS = [f"{t} {x}" for _, t, x in TINY_DOCS]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder(chunk_size=4, batch_size=2)


def test_bundled_model_is_local_and_resolves():
    folder = bundled_model_path()
    assert (folder / "modules.json").is_file()
    assert resolve_model(None, None) == (BUNDLED, folder)
    assert resolve_model(None, "bundled") == (BUNDLED, folder)


def test_resolve_model_version_local_folder_and_unknown(tiny_project, tmp_path):
    with Project.open(tiny_project) as project:
        linked_model_copy(project.data_dir / "models" / "v1")
        project.db["model_versions"].insert({"id": "v1", "name": "first", "path": "models/v1",
                                             "created_at": "2026-01-01T00:00:00"})
        assert resolve_model(project, "v1") == ("v1", project.data_dir / "models" / "v1")
        folder = linked_model_copy(tmp_path / "elsewhere")
        assert resolve_model(project, str(folder))[1] == folder.resolve()
        with pytest.raises(ModelError, match="unknown model 'nope'.*v1"):
            resolve_model(project, "nope")
        project.db["model_versions"].insert({"id": "gone", "name": "x", "path": str(tmp_path / "missing"),
                                             "created_at": "2026-01-02T00:00:00"})
        with pytest.raises(ModelError, match="gone.*missing"):
            resolve_model(project, "gone")


def test_broken_folders_raise_model_error_naming_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match=r"empty.*neither modules.json nor config.json"):
        Encoder(empty)
    bad_json = linked_model_copy(tmp_path / "badjson", copy=("config.json",))
    (bad_json / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"badjson.*config.json is not valid JSON"):
        Encoder(bad_json)
    bad_weights = linked_model_copy(tmp_path / "badweights", copy=("model.safetensors",))
    (bad_weights / "model.safetensors").unlink()
    (bad_weights / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelError, match=r"badweights.*cannot be loaded"):
        Encoder(bad_weights)
    no_weights = linked_model_copy(tmp_path / "noweights")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="no weights file"):
        Encoder(no_weights)


def test_output_matches_bare_sentence_transformers(encoder):
    bare = encoder.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    ours = encoder.encode_documents(TEXTS)  # 3 chunks of 4, sorted by length
    assert ours.dtype == np.float32 and ours.shape == (12, encoder.dimension) == (12, 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(ours, bare, atol=2e-5)
    assert encoder.encode_queries([]).shape == (0, 384)


def test_prompts_change_embeddings_and_fingerprint(encoder):
    prompted = Encoder(query_prompt="query: ", document_prompt="passage: ")
    q = prompted.encode_queries(["vitamin d"])
    d = prompted.encode_documents(["vitamin d"])
    bare = encoder.model.encode(["query: vitamin d", "passage: vitamin d"], normalize_embeddings=True)
    np.testing.assert_allclose(q[0], bare[0], atol=2e-5)
    np.testing.assert_allclose(d[0], bare[1], atol=2e-5)
    assert prompted.fingerprint != encoder.fingerprint
    assert Encoder().fingerprint == encoder.fingerprint  # stable across loads


def test_fingerprint_follows_model_content(tmp_path):
    a = linked_model_copy(tmp_path / "a", copy=("sentence_bert_config.json",))
    b = linked_model_copy(tmp_path / "b", copy=("sentence_bert_config.json",))
    assert model_fingerprint(a) == model_fingerprint(b) == model_fingerprint(bundled_model_path())
    (b / "README.md").unlink()  # documentation does not change embeddings
    assert model_fingerprint(b) == model_fingerprint(a)
    cfg = json.loads((b / "sentence_bert_config.json").read_text())
    cfg["max_seq_length"] = 128
    (b / "sentence_bert_config.json").write_text(json.dumps(cfg))
    assert model_fingerprint(b) != model_fingerprint(a)


def test_progress_and_cancellation(encoder):
    seen = []
    progress = Progress(lambda f, m: seen.append(f))
    encoder.encode_documents(TEXTS, progress)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) == 4  # start + 3 chunks

    calls = []

    def cancel_after_first(f, m):
        calls.append(f)
        if f > 0:
            progress.cancel()

    progress = Progress(cancel_after_first)
    with pytest.raises(Cancelled):
        encoder.encode_documents(TEXTS, progress)
    assert len(calls) == 2  # stopped after the first chunk
