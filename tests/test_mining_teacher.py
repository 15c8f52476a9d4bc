"""A teacher rescoring mining pools: parity with ``mine_hard_negatives(cross_encoder=...)``,
storage of both scores, the preview, a bi-encoder teacher, and the CLI.

The cross-encoder is real but tiny (``helpers_teacher.tiny_cross_encoder``: the
bundled MiniLM with a random head after a few steps). The retriever side uses
array vectors (as the other reference tests do), so nothing encodes a corpus.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers_candidates import candidate_rows
from helpers_mining import identity_model, make_array_project, st_reference_negatives
from helpers_teacher import demo_texts, tiny_cross_encoder

from core.errors import StudioError
from core.mining.config import MiningConfig
from core.mining.miner import mine
from core.mining.preview import prepare_preview
from core.mining.scores import DenseRows
from core.mining.store import pass_candidates
from core.mining.teacher import (
    BI_ENCODER,
    CROSS_ENCODER,
    BiEncoderTeacher,
    CrossEncoderTeacher,
    load_teacher,
    teacher_kind,
)
from core.project.file import Project
from core.retrieval.encoder import bundled_model_path

TIE = 1e-5  # teacher scores this close to a cut may fall either side (batching changes padding)


@pytest.fixture(scope="module")
def ce_folder(tmp_path_factory):
    return tiny_cross_encoder(tmp_path_factory.mktemp("teacher") / "tiny-ce")


@pytest.fixture(scope="module")
def demo_subset():
    """6 demo train queries (two with several positives) over a 36-document corpus."""
    docs, queries, qrels = demo_texts()
    chosen = sorted(qrels, key=lambda q: (-len(qrels[q]), q))[:2] + sorted(qrels)[:4]
    chosen = list(dict.fromkeys(chosen))[:6]
    wanted = list(dict.fromkeys(d for q in chosen for d in qrels[q] if d in docs))
    others = [d for d in sorted(docs) if d not in wanted][: 36 - len(wanted)]
    doc_ids = wanted + others
    rng = np.random.default_rng(0)
    dim = 16
    vectors = rng.standard_normal((len(doc_ids), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {d: i for i, d in enumerate(doc_ids)}
    qvec = np.stack([vectors[[index[d] for d in qrels[q] if d in index]].mean(axis=0)
                     + rng.standard_normal(dim).astype(np.float32) * 0.3 for q in chosen])
    qvec /= np.linalg.norm(qvec, axis=1, keepdims=True)
    positives = [[d for d in qrels[q] if d in index] for q in chosen]
    return (doc_ids, [docs[d] for d in doc_ids], chosen, [queries[q] for q in chosen], positives,
            vectors, qvec.astype(np.float32))


def _project(tmp_path, subset):
    doc_ids, doc_texts, qids, qtexts, positives, _, _ = subset
    return make_array_project(tmp_path / "p.rsproj", doc_ids, doc_texts, qids, qtexts, positives)


def _rows(subset):
    doc_ids, _, qids, _, _, vectors, qvec = subset
    row_of = {q: i for i, q in enumerate(qids)}
    return DenseRows(doc_ids, vectors, lambda ids: qvec[[row_of[q] for q in ids]])


def test_teacher_kind_tells_cross_encoders_from_bi_encoders(ce_folder, tmp_path):
    assert teacher_kind(ce_folder) == CROSS_ENCODER
    assert teacher_kind(bundled_model_path()) == BI_ENCODER
    (tmp_path / "empty").mkdir()
    with pytest.raises(StudioError, match="neither a cross-encoder"):
        teacher_kind(tmp_path / "empty")
    with pytest.raises(StudioError, match="not a folder and not a model version"):
        load_teacher(None, str(tmp_path / "missing"))


# The tiny teacher's scores sit near 0.49-0.50 and often put negatives above the positive,
# so these margins are negative (drop only what is clearly above the positive).
@pytest.mark.parametrize("settings", [
    dict(num_negatives=3, range_max=8, relative_margin=-0.01),
    dict(num_negatives=2, range_min=1, range_max=10, absolute_margin=-0.004, max_score=0.498,
         relative_margin=None),  # ours defaults to 0.05, mine_hard_negatives to none
], ids=["relative-margin", "window-absolute-max"])
def test_teacher_negatives_equal_mine_hard_negatives_with_the_cross_encoder(
        ce_folder, demo_subset, tmp_path, settings):
    from sentence_transformers import CrossEncoder

    doc_ids, doc_texts, qids, qtexts, positives, vectors, qvec = demo_subset
    path = _project(tmp_path, demo_subset)
    teacher = CrossEncoderTeacher(ce_folder)
    with Project.open(path) as project:
        result = mine(project, MiningConfig(split="train", **settings), rows=_rows(demo_subset),
                      teacher=teacher)
        stored = {q: pass_candidates(project, q, result.pass_number) for q in qids}
    text_of = dict(zip(doc_ids, doc_texts))
    reference = st_reference_negatives(
        identity_model(), qtexts, [[text_of[d] for d in pos] for pos in positives], doc_texts,
        qvec, vectors, cross_encoder=CrossEncoder(str(ce_folder), device="cpu"), **settings)
    compared = 0
    for qid, qtext in zip(qids, qtexts):
        decisions = stored[qid]
        ours = [text_of[d.doc_id] for d in sorted(
            (d for d in decisions if d.reason == "kept"), key=lambda d: -d.teacher_score)]
        theirs = reference[qtext]
        if ours != theirs:
            # Only a float tie at a cut may differ: the differing documents sit within TIE of
            # the margin's threshold or of the last negative taken.
            differing = set(ours) ^ set(theirs)
            judged = {text_of[d.doc_id]: d.teacher_score for d in decisions}
            pos = min(d.teacher_score for d in decisions if d.reason == "positive")
            margin = settings.get("relative_margin")
            cuts = [pos - abs(pos) * margin] if margin is not None else []
            cuts += [pos - settings.get("absolute_margin", 0.0), settings.get("max_score", 9.0)]
            cuts += [judged[t] for t in ours[-1:]]
            assert all(any(abs(judged[t] - c) < TIE for c in cuts) for t in differing), \
                (qid, ours, theirs)
        compared += len(ours)
        # Both scores are stored: the retriever's cosine and the teacher's score.
        row = qvec[qids.index(qid)] @ vectors.T
        for d in decisions:
            assert d.score == pytest.approx(float(row[doc_ids.index(d.doc_id)]), abs=1e-5)
            assert d.teacher_score is not None
    assert compared >= 2 * len(qids)  # the settings kept something to compare
    assert result.counts["signals"]["teacher"]["kind"] == CROSS_ENCODER


def test_teacher_decides_the_window_order_and_the_preview_matches_the_pass(
        ce_folder, demo_subset, tmp_path):
    path = _project(tmp_path, demo_subset)
    teacher = CrossEncoderTeacher(ce_folder)
    config = MiningConfig(split="train", num_negatives=3, range_max=6, relative_margin=-0.01)
    with Project.open(path) as project:
        result = mine(project, config, rows=_rows(demo_subset), teacher=teacher)
        qid = demo_subset[2][0]
        stored = pass_candidates(project, qid, result.pass_number)
        preview = prepare_preview(project, qid, config, rows=_rows(demo_subset), teacher=teacher)
    kept = [d for d in stored if d.reason == "kept"]
    shown = preview.decide(config)
    # The same decisions; the retriever's float32 cosine of one query alone may differ in the last bit.
    assert [(d.doc_id, d.rank, d.reason, d.teacher_score) for d in shown] == \
        [(d.doc_id, d.rank, d.reason, d.teacher_score) for d in stored]
    np.testing.assert_allclose([d.score for d in shown], [d.score for d in stored], atol=1e-6)
    survivors = [d for d in stored if d.reason in ("kept", "not_sampled", "rank_window")]
    # Top sampling takes the teacher's best survivors, whatever the retriever's order.
    best = sorted(survivors, key=lambda d: (-d.teacher_score, d.rank))[: len(kept)]
    assert {d.doc_id for d in kept} == {d.doc_id for d in best}
    pos = min(d.teacher_score for d in stored if d.reason == "positive")
    for d in stored:
        if d.reason == "relative_margin":
            assert d.teacher_score > pos + abs(pos) * 0.01
        elif d.reason in ("kept", "not_sampled"):
            assert d.teacher_score <= pos + abs(pos) * 0.01
    # A wider window needs teacher scores of a bigger pool: the preview says so.
    with pytest.raises(StudioError, match="score the preview again"):
        preview.decide(config.replace(range_max=12))


def test_bi_encoder_teacher_scores_cosine_of_its_own_embeddings():
    teacher = load_teacher(None, str(bundled_model_path()))
    assert isinstance(teacher, BiEncoderTeacher)
    docs = ["Vitamin D increases bone density.", "Aspirin lowers heart attack risk."]
    scores = teacher.score("vitamin D and bones", docs)
    enc = teacher.encoder
    expected = enc.encode_documents(docs) @ enc.encode_queries(["vitamin D and bones"])[0]
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert scores[0] > scores[1]


def test_cli_mine_with_a_teacher_then_review_queue(ce_folder, tiny_project, capsys):
    from core.cli.main import main

    assert main(["mine", str(tiny_project), "--source", "bm25", "--teacher", str(ce_folder),
                 "--range-max", "4", "--num-negatives", "2", "--max-score", "0.99", "--json"]) == 0
    mined = json.loads(capsys.readouterr().out)
    assert mined["config"]["teacher"] == str(ce_folder)
    assert mined["counts"]["signals"]["teacher"]["kind"] == CROSS_ENCODER
    with Project.open(tiny_project) as project:
        rows = [(r.score, r.teacher_score) for r in candidate_rows(project.conn, mined["pass"])]
    assert rows and all(t is not None for _, t in rows)
    assert main(["review-queue", str(tiny_project), "--json", "--limit", "3"]) == 0
    queue = json.loads(capsys.readouterr().out)
    items = queue["items"]
    assert queue["pass"] == mined["pass"] and 0 < len(items) <= 3
    assert [i["suspicion"] for i in items] == sorted((i["suspicion"] for i in items), reverse=True)
    assert all(i["reasons"] and i["teacher_score"] is not None for i in items)
    assert main(["review-queue", str(tiny_project), "--pass", "7"]) == 2
    assert "no mining pass 7" in capsys.readouterr().err
    assert main(["mine", str(tiny_project), "--source", "bm25", "--teacher",
                 str(tiny_project.parent / "nowhere")]) == 2
    assert "teacher" in capsys.readouterr().err
