"""Project commands: ``import``, ``info``, ``label``, ``export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.main import print_json
from core.errors import StudioError
from core.progress import stderr_progress


def _grade_map(text: str) -> dict[str, int]:
    from core.io.importers import parse_grade_map

    try:
        return parse_grade_map(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> None:
    from core.io.export import EXPORT_FORMATS, FILE_FORMATS
    from core.io.importers.options import (
        FORMATS,
        KINDS,
        ON_EXISTING,
        QUERY_NUMBERINGS,
        TOPIC_FIELDS,
    )

    p = sub.add_parser(
        "import", help="import a corpus, queries and judgements into a project (created if missing)",
        description="Import SOURCE (a file or folder) into PROJECT, all-or-nothing. "
                    "Formats: BEIR folder, MS MARCO TSV, TREC SGML/topics/qrels, SMART (Cranfield, "
                    "CISI, ...), or CSV/TSV/JSONL/Parquet with column options.",
    )
    p.add_argument("project", help="project file (.rsproj); created if missing")
    p.add_argument("source", help="file or folder to import")
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS)
    p.add_argument("--kind", choices=KINDS,
                   help="what a single file holds (default: from its name and columns)")
    p.add_argument("--queries", action="append", default=[], metavar="FILE",
                   help="also import this queries file (repeatable)")
    p.add_argument("--qrels", action="append", default=[], metavar="FILE",
                   help="also import this qrels file (repeatable); its split is --split")
    g = p.add_argument_group("column mapping (CSV/TSV/JSONL/Parquet)")
    g.add_argument("--id-column", help="document id column (default: _id, id, docid, ...)")
    g.add_argument("--text-column", help="document text column (default: text, contents, body, ...)")
    g.add_argument("--title-column", help="document title column (default: title, if present)")
    g.add_argument("--query-id-column", help="query id column in query files (default: _id, id, qid, ...)")
    g.add_argument("--query-column", help="query text column in query files (default: text, query, ...)")
    g.add_argument("--qrels-query-column", help="query id column in qrels files (default: query-id, qid, ...)")
    g.add_argument("--qrels-doc-column", help="document id column in qrels files (default: corpus-id, docid, ...)")
    g.add_argument("--qrels-score-column",
                   help="grade column in qrels files (default: score, relevance, ...; none = all relevant)")
    p.add_argument("--grade-map", type=_grade_map, metavar="G:GAIN,...",
                   help='map raw grades to gains, e.g. "1:4,2:3,3:2,4:1,-1:0" for Cranfield\'s cranqrel '
                        "(code 1 is the most relevant; -1 marks a non-relevant pair); gain 0 imports as a "
                        "negative label")
    p.add_argument("--split", help="split of the queries judged by qrels that name no split themselves "
                                   "(generic, TREC, SMART, --qrels files; default test, as in BEIR)")
    p.add_argument("--on-existing", choices=ON_EXISTING, default="error",
                   help="records already in the project: error (default) refuses the import; skip keeps "
                        "the project's version, update replaces it. Identical records are passed over and "
                        "conflicting ones listed either way; new records are added")
    p.add_argument("--query-numbering", choices=QUERY_NUMBERINGS, default="auto",
                   help="SMART qrels: queries named by .I label or by position (Cranfield); default auto")
    p.add_argument("--topic-field", choices=TOPIC_FIELDS, default="title",
                   help="TREC topics: which field is the query text (default title)")
    p.add_argument("--dry-run", action="store_true",
                   help="read and check everything and print the summary (grades and the gains they "
                        "become included), but change nothing")
    p.add_argument("--json", action="store_true", help="print the counts as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("info", help="counts of documents, queries per split, labels, model versions")
    p.add_argument("project")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("label", help="set or clear one judgement (scripted labeling)")
    p.add_argument("project")
    p.add_argument("query_id")
    p.add_argument("doc_id")
    p.add_argument("label", choices=("positive", "negative", "false_negative", "clear"))
    p.add_argument("--gain", type=int, help="graded gain for a relevant label (default 1)")
    p.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                   help="how long to wait while another program writes the project (default 30)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser(
        "export", help="export a BEIR folder or sentence-transformers training data",
        description="BEIR: OUT is a new folder. Training formats: OUT is a .jsonl or .parquet file "
                    "with the columns of sentence-transformers' mine_hard_negatives.",
    )
    p.add_argument("project")
    p.add_argument("out")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--split", help="split to export (BEIR default: every split; training default: train; "
                                   "'all' = every query, as in every command)")
    p.add_argument("--no-split-as", metavar="SPLIT",
                   help="BEIR: write the judgements of queries without a split into this split's qrels "
                        "(without it such judgements make the export refuse)")
    p.add_argument("--use-proposed", action="store_true",
                   help="also take negatives from the latest mining pass's kept candidates")
    p.add_argument("--file-format", choices=FILE_FORMATS,
                   help="training data file format (default: from OUT's extension, else jsonl)")
    p.add_argument("--num-negatives", type=int, default=3,
                   help="ntuple formats: negatives per row (queries with fewer are skipped; default 3)")
    p.add_argument("--max-negatives", type=int, help="use at most this many negatives per query")
    p.add_argument("--relevant-only", action="store_true", help="BEIR: do not write negatives (score 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)


def cmd_import(args: argparse.Namespace) -> int:
    from core.io.importers import ImportOptions, import_source

    options = ImportOptions(
        kind=args.kind, queries=[Path(q) for q in args.queries], qrels=[Path(q) for q in args.qrels],
        id_column=args.id_column, text_column=args.text_column, title_column=args.title_column,
        query_id_column=args.query_id_column, query_column=args.query_column,
        qrels_query_column=args.qrels_query_column, qrels_doc_column=args.qrels_doc_column,
        qrels_score_column=args.qrels_score_column, split=args.split, grade_map=args.grade_map,
        query_numbering=args.query_numbering, topic_field=args.topic_field, on_existing=args.on_existing,
    )
    progress = None if args.quiet else stderr_progress()
    counts = import_source(args.project, args.source, format=args.format, options=options,
                           progress=progress, dry_run=args.dry_run)
    if args.json:
        print_json(counts)
        return 0
    print_import_summary(counts)
    return 0


# Conflicts listed on the command line; --json has them all.
_CONFLICTS_SHOWN = 10


def print_import_summary(counts: dict) -> None:
    splits = ", ".join(f"{s or 'no split'}: {n:,}" for s, n in counts["queries_per_split"].items())
    if counts.get("dry_run"):
        print(f"dry run: would import {counts['format']} from {counts['source']} into {counts['project']}"
              f"{' (a new project)' if counts['created'] else ''}; nothing was changed")
    else:
        print(f"imported {counts['format']} from {counts['source']} into {counts['project']}"
              f"{' (new project)' if counts['created'] else ''}")
    print(f"  documents:  {counts['documents']:,}")
    print(f"  queries:    {counts['queries']:,}" + (f" ({splits})" if splits else ""))
    print(f"  judgements: {counts['judgements']:,} ({counts['labels']['positive']:,} positive, "
          f"{counts['labels']['negative']:,} negative)")
    for line in grade_lines(counts):
        print(f"  {line}")
    for f in counts["files"]:
        print(f"  read {f['records']:,} {f['role']} from {f['path']}"
              + (f" (split {f['split']})" if f.get("split") else ""))
    if counts.get("split_assumed"):
        print(f"  note: the judgements name no split; their queries without one were put in split "
              f"{counts['split_assumed']!r} (BEIR's convention; choose another with --split)")
    existing = counts.get("existing", {})
    for role, n in existing.items():
        if n["identical"] or n["conflicting"]:
            verb = "replaced" if counts["on_existing"] == "update" else "kept as in the project"
            print(f"  already in the project: {role} {n['identical']:,} identical (passed over), "
                  f"{n['conflicting']:,} conflicting ({verb})")
    conflicts = counts.get("conflicts", [])
    for line in conflicts[:_CONFLICTS_SHOWN]:
        print(f"    {line}")
    if len(conflicts) > _CONFLICTS_SHOWN:
        print(f"    ... and {len(conflicts) - _CONFLICTS_SHOWN:,} more (--json lists them all)")
    if counts["ignored_files"]:
        print(f"  ignored:    {', '.join(counts['ignored_files'])}")


def grade_lines(counts: dict) -> list[str]:
    """The grade distribution and what each grade became, unless grades were plain 0/1."""
    from core.io.importers import grade_table, plain_binary_grades

    table = grade_table(counts.get("grades", {}), counts.get("grade_map"))
    if plain_binary_grades(table):
        return []
    lines = ["grades (raw grade: judgements -> imported as):"]
    for row in table:
        became = f"positive, gain {row['gain']}" if row["label"] == "positive" else "negative (gain 0)"
        lines.append(f"  {row['grade']:>6}: {row['count']:>8,} -> {became}")
    return lines


def _open(path: str):
    from core.project.file import Project

    return Project.open(path)


def cmd_info(args: argparse.Namespace) -> int:
    with _open(args.project) as project:
        info = project.info()
        unsplit_judgements = project.conn.execute(
            "SELECT count(*) FROM labels l JOIN queries q ON q.id=l.query_id WHERE q.split IS NULL"
        ).fetchone()[0]
        assumed = _assumed_splits(project)
    if args.json:
        print_json(info)
        return 0
    read_only = f", read-only: {info['read_only_reason']}" if info.get("read_only") else ""
    print(f"{info['path']} (schema {info['schema_version']}{read_only})")
    print(f"  documents: {info['documents']:,}")
    print(f"  queries:   {info['queries']:,}")
    for split, n in info["queries_per_split"].items():
        print(f"    {split or '(no split)'}: {n:,}")
    for source, split in assumed:
        print(f"  note: {source} named no split; its judged queries were put in split {split!r}")
    if unsplit_judgements:
        print(f"  note: {unsplit_judgements:,} judgements belong to queries without a split; evaluation "
              f"and BEIR export need a split (export --no-split-as NAME)")
    print(f"  labels ({info['labeled_queries']:,} labeled queries):")
    for label, by_source in info["labels"].items():
        print(f"    {label}: " + ", ".join(f"{n:,} {src}" for src, n in by_source.items()))
    print(f"  mining passes: {info['mining_passes']}")
    print(f"  model versions: {len(info['model_versions'])}")
    for m in info["model_versions"]:
        print(f"    {m['id']}  {m['name']}  (from {m['base']}, {m['created_at']})")
    return 0


def _assumed_splits(project) -> list[tuple[str, str]]:
    """(source, split) of each import whose qrels named no split, from the project's import log."""
    import json

    out = []
    for source, counts in project.conn.execute("SELECT source, counts FROM imports ORDER BY id"):
        try:
            split = json.loads(counts).get("split_assumed")
        except (ValueError, AttributeError):
            continue
        if split:
            out.append((source, split))
    return out


def cmd_label(args: argparse.Namespace) -> int:
    label = None if args.label == "clear" else args.label
    if args.gain is not None and (label is None or label == "negative"):
        raise StudioError("--gain applies to positive and false_negative labels only")
    from core.project.writer import write_when_free

    def waiting() -> None:
        print(f"{args.project}: another program is writing the project; waiting up to "
              f"{args.wait:g} s…", file=sys.stderr, flush=True)

    with _open(args.project) as project:
        change = write_when_free(
            project, lambda p: p.set_label(args.query_id, args.doc_id, label, source="user",
                                           gain=args.gain),
            wait_s=args.wait, on_wait=waiting)
    if args.json:
        print_json({"query_id": change.query_id, "doc_id": change.doc_id, "old": change.old,
                    "new": change.new, "old_gain": change.old_gain, "new_gain": change.new_gain})
    else:
        print(f"{args.query_id} / {args.doc_id}: {change.old or '(none)'} -> {change.new or '(none)'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from core.cli.main import split_arg
    from core.io.export import export

    # None: the format's default split; "all"/"*": every query, as in every command.
    split = None if args.split is None else (split_arg(args.split) or "all")
    unsplit_as = None if args.no_split_as is None else split_arg(args.no_split_as)
    if args.no_split_as is not None and unsplit_as is None:
        raise StudioError("--no-split-as needs one split name, not 'all'")
    with _open(args.project) as project:
        counts = export(
            project, args.out, format=args.format, split=split, use_proposed=args.use_proposed,
            file_format=args.file_format, num_negatives=args.num_negatives,
            max_negatives=args.max_negatives, include_negatives=not args.relevant_only,
            overwrite=args.overwrite, unsplit_as=unsplit_as, progress=stderr_progress(),
        )
    if args.json:
        print_json(counts)
    elif args.format == "beir":
        per = ", ".join(f"{s}: {n:,}" for s, n in counts["judgements_per_split"].items())
        print(f"wrote {counts['path']}: {counts['documents']:,} documents, {counts['queries']:,} queries, "
              f"judgements {per or 'none'}")
    else:
        print(f"wrote {counts['path']}: {counts['rows']:,} rows from {counts['queries_used']:,} queries "
              f"({counts['negatives']['labeled']:,} labeled + {counts['negatives']['proposed']:,} proposed "
              f"negatives)")
    return 0
