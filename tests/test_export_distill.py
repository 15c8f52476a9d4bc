"""Distillation export: ntuple-scores prefers a teacher's scores and trains MarginMSELoss as written."""

from __future__ import annotations

import json

import pytest
from helpers_candidates import candidate_rows, store_candidates
from helpers_training import make_tiny_model
from test_export import TEXT, _mined_project

from core.io.export import candidate_scores, export
from core.project.file import Project


def _add_teacher_scores(project: Project, scores: dict[tuple[int, str, str], float]) -> None:
    """Teacher scores on stored candidates, as a mining pass with a teacher stores them."""
    passes = {n for n, _, _ in scores}
    rows = [(r.pass_number, r.query_id, r.doc_id, r.rank, r.score, r.status, r.reason,
             scores.get((r.pass_number, r.query_id, r.doc_id)))
            for r in candidate_rows(project.conn) if r.pass_number in passes]
    with project.transaction():
        project.conn.executemany("DELETE FROM pass_candidates WHERE pass=?", [(n,) for n in passes])
        store_candidates(project.conn, rows)


def test_teacher_scores_are_preferred_when_the_pass_has_them(tiny_project, tmp_path):
    _mined_project(tiny_project)
    with Project.open(tiny_project) as p:
        assert candidate_scores(p, 2, "q1") == ({"d3": 0.95, "d1": 0.85, "d7": 0.7, "d8": 0.6}, "retriever")
        _add_teacher_scores(p, {(2, "q1", "d1"): 7.5, (2, "q1", "d3"): 6.0, (2, "q1", "d7"): -2.0})
        # Only the candidates the teacher scored: d8 has no teacher score.
        assert candidate_scores(p, 2, "q1") == ({"d3": 6.0, "d1": 7.5, "d7": -2.0}, "teacher")
        # q2's latest pass (1) has no teacher scores: the retriever's, never a mix.
        assert candidate_scores(p, 1, "q2") == ({"d5": 0.6, "d6": 0.5}, "retriever")
        counts = export(p, tmp_path / "s.jsonl", format="ntuple-scores", use_proposed=True, num_negatives=1)
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["scores"] for r in rows] == [[7.5, -2.0], [6.0, -2.0]]
    assert counts["score_source"] == {"teacher": 1, "retriever": 0}


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_ntuple_scores_trains_margin_mse_through_the_sentence_transformers_trainer(
        tiny_project, tmp_path, file_format):
    """The file loads with datasets and one MarginMSELoss step runs on it, labels as written."""
    import datasets
    import torch
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MarginMSELoss

    torch.set_num_threads(1)
    _mined_project(tiny_project)
    out = tmp_path / f"distill.{file_format}"
    with Project.open(tiny_project) as p:
        export(p, out, format="ntuple-scores", use_proposed=True, num_negatives=1)
    builder = "json" if file_format == "jsonl" else file_format
    data = datasets.load_dataset(builder, data_files=str(out), split="train")
    assert data.column_names == ["anchor", "positive", "negative_1", "scores"]
    assert data["negative_1"] == [TEXT["d7"], TEXT["d7"]]

    model = SentenceTransformer(str(make_tiny_model(tmp_path / "tiny-st")), device="cpu")
    seen_labels = []

    class WatchedLoss(MarginMSELoss):
        def forward(self, sentence_features, labels):
            seen_labels.append(labels.detach().cpu().tolist())
            return super().forward(sentence_features, labels)

    before = [p.detach().clone() for p in model.parameters()]
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "trainer"), max_steps=1, per_device_train_batch_size=2,
        learning_rate=1e-3, report_to="none", save_strategy="no", disable_tqdm=True, use_cpu=True)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=WatchedLoss(model))
    trainer.train()
    # The trainer took ``scores`` as the label: [positive, negative] per row, as exported.
    assert len(seen_labels) == 1
    assert sorted(v for row in seen_labels[0] for v in row) == pytest.approx([0.7, 0.7, 0.85, 0.95])
    assert sorted(row[0] for row in seen_labels[0]) == pytest.approx([0.85, 0.95])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
