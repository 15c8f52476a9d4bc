"""Mining passes on the tiny project: storage, labels as law, query selection, review, CLI."""

from __future__ import annotations

import json

import pytest
from helpers_candidates import candidate_rows

from core.cli.main import main as cli_main
from core.errors import StudioError
from core.mining.config import SAMPLINGS, MiningConfig
from core.mining.miner import mine
from core.mining.preview import preview_query
from core.mining.store import (
    candidate_scores,
    pass_candidates,
    proposals,
    proposed_negatives,
    rejected_pairs,
    review_stats,
)
from core.progress import Cancelled, Progress
from core.project.file import Project

BM25 = dict(source="bm25", num_negatives=3, range_max=8)


def kept(project, qid, pass_number=None):
    return [d.doc_id for d in pass_candidates(project, qid, pass_number) if d.reason == "kept"]


def test_pass_is_stored_with_every_candidate_and_reason(tiny_project):
    with Project.open(tiny_project) as project:
        result = mine(project, MiningConfig(**BM25))
        assert result.pass_number == 1 and project.current_pass == 1
        c = result.counts
        assert c["queries_selected"] == 2 and c["queries_mined"] == 2  # q1, q2 are train
        assert c["proposed"] == 6
        row = project.conn.execute(
            "SELECT source, model_version, config, counts FROM mining_passes WHERE pass=1").fetchone()
        assert row[0] == "bm25" and row[1] is None
        assert MiningConfig.from_dict(json.loads(row[2])) == MiningConfig(**BM25)
        assert json.loads(row[3]) == c
        q1 = pass_candidates(project, "q1")
        # Pool = range_max + P (P = 1 labeled document per train query) = 9 documents.
        assert len(q1) == 9
        assert [d.rank for d in q1] == sorted(d.rank for d in q1)
        assert {d.reason for d in q1} == {"positive", "kept", "not_sampled"}
        assert next(d for d in q1 if d.doc_id == "d1").reason == "positive"
        top3 = [d.doc_id for d in q1 if d.doc_id != "d1"][:3]
        assert kept(project, "q1") == top3
        assert sum(c["dropped"].values()) + c["proposed"] == c["candidates"]
        # Test queries were not touched.
        assert not pass_candidates(project, "q3")
        # A second pass gets the next number; the first stays.
        assert mine(project, MiningConfig(**BM25)).pass_number == 2
        assert len(pass_candidates(project, "q1", 1)) == 9


def test_preview_matches_the_stored_pass_and_writes_nothing(tiny_project):
    config = MiningConfig(**BM25, relative_margin=0.5)
    with Project.open(tiny_project) as project:
        preview = preview_query(project, "q1", config)
        assert candidate_rows(project.conn) == []
        mine(project, config)
        assert preview == pass_candidates(project, "q1")


@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_stored_pass_equals_the_reference_rules_for_every_query(tiny_project, sampling):
    # The miner decides with the array path (decide_pool) and stores codes as rows; the
    # preview runs the readable decide. Also after review, with confirmed and rejected ones.
    config = MiningConfig(**{**BM25, "num_negatives": 2}, relative_margin=0.7, max_score=7.0,
                          range_min=1, sampling=sampling, seed=7)
    with Project.open(tiny_project) as project:
        for pass_number in (1, 2):
            expected = {q: preview_query(project, q, config) for q in ("q1", "q2")}
            assert mine(project, config).pass_number == pass_number
            for qid, decisions in expected.items():
                assert decisions and pass_candidates(project, qid) == decisions
            if pass_number == 1:
                a, b = kept(project, "q1")
                project.set_label("q1", a, "negative")
                project.set_label("q1", b, "negative")
                project.set_label("q1", b, None)  # rejected: the next pass says previously_rejected
        assert {d.reason for d in pass_candidates(project, "q1")} >= {"confirmed", "previously_rejected"}


def test_labels_are_law_across_passes(tiny_project):
    with Project.open(tiny_project) as project:
        mine(project, MiningConfig(**BM25))
        a, b, c = kept(project, "q1")
        project.set_label("q1", a, "negative")  # accepted
        project.set_label("q1", b, "false_negative")  # flipped
        project.set_label("q1", c, "negative")
        project.set_label("q1", c, None)  # accepted, then cleared: rejected
        assert rejected_pairs(project) == {"q1": {c}}
        states = {p.doc_id: p.state for p in proposals(project, 1, ["q1"])}
        assert states == {a: "accepted", b: "flipped", c: "rejected"}
        mine(project, MiningConfig(**BM25))
        reasons = {d.doc_id: d.reason for d in pass_candidates(project, "q1", 2)}
        assert reasons[a] == "confirmed" and reasons[b] == "false_negative"
        assert reasons[c] == "previously_rejected"
        assert not {a, b, c} & set(kept(project, "q1", 2))
        assert len(kept(project, "q1", 2)) == 3  # confirmed ones do not use up the quota
        stats = {s.pass_number: s for s in review_stats(project)}
        assert (stats[1].proposed, stats[1].accepted, stats[1].flipped, stats[1].rejected) == (6, 1, 1, 1)
        assert stats[1].false_negative_rate == pytest.approx(1 / 3)
        assert stats[2].reviewed == 0 and stats[2].false_negative_rate is None
        # Exports take pending proposals only.
        pending = proposed_negatives(project, 1)
        assert "q1" not in pending
        assert len(pending["q2"]) == 3


def test_positive_scores_are_stored_even_outside_the_pool(tiny_project):
    with Project.open(tiny_project) as project:
        project.set_label("q1", "d12", "positive")  # gut microbiome: far down for a bone query
        mine(project, MiningConfig(source="bm25", num_negatives=1, range_min=0, range_max=2))
        q1 = {d.doc_id: d for d in pass_candidates(project, "q1")}
        assert q1["d12"].reason == "positive" and q1["d12"].rank > 4
        assert "d12" in candidate_scores(project)["q1"]


def test_query_selection(tiny_project):
    with Project.open(tiny_project) as project:
        with pytest.raises(StudioError, match="nothing to mine"):
            mine(project, MiningConfig(**{**BM25, "split": "nosuchsplit"}))
        mine(project, MiningConfig(**BM25))
        with pytest.raises(StudioError, match="nothing to mine"):
            mine(project, MiningConfig(**BM25, only_changed=True))
        project.set_label("q2", "d5", "negative")
        result = mine(project, MiningConfig(**BM25, only_changed=True))
        assert result.counts["queries_mined"] == 1
        assert pass_candidates(project, "q2", result.pass_number)
        assert not pass_candidates(project, "q1", result.pass_number)
        result = mine(project, MiningConfig(**BM25, only_unlabeled=True))
        assert result.counts["queries_selected"] == 1
        assert pass_candidates(project, "q1", result.pass_number)
        # split=None mines every query with a positive (train and test).
        assert mine(project, MiningConfig(**{**BM25, "split": None})).counts["queries_mined"] == 4


def test_cancelled_pass_stores_nothing(tiny_project):
    progress = Progress()
    progress.cancel()
    with Project.open(tiny_project) as project:
        with pytest.raises(Cancelled):
            mine(project, MiningConfig(**BM25), progress)
        assert project.conn.execute("SELECT count(*) FROM mining_passes").fetchone()[0] == 0
        assert candidate_rows(project.conn) == []
        assert project.current_pass == 0


class CancelledMidPass:
    """Score rows that pass on the project's real ones and press Cancel partway.

    With ``cancel_after`` < the number of queries, Cancel comes once that many
    queries were scored and decided, and every query is a progress report (a
    cancellation point, as each batch of 64 is on a large project). With
    ``cancel_after`` = all of them, Cancel comes after the last query: the
    miner has then staged every decision and stops at "Storing the pass".
    """

    def __init__(self, rows, cancel_after: int) -> None:
        self.inner = rows
        self.doc_ids = rows.doc_ids
        self.cancel_after = cancel_after
        self.decided: list[str] = []

    def rows(self, query_ids, progress):
        n = len(query_ids)
        for i, (qid, row) in enumerate(self.inner.rows(query_ids, progress), start=1):
            yield qid, row
            self.decided.append(qid)  # the miner asks for the next row once it decided this one
            if i < n:
                if i == self.cancel_after:
                    progress.cancel()
                progress.update(i, n, f"Scoring queries: {i}/{n}")
        if self.cancel_after >= n:  # after the real rows' own last report
            progress.cancel()


def project_state(project) -> dict:
    """Everything a mining pass may write: passes, candidates, labels, current_pass."""
    conn = project.conn
    return {
        "mining_passes": conn.execute("SELECT * FROM mining_passes ORDER BY pass").fetchall(),
        "candidates": candidate_rows(conn),
        "labels": conn.execute("SELECT * FROM labels ORDER BY query_id, doc_id").fetchall(),
        "current_pass": project.get_meta("current_pass"),
    }


def temp_tables(project) -> list[str]:
    return [r[0] for r in project.conn.execute("SELECT name FROM temp.sqlite_master")]


@pytest.mark.parametrize("cancel_after", [2, 4], ids=["after-2-of-4-queries", "after-deciding-all-4"])
def test_cancelled_mid_pass_leaves_the_project_unchanged(tiny_project, cancel_after):
    from core.mining.scores import rows_for_config

    config = MiningConfig(**{**BM25, "split": None})  # all 4 queries have a positive
    with Project.open(tiny_project) as project:
        mine(project, MiningConfig(**BM25))  # an earlier pass, reviewed a little
        a, b, _ = kept(project, "q1")
        project.set_label("q1", a, "negative")
        project.set_label("q1", b, "false_negative")
        before = project_state(project)
        assert before["mining_passes"] and before["candidates"] and before["current_pass"] == "1"

        rows, _, _ = rows_for_config(project, config, None, Progress())
        cancelling = CancelledMidPass(rows, cancel_after)
        statements: list[str] = []
        project.conn.set_trace_callback(statements.append)
        try:
            with pytest.raises(Cancelled):
                mine(project, config, Progress(), rows=cancelling)
        finally:
            project.conn.set_trace_callback(None)
        # The pass really was under way: queries were scored and decided (in the second
        # case all of them), yet not one statement wrote to the file.
        assert cancelling.decided == ["q1", "q2", "q3", "q4"][:cancel_after]
        assert statements and not [s for s in statements
                                   if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
        assert project_state(project) == before
        assert temp_tables(project) == []  # no stage table left behind
        # The next pass is number 2: nothing of the cancelled one counts.
        assert mine(project, config).pass_number == 2
    with Project.open(tiny_project) as project:  # and so the file says, from a fresh connection
        assert project.current_pass == 2
        assert {r.pass_number for r in candidate_rows(project.conn)} == {1, 2}


def test_cancel_while_storing_either_stores_the_pass_or_raises_with_nothing_stored(tiny_project):
    progress = Progress(lambda fraction, message: message == "Storing the pass" and progress.cancel())
    with Project.open(tiny_project) as project:
        try:
            mine(project, MiningConfig(**BM25), progress)
        except Cancelled:
            cancelled = True
        else:
            cancelled = False
        stored = project.conn.execute("SELECT count(*) FROM mining_passes").fetchone()[0]
        # A job reported as cancelled changed nothing; one that returned stored its pass.
        assert (cancelled, stored, project.current_pass) in {(True, 0, 0), (False, 1, 1)}


def test_cli_mine_json(tiny_project, capsys):
    rc = cli_main(["mine", str(tiny_project), "--source", "bm25", "--num-negatives", "2",
                   "--range-max", "6", "--relative-margin", "0.5", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pass"] == 1
    counts = out["counts"]
    assert counts["queries_mined"] == 2
    assert set(counts["dropped"]) >= {"positive", "relative_margin", "rank_window", "not_sampled"}
    assert counts["proposed"] + sum(counts["dropped"].values()) == counts["candidates"]
    assert out["config"]["relative_margin"] == 0.5


def _kept_above_the_margin_cut(project, pass_number, margin):
    """(query, doc) pairs a pass kept although they score above pos − |pos|·margin."""
    out = []
    for qid in ("q1",):
        decisions = pass_candidates(project, qid, pass_number)
        pos = min(d.score for d in decisions if d.reason == "positive")
        out += [(qid, d.doc_id) for d in decisions
                if d.reason == "kept" and d.score > pos - abs(pos) * margin]
    return out


def test_cli_mine_uses_nv_retrievers_relative_margin_unless_told_none(tiny_project, capsys):
    # The default is NV-Retriever's TopK-PercPos, 0.05, as in the mining dialog.
    assert MiningConfig().relative_margin == 0.05
    with Project.open(tiny_project) as project:
        # A weak second positive for q1 (BM25 1.56): d3 (2.71) now scores above the positive.
        project.set_label("q1", "d11", "positive")
    assert cli_main(["mine", str(tiny_project), "--source", "bm25", "--num-negatives", "2",
                     "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert default["config"]["relative_margin"] == 0.05
    assert cli_main(["mine", str(tiny_project), "--source", "bm25", "--num-negatives", "2",
                     "--relative-margin", "none", "--json"]) == 0
    off = json.loads(capsys.readouterr().out)
    assert off["config"]["relative_margin"] is None
    assert off["counts"]["dropped"]["relative_margin"] == 0
    with Project.open(tiny_project) as project:
        # Without the margin d3, above the positive, is proposed; with it (the default) not.
        assert _kept_above_the_margin_cut(project, off["pass"], 0.05)
        assert not _kept_above_the_margin_cut(project, default["pass"], 0.05)
    with pytest.raises(SystemExit) as exit_:  # argparse refuses it before anything runs
        cli_main(["mine", str(tiny_project), "--relative-margin", "lots"])
    assert exit_.value.code == 2
    assert "expected a number or 'none'" in capsys.readouterr().err


def test_cli_reports_bad_settings(tiny_project, capsys):
    rc = cli_main(["mine", str(tiny_project), "--source", "bm25", "--num-negatives", "9",
                   "--range-max", "5"])
    assert rc == 2
    assert "cannot mine 9 negatives" in capsys.readouterr().err


def test_hybrid_scores_are_rrf_over_corpus_ranks(tiny_project):
    with Project.open(tiny_project) as project:
        result = mine(project, MiningConfig(source="hybrid", num_negatives=2, range_max=4))
        assert result.model_version == "bundled"
        q1 = pass_candidates(project, "q1")
        # Each document's score is 1/(60+r_bm25) + 1/(60+r_dense) with ranks 1..12.
        assert all(2 / 72 - 1e-12 <= d.score <= 2 / 61 + 1e-12 for d in q1)
        assert [d.score for d in q1] == sorted((d.score for d in q1), reverse=True)
        assert next(d for d in q1 if d.doc_id == "d1").rank == 1


def test_export_with_proposed_skips_flipped_and_rejected(tiny_project, tmp_path):
    from core.io.export import export

    with Project.open(tiny_project) as project:
        mine(project, MiningConfig(**BM25))
        a, b, c = kept(project, "q1")
        project.set_label("q1", b, "false_negative")
        project.set_label("q1", c, "negative")
        project.set_label("q1", c, None)
        export(project, tmp_path / "pairs.jsonl", format="labeled-pairs", split="train", use_proposed=True)
        texts = {d.id: d.retrieval_text for d in project.iter_documents()}
        export(project, tmp_path / "scores.jsonl", format="ntuple-scores", split="train",
               use_proposed=True, num_negatives=2)
        scores = candidate_scores(project)
    rows = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    q1_negatives = {r["positive"] for r in rows if r["anchor"].startswith("vitamin") and r["label"] == 0}
    assert q1_negatives == {texts[a]}
    q1_positives = {r["positive"] for r in rows if r["anchor"].startswith("vitamin") and r["label"] == 1}
    assert texts[b] in q1_positives  # a false negative is relevant
    nt = [json.loads(line) for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    q2 = next(r for r in nt if r["anchor"].startswith("aspirin"))
    assert q2["scores"][0] == pytest.approx(scores["q2"]["d4"])
    assert all(s is not None for s in q2["scores"])


def test_current_config_is_the_latest_pass(tiny_project):
    from core.mining.store import current_config

    with Project.open(tiny_project) as project:
        assert current_config(project) is None
        config = MiningConfig(**BM25, relative_margin=0.1)
        mine(project, config)
        assert current_config(project) == config


def test_a_read_only_project_is_refused_before_any_scoring(tiny_project):
    class NeverScore:
        doc_ids: list = []

        def rows(self, query_ids, progress):
            raise AssertionError("scored a pass that could never be stored")

    with Project.open(tiny_project, read_only=True) as project:
        with pytest.raises(StudioError, match="read-only"):
            mine(project, MiningConfig(**BM25), rows=NeverScore())


def test_hybrid_pass_fuses_as_the_models_hybrid_search(tiny_project):
    """With a stored weighted fusion, a hybrid pass scores each document as the
    search pane's hybrid does: the same fused score for every document either
    top list shows, and 0 for the ones neither retrieved (depth 4 of 12 here)."""
    from core.mining.scores import project_rows
    from core.retrieval.fusion_setting import FusionSetting, fuse, store_fusion
    from core.retrieval.service import Retrieval

    with Project.open(tiny_project) as project:
        setting = FusionSetting("weighted", dense_weight=0.7, tuned_on="train", queries=2)
        store_fusion(project, "bundled", setting)
        retrieval = Retrieval(project, "bundled", fusion_depth=4)
        rows = project_rows(project, "hybrid", retrieval)
        assert (rows.method, rows.weights) == ("weighted", (0.3, 0.7))
        texts = {q.id: q.text for q in project.queries()}
        checked = 0
        for qid, row in rows.rows(list(texts), Progress()):
            lexical = retrieval.ensure_bm25().search(texts[qid], 4)
            dense = retrieval.ensure_dense().search_ids(retrieval.encode_queries([texts[qid]]), 4)[0]
            shown = dict(fuse(setting, lexical, dense))
            assert 4 <= len(shown) < len(row)
            for doc, score in zip(rows.doc_ids, row.tolist()):
                assert score == pytest.approx(shown.get(doc, 0.0), abs=1e-6), (qid, doc)  # float32 dots
                checked += 1
        assert checked == len(texts) * 12
