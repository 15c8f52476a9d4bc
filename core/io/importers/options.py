"""Import options and the mapping from relevance grades to labels and gains."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

FORMATS = ("beir", "msmarco", "trec", "smart", "csv", "tsv", "jsonl", "parquet")
KINDS = ("documents", "queries", "qrels")
QUERY_NUMBERINGS = ("auto", "position", "label")
TOPIC_FIELDS = ("title", "description", "title+description")
# What to do with a record whose id is already in the project (see ImportOptions).
ON_EXISTING = ("error", "skip", "update")
# Gains are stored as SQLite integers; a larger grade is a typo, not a judgement.
MAX_GAIN = 2**31 - 1


@dataclass
class ImportOptions:
    """Everything an import can be told beyond the source path.

    Column options name a column (CSV/TSV/Parquet) or key (JSONL, BEIR); left
    as None, the first of a list of usual names present is used.

    - ``kind``: what a single generic/TREC/SMART/MS MARCO file holds
      (``documents``/``queries``/``qrels``); None = decide from its name and
      columns.
    - ``queries`` / ``qrels``: extra files imported in the same all-or-nothing
      run (read with the format of their extension, or the import's format).
    - ``id_column``/``text_column``/``title_column``: the corpus file (and the
      source file itself when it is a queries file).
    - ``query_id_column``/``query_column``: query files.
    - ``qrels_query_column``/``qrels_doc_column``/``qrels_score_column``:
      generic qrels files. Without a score column every row is relevant
      (grade 1).
    - ``split``: the split of queries judged in qrels files that carry no split
      name of their own (generic, TREC, SMART, ``qrels.tsv``). BEIR's
      ``qrels/<split>.tsv`` and MS MARCO's ``qrels.<split>.tsv`` name their own.
    - ``grade_map``: raw grade -> gain (``parse_grade_map``). Gain 0 imports
      as a ``negative`` label (judged non-relevant), gain > 0 as ``positive``.
      Without a map, integer grades are the gains (<= 0 -> negative).
    - ``query_numbering`` (SMART): whether qrels name queries by their ``.I``
      label or by their position in the queries file; ``auto`` uses labels
      when every qrels query number is a label, else positions (Cranfield).
    - ``topic_field`` (TREC topics): which topic field is the query text.
    - ``on_existing``: a document, query or judgement already in the project.
      ``error`` (default) refuses the import; ``skip`` and ``update`` pass over
      records identical to the project's and name the conflicting ones (same
      id, different content) in the counts: ``skip`` keeps the project's
      version, ``update`` replaces it with the imported one. New records are
      added either way, in the same single transaction.
    """

    kind: str | None = None
    queries: list[Path] = field(default_factory=list)
    qrels: list[Path] = field(default_factory=list)
    id_column: str | None = None
    text_column: str | None = None
    title_column: str | None = None
    query_id_column: str | None = None
    query_column: str | None = None
    qrels_query_column: str | None = None
    qrels_doc_column: str | None = None
    qrels_score_column: str | None = None
    split: str | None = None
    grade_map: dict[str, int] | None = None
    query_numbering: str = "auto"
    topic_field: str = "title"
    on_existing: str = "error"
    batch_size: int = 1000

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.query_numbering not in QUERY_NUMBERINGS:
            raise ValueError(f"query_numbering must be one of {', '.join(QUERY_NUMBERINGS)}")
        if self.topic_field not in TOPIC_FIELDS:
            raise ValueError(f"topic_field must be one of {', '.join(TOPIC_FIELDS)}")
        if self.on_existing not in ON_EXISTING:
            raise ValueError(f"on_existing must be one of {', '.join(ON_EXISTING)}")
        self.queries = [Path(p) for p in self.queries]
        self.qrels = [Path(p) for p in self.qrels]
        if self.batch_size < 1:
            raise ValueError("batch_size must be positive")


def normalize_grade(raw: str) -> str:
    """Canonical spelling of a grade: ``" 02"`` and ``"2.0"`` both become ``"2"``."""
    text = raw.strip()
    try:
        return str(int(text))
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else text


def parse_grade_map(spec: str) -> dict[str, int]:
    """Parse ``"1:3,2:2,3:1,4:0"`` (grade:gain pairs) into ``{"1": 3, ...}``.

    Gains are integers >= 0; 0 means judged non-relevant.
    """
    out: dict[str, int] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        grade, sep, gain = part.rpartition(":")
        if not sep or not grade.strip():
            raise ValueError(f"grade map entry {part!r} is not GRADE:GAIN")
        try:
            value = int(gain)
        except ValueError:
            raise ValueError(f"grade map entry {part!r}: gain {gain!r} is not an integer") from None
        if not 0 <= value <= MAX_GAIN:
            raise ValueError(f"grade map entry {part!r}: gain must be between 0 and {MAX_GAIN}")
        key = normalize_grade(grade)
        if key in out:
            raise ValueError(f"grade map names grade {key!r} twice")
        out[key] = value
    if not out:
        raise ValueError("grade map is empty")
    return out


def grade_to_label(raw: str, grade_map: dict[str, int] | None) -> tuple[str, int]:
    """``(label, gain)`` for a raw qrels grade; ValueError says why it cannot map."""
    key = normalize_grade(raw)
    if grade_map is not None:
        if key not in grade_map:
            known = ", ".join(sorted(grade_map))
            raise ValueError(f"relevance grade {raw.strip()!r} is not in the grade map ({known})")
        gain = grade_map[key]
    else:
        try:
            gain = int(key)
        except ValueError:
            raise ValueError(
                f"relevance grade {raw.strip()!r} is not an integer (use a grade map)"
            ) from None
        if abs(gain) > MAX_GAIN:
            raise ValueError(f"relevance grade {raw.strip()!r} is out of range (at most {MAX_GAIN}; "
                             f"use a grade map)")
    return ("positive", gain) if gain > 0 else ("negative", 0)
