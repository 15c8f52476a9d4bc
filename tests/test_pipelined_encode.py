"""Pipelining: a finished fine-tune prepares its embeddings, and compare then encodes nothing."""

from __future__ import annotations

import pytest
from helpers_training import add_training_queries, make_tiny_model

from core.evaluation.compare import compare_models
from core.project.file import Project
from core.retrieval.encoder import Encoder, model_fingerprint
from core.retrieval.onnx_int8 import FAST_DIRNAME, FastEncoder
from core.training.loop import retrain_and_remine
from core.training.trainer import TrainingConfig


@pytest.fixture
def encode_calls(monkeypatch):
    """Every text either encoder embeds, by encoder kind."""
    calls: dict[str, list[str]] = {"exact": [], "fast": []}
    for cls in (Encoder, FastEncoder):
        original = cls._embed

        def counting(self, texts, prompt, small, _original=original):
            calls[self.kind].extend(texts)
            return _original(self, texts, prompt, small)

        monkeypatch.setattr(cls, "_embed", counting)
    return calls


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-layer random BERT: trains and encodes in milliseconds, on the real code paths."""
    return make_tiny_model(tmp_path_factory.mktemp("pipelined") / "tiny-st")


def _train(project, tiny_model, *, prepare):
    config = TrainingConfig(base=str(tiny_model), batch_size=4, max_seq_length=32, epochs=1)
    return retrain_and_remine(project, config, remine=False, prepare=prepare, encoder="fast")


def test_compare_after_training_encodes_nothing_again(tiny_project, tiny_model, encode_calls):
    add_training_queries(tiny_project)
    with Project.open(tiny_project) as project:
        outcome = _train(project, tiny_model, prepare=True)
        version = outcome.version
        assert outcome.embeddings["ready"] and outcome.embeddings["encoder"]["kind"] == "fast"
        documents = project.document_count()
        assert len(encode_calls["fast"]) >= documents  # the head start really encoded the corpus
        # The int8 copy sits beside the version's weights without changing its fingerprint.
        assert (version.path / FAST_DIRNAME / "model_int8.onnx").is_file()
        encode_calls["fast"].clear()
        encode_calls["exact"].clear()
        fingerprint = model_fingerprint(version.path)
        result = compare_models(project, [version.id], split="test", retrievers=["dense", "hybrid"],
                                encoder="fast")
        assert model_fingerprint(version.path) == fingerprint
    assert result["queries"] == 2
    assert encode_calls == {"exact": [], "fast": []}


def test_without_the_head_start_compare_encodes_the_corpus(tiny_project, tiny_model, encode_calls):
    """The counter sees encoding: the same compare without prepared embeddings encodes every document."""
    add_training_queries(tiny_project)
    with Project.open(tiny_project) as project:
        version = _train(project, tiny_model, prepare=False).version
        documents = project.document_count()
        encode_calls["fast"].clear()
        compare_models(project, [version.id], split="test", retrievers=["dense"], encoder="fast")
    assert len(encode_calls["fast"]) >= documents


def test_cancelling_the_head_start_keeps_the_trained_version(tiny_project, tiny_model):
    from core.progress import Progress

    add_training_queries(tiny_project)
    progress = Progress(lambda fraction, message: progress.cancel()
                        if message.startswith("Encoding documents") else None)
    config = TrainingConfig(base=str(tiny_model), batch_size=4, max_seq_length=32, epochs=1)
    with Project.open(tiny_project) as project:
        outcome = retrain_and_remine(project, config, progress, remine=False, prepare=True,
                                     encoder="exact")
        assert outcome.embeddings == {"model": "v1", "ready": False, "cancelled": True}
        assert [v["id"] for v in project.model_versions()] == ["v1"]
        assert outcome.version.path.is_dir()


def test_a_finished_fine_tune_gets_its_hybrid_fusion_chosen_on_train(tiny_project, tiny_model):
    """Hybrid search and hybrid mining use the new version's own fusion before any compare."""
    from core.retrieval.fusion_setting import stored_fusion
    from core.retrieval.service import Retrieval

    add_training_queries(tiny_project)
    with Project.open(tiny_project) as project:
        judged_train = len(project.qrels("train"))
        outcome = _train(project, tiny_model, prepare=True)
        setting = stored_fusion(project, outcome.version.id)
        assert setting is not None and (setting.tuned_on, setting.queries) == ("train", judged_train)
        assert outcome.embeddings["fusion"] == setting.describe()
        assert Retrieval(project, outcome.version.id).fusion_setting == setting
