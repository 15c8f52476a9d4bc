"""The training losses: each runs a tiny real training with the loss asked for; GIST consults its guide."""

from __future__ import annotations

import numpy as np
import pytest
import test_training
from helpers_training import make_tiny_model

from core.errors import StudioError
from core.training.trainer import TrainingConfig, build_training_examples, train

# The tiny model and project of the training tests.
tiny_model = test_training.tiny_model
project = test_training.project


def _weights(folder) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in model.parameters()])


@pytest.mark.parametrize("loss,expected", [
    ("mnrl", "MultipleNegativesRankingLoss"),
    ("cached_mnrl", "CachedMultipleNegativesRankingLoss"),
    ("gist", "GISTEmbedLoss"),
])
def test_each_loss_trains_with_the_loss_asked_for(project, tiny_model, loss, expected):
    seen = []
    version = train(project, TrainingConfig(base=str(tiny_model), batch_size=4, max_seq_length=32,
                                            epochs=1, loss=loss, mini_batch_size=2),
                    on_loss=seen.append)
    assert [type(obj).__name__ for obj in seen] == [expected]
    assert version.config["loss"] == loss
    assert expected in (version.path / "README.md").read_text()
    # The weights moved away from the base model's.
    assert not np.allclose(_weights(tiny_model), _weights(version.path))


def test_gist_consults_its_guide_on_every_step(project, tiny_model):
    """The guide embeds every text the model embeds, on every step, and it stays frozen."""
    embedded = {"model": [], "guide": []}
    guides = []

    def count(name):
        # sentence-transformers may merge columns into one forward: count texts, not calls.
        return lambda module, inputs, output: embedded[name].append(output["sentence_embedding"].shape[0])

    def watch(loss):
        guides.append(loss.guide)
        loss.model.register_forward_hook(count("model"))
        loss.guide.register_forward_hook(count("guide"))

    # Hard negatives for some training queries, so batches of triplets and of pairs both occur.
    project.set_labels([(f"t{i}", "d4", "negative", 0) for i in range(1, 9)],
                       source="user", pass_number=0)
    config = TrainingConfig(base=str(tiny_model), batch_size=4, max_seq_length=32, epochs=1, loss="gist")
    data = build_training_examples(project, config)
    assert len(data.rows) == 8 and len(data.pair_rows) == 4
    version = train(project, config, on_loss=watch)
    assert version.metrics["training"]["steps"] >= 2
    assert sum(embedded["model"]) > 0
    assert embedded["guide"] == embedded["model"]
    guide_weights = np.concatenate([p.detach().cpu().numpy().ravel() for p in guides[0].parameters()])
    assert np.allclose(guide_weights, _weights(tiny_model))
    assert not any(p.requires_grad for p in guides[0].parameters())


def test_gist_guide_can_be_another_folder_and_a_bad_one_is_refused_first(project, tiny_model, tmp_path):
    other = make_tiny_model(tmp_path / "guide-st")
    seen = []
    train(project, TrainingConfig(base=str(tiny_model), batch_size=4, max_seq_length=32, epochs=1,
                                  loss="gist", guide=str(other)), on_loss=seen.append)
    assert seen[0].guide is not seen[0].model
    before = project.conn.execute("SELECT count(*) FROM model_versions").fetchone()[0]
    with pytest.raises(StudioError, match="no-such-guide"):
        train(project, TrainingConfig(base=str(tiny_model), batch_size=4, loss="gist",
                                      guide=str(tmp_path / "no-such-guide")))
    assert project.conn.execute("SELECT count(*) FROM model_versions").fetchone()[0] == before


def test_gist_refuses_more_than_one_negative_per_row():
    with pytest.raises(StudioError, match="at most 1 hard negative"):
        TrainingConfig(loss="gist", num_negatives=2).validate()
