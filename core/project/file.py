"""A project: one SQLite file (``.rsproj``) plus a sidecar cache folder.

The file holds corpus, queries, labels with their full history, mining passes
and candidates, model versions, runs and metrics. Everything that can be
recomputed (BM25 index, embeddings, ANN indexes, UMAP layouts, trained model
folders) lives in ``<project>.data/`` beside it.

One :class:`Project` object owns one connection; threads that need the file
open their own ``Project`` (WAL mode lets readers run beside the writer).
Opening writes nothing until the file is known to be ours (the
``application_id`` in its header, see :mod:`core.project.schema`); a project
whose file or folder is not writable opens read-only.
Every label change is its own committed transaction, so a crash or a kill
loses at most the click in flight.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import sqlite_utils

from core.errors import ProjectError
from core.project.leftovers import sweep, temp_name
from core.project.names import split_name_problem
from core.project.schema import (
    APPLICATION_ID,
    LABELS,
    MIGRATIONS,
    READABLE_WITHOUT_MIGRATION,
    RELEVANT_LABELS,
    SCHEMA_VERSION,
    SOURCES,
    V1_TABLES,
)

PROJECT_SUFFIX = ".rsproj"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _sql_statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one at a time (``execute`` takes one; ``executescript``
    would commit the migration's open transaction)."""
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n\t;"):
                yield statement
            statement = ""
    if statement.strip(" \n\t;"):
        raise ValueError(f"incomplete SQL statement in a migration: {statement!r}")


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str

    @property
    def retrieval_text(self) -> str:
        return retrieval_text(self.title, self.text)


def retrieval_text(title: str, text: str) -> str:
    """The text BM25 and the encoder see: title and body, as BEIR does."""
    return f"{title} {text}" if title else text


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    split: str | None


@dataclass(frozen=True)
class Label:
    query_id: str
    doc_id: str
    label: str
    gain: int
    source: str
    pass_number: int
    updated_at: str


@dataclass(frozen=True)
class LabelChange:
    """One (query, document) judgement going from ``old`` to ``new`` (None = no label)."""

    query_id: str
    doc_id: str
    old: str | None
    new: str | None
    old_gain: int | None = None
    new_gain: int | None = None
    old_source: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    old_label: str | None
    label: str | None
    gain: int | None
    source: str
    pass_number: int
    at: str


_LABEL_COLUMNS = "query_id, doc_id, label, gain, source, pass, updated_at"
_HISTORY_COLUMNS = "id, query_id, doc_id, old_label, label, gain, source, pass, at"


@dataclass(frozen=True)
class PairEdit:
    """One pair's part of a :class:`LabelEdit`: whole rows, so undo and redo can be exact.

    ``before``/``after``: the ``labels`` row (rowid first) before and after
    the edit, None for no label; ``history``: the ``label_history`` rows
    (id first) the edit wrote.
    """

    query_id: str
    doc_id: str
    before: tuple | None
    after: tuple | None
    history: tuple[tuple, ...]


@dataclass(frozen=True)
class LabelEdit:
    """What one committed label change did: per pair the rows before and after, and the changes."""

    pairs: tuple[PairEdit, ...]
    changes: tuple[LabelChange, ...]

    @property
    def history_ids(self) -> frozenset[int]:
        return frozenset(h[0] for p in self.pairs for h in p.history)


class LabelConflict(ProjectError):
    """Undo or redo refused: these pairs' labels are no longer what the edit expects."""

    def __init__(self, conflicts: Sequence[tuple["PairEdit", str | None, str | None]], *,
                 undo: bool) -> None:
        self.pairs = [(p.query_id, p.doc_id) for p, _now, _expected in conflicts]
        shown = "; ".join(f"{p.query_id} / {p.doc_id} is now {now or 'unlabeled'}, not "
                          f"{expected or 'unlabeled'}" for p, now, expected in conflicts[:3])
        more = f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else ""
        super().__init__(f"Not {'undone' if undo else 'redone'}: labels were changed elsewhere "
                         f"since: {shown}{more}. They are left as they are.")


def default_gain(label: str) -> int:
    return 1 if label in RELEVANT_LABELS else 0


SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class ProjectFileState:
    """What the header and tables of an existing file say, read without writing."""

    schema_version: int
    marked: bool  # carries our application_id (files from before schema 2 do not)


def check_project_file(path: str | Path) -> ProjectFileState:
    """Refuse anything that is not one of our project files, changing nothing.

    Reads the 100-byte SQLite header, then the file through a connection
    that never writes and creates nothing beside it (``immutable=1``, or
    ``mode=ro`` when a ``-wal`` file holds committed content): a folder,
    an empty file, a non-SQLite file, another program's SQLite file (another
    ``application_id``, or no mark and not our tables) and a newer schema are
    refused with :class:`ProjectError`; a file that cannot be read is
    reported as damaged or unreadable.
    """
    path = Path(path)
    if path.is_dir():
        raise ProjectError(f"{path}: is a folder, not a project file (a project is one .rsproj "
                           f"file; its caches live in {path.name}.data/ beside it)")
    # Closing any descriptor of a file drops every POSIX lock the process holds
    # on it, the SHARED locks of its open WAL-mode connections included. Another
    # program closing its connection then believes it is the last one,
    # checkpoints and deletes the -wal and -shm files under ours, and our next
    # read fails with "disk I/O error". So a file this process already has open
    # (it was checked then) is checked through SQLite only, never with open().
    header_app_id = None
    if not _held_by_this_process(path):
        header_app_id = _check_header(path)
    try:
        conn = _connect_read_only(path, create_nothing=True)
    except sqlite3.Error as exc:
        raise ProjectError(f"{path}: cannot read the file ({exc})") from None
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        if header_app_id == APPLICATION_ID:
            raise ProjectError(f"{path}: the project file is damaged ({exc}); restore it from a "
                               f"backup") from None
        raise ProjectError(f"{path}: not a Retriever Studio project, or a damaged one ({exc})") from None
    finally:
        conn.close()
    marked = app_id == APPLICATION_ID
    if not marked and (app_id != 0 or not V1_TABLES <= tables or version < 1):
        detail = f"application id {app_id:#x}" if app_id else "its tables are not a project's"
        raise ProjectError(f"{path}: an SQLite file, but not a Retriever Studio project ({detail})")
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"{path}: written by a newer Retriever Studio (schema {version}, "
            f"this version reads up to {SCHEMA_VERSION}); update Retriever Studio to open it"
        )
    if marked and version < 1:
        raise ProjectError(f"{path}: the project file is damaged (marked as a project but has no "
                           f"schema); restore it from a backup")
    return ProjectFileState(version, marked)


# Files this process has open through a Project, by (device, inode), with how many.
_OPEN_FILES: dict[tuple[int, int], int] = {}
_OPEN_FILES_LOCK = threading.Lock()


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _check_header(path: Path) -> int:
    """Refuse what the 100-byte header shows is not one of our files; returns its application id."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such project file") from None
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if not header:
        raise ProjectError(f"{path}: an empty file, not a Retriever Studio project; remove it or "
                           f"choose another path")
    if not header.startswith(SQLITE_MAGIC):
        raise ProjectError(f"{path}: not a Retriever Studio project (not an SQLite database)")
    if len(header) < 100:
        raise ProjectError(f"{path}: the file is truncated (shorter than an SQLite header); "
                           f"restore it from a backup")
    header_app_id = int.from_bytes(header[68:72], "big", signed=True)
    if header_app_id not in (0, APPLICATION_ID):
        raise ProjectError(f"{path}: an SQLite file of another program (application id "
                           f"{header_app_id:#x}), not a Retriever Studio project")
    return header_app_id


def _held_by_this_process(path: Path) -> bool:
    """Whether a :class:`Project` of this process has the file at ``path`` open."""
    return _file_key(path) in _OPEN_FILES


def _connect_read_only(path: Path, *, create_nothing: bool = False) -> sqlite3.Connection:
    """A connection that can never write to ``path``.

    ``mode=ro`` sees what other connections committed to the ``-wal`` file,
    but it creates ``-wal``/``-shm`` files beside a WAL-mode file, and in a
    folder it cannot write it fails ("attempt to write a readonly database").
    ``immutable=1`` reads the main file alone and creates nothing; it is used
    with ``create_nothing`` while no ``-wal`` file exists (then nothing
    committed lives outside the main file), and as the fallback when
    ``mode=ro`` cannot start.
    """
    uri = path.resolve().as_uri()
    wal = path.with_name(path.name + "-wal")
    if not (create_nothing and not wal.exists()):
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False, timeout=30)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if "readonly" not in str(exc) and "unable to open" not in str(exc):
                raise
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None,
                           check_same_thread=False)


def file_is_writable(path: Path) -> bool:
    """Whether the project at ``path`` can be opened for writing.

    SQLite in WAL mode writes the file and creates ``-wal``/``-shm`` files in
    its folder, so both must be writable. Decided with :func:`os.access`; the
    root user passes it for any mode bits (as SQLite would write), so tests
    running as root simulate a read-only project with ``read_only=True`` or by
    replacing this function.
    """
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def creating_prefix(path: Path) -> str:
    """Name prefix of the temporary file a new project at ``path`` is built in."""
    return f".{path.name}.creating-"


@contextmanager
def new_project(path: str | Path) -> Iterator["Project"]:
    """Build a new project at ``path`` so that it appears whole or not at all.

    The block fills a project created under a hidden temporary name beside
    ``path``; when it ends without an exception the file is closed and linked
    into place (never over a file that appeared meanwhile). On an exception,
    or when the process is killed, nothing exists at ``path``; a temporary
    left by a killed process is swept by the next ``new_project`` for the
    same path. Importing into a new path uses this, so a killed import
    leaves no empty project behind.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise ProjectError(f"{path}: already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = creating_prefix(path)
    sweep(path.parent, prefix)
    tmp = path.with_name(temp_name(prefix))
    project = Project._create_new(tmp)
    try:
        yield project
        project.close()  # the last connection checkpoints the WAL into the file
        wal = tmp.with_name(tmp.name + "-wal")
        if wal.exists() and wal.stat().st_size:
            raise ProjectError(f"{path}: the new project is still open on another connection, "
                               f"so it was not moved into place")
        try:
            os.link(tmp, path)  # unlike rename, never replaces a file created meanwhile
        except FileExistsError:
            raise ProjectError(f"{path}: a file appeared there while the project was being "
                               f"built; nothing was written to it") from None
        except OSError:
            if path.exists():
                raise
            os.rename(tmp, path)  # file systems without hard links
        project.path = path
    finally:
        project.close()
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm"),
                         tmp.with_name(tmp.name + "-journal")):
            leftover.unlink(missing_ok=True)


class Project:
    """An open project file. Use :meth:`open` or :meth:`create`.

    ``read_only`` projects were opened through SQLite's ``mode=ro``: every
    read works, and any change raises :class:`ProjectError` saying why.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, *, read_only: bool = False,
                 read_only_reason: str = "") -> None:
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.read_only = read_only
        self.read_only_reason = read_only_reason
        self._depth = 0
        self.closed = False
        self._held = _file_key(path)  # this process's open files, see check_project_file
        if self._held is not None:
            with _OPEN_FILES_LOCK:
                _OPEN_FILES[self._held] = _OPEN_FILES.get(self._held, 0) + 1

    # -- opening --------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, create: bool = False, read_only: bool | None = None) -> "Project":
        """Open the project at ``path`` (with ``create``, make a new one if none is there).

        Nothing is written before the file is known to be ours
        (:func:`check_project_file`). ``read_only``: None opens read-only
        exactly when the file or its folder is not writable
        (:func:`file_is_writable`); True never writes; False refuses a
        project that cannot be written.
        """
        path = Path(path)
        if not path.exists() and not path.is_symlink():
            if not create:
                raise ProjectError(f"{path}: no such project file")
            if read_only:
                raise ProjectError(f"{path}: no such project file (cannot create one read-only)")
            return cls._create_new(path)
        state = check_project_file(path)
        writable = file_is_writable(path)
        if read_only is False and not writable:
            raise ProjectError(f"{path}: the project file or its folder is read-only; make it "
                               f"writable or work on a copy")
        if read_only or not writable:
            reason = "opened read-only" if read_only else "the file or its folder is not writable"
            project = cls._open_read_only(path, state, reason)
        else:
            project = cls._open_read_write(path)
        try:
            project._check_split_names()
        except BaseException:
            project.close()
            raise
        return project

    def _check_split_names(self) -> None:
        """Refuse a file whose split names cannot be file names (a shared ``.rsproj`` is untrusted).

        A BEIR export writes ``qrels/<split>.tsv``; a split like ``../../x``
        would point outside the export folder. The empty name means "no
        split", like NULL.
        """
        try:
            names = [r[0] for r in self.conn.execute(
                "SELECT DISTINCT split FROM queries WHERE split IS NOT NULL AND split != ''")]
        except sqlite3.DatabaseError as exc:
            raise ProjectError(f"{self.path}: the project file is damaged ({exc}); restore it "
                               f"from a backup") from None
        for name in names:
            problem = split_name_problem(name)
            if problem is not None:
                fix = ""
                if name.isprintable():
                    literal = name.replace("'", "''")
                    fix = (f": sqlite3 {self.path} \"UPDATE queries SET split='test' "
                           f"WHERE split='{literal}'\"")
                raise ProjectError(
                    f"{self.path}: split name {name!r} {problem}, and it would become a file name "
                    f"on export; rename that split before opening the project{fix}")

    @classmethod
    def _create_new(cls, path: Path) -> "Project":
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls._open_read_write(path, new=True)

    @classmethod
    def _open_read_write(cls, path: Path, *, new: bool = False) -> "Project":
        doing = "create the project file" if new else "open the project"
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode={'rwc' if new else 'rw'}",
                                   uri=True, isolation_level=None, check_same_thread=False,
                                   timeout=30)
        except sqlite3.Error as exc:
            raise ProjectError(f"{path}: cannot {doing} ({exc})") from None
        project = cls(path, conn)
        try:
            # Migrations before WAL: a new file gets schema, mark and first
            # meta rows in one transaction in its main file, so a file left
            # by a kill at any moment is either empty or a whole project.
            project._migrate()
            project._configure()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ProjectError(f"{path}: cannot {doing} ({exc})") from exc
        except ProjectError:
            conn.close()
            raise
        return project

    @classmethod
    def _open_read_only(cls, path: Path, state: ProjectFileState, reason: str) -> "Project":
        if state.schema_version < READABLE_WITHOUT_MIGRATION:
            raise ProjectError(f"{path}: {reason}, and its schema {state.schema_version} must be "
                               f"upgraded before this version can read it; make it writable once")
        try:
            # A file we may not write is left without -wal/-shm files of ours
            # (owned by us, they could block its owner's next write).
            conn = _connect_read_only(path, create_nothing=not file_is_writable(path))
            conn.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            raise ProjectError(f"{path}: cannot open the project read-only ({exc})") from None
        return cls(path, conn, read_only=True, read_only_reason=reason)

    @classmethod
    def create(cls, path: str | Path) -> "Project":
        path = Path(path)
        if path.exists():
            raise ProjectError(f"{path}: already exists")
        return cls.open(path, create=True)

    def _configure(self) -> None:
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")

    def _migrate(self) -> None:
        """Run the missing migrations (and, for a new file, the first meta rows) in one transaction."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            return
        # One explicit transaction around every step and its version bump: a
        # failing step (SQL error, or a ProjectError from a Python step) leaves
        # the file as it was.
        self.conn.execute("BEGIN")
        try:
            for target in range(version, SCHEMA_VERSION):
                step = MIGRATIONS[target]
                if callable(step):
                    step(self.conn)
                else:
                    for statement in _sql_statements(step):
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={target + 1}")
            if version == 0:
                for key, value in (("created_at", now_iso()), ("corpus_revision", uuid.uuid4().hex)):
                    self.conn.execute("INSERT INTO meta(key, value) VALUES(?, ?)", (key, value))
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    @property
    def data_dir(self) -> Path:
        """Sidecar folder for caches and model versions (created on demand).

        Beside a read-only project it may not be creatable; the path is
        returned anyway and a cache that cannot be written is rebuilt in memory.
        """
        d = self.path.with_name(self.path.name + ".data")
        try:
            d.mkdir(exist_ok=True)
        except OSError:
            pass
        return d

    def close(self) -> None:
        self.closed = True
        try:
            self.conn.close()
        except sqlite3.Error:
            pass
        held, self._held = self._held, None
        if held is not None:
            with _OPEN_FILES_LOCK:
                left = _OPEN_FILES.get(held, 0) - 1
                if left > 0:
                    _OPEN_FILES[held] = left
                else:
                    _OPEN_FILES.pop(held, None)

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------
    def require_writable(self) -> None:
        """Raise ProjectError if changes cannot be saved; long jobs call it before they start."""
        if self.read_only:
            raise ProjectError(f"{self.path}: cannot save changes, the project is read-only "
                               f"({self.read_only_reason}); make it writable or work on a copy")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing block; nested blocks join the outer transaction."""
        self.require_writable()
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")

    # -- meta -----------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._set_meta(key, value)

    @property
    def corpus_revision(self) -> str:
        """Changes whenever documents are added or edited; caches key on it."""
        return self.get_meta("corpus_revision") or ""

    def touch_corpus(self) -> None:
        """Mark the corpus as changed (call inside the writing transaction)."""
        self._set_meta("corpus_revision", uuid.uuid4().hex)

    @property
    def current_pass(self) -> int:
        """The labeling pass new user labels belong to (0 before any mining)."""
        return int(self.get_meta("current_pass", "0") or 0)

    # -- documents --------------------------------------------------------------
    def document_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM documents").fetchone()[0]

    def document_ids(self) -> list[str]:
        """All document ids in storage order; row i of every corpus matrix is id i."""
        return [r[0] for r in self.conn.execute("SELECT id FROM documents ORDER BY rowid")]

    def iter_documents(self, batch_size: int = 2000) -> Iterator[Document]:
        """Documents in storage order, read in batches (bounded memory)."""
        last = 0
        while True:
            rows = self.conn.execute(
                "SELECT rowid, id, title, text FROM documents WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (last, batch_size),
            ).fetchall()
            if not rows:
                return
            for rowid, did, title, text in rows:
                yield Document(did, title, text)
            last = rows[-1][0]

    def get_document(self, doc_id: str) -> Document | None:
        row = self.conn.execute(
            "SELECT id, title, text FROM documents WHERE id=?", (doc_id,)
        ).fetchone()
        return Document(*row) if row else None

    def get_documents(self, doc_ids: Sequence[str]) -> dict[str, Document]:
        out: dict[str, Document] = {}
        ids = list(doc_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                f"SELECT id, title, text FROM documents WHERE id IN ({marks})", chunk
            ):
                out[row[0]] = Document(*row)
        return out

    # -- queries ----------------------------------------------------------------
    def query_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM queries").fetchone()[0]

    def queries(self, split: str | None = None) -> list[Query]:
        if split is None:
            rows = self.conn.execute("SELECT id, text, split FROM queries ORDER BY rowid")
        else:
            rows = self.conn.execute(
                "SELECT id, text, split FROM queries WHERE split=? ORDER BY rowid", (split,)
            )
        return [Query(*r) for r in rows]

    def get_query(self, query_id: str) -> Query | None:
        row = self.conn.execute(
            "SELECT id, text, split FROM queries WHERE id=?", (query_id,)
        ).fetchone()
        return Query(*row) if row else None

    def splits(self) -> dict[str, int]:
        """Query count per split (queries with no split under ``""``)."""
        return {
            (s or ""): n
            for s, n in self.conn.execute(
                "SELECT split, count(*) FROM queries GROUP BY split ORDER BY split"
            )
        }

    # -- labels -----------------------------------------------------------------
    def _apply_label(
        self, query_id: str, doc_id: str, label: str | None, source: str,
        gain: int | None, pass_number: int, at: str,
    ) -> LabelChange:
        if label is not None and label not in LABELS:
            raise ValueError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
        if source not in SOURCES:
            raise ValueError(f"unknown label source {source!r}")
        old = self.conn.execute(
            "SELECT label, gain, source FROM labels WHERE query_id=? AND doc_id=?",
            (query_id, doc_id),
        ).fetchone()
        old_label, old_gain, old_source = old if old else (None, None, None)
        if label is None:
            if old is None:
                return LabelChange(query_id, doc_id, None, None)
            self.conn.execute(
                "DELETE FROM labels WHERE query_id=? AND doc_id=?", (query_id, doc_id)
            )
            new_gain = None
        else:
            new_gain = default_gain(label) if gain is None else int(gain)
            if label in RELEVANT_LABELS and new_gain <= 0:
                new_gain = 1
            self.conn.execute(
                "INSERT INTO labels(query_id, doc_id, label, gain, source, pass, updated_at) "
                "VALUES(?,?,?,?,?,?,?) ON CONFLICT(query_id, doc_id) DO UPDATE SET "
                "label=excluded.label, gain=excluded.gain, source=excluded.source, "
                "pass=excluded.pass, updated_at=excluded.updated_at",
                (query_id, doc_id, label, new_gain, source, pass_number, at),
            )
        self.conn.execute(
            "INSERT INTO label_history(query_id, doc_id, old_label, label, gain, source, pass, at) "
            "VALUES(?,?,?,?,?,?,?,?)",
            (query_id, doc_id, old_label, label, new_gain, source, pass_number, at),
        )
        return LabelChange(query_id, doc_id, old_label, label, old_gain, new_gain, old_source)

    def _check_ids(self, query_id: str, doc_id: str) -> None:
        if not self.conn.execute("SELECT 1 FROM queries WHERE id=?", (query_id,)).fetchone():
            raise ProjectError(f"unknown query id {query_id!r}")
        if not self.conn.execute("SELECT 1 FROM documents WHERE id=?", (doc_id,)).fetchone():
            raise ProjectError(f"unknown document id {doc_id!r}")

    def set_label(
        self, query_id: str, doc_id: str, label: str | None, *,
        source: str = "user", gain: int | None = None, pass_number: int | None = None,
    ) -> LabelChange:
        """Set (or with ``label=None`` clear) one judgement, committed at once."""
        return self.set_labels([(query_id, doc_id, label, gain)], source=source,
                               pass_number=pass_number)[0]

    def set_labels(
        self, items: Iterable[tuple], *,
        source: str = "user", pass_number: int | None = None,
    ) -> list[LabelChange]:
        """Apply ``(query_id, doc_id, label, gain[, source])`` items as one committed transaction.

        A per-item source overrides ``source``.
        """
        return list(self.edit_labels(items, source=source, pass_number=pass_number).changes)

    def _label_row(self, query_id: str, doc_id: str) -> tuple | None:
        return self.conn.execute(
            f"SELECT rowid, {_LABEL_COLUMNS} FROM labels WHERE query_id=? AND doc_id=?",
            (query_id, doc_id)).fetchone()

    def edit_labels(
        self, items: Iterable[tuple], *,
        source: str = "user", pass_number: int | None = None,
    ) -> "LabelEdit":
        """:meth:`set_labels`, also returning every row it replaced and wrote (see :class:`LabelEdit`)."""
        at = now_iso()
        pass_number = self.current_pass if pass_number is None else pass_number
        changes = []
        before: dict[tuple[str, str], tuple | None] = {}
        with self.transaction():
            last_id = self.conn.execute("SELECT coalesce(max(id), 0) FROM label_history").fetchone()[0]
            for item in items:
                query_id, doc_id, label, gain = item[:4]
                item_source = item[4] if len(item) > 4 and item[4] else source
                self._check_ids(query_id, doc_id)
                if (query_id, doc_id) not in before:
                    before[(query_id, doc_id)] = self._label_row(query_id, doc_id)
                changes.append(
                    self._apply_label(query_id, doc_id, label, item_source, gain, pass_number, at)
                )
            written: dict[tuple[str, str], list[tuple]] = {}
            for row in self.conn.execute(
                    f"SELECT {_HISTORY_COLUMNS} FROM label_history WHERE id > ? ORDER BY id",
                    (last_id,)):
                written.setdefault((row[1], row[2]), []).append(row)
            pairs = tuple(PairEdit(q, d, before[(q, d)], self._label_row(q, d),
                                   tuple(written.get((q, d), ())))
                          for q, d in before)
        return LabelEdit(pairs, tuple(changes))

    def revert_label_edit(self, edit: "LabelEdit") -> list[LabelChange]:
        """Undo ``edit`` exactly: its pairs get their rows from before and its history rows go.

        Refused with :class:`LabelConflict` (changing nothing) when a pair's
        label is no longer what ``edit`` left, e.g. another program changed it.
        Removing the history rows makes the record say what the state says:
        the undone change never happened, so a mined proposal it touched is
        pending again rather than "rejected" (see ``core.mining.store``).
        """
        return self._swap_label_edit(edit, undo=True)

    def reapply_label_edit(self, edit: "LabelEdit") -> list[LabelChange]:
        """Redo ``edit`` exactly (its rows and its history rows, same ids), if nothing changed since undo."""
        return self._swap_label_edit(edit, undo=False)

    def _swap_label_edit(self, edit: "LabelEdit", *, undo: bool) -> list[LabelChange]:
        changes = []
        with self.transaction():
            conflicts = []
            for p in edit.pairs:
                expected = p.after if undo else p.before
                now = self._label_row(p.query_id, p.doc_id)
                if (now and now[1:]) != (expected and expected[1:]):
                    conflicts.append((p, now[3] if now else None, expected[3] if expected else None))
            if conflicts:
                raise LabelConflict(conflicts, undo=undo)
            for p in edit.pairs:
                target, current = (p.before, p.after) if undo else (p.after, p.before)
                self.conn.execute("DELETE FROM labels WHERE query_id=? AND doc_id=?",
                                  (p.query_id, p.doc_id))
                if target is not None:
                    taken = self.conn.execute("SELECT 1 FROM labels WHERE rowid=?",
                                              (target[0],)).fetchone()
                    if taken:  # the rowid went to another row meanwhile: keep the content
                        self.conn.execute(f"INSERT INTO labels({_LABEL_COLUMNS}) VALUES(?,?,?,?,?,?,?)",
                                          target[1:])
                    else:
                        self.conn.execute(f"INSERT INTO labels(rowid, {_LABEL_COLUMNS}) "
                                          f"VALUES(?,?,?,?,?,?,?,?)", target)
                if undo:
                    self.conn.executemany("DELETE FROM label_history WHERE id=?",
                                          [(h[0],) for h in p.history])
                else:
                    self.conn.executemany(f"INSERT INTO label_history({_HISTORY_COLUMNS}) "
                                          f"VALUES(?,?,?,?,?,?,?,?,?)", p.history)
                changes.append(LabelChange(
                    p.query_id, p.doc_id, current[3] if current else None,
                    target[3] if target else None, current[4] if current else None,
                    target[4] if target else None, current[5] if current else None))
        return changes

    def labels_for_query(self, query_id: str) -> dict[str, Label]:
        return {
            r[1]: Label(*r)
            for r in self.conn.execute(
                "SELECT query_id, doc_id, label, gain, source, pass, updated_at "
                "FROM labels WHERE query_id=?",
                (query_id,),
            )
        }

    def get_label(self, query_id: str, doc_id: str) -> Label | None:
        row = self.conn.execute(
            "SELECT query_id, doc_id, label, gain, source, pass, updated_at "
            "FROM labels WHERE query_id=? AND doc_id=?",
            (query_id, doc_id),
        ).fetchone()
        return Label(*row) if row else None

    def label_history(self, query_id: str, doc_id: str) -> list[HistoryEntry]:
        return [
            HistoryEntry(*r)
            for r in self.conn.execute(
                "SELECT old_label, label, gain, source, pass, at FROM label_history "
                "WHERE query_id=? AND doc_id=? ORDER BY id",
                (query_id, doc_id),
            )
        ]

    def all_labels(self, split: str | None = None) -> list[Label]:
        sql = (
            "SELECT l.query_id, l.doc_id, l.label, l.gain, l.source, l.pass, l.updated_at "
            "FROM labels l JOIN queries q ON q.id = l.query_id"
        )
        args: tuple = ()
        if split is not None:
            sql += " WHERE q.split=?"
            args = (split,)
        sql += " ORDER BY q.rowid, l.rowid"
        return [Label(*r) for r in self.conn.execute(sql, args)]

    def qrels(self, split: str | None = None, *, include_negatives: bool = False) -> dict[str, dict[str, int]]:
        """Judgements as ``{query_id: {doc_id: gain}}`` (ranx / pytrec_eval shape).

        ``positive`` and ``false_negative`` count as relevant with their gain;
        ``negative`` appears (with gain 0) only when ``include_negatives``.
        """
        out: dict[str, dict[str, int]] = {}
        for lab in self.all_labels(split):
            if lab.label in RELEVANT_LABELS:
                out.setdefault(lab.query_id, {})[lab.doc_id] = lab.gain
            elif include_negatives:
                out.setdefault(lab.query_id, {})[lab.doc_id] = 0
        return out

    def label_counts(self) -> dict[str, dict[str, int]]:
        """``{label: {source: count}}``."""
        out: dict[str, dict[str, int]] = {}
        for label, source, n in self.conn.execute(
            "SELECT label, source, count(*) FROM labels GROUP BY label, source"
        ):
            out.setdefault(label, {})[source] = n
        return out

    # -- model versions -----------------------------------------------------------
    def model_versions(self) -> list[dict]:
        rows = self.db["model_versions"].rows_where(order_by="created_at")
        out = []
        for r in rows:
            r = dict(r)
            for key in ("config", "train_counts", "metrics"):
                r[key] = json.loads(r[key] or "{}")
            out.append(r)
        return out

    # -- summary ------------------------------------------------------------------
    def info(self) -> dict:
        return {
            "path": str(self.path),
            "schema_version": self.schema_version,
            "read_only": self.read_only,
            "read_only_reason": self.read_only_reason if self.read_only else None,
            "documents": self.document_count(),
            "queries": self.query_count(),
            "queries_per_split": self.splits(),
            "labels": self.label_counts(),
            "labeled_queries": self.conn.execute(
                "SELECT count(DISTINCT query_id) FROM labels"
            ).fetchone()[0],
            "model_versions": [
                {"id": m["id"], "name": m["name"], "base": m["base"], "created_at": m["created_at"]}
                for m in self.model_versions()
            ],
            "mining_passes": self.conn.execute("SELECT count(*) FROM mining_passes").fetchone()[0],
        }
