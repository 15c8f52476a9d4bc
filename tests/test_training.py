"""Fine-tuning: training rows, held-out refusal, a loadable registered version, cancel, child process."""

from __future__ import annotations

import json

import pytest
from helpers_training import add_training_queries, make_tiny_model

from core.errors import StudioError
from core.progress import Cancelled, Progress
from core.project.file import Project
from core.training.trainer import TrainingConfig, build_training_examples, train


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny-st")


@pytest.fixture
def project(tiny_project):
    add_training_queries(tiny_project)
    with Project.open(tiny_project) as p:
        yield p


def fast(tiny_model, **kw) -> TrainingConfig:
    return TrainingConfig(base=str(tiny_model), batch_size=4, max_seq_length=32, **kw)


def snapshot(project: Project) -> tuple:
    """Everything a failed or cancelled run must leave untouched."""
    tables = {t: project.conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
              for t in ("model_versions", "labels", "runs", "mining_passes")}
    models = project.data_dir / "models"
    files = sorted(p.name for p in models.iterdir()) if models.exists() else []
    return tables, files


# -- training rows -------------------------------------------------------------------

def test_rows_use_relevant_docs_as_positives_and_never_as_negatives(project):
    project.set_labels([("q1", "d2", "negative", None), ("q1", "d3", "false_negative", None),
                        ("q1", "d5", "negative", None)])
    data = build_training_examples(project, TrainingConfig(num_negatives=2))
    q1 = [r for r in data.rows if r["anchor"] == "vitamin D improves bone density"]
    # d1 (positive) and d3 (false negative, i.e. relevant) are the positives.
    assert sorted(r["positive"].split()[0] for r in q1) == ["Exercise", "Vitamin"]
    negatives = {r[k] for r in q1 for k in ("negative_1", "negative_2")}
    assert negatives == {"Calcium intake High calcium intake is associated with fewer hip fractures in older adults.",
                         "Statins Statins reduce LDL cholesterol and cardiovascular events."}
    # Queries without negatives train as pairs (in-batch negatives only).
    assert len(data.pair_rows) == 11 and all(set(r) == {"anchor", "positive"} for r in data.pair_rows)
    assert data.counts["confirmed_negatives"] == 2
    assert data.counts["queries_without_negatives"] == 11
    assert data.counts["rows"] == 13


def test_proposed_negatives_only_with_use_proposed(project, tiny_model):
    from core.mining.config import MiningConfig
    from core.mining.miner import mine

    mine(project, MiningConfig(source="bm25", num_negatives=2, range_max=5))
    without = build_training_examples(project, TrainingConfig(num_negatives=2))
    with_ = build_training_examples(project, TrainingConfig(num_negatives=2, use_proposed=True))
    assert without.counts["proposed_negatives"] == 0 and without.rows == []
    assert with_.counts["proposed_negatives"] == 24  # 12 training queries × 2
    assert len(with_.rows) == 12 and with_.pair_rows == []
    # A proposal the user flipped to relevant is never a negative.
    project.set_label("q1", next(iter(_proposals(project, "q1"))), "false_negative")
    again = build_training_examples(project, TrainingConfig(num_negatives=2, use_proposed=True))
    assert again.counts["proposed_negatives"] == 23
    assert again.counts["positives"] == 13


def _proposals(project, qid):
    from core.mining.store import proposed_negatives

    return [d for d, _ in proposed_negatives(project)[qid]]


def test_heldout_split_is_refused(project):
    with pytest.raises(StudioError, match="held-out"):
        build_training_examples(project, TrainingConfig(split="test"))
    with pytest.raises(StudioError, match="held-out"):
        build_training_examples(project, TrainingConfig(split="dev", heldout_split="dev"))


def test_all_non_heldout_queries_and_duplicate_texts(project):
    # A training query with the same text as a held-out query would leak it.
    with project.transaction():
        project.db["queries"].insert({"id": "dup", "text": "  What causes LUNG cancer ", "split": "train"})
    project.set_label("dup", "d7", "positive")
    data = build_training_examples(project, TrainingConfig(split=None))
    anchors = {r["anchor"] for r in data.pair_rows}
    assert "what causes lung cancer" not in anchors and "does sleep help memory" not in anchors
    assert data.counts["excluded_heldout_duplicates"] == 1
    assert data.counts["queries"] == 12


def test_nothing_to_train_is_a_clear_error(tiny_project):
    with Project.open(tiny_project) as p:
        with pytest.raises(StudioError, match="nothing to train on: split 'dev' has 0 queries"):
            build_training_examples(p, TrainingConfig(split="dev"))


def test_invalid_settings_are_reported_together():
    with pytest.raises(StudioError, match="batch size.*learning rate.*precision 'fp8'"):
        TrainingConfig(batch_size=1, lr=5, precision="fp8").validate()


def test_auto_precision_is_bf16_only_where_the_hardware_computes_it(monkeypatch):
    """Emulated bf16 is slower than fp32, so 'auto' asks the CPU (or GPU) first."""
    import torch

    from core.training.trainer import resolve_precision

    for avx512_bf16, amx, expected in ((False, False, "fp32"), (True, False, "bf16"), (False, True, "bf16")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert resolve_precision("auto", "cpu") == expected
        assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert resolve_precision("auto", "cpu") == "fp32"  # a torch without the probe stays exact


# -- a run ------------------------------------------------------------------------------

def test_training_registers_a_loadable_version_with_card(project, tiny_model):
    from sentence_transformers import SentenceTransformer

    messages = []
    steps = []
    version = train(project, fast(tiny_model, epochs=2),
                    Progress(lambda f, m: messages.append((f, m))), on_step=steps.append)
    assert version.id == "v1" and version.path == project.data_dir / "models" / "v1"
    rows = project.model_versions()
    assert [(r["id"], r["path"], r["base"]) for r in rows] == [("v1", "models/v1", str(tiny_model))]
    assert rows[0]["train_counts"]["rows"] == 12
    assert rows[0]["config"]["epochs"] == 2 and rows[0]["config"]["encode_max_seq_length"] == 64
    assert rows[0]["config"]["precision"] == "fp32" and rows[0]["config"]["precision_used"] == "fp32"
    # 12 rows at batch 4 for 2 epochs = 6 steps, each reported with its loss.
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5, 6]
    assert [s for s, _loss in rows[0]["metrics"]["training"]["loss_history"]] == [1, 2, 3, 4, 5, 6]
    assert any("loss" in m for _, m in messages)
    assert [f for f, _ in messages] == sorted(f for f, _ in messages)
    model = SentenceTransformer(str(version.path), device="cpu")
    assert model.encode(["vitamin D"]).shape == (1, 32)
    assert model.max_seq_length == 64  # the base's encoding length, not the training cut
    card = (version.path / "README.md").read_text()
    assert "v1" in card and str(tiny_model) in card and "'test'" in card
    info = json.loads((version.path / "training.json").read_text())
    assert info["train_counts"]["queries"] == 12
    # Only the finished folder remains: no temporary or trainer folders.
    assert sorted(p.name for p in (project.data_dir / "models").iterdir()) == ["v1"]
    # The new version can be the next base; ids keep counting.
    second = train(project, fast("v1"))
    assert second.id == "v2" and second.base == "v1"



def test_cancel_leaves_the_project_as_it_was(project, tiny_model):
    before = snapshot(project)
    progress = Progress()

    def stop_at_second_step(entry):
        if entry["step"] == 2:
            progress.cancel()

    with pytest.raises(Cancelled):
        train(project, fast(tiny_model, epochs=5), progress, on_step=stop_at_second_step)
    assert snapshot(project) == before


def test_failure_leaves_the_project_as_it_was(project, tmp_path):
    before = snapshot(project)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "modules.json").write_text("[]")
    from core.errors import ModelError

    with pytest.raises(ModelError):
        train(project, TrainingConfig(base=str(broken)))
    assert snapshot(project) == before


def test_child_process_run_matches_and_reports(project, tiny_model):
    from core.training.worker import run_training_subprocess

    steps, fractions = [], []
    outcome = run_training_subprocess(project.path, fast(tiny_model, epochs=1), torch_threads=1,
                                      progress=Progress(lambda f, m: fractions.append(f)),
                                      on_step=steps.append)
    assert outcome.version.id == "v1" and [s["step"] for s in steps] == [1, 2, 3]
    assert [h["step"] for h in outcome.version.loss_history] == [1, 2, 3]
    assert fractions[-1] == pytest.approx(1.0)
    assert [r["id"] for r in project.model_versions()] == ["v1"]
    # A user error in the child comes back as the same StudioError.
    with pytest.raises(StudioError, match="held-out"):
        run_training_subprocess(project.path, fast(tiny_model, split="test"), torch_threads=1)


def test_folders_of_killed_runs_are_swept(project, tiny_model):
    import os
    import socket

    models = project.data_dir / "models"
    models.mkdir(exist_ok=True)
    dead, live = models / ".training-dead", models / ".training-live"
    for folder, pid in ((dead, 2 ** 22 + 12345), (live, os.getpid())):
        (folder / "model").mkdir(parents=True)
        (folder / "owner.json").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    version = train(project, fast(tiny_model))
    assert sorted(p.name for p in models.iterdir()) == [".training-live", version.id]
