"""Headless command line: ``retriever-studio <command>``.

Each area registers its sub-commands from its own ``cli_*`` module; a command
handler takes the parsed args and returns an exit code. User-facing errors
(:class:`StudioError`, and the file-system and SQLite errors a user can cause:
a damaged or read-only project, a missing folder, a full disk) print one clear
line on stderr and exit 2; anything else prints one line naming it a bug and
exits 1. Progress of long steps goes to stderr, results (``--json``) to stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sqlite3
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

    Any other value must be a valid split name (:mod:`core.project.names`); a bad
    one is refused with one line before anything runs.
    """
    from core.project.names import ALL_SPLITS, split_name_error

    if value is None or value.lower() in ALL_SPLITS:
        return None
    problem = split_name_error(value)
    if problem:
        raise StudioError(f"--split: {problem}")
    return value


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


# Exit statuses: 2 for a refusal the user can act on, 1 for an unexpected
# failure, 130 for Ctrl-C and 141 (128 + SIGPIPE) when the reader of our
# output went away, as `yes | head -1` reports for coreutils.
EXIT_REFUSED = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
DEBUG_ENV = "RETRIEVER_STUDIO_DEBUG"  # set to 1 for the traceback of an unexpected error


def run(args: argparse.Namespace) -> int:
    """Run a command handler; every failure becomes one line on stderr and an exit status.

    Output is flushed before returning so that a closed pipe (``| head``)
    surfaces here, and not as a traceback while the interpreter exits.
    """
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        _error_line(args, "interrupted", prefix="")
        return EXIT_INTERRUPTED
    except StudioError as exc:
        _error_line(args, str(exc))
        return EXIT_REFUSED
    except sqlite3.DatabaseError as exc:
        _error_line(args, database_error_message(getattr(args, "project", None), exc))
        return EXIT_REFUSED
    except OSError as exc:
        _error_line(args, os_error_message(exc))
        return EXIT_REFUSED
    except (OverflowError, MemoryError) as exc:
        _error_line(args, f"a value is too large to handle ({exc or type(exc).__name__}); check the "
                          f"numbers in the input")
        return EXIT_REFUSED
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        _error_line(args, f"unexpected {type(exc).__name__}: {exc}; this is a bug, please report it "
                          f"(set {DEBUG_ENV}=1 for the traceback)")
        return EXIT_FAILED


def database_error_message(project: str | None, exc: sqlite3.DatabaseError) -> str:
    """What an SQLite error means for the user's project file, and what to do."""
    where = f"{project}: " if project else ""
    text = str(exc)
    if "malformed" in text or "corrupt" in text or "not a database" in text:
        return (f"{where}the project file is damaged ({text}); restore it from a backup, or "
                f"salvage it with `sqlite3 FILE .recover`")
    if "readonly" in text or "read-only" in text:
        return f"{where}the project is read-only ({text}); make it and its folder writable or work on a copy"
    if "locked" in text or "busy" in text:
        return f"{where}the project is busy ({text}); another program is writing it, try again"
    if "disk" in text or "full" in text:
        return f"{where}cannot write the project ({text}); free some disk space"
    return f"{where}cannot use the project file ({text})"


def os_error_message(exc: OSError) -> str:
    """An operating-system error as "path: reason; what to do"."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = exc.filename
    if where is None:
        return f"{reason}"
    if isinstance(exc, PermissionError):
        hint = "check its permissions"
    elif isinstance(exc, FileNotFoundError):
        hint = "check the path"
    elif isinstance(exc, IsADirectoryError):
        hint = "name a file, not a folder"
    else:
        hint = "check the path and the free disk space"
    target = f" -> {exc.filename2}" if exc.filename2 else ""
    return f"{where}{target}: {reason}; {hint}"


def _error_line(args: argparse.Namespace, message: str, *, prefix: str = "error: ") -> None:
    # One line whatever the message holds (a parser's multi-line text, a path with a newline).
    line = " ".join(message.split("\n"))
    try:
        print(f"retriever-studio {args.command}: {prefix}{line}", file=sys.stderr)
    except (OSError, ValueError):
        pass  # stderr itself is gone; the exit status still tells


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file (tests capture it): nothing will flush to a pipe


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
