"""Which judgements a bulk label action would overwrite.

Selecting a region of the map and labeling it easily covers documents the user
already judged relevant. A bulk action changes an existing ``positive`` or
``false_negative`` only when the user agreed to it, so :func:`plan_bulk_label`
splits the selection into the documents it may change and the relevant ones
it would overwrite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from core.project.schema import RELEVANT_LABELS


@dataclass(frozen=True)
class BulkPlan:
    """A bulk label action on one query's documents, before anything is written."""

    label: str | None
    free: tuple[str, ...]  # documents the action changes without asking (or leaves as they are)
    relevant: Mapping[str, tuple[str, ...]]  # label -> relevant documents it would overwrite

    @property
    def overwrites(self) -> int:
        return sum(len(docs) for docs in self.relevant.values())

    def doc_ids(self, *, overwrite: bool) -> list[str]:
        """The documents to label: the free ones, plus the relevant ones when ``overwrite``."""
        if not overwrite:
            return list(self.free)
        return list(self.free) + [d for docs in self.relevant.values() for d in docs]


def plan_bulk_label(current: Mapping[str, str], doc_ids: Sequence[str],
                    label: str | None) -> BulkPlan:
    """Split ``doc_ids`` by whether labeling them ``label`` overwrites a relevant judgement.

    ``current``: the query's labels now (``{doc_id: label}``). A document that
    already has ``label`` is not an overwrite.
    """
    free: list[str] = []
    relevant: dict[str, list[str]] = {}
    for doc_id in dict.fromkeys(doc_ids):
        now = current.get(doc_id)
        if now in RELEVANT_LABELS and now != label:
            relevant.setdefault(now, []).append(doc_id)
        else:
            free.append(doc_id)
    return BulkPlan(label, tuple(free), {k: tuple(v) for k, v in relevant.items()})
