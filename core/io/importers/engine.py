"""Writes an :class:`ImportPlan` into a project: streamed, batched, all-or-nothing.

Documents, then queries, then qrels are inserted with ``executemany`` in
batches inside ONE project transaction, so memory stays bounded by a batch
and any failure (bad input, cancel, crash) leaves the project as it was.
Duplicate ids and unknown ids are detected by the database itself (PRIMARY
KEY and FOREIGN KEY constraints): a failing batch is rolled back to its
savepoint and replayed row by row to find the offending line, and the first
occurrence of a duplicate is found by re-reading the input (error path only).

A query's split comes from the qrels file that judges it. A query judged in
two different splits is an error (it would leak between training and
evaluation); queries without qrels keep split NULL.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from typing import Iterator

from core.io.importers.options import ImportOptions, grade_to_label, normalize_grade
from core.io.importers.records import (
    DocRecord,
    FileSpec,
    ImportPlan,
    QrelRecord,
    QueryRecord,
    input_error,
)
from core.progress import Progress
from core.project.file import Project, now_iso
from core.project.names import id_problem


class _Run:
    def __init__(self, project: Project, plan: ImportPlan, options: ImportOptions,
                 progress: Progress | None) -> None:
        self.project = project
        self.conn = project.conn
        self.plan = plan
        self.options = options
        self.progress = progress
        self.total_bytes = sum(f.size for f in plan.files) or 1
        self.finished_bytes = 0
        self.at = now_iso()
        self.base = {
            table: self.conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()[0]
            for table in ("documents", "queries", "labels")
        }
        self.counts: dict = {
            "documents": 0, "queries": 0, "judgements": 0,
            "judgements_per_split": {}, "labels": {"positive": 0, "negative": 0}, "grades": {},
            "gains": {}, "grade_map": options.grade_map, "split_assumed": plan.split_assumed, "on_existing": options.on_existing,
            "existing": {role: {"identical": 0, "conflicting": 0} for role in ("documents", "queries",
                                                                                "judgements")},
            "conflicts": [],
        }
        self.policy = options.on_existing
        self.corpus_changed = False

    # -- progress ---------------------------------------------------------------
    def _report(self, spec: FileSpec, message: str) -> None:
        if self.progress is not None:
            self.progress.update(self.finished_bytes + spec.done, self.total_bytes, message)

    # -- batches ------------------------------------------------------------------
    def _batches(self, spec: FileSpec) -> Iterator[list]:
        batch: list = []
        size = self.options.batch_size
        for record in spec.read():
            batch.append(record)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _savepoint(self, sql_items: list[tuple[str, list[tuple]]]) -> bool:
        """Run statements in a savepoint; False (and rolled back) on IntegrityError."""
        self.conn.execute("SAVEPOINT import_batch")
        try:
            for sql, rows in sql_items:
                self.conn.executemany(sql, rows)
        except sqlite3.IntegrityError:
            self.conn.execute("ROLLBACK TO import_batch")
            self.conn.execute("RELEASE import_batch")
            return False
        self.conn.execute("RELEASE import_batch")
        return True

    def _first_occurrence(self, role: str, match) -> tuple[FileSpec, int] | None:
        for spec in self.plan.of(role):
            for record in replace(spec, done=0).read():
                if match(record):
                    return spec, record.line
        return None

    def _where(self, spec: FileSpec, first: tuple[FileSpec, int] | None) -> str:
        if first is None:
            return "appears twice in this import"
        other, line = first
        if other.path == spec.path:
            return f"first on {other.unit} {line}"
        return f"first in {other.path}, {other.unit} {line}"

    # -- documents ----------------------------------------------------------------
    def documents(self, spec: FileSpec) -> int:
        sql = "INSERT INTO documents(id, title, text) VALUES (?, ?, ?)"
        n = 0
        for batch in self._batches(spec):
            for r in batch:
                _check_id(spec, r.id, r.line)
            if self.policy != "error":
                batch_new = self._existing_documents(spec, batch)
            else:
                batch_new = batch
            rows = [(r.id, r.title, r.text) for r in batch_new]
            if not self._savepoint([(sql, rows)]):
                self._diagnose_documents(spec, batch_new, sql)
            self.corpus_changed = self.corpus_changed or bool(rows)
            n += len(batch)
            self._report(spec, f"documents: {self.counts['documents'] + n:,}")
        return n

    def _diagnose_documents(self, spec: FileSpec, batch: list[DocRecord], sql: str) -> None:
        for r in batch:
            try:
                self.conn.execute(sql, (r.id, r.title, r.text))
            except sqlite3.IntegrityError as exc:
                row = self.conn.execute("SELECT rowid FROM documents WHERE id=?", (r.id,)).fetchone()
                if row is None:
                    raise input_error(spec, f"cannot store document {r.id!r} ({exc})", r.line) from None
                if row[0] <= self.base["documents"]:
                    raise input_error(spec, f"document id {r.id!r} is already in the project",
                                     r.line) from None
                first = self._first_occurrence("documents", lambda x, i=r.id: x.id == i)
                raise input_error(spec, f"duplicate document id {r.id!r} ({self._where(spec, first)})",
                                 r.line) from None
        raise input_error(spec, "a batch failed a database constraint", batch[0].line)

    # -- queries --------------------------------------------------------------------
    def queries(self, spec: FileSpec) -> int:
        sql = "INSERT INTO queries(id, text, split) VALUES (?, ?, NULL)"
        n = 0
        for batch in self._batches(spec):
            for r in batch:
                _check_id(spec, r.id, r.line)
                if not r.text.strip():
                    raise input_error(spec, f"query {r.id!r} has no text", r.line)
            if self.policy != "error":
                batch_new = self._existing_queries(spec, batch)
            else:
                batch_new = batch
            rows = [(r.id, r.text) for r in batch_new]
            if not self._savepoint([(sql, rows)]):
                self._diagnose_queries(spec, batch_new, sql)
            n += len(batch)
            self._report(spec, f"queries: {self.counts['queries'] + n:,}")
        return n

    def _diagnose_queries(self, spec: FileSpec, batch: list[QueryRecord], sql: str) -> None:
        for r in batch:
            try:
                self.conn.execute(sql, (r.id, r.text))
            except sqlite3.IntegrityError as exc:
                row = self.conn.execute("SELECT rowid FROM queries WHERE id=?", (r.id,)).fetchone()
                if row is None:
                    raise input_error(spec, f"cannot store query {r.id!r} ({exc})", r.line) from None
                if row[0] <= self.base["queries"]:
                    raise input_error(spec, f"query id {r.id!r} is already in the project", r.line) from None
                first = self._first_occurrence("queries", lambda x, i=r.id: x.id == i)
                raise input_error(spec, f"duplicate query id {r.id!r} ({self._where(spec, first)})",
                                 r.line) from None
        raise input_error(spec, "a batch failed a database constraint", batch[0].line)

    # -- qrels ------------------------------------------------------------------------
    def qrels(self, spec: FileSpec) -> int:
        label_sql = ("INSERT INTO labels(query_id, doc_id, label, gain, source, pass, updated_at) "
                     "VALUES (?, ?, ?, ?, 'imported', 0, ?)")
        history_sql = ("INSERT INTO label_history(query_id, doc_id, old_label, label, gain, source, pass, at) "
                       "VALUES (?, ?, NULL, ?, ?, 'imported', 0, ?)")
        grade_map = self.options.grade_map
        grades = self.counts["grades"]
        labels = self.counts["labels"]
        n = 0
        gains = self.counts["gains"]
        for batch in self._batches(spec):
            label_rows, history_rows, kept = [], [], []
            for r in batch:
                _check_id(spec, r.query_id, r.line)
                _check_id(spec, r.doc_id, r.line)
                try:
                    label, gain = grade_to_label(r.grade, grade_map)
                except ValueError as exc:
                    raise input_error(spec, str(exc), r.line) from None
                key = normalize_grade(r.grade)
                grades[key] = grades.get(key, 0) + 1
                gains[key] = gain
                labels[label] += 1
                if self.policy != "error" and self._existing_judgement(spec, r, label, gain):
                    continue
                kept.append(r)
                label_rows.append((r.query_id, r.doc_id, label, gain, self.at))
                history_rows.append((r.query_id, r.doc_id, label, gain, self.at))
            if not self._savepoint([(label_sql, label_rows), (history_sql, history_rows)]):
                self._diagnose_qrels(spec, kept, label_sql, label_rows)
            if spec.split is not None:
                self._assign_split(spec, batch)
            n += len(batch)
            self._report(spec, f"judgements: {self.counts['judgements'] + n:,}")
        return n

    def _assign_split(self, spec: FileSpec, batch: list[QrelRecord]) -> None:
        qids = list(dict.fromkeys(r.query_id for r in batch))
        self.conn.executemany("UPDATE queries SET split=? WHERE id=? AND split IS NULL",
                              [(spec.split, q) for q in qids])
        if spec.split_assumed:
            return  # queries judged here that already have a split keep it
        for start in range(0, len(qids), 500):
            chunk = qids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            row = self.conn.execute(
                f"SELECT id, split FROM queries WHERE id IN ({marks}) AND split <> ? LIMIT 1",
                (*chunk, spec.split),
            ).fetchone()
            if row:
                line = next(r.line for r in batch if r.query_id == row[0])
                raise input_error(
                    spec,
                    f"query {row[0]!r} is judged in split {spec.split!r} but already belongs to split "
                    f"{row[1]!r} (a query belongs to one split)",
                    line,
                )

    def _diagnose_qrels(self, spec: FileSpec, batch: list[QrelRecord], sql: str, rows: list[tuple]) -> None:
        for r, row in zip(batch, rows):
            try:
                self.conn.execute(sql, row)
            except sqlite3.IntegrityError as exc:
                if not self.conn.execute("SELECT 1 FROM queries WHERE id=?", (r.query_id,)).fetchone():
                    raise input_error(spec, f"unknown query id {r.query_id!r} (not in the queries "
                                                f"imported nor in the project)", r.line) from None
                if not self.conn.execute("SELECT 1 FROM documents WHERE id=?", (r.doc_id,)).fetchone():
                    raise input_error(spec, f"unknown document id {r.doc_id!r} (not in the corpus "
                                                f"imported nor in the project)", r.line) from None
                existing = self.conn.execute(
                    "SELECT rowid, label FROM labels WHERE query_id=? AND doc_id=?", (r.query_id, r.doc_id)
                ).fetchone()
                if existing is None:
                    raise input_error(spec, f"cannot store judgement ({exc})", r.line) from None
                if existing[0] <= self.base["labels"]:
                    raise input_error(
                        spec,
                        f"query {r.query_id!r} and document {r.doc_id!r} are already judged in the "
                        f"project ({existing[1]})",
                        r.line,
                    ) from None
                first = self._first_occurrence(
                    "qrels", lambda x, q=r.query_id, d=r.doc_id: x.query_id == q and x.doc_id == d)
                raise input_error(
                    spec,
                    f"duplicate judgement for query {r.query_id!r} and document {r.doc_id!r} "
                    f"({self._where(spec, first)})",
                    r.line,
                ) from None
        raise input_error(spec, "a batch failed a database constraint", batch[0].line)

    # -- records already in the project (on_existing = skip | update) -------------------
    def _conflict(self, role: str, spec: FileSpec, line: int, what: str) -> None:
        self.counts["existing"][role]["conflicting"] += 1
        action = "replaced by the imported one" if self.policy == "update" else "kept as in the project"
        self.counts["conflicts"].append(f"{spec.path}, {spec.unit} {line}: {what}; {action}")

    def _existing_documents(self, spec: FileSpec, batch: list[DocRecord]) -> list[DocRecord]:
        """The records of ``batch`` not yet in the project; identical ones counted, conflicts named."""
        new = []
        for r in batch:
            row = self.conn.execute("SELECT rowid, title, text FROM documents WHERE id=?", (r.id,)).fetchone()
            if row is None or row[0] > self.base["documents"]:
                new.append(r)  # new, or a duplicate within this import (refused by the insert)
            elif (row[1], row[2]) == (r.title, r.text):
                self.counts["existing"]["documents"]["identical"] += 1
            else:
                self._conflict("documents", spec, r.line,
                               f"document {r.id!r} differs from the project's")
                if self.policy == "update":
                    self.conn.execute("UPDATE documents SET title=?, text=? WHERE id=?", (r.title, r.text, r.id))
                    self.corpus_changed = True
        return new

    def _existing_queries(self, spec: FileSpec, batch: list[QueryRecord]) -> list[QueryRecord]:
        new = []
        for r in batch:
            row = self.conn.execute("SELECT rowid, text FROM queries WHERE id=?", (r.id,)).fetchone()
            if row is None or row[0] > self.base["queries"]:
                new.append(r)
            elif row[1] == r.text:
                self.counts["existing"]["queries"]["identical"] += 1
            else:
                self._conflict("queries", spec, r.line, f"query {r.id!r} has another text in the project")
                if self.policy == "update":
                    self.conn.execute("UPDATE queries SET text=? WHERE id=?", (r.text, r.id))
        return new

    def _existing_judgement(self, spec: FileSpec, r: QrelRecord, label: str, gain: int) -> bool:
        """True when the project already judged this pair before the import (handled here)."""
        row = self.conn.execute("SELECT rowid, label, gain, source FROM labels WHERE query_id=? AND doc_id=?",
                                (r.query_id, r.doc_id)).fetchone()
        if row is None or row[0] > self.base["labels"]:
            return False
        if (row[1], row[2]) == (label, gain):
            self.counts["existing"]["judgements"]["identical"] += 1
            return True
        self._conflict("judgements", spec, r.line,
                       f"query {r.query_id!r} / document {r.doc_id!r} is {row[1]} (gain {row[2]}, "
                       f"{row[3]}) in the project, {label} (gain {gain}) here")
        if self.policy == "update":
            self.conn.execute("UPDATE labels SET label=?, gain=?, source='imported', pass=0, updated_at=? "
                              "WHERE query_id=? AND doc_id=?", (label, gain, self.at, r.query_id, r.doc_id))
            self.conn.execute(
                "INSERT INTO label_history(query_id, doc_id, old_label, label, gain, source, pass, at) "
                "VALUES (?, ?, ?, ?, ?, 'imported', 0, ?)", (r.query_id, r.doc_id, row[1], label, gain, self.at))
        return True

    # -- the whole run ------------------------------------------------------------------
    def run(self) -> dict:
        started = time.perf_counter()
        handlers = {"documents": self.documents, "queries": self.queries, "qrels": self.qrels}
        per_file = []
        for role in ("documents", "queries", "qrels"):
            for spec in self.plan.of(role):
                n = handlers[role](spec)
                if n == 0:
                    noun = {"documents": "documents", "queries": "queries", "qrels": "judgements"}[role]
                    raise input_error(spec, f"empty file: no {noun} found")
                if role == "qrels":
                    self.counts["judgements"] += n
                    key = spec.split or ""
                    per_split = self.counts["judgements_per_split"]
                    per_split[key] = per_split.get(key, 0) + n
                else:
                    self.counts[role] += n
                self.finished_bytes += spec.size
                per_file.append({**spec.describe(), "records": n})
        if self.corpus_changed:
            self.project.touch_corpus()
        self.counts["queries_per_split"] = {
            (s or ""): n for s, n in self.conn.execute(
                "SELECT split, count(*) FROM queries WHERE rowid > ? GROUP BY split ORDER BY split",
                (self.base["queries"],),
            )
        }
        self.counts["format"] = self.plan.format
        self.counts["source"] = str(self.plan.source.resolve())
        self.counts["files"] = per_file
        self.counts["ignored_files"] = [str(p) for p in self.plan.ignored]
        record = {k: v for k, v in self.counts.items()}
        self.conn.execute(
            "INSERT INTO imports(source, format, at, counts) VALUES (?, ?, ?, ?)",
            (self.counts["source"], self.plan.format, self.at, json.dumps(record)),
        )
        self.counts["import_id"] = self.conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        self.counts["seconds"] = round(time.perf_counter() - started, 3)
        if self.progress is not None:
            self.progress.fraction(1.0, "import done")
        return self.counts


def _check_id(spec: FileSpec, value: str, line: int) -> None:
    problem = id_problem(value)
    if problem:
        raise input_error(spec, problem, line)


class _DryRunDone(Exception):
    """Raised inside the transaction to roll a complete dry run back."""

    def __init__(self, counts: dict) -> None:
        super().__init__("dry run")
        self.counts = counts


def write_plan(project: Project, plan: ImportPlan, options: ImportOptions,
               progress: Progress | None = None, *, dry_run: bool = False) -> dict:
    """Import ``plan`` into ``project`` as one transaction; returns counts.

    ``dry_run``: do every step and check (constraints included), then roll
    the transaction back, so the counts say exactly what an import would do.
    """
    try:
        with project.transaction():
            counts = _Run(project, plan, options, progress).run()
            if dry_run:
                counts["dry_run"] = True
                raise _DryRunDone(counts)
    except _DryRunDone as done:
        return done.counts
    return counts
