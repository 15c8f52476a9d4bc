"""Export a project: a BEIR folder, or sentence-transformers training data.

BEIR (``format="beir"``): ``corpus.jsonl`` (every document), ``queries.jsonl``
(every query, or those of ``split``), ``qrels/<split>.tsv`` with header
``query-id corpus-id score``. Relevant labels (positive, false_negative) are
written with their gain; ``negative`` labels with score 0, so that importing
the folder again reproduces every judgement (score 0 imports as a negative).
BEIR has no "false negative": those come back as positives with the same
gain. Labels of queries that have no split have no qrels file to go to: the
export refuses rather than leave them out, unless ``unsplit_as`` names a split
for them. Split names are checked before they become file names, so nothing
is ever written outside OUT. ``include_negatives=False`` writes relevant
judgements only.

Training data (one row per example, JSONL or Parquet, loadable with
``datasets.load_dataset("json"|"parquet", data_files=...)``), in the column
layouts of ``sentence_transformers.util.mine_hard_negatives``:

- ``triplets``: anchor, positive, negative -- one row per (positive, negative);
- ``ntuple``: anchor, positive, negative_1..negative_n -- one row per positive,
  n = ``num_negatives``; queries with fewer negatives are skipped;
- ``ntuple-scores``: ntuple plus ``scores`` = [positive score, negative_1
  score, ..., negative_n score] from the query's latest mining pass — the
  layout of ``mine_hard_negatives(output_format="n-tuple-scores")`` and a
  label column (``scores``) that sentence-transformers' MarginMSELoss reads
  as the teacher's positive and negative scores (it trains on their
  differences). Scores are the pass's teacher scores where the pass stored
  them, else the retriever's (:func:`candidate_scores`). Every score is a
  number: a negative without a score (a labeled negative that was never a
  candidate) is passed over for the next scored one, and a positive without
  one has no row; both are counted (``negatives_without_scores``,
  ``positives_without_scores``), and ``score_source`` counts the queries
  scored by each source;
- ``labeled-pairs``: anchor, positive (the document text), label (1 relevant,
  0 negative).

Anchors are query texts, documents their retrieval text (title + text).
Positives are labels positive/false_negative. Negatives are labels
``negative`` (in label order), then with ``use_proposed`` the kept candidates
of the query's latest mining pass (by rank), less the proposals the user
rejected (``core.mining.store.rejected_pairs``); a document labeled positive or
false_negative for the query is never a negative.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from core.errors import StudioError
from core.progress import Progress
from core.project.file import Project, retrieval_text
from core.project.names import ALL_SPLITS, id_problem, split_name_error
from core.project.pass_candidates import latest_pass_of_query, read_query_candidates
from core.project.schema import RELEVANT_LABELS

EXPORT_FORMATS = ("beir", "triplets", "ntuple", "ntuple-scores", "labeled-pairs")
FILE_FORMATS = ("jsonl", "parquet")
TRAINING_FORMATS = EXPORT_FORMATS[1:]


class ExportError(StudioError):
    """An export that cannot be written as asked."""


@dataclass
class QueryExamples:
    """One query's training material."""

    query_id: str
    text: str
    positives: list[str]
    negatives: list[str]
    # Those of ``negatives`` that came from mining candidates (not labels).
    proposed: set[str] = field(default_factory=set)
    scores: dict[str, float] = field(default_factory=dict)
    # Whose ``scores`` they are (see candidate_scores); None without a mining pass.
    score_source: str | None = None


def training_examples(
    project: Project, split: str | None = "train", *, use_proposed: bool = False,
    max_negatives: int | None = None,
) -> Iterator[QueryExamples]:
    """Positives and negatives per query of ``split`` (None = every query), in query order."""
    conn = project.conn
    for query in project.queries(split):
        rows = conn.execute(
            "SELECT doc_id, label FROM labels WHERE query_id=? ORDER BY rowid", (query.id,)
        ).fetchall()
        positives = [d for d, lab in rows if lab in RELEVANT_LABELS]
        relevant = set(positives)
        negatives = [d for d, lab in rows if lab == "negative"]
        seen = set(negatives)
        latest = latest_pass_of_query(conn, query.id)
        scores: dict[str, float] = {}
        score_source = None
        proposed: set[str] = set()
        if latest is not None:
            stored = read_query_candidates(conn, query.id, latest)
            kept = set(stored.kept_positions().tolist())
            cands = [(stored.doc_ids[i], i in kept) for i in stored.by_rank().tolist()]
            scores, score_source = candidate_scores(project, latest, query.id)
            if use_proposed:
                # Proposals the user cleared after that pass are rejections (core.mining.miner).
                from core.mining.store import rejected_pairs

                rejected = rejected_pairs(project, None, query.id).get(query.id, set())
                for d, is_kept in cands:
                    if is_kept and d not in relevant and d not in seen and d not in rejected:
                        negatives.append(d)
                        seen.add(d)
                        proposed.add(d)
        if max_negatives is not None:
            negatives = negatives[:max_negatives]
            proposed &= set(negatives)
        yield QueryExamples(query.id, query.text, positives, negatives, proposed, scores, score_source)


SCORE_SOURCES = ("teacher", "retriever")


def candidate_scores(project: Project, pass_number: int, query_id: str) -> tuple[dict[str, float], str]:
    """One query's candidate scores in a mining pass, and whose they are (``teacher`` or ``retriever``).

    The one place that decides which score a distillation export carries: a
    pass that stored a teacher's rescoring (teacher scores with values for
    this query, :mod:`core.project.pass_candidates`) gives the teacher's scores — of the candidates the
    teacher scored — otherwise the retriever's ``score``. One source per
    query, so the margins in a row always compare like with like.
    """
    stored = read_query_candidates(project.conn, query_id, pass_number)
    if stored is None:
        return {}, "retriever"
    if stored.teacher_scores is not None:
        teacher = {d: t for d, t in zip(stored.doc_ids, stored.teacher_scores.tolist()) if t == t}
        if teacher:
            return teacher, "teacher"
    return dict(zip(stored.doc_ids, stored.scores.tolist())), "retriever"


def _temp_path(out: Path) -> Path:
    """A hidden sibling of ``out``: written fully, then renamed over ``out``."""
    return out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")


# -- writers --------------------------------------------------------------------------

class _JsonlWriter:
    def __init__(self, path: Path, columns: list[str]) -> None:
        self.handle = open(path, "w", encoding="utf-8")

    def write(self, row: dict) -> None:
        self.handle.write(json.dumps(row, ensure_ascii=False))
        self.handle.write("\n")

    def close(self) -> None:
        self.handle.close()


class _ParquetWriter:
    def __init__(self, path: Path, columns: list[str], batch_rows: int = 1000) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        types = {"label": pa.int64(), "scores": pa.list_(pa.float64())}
        self.schema = pa.schema([(c, types.get(c, pa.string())) for c in columns])
        self.writer = pq.ParquetWriter(str(path), self.schema)
        self.columns = columns
        self.buffer: list[dict] = []
        self.batch_rows = batch_rows

    def write(self, row: dict) -> None:
        self.buffer.append(row)
        if len(self.buffer) >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self.buffer:
            self.writer.write_table(self.pa.Table.from_pylist(self.buffer, schema=self.schema))
            self.buffer = []

    def close(self) -> None:
        self._flush()
        self.writer.close()


def _columns(format: str, num_negatives: int) -> list[str]:
    if format == "triplets":
        return ["anchor", "positive", "negative"]
    if format == "labeled-pairs":
        return ["anchor", "positive", "label"]
    cols = ["anchor", "positive"] + [f"negative_{i}" for i in range(1, num_negatives + 1)]
    return cols + (["scores"] if format == "ntuple-scores" else [])


def _rows(format: str, ex: QueryExamples, texts: dict[str, str], num_negatives: int) -> Iterator[dict]:
    if format == "triplets":
        for p in ex.positives:
            for n in ex.negatives:
                yield {"anchor": ex.text, "positive": texts[p], "negative": texts[n]}
    elif format == "labeled-pairs":
        for p in ex.positives:
            yield {"anchor": ex.text, "positive": texts[p], "label": 1}
        for n in ex.negatives:
            yield {"anchor": ex.text, "positive": texts[n], "label": 0}
    else:
        negs = ex.negatives[:num_negatives]
        for p in ex.positives:
            if format == "ntuple-scores" and p not in ex.scores:
                continue  # counted as positives_without_scores by the caller
            row = {"anchor": ex.text, "positive": texts[p]}
            row.update({f"negative_{i}": texts[n] for i, n in enumerate(negs, 1)})
            if format == "ntuple-scores":
                row["scores"] = [float(ex.scores[d]) for d in [p, *negs]]
            yield row


def _scored_only(ex: QueryExamples, counts: dict) -> QueryExamples:
    """``ex`` for ``ntuple-scores``: negatives without a score passed over, both kinds counted."""
    unscored_positives = [d for d in ex.positives if d not in ex.scores]
    counts["positives_without_scores"] += len(unscored_positives)
    scored = [d for d in ex.negatives if d in ex.scores]
    counts["negatives_without_scores"] += len(ex.negatives) - len(scored)
    return replace(ex, negatives=scored, proposed=ex.proposed & set(scored))


def export_training(
    project: Project, out: Path, *, format: str, split: str | None = "train",
    use_proposed: bool = False, file_format: str = "jsonl", num_negatives: int = 3,
    max_negatives: int | None = None, overwrite: bool = False, progress: Progress | None = None,
) -> dict:
    if format not in TRAINING_FORMATS:
        raise ValueError(f"unknown training format {format!r}")
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file format must be one of {', '.join(FILE_FORMATS)}")
    if num_negatives < 1:
        raise ExportError("--num-negatives must be at least 1")
    out = Path(out)
    if out.exists() and (out.is_dir() or not overwrite):
        raise ExportError(f"{out}: already exists (pass --overwrite to replace a file)")
    out.parent.mkdir(parents=True, exist_ok=True)
    columns = _columns(format, num_negatives)
    queries = project.queries(split)
    if not queries:
        raise ExportError(f"no queries in split {split!r}" if split else "the project has no queries")
    counts = {"format": format, "file_format": file_format, "path": str(out), "split": split,
              "rows": 0, "queries_used": 0, "queries_without_positives": 0,
              "queries_without_negatives": 0, "queries_with_too_few_negatives": 0,
              "negatives": {"labeled": 0, "proposed": 0}}
    if format == "ntuple-scores":
        counts.update({"positives_without_scores": 0, "negatives_without_scores": 0,
                       "score_source": {source: 0 for source in SCORE_SOURCES}})
    tmp = _temp_path(out)
    writer = (_ParquetWriter if file_format == "parquet" else _JsonlWriter)(tmp, columns)
    try:
        for i, ex in enumerate(training_examples(project, split, use_proposed=use_proposed,
                                                 max_negatives=max_negatives)):
            if progress is not None and i % 20 == 0:
                progress.update(i, len(queries), f"exporting {format}")
            if not ex.positives:
                counts["queries_without_positives"] += 1
                continue
            if format == "ntuple-scores":
                ex = _scored_only(ex, counts)
            if not ex.negatives and format != "labeled-pairs":
                counts["queries_without_negatives"] += 1
                continue
            if format in ("ntuple", "ntuple-scores") and len(ex.negatives) < num_negatives:
                counts["queries_with_too_few_negatives"] += 1
                continue
            used = ex.negatives[:num_negatives] if format.startswith("ntuple") else ex.negatives
            n_proposed = sum(1 for d in used if d in ex.proposed)
            counts["negatives"]["proposed"] += n_proposed
            counts["negatives"]["labeled"] += len(used) - n_proposed
            docs = project.get_documents(ex.positives + used)
            texts = {d: retrieval_text(doc.title, doc.text) for d, doc in docs.items()}
            written = 0
            for row in _rows(format, ex, texts, num_negatives):
                writer.write(row)
                written += 1
            counts["rows"] += written
            if written:
                counts["queries_used"] += 1
                if format == "ntuple-scores":
                    counts["score_source"][ex.score_source] += 1
        writer.close()
        if counts["rows"] == 0:
            raise ExportError(
                f"nothing to export: no query{' in split ' + repr(split) if split else ''} has "
                + ("a positive label" if format == "labeled-pairs" else
                   f"a positive and {num_negatives if format.startswith('ntuple') else 'a'} negative(s)")
                + ("" if use_proposed else " (add --use-proposed to use mined candidates)")
            )
        os.replace(tmp, out)
    except BaseException:
        try:
            writer.close()
        except Exception:
            pass
        tmp.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress.fraction(1.0, f"exported {counts['rows']:,} rows")
    return counts


def _check_export_names(project: Project, splits: list[str]) -> None:
    """Refuse split names that are not safe file names and ids that would break a qrels line.

    A project file may come from someone else: its split names become
    ``qrels/<split>.tsv`` and must never reach outside the export folder.
    """
    for name in splits:
        problem = split_name_error(name)
        if problem:
            raise ExportError(f"the project has a split that cannot be a file name: {problem}")
    for kind, sql in (("query", "SELECT DISTINCT query_id FROM labels"),
                      ("document", "SELECT DISTINCT doc_id FROM labels")):
        for (value,) in project.conn.execute(sql):
            problem = id_problem(value)
            if problem:
                raise ExportError(f"cannot write BEIR qrels: {kind} {problem}")


def export_beir(
    project: Project, out: Path, *, split: str | None = None, include_negatives: bool = True,
    unsplit_as: str | None = None, progress: Progress | None = None,
) -> dict:
    """A BEIR folder at ``out``; see the module docstring.

    ``split`` None writes every split. Judgements of queries without a split
    have no qrels file to go to: the export refuses (naming how many) unless
    ``unsplit_as`` names the split to write them under.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out}: already exists and is not an empty folder")
    for name in (split, unsplit_as):
        if name is not None and split_name_error(name):
            raise ExportError(split_name_error(name))
    # Straight from the table: an empty-string split ('' is not NULL) must be refused, not dropped.
    project_splits = [s for (s,) in project.conn.execute(
        "SELECT DISTINCT split FROM queries WHERE split IS NOT NULL ORDER BY split")]
    if split is not None and split not in project_splits:
        raise ExportError(f"no queries in split {split!r} (splits: {', '.join(project_splits) or 'none'})")
    splits = [split] if split is not None else list(project_splits)
    if split is None and unsplit_as is not None and unsplit_as not in splits:
        splits.append(unsplit_as)
    _check_export_names(project, splits)
    if split is None:
        unsplit = project.conn.execute(
            "SELECT count(*), count(DISTINCT l.query_id) FROM labels l JOIN queries q ON q.id=l.query_id "
            "WHERE q.split IS NULL" + ("" if include_negatives else " AND l.label IN ('positive', 'false_negative')")
        ).fetchone()
        if unsplit[0] and unsplit_as is None:
            raise ExportError(
                f"{unsplit[0]:,} judgements of {unsplit[1]:,} queries without a split would be left out "
                f"(BEIR qrels are one file per split); name their split with --no-split-as NAME, "
                f"or export one split with --split NAME")
    unsplit_queries = {q.id for q in project.queries() if q.split is None} if unsplit_as else set()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(out)
    tmp.mkdir()
    counts: dict = {"format": "beir", "path": str(out), "documents": 0, "queries": 0,
                    "judgements_per_split": {}, "unsplit_as": unsplit_as}
    try:
        total = project.document_count() + project.query_count() or 1
        with open(tmp / "corpus.jsonl", "w", encoding="utf-8") as f:
            for doc in project.iter_documents():
                f.write(json.dumps({"_id": doc.id, "title": doc.title, "text": doc.text},
                                   ensure_ascii=False) + "\n")
                counts["documents"] += 1
                if progress is not None and counts["documents"] % 1000 == 0:
                    progress.update(counts["documents"], total, "exporting corpus")
        with open(tmp / "queries.jsonl", "w", encoding="utf-8") as f:
            for q in project.queries(split):
                f.write(json.dumps({"_id": q.id, "text": q.text, "metadata": {}}, ensure_ascii=False) + "\n")
                counts["queries"] += 1
        (tmp / "qrels").mkdir()
        for name in splits:
            n = 0
            target = tmp / "qrels" / f"{name}.tsv"
            labels = project.all_labels(name)
            if split is None and name == unsplit_as:
                labels += [lab for lab in project.all_labels() if lab.query_id in unsplit_queries]
            with open(target, "w", encoding="utf-8") as f:
                f.write("query-id\tcorpus-id\tscore\n")
                for lab in labels:
                    if lab.label in RELEVANT_LABELS:
                        score = lab.gain
                    elif include_negatives:
                        score = 0
                    else:
                        continue
                    f.write(f"{lab.query_id}\t{lab.doc_id}\t{score}\n")
                    n += 1
            if n == 0:
                target.unlink()
            else:
                counts["judgements_per_split"][name] = n
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress is not None:
        progress.fraction(1.0, "BEIR export done")
    return counts


def export(
    project: Project, out: str | Path, *, format: str, split: str | None = None,
    use_proposed: bool = False, file_format: str | None = None, num_negatives: int = 3,
    max_negatives: int | None = None, include_negatives: bool = True, overwrite: bool = False,
    unsplit_as: str | None = None, progress: Progress | None = None,
) -> dict:
    """Export ``project`` to ``out`` in ``format`` (see the module docstring).

    ``split``: BEIR writes every split when None; training formats default to
    ``"train"`` when None (pass ``"all"`` or ``"*"`` for every query, as in
    every command). ``unsplit_as``: BEIR only, see :func:`export_beir`. ``file_format`` for
    training data defaults to ``parquet`` when ``out`` ends in ``.parquet``,
    else ``jsonl``. Returns counts of what was written.
    """
    if format not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {format!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    if "\x00" in str(out) or not str(out).strip():
        raise ExportError(f"{str(out)!r} cannot be an output path (empty, or it contains NUL)")
    out = Path(out)
    every = split is not None and split.lower() in ALL_SPLITS
    if format == "beir":
        return export_beir(project, out, split=None if every else split, unsplit_as=unsplit_as,
                           include_negatives=include_negatives, progress=progress)
    if unsplit_as is not None:
        raise ExportError("--no-split-as applies to BEIR exports only")
    if file_format is None:
        file_format = "parquet" if out.suffix.lower() in (".parquet", ".pq") else "jsonl"
    split = "train" if split is None else (None if every else split)
    return export_training(project, out, format=format, split=split, use_proposed=use_proposed,
                           file_format=file_format, num_negatives=num_negatives,
                           max_negatives=max_negatives, overwrite=overwrite, progress=progress)
