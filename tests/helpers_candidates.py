"""Mining-pass candidates in tests: storing hand-made ones and reading them as flat records."""

from __future__ import annotations

import math
from itertools import groupby
from typing import Sequence

import numpy as np

from core.project.pass_candidates import (
    CandidateRecord,
    QueryCandidates,
    candidate_records,
    read_all_candidates,
    write_pass_candidates,
)


def candidate_rows(conn, pass_number: int | None = None) -> list[CandidateRecord]:
    """Every stored candidate (of one pass, or all) as flat records, by pass, query and document."""
    records = [r for stored in read_all_candidates(conn)
               if pass_number is None or stored.pass_number == pass_number
               for r in candidate_records(stored)]
    return sorted(records, key=lambda r: (r.pass_number, r.query_id, r.doc_id))


def store_candidates(conn, rows: Sequence[tuple]) -> None:
    """Store hand-made candidates: ``(pass, query, doc, rank, score, status, reason[, teacher])``.

    Each pass's reason vocabulary is the reasons its rows use; those of rows
    with status ``kept`` are its kept reasons. The pass rows must exist.
    """
    for pass_number, pass_rows in groupby(sorted(rows, key=lambda r: r[0]), key=lambda r: r[0]):
        pass_rows = list(pass_rows)
        names = sorted({r[6] for r in pass_rows})
        kept = {r[6] for r in pass_rows if r[5] == "kept"}
        doc_ids = [r[2] for r in pass_rows]
        queries = []
        at = 0
        for query_id, group in groupby(pass_rows, key=lambda r: r[1]):
            group = list(group)
            teacher = [r[7] if len(r) > 7 and r[7] is not None else math.nan for r in group]
            queries.append(QueryCandidates(
                query_id, np.arange(at, at + len(group)), np.asarray([r[3] for r in group]),
                np.asarray([r[4] for r in group], np.float64),
                np.asarray([names.index(r[6]) for r in group]),
                teacher_scores=None if all(t != t for t in teacher) else np.asarray(teacher)))
            at += len(group)
        write_pass_candidates(conn, pass_number, doc_ids, queries, reasons=names, kept=kept)
