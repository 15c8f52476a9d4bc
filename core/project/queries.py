"""Read-only questions views ask of a project's labels and text.

What one query knows (:func:`query_overlay`: its labels and the proposals
of the latest mining pass), one label per document over all queries
(:func:`label_summary`), the split of the queries that judged each document
(:func:`document_splits`) and id / text search (:func:`find_points`). Each
takes an open :class:`~core.project.file.Project`; a worker thread opens its
own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.project.pass_candidates import read_latest_candidates, read_query_candidates

if TYPE_CHECKING:  # pragma: no cover
    from core.project.file import Project


# -- what the map colours by ------------------------------------------------------------

@dataclass(frozen=True)
class QueryOverlay:
    """What one query knows about documents: its labels and mined proposals."""

    query_id: str
    labels: dict[str, str]  # doc_id -> positive / negative / false_negative
    proposals: frozenset[str]  # kept candidates of the latest mining pass, not yet labelled


def query_overlay(project: "Project", query_id: str) -> QueryOverlay:
    """Labels of ``query_id`` and the unlabelled documents the latest mining pass kept for it."""
    labels = {d: lab.label for d, lab in project.labels_for_query(query_id).items()}
    stored = read_query_candidates(project.conn, query_id)
    proposals: frozenset[str] = frozenset()
    if stored is not None:
        ids = stored.doc_ids
        proposals = frozenset(ids[i] for i in stored.kept_positions().tolist()
                              if ids[i] not in labels)
    return QueryOverlay(query_id, labels, proposals)


def label_summary(project: "Project") -> dict[str, str]:
    """One label per judged document over all queries, for a whole-map view.

    A document is ``positive`` if any query judged it relevant as a
    positive, else ``false_negative`` if any query marked it so, else
    ``negative``; unjudged documents kept by the latest mining pass of some
    query are ``proposal``.
    """
    rank = {"positive": 3, "false_negative": 2, "negative": 1}
    out: dict[str, str] = {}
    for doc_id, label in project.conn.execute("SELECT doc_id, label FROM labels"):
        if rank[label] > rank.get(out.get(doc_id, ""), 0):
            out[doc_id] = label
    for stored in read_latest_candidates(project.conn):
        ids = stored.doc_ids
        for i in stored.kept_positions().tolist():
            out.setdefault(ids[i], "proposal")
    return out


def document_splits(project: "Project") -> dict[str, str]:
    """Split of the queries that judged each document: a split name, ``"mixed"``, or absent.

    Documents judged for train and test queries alike are where leakage
    between splits would show.
    """
    out: dict[str, str] = {}
    for doc_id, splits in project.conn.execute(
        "SELECT l.doc_id, group_concat(DISTINCT coalesce(q.split, '')) FROM labels l "
        "JOIN queries q ON q.id = l.query_id GROUP BY l.doc_id"
    ):
        names = {s for s in (splits or "").split(",")}
        out[doc_id] = names.pop() if len(names) == 1 else "mixed"
    return out


@dataclass(frozen=True)
class Found:
    kind: str  # "document" or "query"
    id: str
    text: str  # title (or start of the text) of a document; text of a query


def find_points(project: "Project", text: str, limit: int = 20) -> list[Found]:
    """Documents and queries whose id matches ``text`` exactly, then whose title / text contains it."""
    text = text.strip()
    if not text:
        return []
    out: list[Found] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, ident: str, label: str) -> None:
        if (kind, ident) not in seen and len(out) < limit:
            seen.add((kind, ident))
            out.append(Found(kind, ident, label))

    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    for qid, qtext in project.conn.execute("SELECT id, text FROM queries WHERE id=?", (text,)):
        add("query", qid, qtext)
    for did, title, body in project.conn.execute(
            "SELECT id, title, substr(text, 1, 120) FROM documents WHERE id=?", (text,)):
        add("document", did, title or body)
    for qid, qtext in project.conn.execute(
            "SELECT id, text FROM queries WHERE text LIKE ? ESCAPE '\\' ORDER BY rowid LIMIT ?",
            (pattern, limit)):
        add("query", qid, qtext)
    for did, title, body in project.conn.execute(
            "SELECT id, title, substr(text, 1, 120) FROM documents WHERE title LIKE ? ESCAPE '\\' "
            "ORDER BY rowid LIMIT ?", (pattern, limit)):
        add("document", did, title or body)
    return out
