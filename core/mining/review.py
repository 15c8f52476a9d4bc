"""What the Review tab shows, read from the project file on a job thread.

Each function takes the project *path* and opens its own connection (one
owner per connection); the results are plain data the tab's Qt model adapts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from core.mining.queue import queue_order, scored_proposals
from core.mining.store import PassReview, Proposal, latest_pass, review_stats
from core.progress import Progress
from core.project.file import Project


@dataclass(frozen=True)
class ReviewData:
    """One pass's proposals grouped by query and as one queue, plus every pass's review counts.

    ``proposals`` and ``queue`` hold the same items (proposals and possible
    positives, :mod:`core.mining.queue`): per query in rank order, and across
    queries most suspicious first.
    """

    pass_number: int | None
    stats: tuple[PassReview, ...]
    queries: tuple[tuple[str, str], ...]  # (query id, text) in project order
    proposals: dict[str, list[Proposal]]
    queue: tuple[Proposal, ...] = ()


def load_review(project_path: Path, pass_number: int | None, *, progress: Progress) -> ReviewData:
    """The proposals of pass ``pass_number`` (default: the latest) and every pass's counts."""
    with Project.open(project_path) as project:
        progress.fraction(0.0, "Reading mining passes")
        stats = tuple(review_stats(project))
        pass_number = latest_pass(project) if pass_number is None else pass_number
        grouped: dict[str, list[Proposal]] = {}
        items = scored_proposals(project, pass_number, progress) if pass_number is not None else []
        for p in items:
            grouped.setdefault(p.query_id, []).append(p)
        queries = tuple((q.id, q.text) for q in project.queries() if q.id in grouped)
        return ReviewData(pass_number, stats, queries, grouped, tuple(queue_order(items)))


def load_stats(project_path: Path, *, progress: Progress) -> tuple[PassReview, ...]:
    """Every pass's review counts (refreshed after labels change)."""
    with Project.open(project_path) as project:
        return tuple(review_stats(project))


def load_documents(project_path: Path, doc_ids: Sequence[str], *,
                   progress: Progress) -> dict[str, tuple[str, str]]:
    """``{doc_id: (title, text)}`` of the documents a query's proposals name."""
    with Project.open(project_path) as project:
        return {d: (doc.title, doc.text) for d, doc in project.get_documents(doc_ids).items()}
