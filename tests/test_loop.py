"""The loop: fine-tune, re-encode with the new model, re-mine with the current settings."""

from __future__ import annotations

import pytest
from helpers_training import add_training_queries, make_tiny_model

from core.mining.config import MiningConfig
from core.mining.miner import mine
from core.mining.store import mining_passes
from core.progress import Progress
from core.project.file import Project
from core.training.loop import (
    current_mining_config,
    retrain_and_remine,
    training_preview,
)
from core.training.trainer import TrainingConfig


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny-st")


def test_retrain_and_remine_makes_a_new_pass_with_the_new_model(tiny_project, tiny_model):
    add_training_queries(tiny_project)
    with Project.open(tiny_project) as p:
        first = mine(p, MiningConfig(source="dense", model_id=str(tiny_model), num_negatives=2,
                                     range_max=6, sampling="random", seed=3))
        fractions = []
        outcome = retrain_and_remine(
            p, TrainingConfig(base=str(tiny_model), batch_size=4, max_seq_length=32, use_proposed=True,
                              num_negatives=2),
            Progress(lambda f, m: fractions.append(f)))
        assert outcome.version.id == "v1"
        assert outcome.version.train_counts["proposed_negatives"] > 0
        passes = mining_passes(p)
        assert [x.pass_number for x in passes] == [first.pass_number, first.pass_number + 1]
        new = passes[-1]
        assert outcome.mining_pass == new.pass_number and new.model_version == "v1"
        # Same settings as the previous pass, only the model swapped.
        assert {k: v for k, v in new.config.items() if k != "model_id"} == \
            {k: v for k, v in first.config.to_dict().items() if k != "model_id"}
        assert outcome.mining_counts == new.counts
        assert outcome.remine_summary()["pass"] == new.pass_number
        assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
        # The new model's corpus embeddings are cached for the dense pane.
        assert any((p.data_dir / "embeddings").iterdir())


def test_without_a_previous_pass_the_default_settings_are_used(tiny_project):
    with Project.open(tiny_project) as p:
        assert current_mining_config(p, "v3") == MiningConfig(model_id="v3")


def test_training_preview_counts_steps(tiny_project):
    add_training_queries(tiny_project)
    counts = training_preview(tiny_project, TrainingConfig(batch_size=5))
    assert counts["rows"] == 12 and counts["steps_per_epoch"] == 3


def test_training_preview_mentions_unused_proposals(tiny_project):
    add_training_queries(tiny_project)
    with Project.open(tiny_project) as p:
        mine(p, MiningConfig(source="bm25", num_negatives=1, range_max=3))
    counts = training_preview(tiny_project, TrainingConfig())
    assert counts["proposed_negatives"] == 0 and counts["proposals_available"] == 12
    assert "proposals_available" not in training_preview(tiny_project, TrainingConfig(use_proposed=True))
