"""A pass's candidates packed one row per (pass, query): exact round trips, damaged rows
refused, and migration 4, checked against what the schema 3 readers' SQL returned."""

from __future__ import annotations

import hashlib
import math
import random
import sqlite3

import numpy as np
import pytest

from core.errors import ProjectError
from core.mining.config import KEEP_REASONS, REASONS
from core.mining.store import (
    candidate_scores,
    pass_candidates,
    proposal_state,
    proposals,
    rejected_pairs,
)
from core.project.file import Project, now_iso
from core.project.pass_candidates import (
    SCHEMA_3_KEPT,
    SCHEMA_3_REASONS,
    CandidateRecord,
    QueryCandidates,
    candidate_records,
    read_all_candidates,
    read_query_candidates,
    write_pass_candidates,
)
from core.project.queries import label_summary, query_overlay
from core.project.schema import MIGRATIONS, SCHEMA_VERSION

ODD_IDS = ["plain", "é 漢字 😀", 'say "hi"', "a,b;c", "line\nbreak\ttab", " ", "\\", "null",
           "[1]", "\x00nul", "'", "", "doc\u2028sep"]


def _insert_pass(conn, number: int, created_at: str | None = None) -> None:
    conn.execute("INSERT INTO mining_passes(pass, created_at, source, model_version, config, counts) "
                 "VALUES (?, ?, 'dense', NULL, '{}', '{}')", (number, created_at or now_iso()))


def test_every_id_score_and_absent_signal_round_trips_exactly(tmp_path):
    code = {r: i for i, r in enumerate(REASONS)}
    n = len(ODD_IDS)
    scores = np.asarray([0.1 + 0.2, 5e-324, -0.0, 1e308, -1.5, 1 / 3, 2.0 ** -30, 0.7, 0.6, 0.5,
                         0.4, 0.3, 0.2])
    teacher = np.asarray([math.nan, 7.25, -2.0] + [0.5] * (n - 3))
    bm25 = np.asarray([-1, 3, 1] + list(range(10, 10 + n - 3)))
    likeness = np.asarray([0.9, math.nan] + [0.1] * (n - 2))
    reasons = ["kept", "positive", "relative_margin", "confirmed"] + ["not_sampled"] * (n - 4)
    order = np.arange(n)[::-1].copy()  # rows into doc_ids, not in id order
    first = QueryCandidates("q,1\n\"é\"", order, np.arange(1, n + 1), scores,
                            np.asarray([code[r] for r in reasons]), teacher, bm25, None, likeness)
    # Scores as float32 arrive widened exactly; an empty query is stored too.
    second = QueryCandidates("q2", np.asarray([0, 1]), np.asarray([5, 2]),
                             np.asarray([0.1, 0.3], np.float32), np.asarray([code["kept"]] * 2))
    empty = QueryCandidates("q3", np.asarray([], int), np.asarray([], int), np.asarray([]),
                            np.asarray([], int))
    with Project.create(tmp_path / "p.rsproj") as project:
        with project.transaction():
            _insert_pass(project.conn, 1)
            written = write_pass_candidates(project.conn, 1, ODD_IDS, [first, second, empty],
                                            reasons=REASONS, kept=KEEP_REASONS)
        assert written == n + 2
    with Project.open(tmp_path / "p.rsproj", read_only=True) as project:
        stored = read_query_candidates(project.conn, "q,1\n\"é\"", 1)
        assert stored.scores.tobytes() == scores.astype("<f8").tobytes()  # -0.0 and subnormals too
        expected = [CandidateRecord(1, "q,1\n\"é\"", ODD_IDS[i], rank, s, status, r, t, b, None, lk)
                    for i, rank, s, status, r, t, b, lk in zip(
                        order.tolist(), range(1, n + 1), scores.tolist(),
                        ["kept", "dropped", "dropped", "kept"] + ["dropped"] * (n - 4), reasons,
                        [None, 7.25, -2.0] + [0.5] * (n - 3), [None, 3, 1] + list(range(10, n + 7)),
                        [0.9, None] + [0.1] * (n - 2))]
        assert candidate_records(stored) == expected
        assert candidate_records(read_query_candidates(project.conn, "q2")) == [
            CandidateRecord(1, "q2", "plain", 5, float(np.float32(0.1)), "kept", "kept", None, None,
                            None, None),
            CandidateRecord(1, "q2", "é 漢字 😀", 2, float(np.float32(0.3)), "kept", "kept", None,
                            None, None, None)]
        # pass_candidates gives rank order; an empty query stays an empty row.
        assert [d.doc_id for d in pass_candidates(project, "q2", 1)] == ["é 漢字 😀", "plain"]
        assert pass_candidates(project, "q3", 1) == []
        assert [s.query_id for s in read_all_candidates(project.conn)] == ["q,1\n\"é\"", "q2", "q3"]


def test_the_writer_keeps_one_reason_vocabulary_per_pass(tmp_path):
    one = QueryCandidates("q1", np.asarray([0]), np.asarray([1]), np.asarray([0.5]), np.asarray([0]))
    with Project.create(tmp_path / "p.rsproj") as project, project.transaction():
        with pytest.raises(ValueError, match="must be stored before"):
            write_pass_candidates(project.conn, 1, ["d"], [one], reasons=REASONS, kept=KEEP_REASONS)
        _insert_pass(project.conn, 1)
        write_pass_candidates(project.conn, 1, ["d"], [one], reasons=REASONS, kept=KEEP_REASONS)
        with pytest.raises(ValueError, match="other reasons"):
            write_pass_candidates(project.conn, 1, ["d"], [], reasons=REASONS[::-1], kept=KEEP_REASONS)


DAMAGE = {
    "scores cut short": ("UPDATE pass_candidates SET scores=substr(scores, 1, 16)", "scores hold 16 bytes"),
    "n grown": ("UPDATE pass_candidates SET n=n+1", "not the"),
    "an id missing": ("UPDATE pass_candidates SET doc_ids='[\"a\",\"b\"]'", "document ids are not a list of 3"),
    "ids not JSON": ("UPDATE pass_candidates SET doc_ids='a,b,c'", "not a JSON list"),
    "unknown reason code": ("UPDATE pass_candidates SET reasons=x'00007f'", "outside the pass's reason"),
    "no vocabulary": ("UPDATE mining_passes SET candidate_reasons=NULL", "no readable reason vocabulary"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_row_is_refused_with_a_sentence(tmp_path, damage):
    sql, says = DAMAGE[damage]
    q = QueryCandidates("q1", np.arange(3), np.arange(1, 4), np.asarray([0.9, 0.8, 0.7]),
                        np.asarray([0, 2, 2]))
    with Project.create(tmp_path / "p.rsproj") as project:
        with project.transaction():
            _insert_pass(project.conn, 1)
            write_pass_candidates(project.conn, 1, ["a", "b", "c"], [q], reasons=REASONS,
                                  kept=KEEP_REASONS)
        assert [d.doc_id for d in pass_candidates(project, "q1")] == ["a", "b", "c"]
        project.conn.execute(sql)
        with pytest.raises(ProjectError, match="damaged") as refused:
            pass_candidates(project, "q1")
        assert says in str(refused.value) and "\n" not in str(refused.value)


# -- migration 4 -------------------------------------------------------------------------------

QUERIES = ["q1", "q,2", "q3"]
DOCS = ["d0", "d1", 'd"2', "d,3", "é4", "d5", "d\n6", "d7", "d8", "d9"]
T = {"import": "2026-01-01T00:00:00.000+00:00", "pass1": "2026-01-02T00:00:00.000+00:00",
     "review1": "2026-01-03T00:00:00.000+00:00", "pass2": "2026-01-04T00:00:00.000+00:00",
     "review2": "2026-01-05T00:00:00.000+00:00"}


def _v3_candidates(seed: int = 3) -> list[tuple]:
    """Two passes over three queries: every reason, NULL and set signals, a teacher in pass 2."""
    rng = random.Random(seed)
    rows = []
    for number in (1, 2):
        for qid in QUERIES:
            docs = rng.sample(DOCS, 8)
            reasons = ["positive", "kept", "kept", "kept", "kept", "relative_margin", "confirmed",
                       rng.choice(SCHEMA_3_REASONS)]
            for rank, (doc, reason) in enumerate(zip(docs, reasons), start=1):
                rows.append((
                    number, qid, doc, rank, rng.uniform(-1, 1),
                    "kept" if reason in SCHEMA_3_KEPT else "dropped", reason,
                    rng.choice([None, rng.uniform(-5, 5)]) if number == 2 else None,
                    rng.choice([None, rng.randint(1, 500)]), None if qid == "q3" else rng.random(),
                    rng.choice([None, rng.random()])))
    # Stored out of rank order within a query (a teacher's order): the migration keeps it.
    rng.shuffle(rows)
    return sorted(rows, key=lambda r: (r[0], r[1]))


def _v3_project(path, candidates: list[tuple]) -> None:
    """A schema 3 file, written with the SQL of migrations 1-3, with labels touched around two passes."""
    conn = sqlite3.connect(path)
    conn.executescript("\n".join(MIGRATIONS[:3]) + "PRAGMA user_version=3;")
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [("created_at", T["import"]),
                                                        ("corpus_revision", "r")])
    conn.executemany("INSERT INTO documents(id, text) VALUES (?, ?)", [(d, f"text {d}") for d in DOCS])
    conn.executemany("INSERT INTO queries VALUES (?, ?, ?)",
                     [(q, f"query {q}", "test" if q == "q3" else "train") for q in QUERIES])
    for number in (1, 2):
        conn.execute("INSERT INTO mining_passes VALUES (?, ?, 'dense', NULL, '{}', '{}')",
                     (number, T[f"pass{number}"]))
    conn.executemany(
        "INSERT INTO candidates(pass, query_id, doc_id, rank, score, status, reason, teacher_score, "
        "bm25_rank, model_score, positive_similarity) VALUES (?,?,?,?,?,?,?,?,?,?,?)", candidates)
    # Review: per query, pass 1's kept candidates accepted, flipped, set and cleared after
    # pass 1 (rejected), cleared before it (not a rejection); then pass 2's last kept accepted.
    history = []
    for qid in QUERIES:
        kept = [r[2] for r in candidates if r[0] == 1 and r[1] == qid and r[6] == "kept"]
        history += [(qid, kept[0], "negative", T["review1"]), (qid, kept[1], "false_negative", T["review1"]),
                    (qid, kept[2], "negative", T["review1"]), (qid, kept[2], None, T["review1"]),
                    (qid, kept[3], "negative", T["import"]), (qid, kept[3], None, T["import"])]
        # A confirmed candidate is kept too: cleared after the pass, it is a rejection.
        confirmed = next(r[2] for r in candidates if r[0] == 1 and r[1] == qid and r[6] == "confirmed")
        history += [(qid, confirmed, "negative", T["review1"]), (qid, confirmed, None, T["review1"])]
        kept2 = [r[2] for r in candidates if r[0] == 2 and r[1] == qid and r[6] == "kept"]
        history.append((qid, kept2[-1], "negative", T["review2"]))
    labels = {}
    for qid, doc, label, at in history:
        conn.execute("INSERT INTO label_history(query_id, doc_id, label, source, at) "
                     "VALUES (?, ?, ?, 'user', ?)", (qid, doc, label, at))
        labels[(qid, doc)] = (label, at)
    conn.executemany("INSERT INTO labels VALUES (?, ?, ?, ?, 'user', 0, ?)",
                     [(q, d, lab, int(lab == "false_negative"), at)
                      for (q, d), (lab, at) in labels.items() if lab is not None])
    conn.commit()
    conn.close()


def _schema_3_readers(path) -> dict:
    """What the schema 3 readers' SQL returned (core.mining.store, queue, project.queries)."""
    conn = sqlite3.connect(path)
    out: dict = {"proposals": {}, "scores": {}, "decisions": {}}
    for number in (1, 2):
        for possible in (False, True):
            reasons = ("kept",) + (("absolute_margin", "relative_margin", "max_score") if possible else ())
            out["proposals"][number, possible] = [
                (number, q, d, rank, score, label, proposal_state(label, bool(touched)), teacher,
                 "proposal" if reason == "kept" else "possible_positive")
                for q, d, rank, score, label, touched, teacher, reason in conn.execute(
                    "SELECT c.query_id, c.doc_id, c.rank, c.score, l.label, "
                    "EXISTS (SELECT 1 FROM label_history h WHERE h.query_id=c.query_id AND "
                    "h.doc_id=c.doc_id AND h.at >= p.created_at), c.teacher_score, c.reason "
                    "FROM candidates c JOIN mining_passes p ON p.pass=c.pass "
                    "JOIN queries q ON q.id=c.query_id "
                    "LEFT JOIN labels l ON l.query_id=c.query_id AND l.doc_id=c.doc_id "
                    f"WHERE c.pass=? AND c.reason IN ({','.join('?' * len(reasons))}) "
                    "ORDER BY q.rowid, c.rank", (number,) + reasons)]
        for q, d, s in conn.execute("SELECT query_id, doc_id, score FROM candidates WHERE pass=?",
                                    (number,)):
            out["scores"].setdefault(number, {}).setdefault(q, {})[d] = s
        for q in QUERIES:
            out["decisions"][number, q] = conn.execute(
                "SELECT doc_id, rank, score, status, reason, teacher_score FROM candidates "
                "WHERE pass=? AND query_id=? ORDER BY rank", (number, q)).fetchall()
    out["records"] = conn.execute(
        "SELECT pass, query_id, doc_id, rank, score, status, reason, teacher_score, bm25_rank, "
        "model_score, positive_similarity FROM candidates ORDER BY pass, query_id, rowid").fetchall()
    rejected_sql = (
        "SELECT DISTINCT c.query_id, c.doc_id FROM candidates c "
        "JOIN mining_passes p ON p.pass=c.pass JOIN queries q ON q.id=c.query_id "
        "WHERE c.status='kept'{} "
        "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.query_id=c.query_id AND l.doc_id=c.doc_id) "
        "AND EXISTS (SELECT 1 FROM label_history h WHERE h.query_id=c.query_id "
        "AND h.doc_id=c.doc_id AND h.at >= p.created_at)")
    for key, where, args in ((None, "", ()), ("train", " AND q.split=?", ("train",)),
                             ("q1", " AND c.query_id=?", ("q1",))):
        found: dict[str, set[str]] = {}
        for q, d in conn.execute(rejected_sql.format(where), args):
            found.setdefault(q, set()).add(d)
        out["rejected", key] = found
    out["overlay"] = {}
    for q in QUERIES:
        labeled = {d for (d,) in conn.execute("SELECT doc_id FROM labels WHERE query_id=?", (q,))}
        out["overlay"][q] = {d for (d,) in conn.execute(
            "SELECT doc_id FROM candidates WHERE query_id=? AND status='kept' AND pass="
            "(SELECT max(pass) FROM candidates WHERE query_id=?)", (q, q))} - labeled
    out["summary_proposals"] = {d for (d,) in conn.execute(
        "SELECT DISTINCT c.doc_id FROM candidates c JOIN (SELECT query_id, max(pass) AS pass "
        "FROM candidates GROUP BY query_id) latest ON latest.query_id = c.query_id "
        "AND latest.pass = c.pass WHERE c.status = 'kept' "
        "AND c.doc_id NOT IN (SELECT doc_id FROM labels)")}
    conn.close()
    return out


def test_migration_4_packs_every_candidate_and_the_readers_answer_as_before(tmp_path):
    path = tmp_path / "v3.rsproj"
    _v3_project(path, _v3_candidates())
    before = _schema_3_readers(path)
    # The review above really happened across the two passes.
    assert before["rejected", None] and before["rejected", "q1"] and before["rejected", "train"]
    states = {p[6] for p in before["proposals"][1, False]}
    assert states == {"accepted", "flipped", "rejected", "pending"}
    with Project.open(path) as project:
        assert project.schema_version == SCHEMA_VERSION == 4
        tables = {r[0] for r in project.conn.execute("SELECT name FROM sqlite_master")}
        assert "candidates" not in tables and "pass_candidates" in tables
        records = [tuple(r) for s in read_all_candidates(project.conn) for r in candidate_records(s)]
        assert records == before["records"]  # every column, NULLs and per-query order included
        for number in (1, 2):
            for possible in (False, True):
                after = [(p.pass_number, p.query_id, p.doc_id, p.rank, p.score, p.label, p.state,
                          p.teacher_score, p.kind)
                         for p in proposals(project, number, possible_positives=possible)]
                assert after == before["proposals"][number, possible]
            assert candidate_scores(project, number) == before["scores"][number]
            for q in QUERIES:
                assert [tuple(d) for d in pass_candidates(project, q, number)] == \
                    before["decisions"][number, q]
        assert rejected_pairs(project) == before["rejected", None]
        assert rejected_pairs(project, "train") == before["rejected", "train"]
        assert rejected_pairs(project, None, "q1") == before["rejected", "q1"]
        for q in QUERIES:
            assert set(query_overlay(project, q).proposals) == before["overlay"][q]
        assert {d for d, lab in label_summary(project).items() if lab == "proposal"} == \
            before["summary_proposals"]


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_migration_4_refuses_an_unknown_reason_and_leaves_the_file_unchanged(tmp_path):
    path = tmp_path / "v3.rsproj"
    rows = _v3_candidates()
    at = next(i for i, r in enumerate(rows) if r[6] == "relative_margin")
    rows[at] = rows[at][:5] + ("dropped", "too_far") + rows[at][7:]
    _v3_project(path, rows)
    before = _sha(path)
    with pytest.raises(ProjectError, match="unknown candidate reason 'too_far'") as refused:
        Project.open(path)
    assert "\n" not in str(refused.value)
    assert _sha(path) == before
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    assert conn.execute("SELECT count(*) FROM candidates").fetchone()[0] == len(rows)
    conn.close()


def test_a_read_only_schema_3_file_is_refused_in_one_line(tmp_path):
    path = tmp_path / "v3.rsproj"
    _v3_project(path, _v3_candidates())
    before = _sha(path)
    with pytest.raises(ProjectError, match="schema 3 must be upgraded") as refused:
        Project.open(path, read_only=True)
    assert "make it writable once" in str(refused.value) and "\n" not in str(refused.value)
    assert _sha(path) == before
