"""Project file schema and its ordered migrations.

The schema version lives in ``PRAGMA user_version``. ``MIGRATIONS[i]`` takes a
file from version ``i`` to ``i + 1``; opening a project runs the missing ones
in order inside one transaction. Never edit a released migration: add one.
A project file written by each released version is kept under
``tests/fixtures/`` and must keep opening.

Our files carry :data:`APPLICATION_ID` in ``PRAGMA application_id`` (bytes
68-71 of the SQLite header, big-endian), so a file is recognised as ours from
its header alone, before anything is written to it. Files written before
schema 2 have no mark; they are recognised by their tables and get the mark
from migration 2 on their next writable open.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

from core.project.pass_candidates import migrate_candidates_to_packed

LABELS = ("positive", "negative", "false_negative")
RELEVANT_LABELS = ("positive", "false_negative")
SOURCES = ("imported", "user", "mined")


_V1 = """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE documents (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL
        );
        CREATE TABLE queries (
            id TEXT PRIMARY KEY,
            text TEXT NOT NULL,
            split TEXT
        );
        CREATE INDEX queries_split ON queries(split);
        -- Current judgement per (query, document). gain is the graded
        -- relevance used by nDCG (0 for negatives).
        CREATE TABLE labels (
            query_id TEXT NOT NULL REFERENCES queries(id),
            doc_id TEXT NOT NULL REFERENCES documents(id),
            label TEXT NOT NULL CHECK (label IN ('positive','negative','false_negative')),
            gain INTEGER NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('imported','user','mined')),
            pass INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (query_id, doc_id)
        );
        CREATE INDEX labels_doc ON labels(doc_id);
        -- Every change, including clears (label NULL), never deleted.
        CREATE TABLE label_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            query_id TEXT NOT NULL,
            doc_id TEXT NOT NULL,
            old_label TEXT,
            label TEXT,
            gain INTEGER,
            source TEXT NOT NULL,
            pass INTEGER NOT NULL DEFAULT 0,
            at TEXT NOT NULL
        );
        CREATE INDEX label_history_pair ON label_history(query_id, doc_id);
        CREATE TABLE imports (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            format TEXT NOT NULL,
            at TEXT NOT NULL,
            counts TEXT NOT NULL
        );
        -- One row per mining pass; candidates hold every scored candidate
        -- with the rule that kept or dropped it (schema 4 packs them one row
        -- per query: core.project.pass_candidates).
        CREATE TABLE mining_passes (
            pass INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            source TEXT NOT NULL,
            model_version TEXT,
            config TEXT NOT NULL,
            counts TEXT NOT NULL
        );
        CREATE TABLE candidates (
            pass INTEGER NOT NULL REFERENCES mining_passes(pass),
            query_id TEXT NOT NULL,
            doc_id TEXT NOT NULL,
            rank INTEGER NOT NULL,
            score REAL NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('kept','dropped')),
            reason TEXT NOT NULL,
            PRIMARY KEY (pass, query_id, doc_id)
        );
        CREATE INDEX candidates_query ON candidates(query_id, pass);
        CREATE TABLE model_versions (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            base TEXT,
            created_at TEXT NOT NULL,
            config TEXT NOT NULL DEFAULT '{}',
            train_counts TEXT NOT NULL DEFAULT '{}',
            metrics TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            retriever TEXT NOT NULL,
            model_version TEXT,
            split TEXT,
            created_at TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE metrics (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            query_id TEXT NOT NULL,  -- '' for the mean over the split
            metric TEXT NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (run_id, query_id, metric)
        );
"""

# "RStu" in ASCII: Retriever Studio's mark in the SQLite header (application_id).
APPLICATION_ID = 0x52537475

# The tables every project has had since schema 1: with them, an unmarked
# file of a known schema version is one of ours from before the mark.
V1_TABLES = frozenset({
    "meta", "documents", "queries", "labels", "label_history", "imports", "mining_passes",
    "candidates", "model_versions", "runs", "metrics",
})

_V2 = f"PRAGMA application_id={APPLICATION_ID};"

# Version 3: what each candidate looked like to the signals beyond the retriever
# (core.mining.suspicion). ``score``/``rank`` stay the retriever's; ``teacher_score``
# is the teacher's rescoring the rules judged when the pass had one, ``bm25_rank``
# BM25's corpus rank of the document (a dense pass's second opinion),
# ``model_score`` the newest fine-tuned model version's cosine and
# ``positive_similarity`` the document's cosine to the nearest of the query's
# relevant documents (dense and hybrid passes). NULL: not computed.
_V3_CANDIDATE_SIGNALS = """
        ALTER TABLE candidates ADD COLUMN teacher_score REAL;
        ALTER TABLE candidates ADD COLUMN bm25_rank INTEGER;
        ALTER TABLE candidates ADD COLUMN model_score REAL;
        ALTER TABLE candidates ADD COLUMN positive_similarity REAL;
"""

# Version 4: a pass's candidates packed one row per (pass, query) in
# ``pass_candidates``, with the pass's reason vocabulary on its mining_passes row
# (core.project.pass_candidates); the old ``candidates`` rows are converted and dropped.
_V4_PACKED_CANDIDATES = migrate_candidates_to_packed

# A migration step: SQL statements, or a function of the connection for what SQL
# alone cannot do. Either runs inside the transaction that bumps the version.
Migration = str | Callable[[sqlite3.Connection], None]

# MIGRATIONS[i] takes a file from user_version i to i + 1.
MIGRATIONS: list[Migration] = [_V1, _V2, _V3_CANDIDATE_SIGNALS, _V4_PACKED_CANDIDATES]

# The oldest schema whose tables this version reads as they are, so a project
# that cannot be migrated (opened read-only) still opens from here on. Version
# 4 replaced the candidates table every reader of a pass reads, so older
# read-only files must be made writable once to be upgraded.
READABLE_WITHOUT_MIGRATION = 4
SCHEMA_VERSION = len(MIGRATIONS)
