"""Import corpora, queries and judgements from the formats IR people use.

Formats: ``beir``, ``msmarco``, ``trec``, ``smart`` and generic ``csv``,
``tsv``, ``jsonl``, ``parquet`` (see each module's docstring for its layout).
``import_source`` streams the files into a project in one transaction: any bad
input raises :class:`~core.errors.InputError` naming file, line and problem,
and leaves the project exactly as it was (a new project is built under a temporary
name and appears at its path only when the import succeeded).

Judgements become labels with source ``imported`` and pass 0: a grade whose
gain is 0 is a ``negative`` label (judged non-relevant), a gain > 0 a
``positive`` label with that gain (see ``--grade-map``).
"""

from __future__ import annotations

import stat
import tempfile
from itertools import islice
from pathlib import Path

from core.errors import InputError, StudioError
from core.io.importers import beir, msmarco, smart, tabular, trec
from core.io.importers.compression import find_variant, plain_path
from core.io.importers.engine import write_plan
from core.io.importers.options import (
    FORMATS,
    ImportOptions,
    grade_to_label,
    normalize_grade,
    parse_grade_map,
)
from core.io.importers.reading import folder_files, looks_like_qrels, sniff_text
from core.io.importers.records import ImportPlan
from core.progress import Progress
from core.project.file import Project, check_project_file, new_project
from core.project.names import DEFAULT_SPLIT, split_name_error

__all__ = [
    "FORMATS", "ImportOptions", "detect_format", "import_source", "parse_grade_map",
    "grade_to_label", "grade_table", "plain_binary_grades", "plan_import", "preview",
]


def detect_format(source: str | Path) -> str:
    """The format of a file or folder, from its layout, names and first bytes."""
    source = Path(source)
    if not source.exists():
        raise InputError(source, "no such file or folder")
    if source.is_dir():
        if beir.is_beir(source):
            return "beir"
        if find_variant(source, "collection.tsv") is not None:
            return "msmarco"
        files = folder_files(source)
        if any(smart.is_smart_file(p) for p in files):
            return "smart"
        if any(trec.sniff_role(p) in ("documents", "queries") for p in files):
            return "trec"
        kinds = [tabular.kind_of_extension(p) for p in files if tabular.role_by_name(p)]
        kinds = [k for k in kinds if k]
        if kinds:
            return max(set(kinds), key=kinds.count)
        raise InputError(source, "cannot tell the format of this folder (no corpus.jsonl, collection.tsv, "
                                 "SMART, TREC or CSV/TSV/JSONL/Parquet files); pass --format")
    kind = tabular.kind_of_extension(source)
    if kind in ("parquet", "csv", "jsonl"):
        return kind
    if smart.is_smart_file(source):
        return "smart"
    if trec.sniff_role(source) in ("documents", "queries"):
        return "trec"
    plain = plain_path(source)
    if kind == "tsv" or plain.suffix.lower() in (".txt", ""):
        if plain.name.lower().startswith(("collection", "queries", "qrels")) or looks_like_qrels(source):
            return "msmarco"
        if kind == "tsv":
            return "tsv" if tabular._has_header(source) else "msmarco"
    if not sniff_text(source, 16).strip():
        raise InputError(source, "empty file: cannot tell its format")
    raise InputError(source, "cannot tell the format of this file; pass --format")


def plan_import(source: str | Path, format: str = "auto", options: ImportOptions | None = None) -> ImportPlan:
    """Which files an import would read, with their roles and splits."""
    source = Path(source)
    options = options or ImportOptions()
    if options.split is not None and split_name_error(options.split):
        raise StudioError(f"--split: {split_name_error(options.split)}")
    if not source.exists():
        raise InputError(source, "no such file or folder")
    fmt = detect_format(source) if format == "auto" else format
    if fmt == "beir":
        plan = beir.plan(source, options)
    elif fmt == "msmarco":
        plan = msmarco.plan(source, options)
    elif fmt == "trec":
        plan = trec.plan(source, options)
    elif fmt == "smart":
        plan = smart.plan(source, options)
    elif fmt in ("csv", "tsv", "jsonl", "parquet"):
        plan = tabular.plan(source, options, fmt)
    else:
        raise ValueError(f"unknown format {format!r}; expected auto or one of {', '.join(FORMATS)}")
    if not plan.files:
        raise InputError(source, f"no {fmt} files to import here")
    for spec in plan.files:
        _check_readable(spec.path)
        if spec.role != "qrels":
            continue
        if spec.split is None:
            spec.split = plan.split_assumed = DEFAULT_SPLIT
            spec.split_assumed = True
        problem = split_name_error(spec.split)
        if problem:
            raise InputError(spec.path, f"{problem} (the split comes from "
                                        f"{'--split' if spec.split == options.split else 'the file name'})")
    return plan


def _check_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise InputError(path, "not a regular file")


def import_source(
    project_path: str | Path,
    source: str | Path,
    *,
    format: str = "auto",
    options: ImportOptions | None = None,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> dict:
    """Import ``source`` into the project at ``project_path`` (created if missing).

    ``dry_run``: read and check everything, return the counts, change nothing
    (a project file created for the run is removed again).

    All-or-nothing: on any error (``InputError`` for bad input, ``Cancelled``,
    anything else) the project is left unchanged, and a project file this
    call created is deleted with its ``-wal``/``-shm`` files. Returns counts:
    documents, queries, queries_per_split (of the imported queries; "" = no
    split), judgements, judgements_per_split, labels (positive/negative),
    grades (raw grade -> count), files, ignored_files, format, source,
    import_id, seconds.
    """
    options = options or ImportOptions()
    plan = plan_import(source, format, options)
    project_path = Path(project_path)
    created = not (project_path.exists() or project_path.is_symlink())
    if created:
        if dry_run:
            # Nothing may appear at the user's path: read and check in a throw-away project.
            with tempfile.TemporaryDirectory(prefix="rs-dry-run-") as scratch:
                with Project.open(Path(scratch) / "dry-run.rsproj", create=True) as project:
                    counts = write_plan(project, plan, options, progress, dry_run=True)
        else:
            # Built under a temporary name and linked into place when complete, so a
            # failed or killed import leaves nothing at the user's path.
            with new_project(project_path) as project:
                counts = write_plan(project, plan, options, progress, dry_run=False)
    else:
        check_project_file(project_path)  # refuses a foreign or damaged file, changing nothing
        with Project.open(project_path) as project:
            project.require_writable()
            counts = write_plan(project, plan, options, progress, dry_run=dry_run)
    counts["project"] = str(project_path)
    counts["created"] = created
    return counts


def preview(source: str | Path, format: str = "auto", options: ImportOptions | None = None,
            limit: int = 20) -> dict:
    """What an import would read, for the import dialog.

    Returns ``{"format", "source", "files": [{path, role, split, bytes,
    columns}], "ignored_files", "rows": {"documents": [...], "queries": [...],
    "qrels": [...]}}`` with up to ``limit`` records per role (plain dicts).
    Bad input in those first records raises InputError like the import would.
    """
    options = options or ImportOptions()
    plan = plan_import(source, format, options)
    rows: dict[str, list[dict]] = {"documents": [], "queries": [], "qrels": []}
    files = []
    for spec in plan.files:
        info = spec.describe()
        info["columns"] = _columns(spec, plan.format)
        files.append(info)
        room = limit - len(rows[spec.role])
        if room > 0:
            for record in islice(spec.read(), room):
                item = record._asdict()
                if spec.role == "qrels":
                    item["split"] = spec.split
                rows[spec.role].append(item)
    return {"format": plan.format, "source": str(plan.source), "files": files,
            "ignored_files": [str(p) for p in plan.ignored], "rows": rows,
            "grades": grade_table(_grade_counts(plan), options.grade_map),
            "split_assumed": plan.split_assumed}


def _grade_counts(plan: ImportPlan) -> dict[str, int]:
    """Every raw grade of the plan's qrels files with its count (reads them whole: they are small)."""
    counts: dict[str, int] = {}
    for spec in plan.of("qrels"):
        for record in spec.read():
            key = normalize_grade(record.grade)
            counts[key] = counts.get(key, 0) + 1
    return counts


def grade_table(grade_counts: dict[str, int], grade_map: dict[str, int] | None) -> list[dict]:
    """One row per raw grade, in numeric order: ``{grade, count, label, gain, problem}``.

    ``label``/``gain`` are what the grade imports as; ``problem`` says why it
    cannot be imported (a grade missing from the map, a word), else None.
    """
    rows = []
    for grade in sorted(grade_counts, key=_grade_order):
        try:
            label, gain = grade_to_label(grade, grade_map)
            problem = None
        except ValueError as exc:
            label, gain, problem = None, None, str(exc)
        rows.append({"grade": grade, "count": grade_counts[grade], "label": label, "gain": gain,
                     "problem": problem})
    return rows


def plain_binary_grades(table: list[dict]) -> bool:
    """True when every grade is 0 or 1 and imports as itself: nothing worth showing."""
    return all(r["grade"] in ("0", "1") and r["gain"] == int(r["grade"]) for r in table)


def _grade_order(grade: str):
    try:
        return (0, float(grade), grade)
    except ValueError:
        return (1, 0.0, grade)


def _columns(spec, fmt: str) -> list[str] | None:
    kind = tabular.kind_of_extension(spec.path)
    if fmt in ("csv", "tsv", "jsonl", "parquet", "beir") and kind:
        try:
            return tabular.columns_of(spec, kind)
        except InputError:
            return None
    return None
