"""A mining pass's candidates as stored: one row per (pass, query) of packed columns.

A pass decides about a hundred candidates for each of its queries; storing them
one SQL row each made the final insert most of a pass's time. So each query of a
pass is one ``pass_candidates`` row whose columns are little-endian numpy arrays
in the order the miner decided the candidates (rank order, or the teacher's
order when a teacher judged; readers that want rank order sort by ``ranks``):

=====================  ========  ===============================================
column                 dtype     meaning (absent value)
=====================  ========  ===============================================
``doc_ids``            JSON      the documents' ids, a JSON list of strings
``ranks``              ``<i4``   the retriever's 1-based corpus rank
``scores``             ``<f8``   the retriever's score
``reasons``            ``<i1``   codes into the pass's reason vocabulary
``teacher_scores``     ``<f8``   the teacher's rescoring (NaN; NULL: no teacher)
``bm25_ranks``         ``<i4``   BM25's corpus rank (-1; NULL: not computed)
``model_scores``       ``<f8``   the newest fine-tuned model's score (NaN; NULL)
``positive_similarity`` ``<f8``  cosine to the nearest relevant document (NaN; NULL)
=====================  ========  ===============================================

Ids are stored as text, never as corpus rows: the corpus can change after the
pass. The reason codes are only meaningful with the vocabulary stored on the
pass's ``mining_passes`` row (``candidate_reasons``: the reason names in code
order and which of them mean *kept*), so reordering the miner's reasons later
cannot change what an old pass says. A row whose arrays disagree with its
``n`` is refused, never decoded into garbage.

This module sits in the project layer so that :mod:`core.project.queries` can
read passes; it knows nothing of how the miner decides.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from functools import cached_property
from typing import Collection, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from core.errors import ProjectError

PASS_CANDIDATES_TABLE = """
        CREATE TABLE pass_candidates (
            pass INTEGER NOT NULL REFERENCES mining_passes(pass),
            query_id TEXT NOT NULL,
            n INTEGER NOT NULL,
            doc_ids TEXT NOT NULL,
            ranks BLOB NOT NULL,
            scores BLOB NOT NULL,
            reasons BLOB NOT NULL,
            teacher_scores BLOB,
            bm25_ranks BLOB,
            model_scores BLOB,
            positive_similarity BLOB,
            PRIMARY KEY (pass, query_id)
        );
        CREATE INDEX pass_candidates_query ON pass_candidates(query_id, pass);
"""

_RANK = np.dtype("<i4")
_FLOAT = np.dtype("<f8")
_REASON = np.dtype("<i1")
ABSENT_RANK = -1  # a bm25_ranks entry for a candidate BM25 did not rank

_COLUMNS = ("pass", "query_id", "n", "doc_ids", "ranks", "scores", "reasons", "teacher_scores",
            "bm25_ranks", "model_scores", "positive_similarity")
_SELECT = "SELECT " + ", ".join(f"pc.{c}" for c in _COLUMNS) + " FROM pass_candidates pc"


@dataclass(frozen=True)
class CandidateReasons:
    """A pass's reason vocabulary: ``names[code]`` is a reason; ``kept`` those that keep a candidate."""

    names: tuple[str, ...]
    kept: frozenset[str]

    def to_json(self) -> str:
        return json.dumps({"reasons": list(self.names), "kept": sorted(self.kept)})

    @classmethod
    def from_json(cls, text: str | None, pass_number: int) -> "CandidateReasons":
        try:
            data = json.loads(text) if text is not None else None
            names, kept = tuple(data["reasons"]), frozenset(data["kept"])
        except (TypeError, KeyError, ValueError):
            raise ProjectError(f"mining pass {pass_number} has no readable reason vocabulary; "
                               f"the project file is damaged (mine again, or restore a backup)") from None
        return cls(names, kept)

    def codes(self, names: Iterable[str]) -> np.ndarray:
        """The codes of those of ``names`` in this vocabulary."""
        wanted = set(names)
        return np.asarray([c for c, name in enumerate(self.names) if name in wanted], _REASON)

    @cached_property
    def kept_codes(self) -> np.ndarray:
        return self.codes(self.kept)

    def status(self, name: str) -> str:
        """``kept`` or ``dropped``: what a candidate with reason ``name`` became."""
        return "kept" if name in self.kept else "dropped"


@dataclass(frozen=True)
class QueryCandidates:
    """One query's decided candidates, column by column, as the miner hands them to the writer.

    ``docs`` are rows into the ``doc_ids`` given to :func:`write_pass_candidates`;
    ``reasons`` codes into its ``reasons``. A signal is None when the pass did not
    compute it; NaN inside a float signal (-1 inside ``bm25_ranks``) is absent for
    that candidate.
    """

    query_id: str
    docs: np.ndarray
    ranks: np.ndarray
    scores: np.ndarray
    reasons: np.ndarray
    teacher_scores: np.ndarray | None = None
    bm25_ranks: np.ndarray | None = None
    model_scores: np.ndarray | None = None
    positive_similarity: np.ndarray | None = None


def _blob(values: np.ndarray | None, dtype: np.dtype) -> bytes | None:
    return None if values is None else np.ascontiguousarray(values, dtype).tobytes()


def _packed_row(pass_number: int, query_id: str, ids_json: str, n: int, q: QueryCandidates) -> tuple:
    columns = (q.ranks, q.scores, q.reasons, q.teacher_scores, q.bm25_ranks, q.model_scores,
               q.positive_similarity)
    if any(c is not None and len(c) != n for c in columns):
        raise ValueError(f"query {query_id!r}: candidate columns of different lengths")
    return (pass_number, query_id, n, ids_json, _blob(q.ranks, _RANK), _blob(q.scores, _FLOAT),
            _blob(q.reasons, _REASON), _blob(q.teacher_scores, _FLOAT),
            _blob(q.bm25_ranks, _RANK), _blob(q.model_scores, _FLOAT),
            _blob(q.positive_similarity, _FLOAT))


_INSERT = (f"INSERT INTO pass_candidates({', '.join(_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(_COLUMNS))})")


def write_pass_candidates(conn: sqlite3.Connection, pass_number: int, doc_ids: Sequence[str],
                          queries: Iterable[QueryCandidates], *, reasons: Sequence[str],
                          kept: Collection[str]) -> int:
    """Store a pass's candidates (one row per query) and its reason vocabulary; returns how many.

    Call it inside the transaction that inserted the pass's ``mining_passes``
    row, so the pass is stored whole or not at all.
    """
    vocabulary = CandidateReasons(tuple(reasons), frozenset(kept))
    if len(vocabulary.names) > np.iinfo(_REASON).max:
        raise ValueError(f"{len(vocabulary.names)} reasons do not fit a one-byte code")
    row = conn.execute("SELECT candidate_reasons FROM mining_passes WHERE pass=?",
                       (pass_number,)).fetchone()
    if row is None:
        raise ValueError(f"mining pass {pass_number} must be stored before its candidates")
    if row[0] is not None and CandidateReasons.from_json(row[0], pass_number) != vocabulary:
        raise ValueError(f"mining pass {pass_number} already stored candidates with other reasons")
    conn.execute("UPDATE mining_passes SET candidate_reasons=? WHERE pass=?",
                 (vocabulary.to_json(), pass_number))
    ids = np.asarray(doc_ids, dtype=object)
    total = 0

    def rows() -> Iterator[tuple]:
        nonlocal total
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        for q in queries:
            n = len(q.docs)
            total += n
            yield _packed_row(pass_number, q.query_id, dumps(ids[q.docs].tolist()), n, q)

    conn.executemany(_INSERT, rows())
    return total


def write_pass_signals(conn: sqlite3.Connection, pass_number: int,
                       signals: Iterable[tuple[str, np.ndarray | None, np.ndarray | None,
                                               np.ndarray | None]]) -> None:
    """Store second opinions computed after the pass: ``(query_id, bm25_ranks, model_scores,
    positive_similarity)`` per stored query, each aligned with its stored candidates.

    Call it inside a transaction; a query the pass did not store, or arrays of
    another length than its candidates, are refused (nothing is half-written
    when the caller's transaction rolls back).
    """
    for query_id, bm25, model, likeness in signals:
        row = conn.execute("SELECT n FROM pass_candidates WHERE pass=? AND query_id=?",
                           (pass_number, query_id)).fetchone()
        if row is None:
            raise ValueError(f"mining pass {pass_number} stored no candidates for query {query_id!r}")
        if any(c is not None and len(c) != row[0] for c in (bm25, model, likeness)):
            raise ValueError(f"query {query_id!r}: signals for another number of candidates "
                             f"than the {row[0]} stored")
        conn.execute("UPDATE pass_candidates SET bm25_ranks=?, model_scores=?, positive_similarity=? "
                     "WHERE pass=? AND query_id=?",
                     (_blob(bm25, _RANK), _blob(model, _FLOAT), _blob(likeness, _FLOAT),
                      pass_number, query_id))


class StoredQuery:
    """One stored (pass, query) row; each column is decoded (and checked) when first read."""

    def __init__(self, row: tuple, vocabulary: CandidateReasons) -> None:
        (self.pass_number, self.query_id, self.n, self._doc_ids, self._ranks, self._scores,
         self._reasons, self._teacher, self._bm25, self._model, self._similarity) = row
        self.vocabulary = vocabulary

    def __len__(self) -> int:
        return self.n

    def with_signals(self, bm25_ranks: np.ndarray | None, model_scores: np.ndarray | None,
                     positive_similarity: np.ndarray | None) -> "StoredQuery":
        """This row, read with second opinions computed but not stored (a read-only project)."""
        for name, values in (("bm25_ranks", bm25_ranks), ("model_scores", model_scores),
                             ("positive_similarity", positive_similarity)):
            if values is not None and len(values) != self.n:
                raise ValueError(f"{name} for {len(values)} candidates, not {self.n}")
            self.__dict__[name] = values  # what the cached column would hold
        return self

    def _refuse(self, column: str, detail: str) -> ProjectError:
        return ProjectError(
            f"mining pass {self.pass_number}, query {self.query_id!r}: the stored {column} "
            f"{detail}; the project file is damaged (mine this query again, or restore a backup)")

    def _array(self, column: str, blob: bytes | None, dtype: np.dtype) -> np.ndarray | None:
        if blob is None:
            return None
        if not isinstance(blob, bytes) or len(blob) != self.n * dtype.itemsize:
            size = len(blob) if isinstance(blob, (bytes, str)) else "?"
            raise self._refuse(column, f"hold {size} bytes, not the {self.n * dtype.itemsize} of "
                                       f"{self.n} candidates")
        return np.frombuffer(blob, dtype)

    @cached_property
    def doc_ids(self) -> list[str]:
        try:
            ids = json.loads(self._doc_ids)
        except (TypeError, ValueError):
            raise self._refuse("document ids", "are not a JSON list") from None
        if not isinstance(ids, list) or len(ids) != self.n or not all(isinstance(d, str) for d in ids):
            raise self._refuse("document ids", f"are not a list of {self.n} strings")
        return ids

    @cached_property
    def ranks(self) -> np.ndarray:
        return self._array("ranks", self._ranks, _RANK)

    @cached_property
    def scores(self) -> np.ndarray:
        return self._array("scores", self._scores, _FLOAT)

    @cached_property
    def reasons(self) -> np.ndarray:
        codes = self._array("reasons", self._reasons, _REASON)
        if self.n and (codes.min() < 0 or codes.max() >= len(self.vocabulary.names)):
            raise self._refuse("reasons", "hold a code outside the pass's reason vocabulary")
        return codes

    @cached_property
    def teacher_scores(self) -> np.ndarray | None:
        return self._array("teacher scores", self._teacher, _FLOAT)

    @cached_property
    def bm25_ranks(self) -> np.ndarray | None:
        return self._array("BM25 ranks", self._bm25, _RANK)

    @cached_property
    def model_scores(self) -> np.ndarray | None:
        return self._array("model scores", self._model, _FLOAT)

    @cached_property
    def positive_similarity(self) -> np.ndarray | None:
        return self._array("positive similarities", self._similarity, _FLOAT)

    def reason_names(self) -> list[str]:
        names = self.vocabulary.names
        return [names[c] for c in self.reasons.tolist()]

    def where_reason(self, names: Iterable[str]) -> np.ndarray:
        """Positions (in stored order) of the candidates whose reason is one of ``names``."""
        return np.flatnonzero(np.isin(self.reasons, self.vocabulary.codes(names)))

    def kept_positions(self) -> np.ndarray:
        return np.flatnonzero(np.isin(self.reasons, self.vocabulary.kept_codes))

    def by_rank(self) -> np.ndarray:
        """Positions in rank order."""
        return np.argsort(self.ranks, kind="stable")


def optional_values(values: np.ndarray | None, n: int, absent: float | int) -> list:
    """A signal column as Python values with None where absent (whole column None: all absent)."""
    if values is None:
        return [None] * n
    out = values.tolist()
    if isinstance(absent, float) and math.isnan(absent):
        return [None if v != v else v for v in out]
    return [None if v == absent else v for v in out]


def pass_reasons(conn: sqlite3.Connection, pass_number: int) -> CandidateReasons:
    row = conn.execute("SELECT candidate_reasons FROM mining_passes WHERE pass=?",
                       (pass_number,)).fetchone()
    if row is None:
        raise ProjectError(f"no mining pass {pass_number} in this project")
    return CandidateReasons.from_json(row[0], pass_number)


def _stored(conn: sqlite3.Connection, sql: str, args: Sequence) -> Iterator[StoredQuery]:
    vocabularies: dict[int, CandidateReasons] = {}
    for row in conn.execute(sql, args):
        pass_number = row[0]
        if pass_number not in vocabularies:
            vocabularies[pass_number] = pass_reasons(conn, pass_number)
        yield StoredQuery(row, vocabularies[pass_number])


_CHUNK = 500  # ids per IN (...) list, well under SQLite's variable limit


def read_pass_candidates(conn: sqlite3.Connection, pass_number: int,
                         query_ids: Sequence[str] | None = None, *,
                         in_query_order: bool = False) -> Iterator[StoredQuery]:
    """The stored queries of one pass (all, or those of ``query_ids``).

    ``in_query_order``: only queries the project still has, in project query
    order (``queries.rowid``); otherwise in the order the pass stored them.
    """
    join = " JOIN queries q ON q.id=pc.query_id" if in_query_order else ""
    order = " ORDER BY q.rowid" if in_query_order else " ORDER BY pc.rowid"
    if query_ids is None:
        yield from _stored(conn, f"{_SELECT}{join} WHERE pc.pass=?{order}", (pass_number,))
        return
    ids = list(query_ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        yield from _stored(conn, f"{_SELECT}{join} WHERE pc.pass=? AND pc.query_id IN "
                                 f"({','.join('?' * len(chunk))}){order}", (pass_number, *chunk))


def read_query_candidates(conn: sqlite3.Connection, query_id: str,
                          pass_number: int | None = None) -> StoredQuery | None:
    """One query's stored row in a pass (default: the latest pass that mined it); None if none."""
    if pass_number is None:
        pass_number = latest_pass_of_query(conn, query_id)
        if pass_number is None:
            return None
    return next(_stored(conn, f"{_SELECT} WHERE pc.pass=? AND pc.query_id=?",
                        (pass_number, query_id)), None)


def latest_pass_of_query(conn: sqlite3.Connection, query_id: str) -> int | None:
    row = conn.execute("SELECT max(pass) FROM pass_candidates WHERE query_id=?", (query_id,)).fetchone()
    return None if row[0] is None else int(row[0])


def read_latest_candidates(conn: sqlite3.Connection) -> Iterator[StoredQuery]:
    """Per query, its row in the latest pass that mined it."""
    yield from _stored(conn, f"{_SELECT} JOIN (SELECT query_id, max(pass) AS pass FROM pass_candidates "
                             "GROUP BY query_id) latest ON latest.query_id=pc.query_id "
                             "AND latest.pass=pc.pass ORDER BY pc.rowid", ())


def read_queries_candidates(conn: sqlite3.Connection, query_ids: Collection[str]) -> Iterator[StoredQuery]:
    """Every stored row (any pass) of the queries ``query_ids``."""
    ids = list(query_ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        yield from _stored(conn, f"{_SELECT} WHERE pc.query_id IN ({','.join('?' * len(chunk))}) "
                                 "ORDER BY pc.pass, pc.rowid", chunk)


def read_all_candidates(conn: sqlite3.Connection) -> Iterator[StoredQuery]:
    """Every stored row of every pass, pass by pass."""
    yield from _stored(conn, f"{_SELECT} ORDER BY pc.pass, pc.rowid", ())


def mined_query_ids(conn: sqlite3.Connection) -> set[str]:
    """Queries some pass has stored candidates for."""
    return {r[0] for r in conn.execute("SELECT DISTINCT query_id FROM pass_candidates")}


class CandidateRecord(NamedTuple):
    """One candidate as a flat record (what one ``candidates`` row held before schema 4)."""

    pass_number: int
    query_id: str
    doc_id: str
    rank: int
    score: float
    status: str
    reason: str
    teacher_score: float | None
    bm25_rank: int | None
    model_score: float | None
    positive_similarity: float | None


def candidate_records(stored: StoredQuery) -> list[CandidateRecord]:
    """A stored query's candidates as flat records, in stored order."""
    n = len(stored)
    names = stored.reason_names()
    return [CandidateRecord(stored.pass_number, stored.query_id, *values)
            for values in zip(stored.doc_ids, stored.ranks.tolist(), stored.scores.tolist(),
                              [stored.vocabulary.status(r) for r in names], names,
                              optional_values(stored.teacher_scores, n, math.nan),
                              optional_values(stored.bm25_ranks, n, ABSENT_RANK),
                              optional_values(stored.model_scores, n, math.nan),
                              optional_values(stored.positive_similarity, n, math.nan))]


# -- schema 4: from one ``candidates`` row per candidate to packed rows ------------------------

# The reasons and kept reasons schema 1-3 files were written with (core.mining.config,
# unchanged since mining's first version). Frozen here, like every released migration:
# what an old row's reason means.
SCHEMA_3_REASONS = (
    "kept", "confirmed", "positive", "false_negative", "previously_rejected", "absolute_margin",
    "relative_margin", "max_score", "min_score", "rank_window", "not_sampled",
)
SCHEMA_3_KEPT = frozenset({"kept", "confirmed"})


def _signal(values: list, dtype: np.dtype, absent: float | int) -> np.ndarray | None:
    if all(v is None for v in values):
        return None
    return np.asarray([absent if v is None else v for v in values], dtype)


def migrate_candidates_to_packed(conn: sqlite3.Connection) -> None:
    """Schema 3 → 4: every ``candidates`` row into ``pass_candidates``, then drop ``candidates``.

    Candidates keep their insertion order within a query. A reason schema 3
    did not know, or a status that disagrees with its reason, is refused with
    :class:`ProjectError` (the caller's transaction then leaves the file as it was).
    """
    vocabulary = CandidateReasons(SCHEMA_3_REASONS, SCHEMA_3_KEPT)
    code = {name: c for c, name in enumerate(vocabulary.names)}
    conn.execute("ALTER TABLE mining_passes ADD COLUMN candidate_reasons TEXT")
    conn.execute("UPDATE mining_passes SET candidate_reasons=?", (vocabulary.to_json(),))
    for statement in PASS_CANDIDATES_TABLE.split(";"):
        if statement.strip():
            conn.execute(statement)
    rows = conn.execute(
        "SELECT pass, query_id, doc_id, rank, score, status, reason, teacher_score, bm25_rank, "
        "model_score, positive_similarity FROM candidates ORDER BY pass, query_id, rowid")
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def packed(group: list[tuple]) -> tuple:
        pass_number, query_id = group[0][0], group[0][1]
        for row in group:
            reason, status = row[6], row[5]
            if reason not in code:
                raise ProjectError(
                    f"mining pass {pass_number}, query {query_id!r}: unknown candidate reason "
                    f"{reason!r}; this file was not written by Retriever Studio's schema 3 and "
                    f"cannot be upgraded (it is left unchanged)")
            if vocabulary.status(reason) != status:
                raise ProjectError(
                    f"mining pass {pass_number}, query {query_id!r}: a candidate {status} for "
                    f"reason {reason!r}; the project file is damaged and cannot be upgraded "
                    f"(it is left unchanged)")
        columns = list(zip(*group))
        q = QueryCandidates(
            query_id, np.arange(len(group)), np.asarray(columns[3], _RANK),
            np.asarray(columns[4], _FLOAT), np.asarray([code[r] for r in columns[6]], _REASON),
            _signal(columns[7], _FLOAT, math.nan), _signal(columns[8], _RANK, ABSENT_RANK),
            _signal(columns[9], _FLOAT, math.nan), _signal(columns[10], _FLOAT, math.nan))
        return _packed_row(pass_number, query_id, dumps(list(columns[2])), len(group), q)

    def grouped() -> Iterator[tuple]:
        group: list[tuple] = []
        for row in rows:
            if group and (row[0], row[1]) != (group[0][0], group[0][1]):
                yield packed(group)
                group = []
            group.append(row)
        if group:
            yield packed(group)

    # Read whole before writing: the generator reads candidates on the same connection.
    conn.executemany(_INSERT, list(grouped()))
    conn.execute("DROP TABLE candidates")
