"""Headless command line: ``retriever-studio <command>``.

Each area registers its sub-commands from its own ``cli_*`` module; a command
handler takes the parsed args and returns an exit code. User-facing errors
(:class:`StudioError`) print one clear line on stderr and exit 2; progress of
long steps goes to stderr, results (``--json``) to stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Callable, Sequence

from core.errors import StudioError

# Modules defining ``register(subparsers)``; each adds its own commands.
COMMAND_MODULES = [
    "core.cli.project",
    "core.cli.retrieval",
    "core.cli.mining",
    "core.cli.training",
]


def build_parser(extra: Sequence[Callable[[argparse._SubParsersAction], None]] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retriever-studio",
        description="Build, label, mine, train and compare dense-retrieval training data.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for register in extra:
        register(sub)
    return parser


def split_arg(value: str | None) -> str | None:
    """A ``--split`` value as the core expects it: None (every query) for ``all`` (or ``*``).

    Any other value must be a valid split name (:mod:`core.io.names`); a bad
    one is refused with one line before anything runs.
    """
    from core.io.names import ALL_SPLITS, split_name_problem

    if value is None or value.lower() in ALL_SPLITS:
        return None
    problem = split_name_problem(value)
    if problem:
        raise StudioError(f"--split: {problem}")
    return value


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except StudioError as exc:
        print(f"retriever-studio {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"retriever-studio {args.command}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
