"""Project file schema and its ordered migrations.

The schema version lives in ``PRAGMA user_version``. ``MIGRATIONS[i]`` takes a
file from version ``i`` to ``i + 1``; opening a project runs the missing ones
in order inside one transaction. Never edit a released migration: add one.
A project file written by each released version is kept under
``tests/fixtures/`` and must keep opening.
"""

from __future__ import annotations

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
        -- with the rule that kept or dropped it.
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

# Version 2: what each candidate looked like to the signals beyond the retriever
# (core.mining.suspicion). ``score``/``rank`` stay the retriever's; ``teacher_score``
# is the teacher's rescoring the rules judged when the pass had one, ``bm25_rank``
# BM25's corpus rank of the document (a dense pass's second opinion),
# ``model_score`` the newest fine-tuned model version's cosine and
# ``positive_similarity`` the document's cosine to the nearest of the query's
# relevant documents (dense and hybrid passes). NULL: not computed.
_V2_CANDIDATE_SIGNALS = """
        ALTER TABLE candidates ADD COLUMN teacher_score REAL;
        ALTER TABLE candidates ADD COLUMN bm25_rank INTEGER;
        ALTER TABLE candidates ADD COLUMN model_score REAL;
        ALTER TABLE candidates ADD COLUMN positive_similarity REAL;
"""

# MIGRATIONS[i] is the SQL taking a file from user_version i to i + 1.
MIGRATIONS: list[str] = [_V1, _V2_CANDIDATE_SIGNALS]
SCHEMA_VERSION = len(MIGRATIONS)
