"""``retriever-studio``: the headless commands of ``core.cli.main`` plus ``open`` and ``screenshot``.

Qt is imported only inside the two GUI command handlers, so every other
command runs on machines without a display or Qt libraries.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Sequence

from core.cli.main import build_parser, print_json, run

GUI_COMMANDS = ("open", "screenshot")


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"size must look like 1400x900, not {text!r}")
    return int(m.group(1)), int(m.group(2))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("open", help="open the desktop app (the default command)",
                       description="Open the labeling workspace on PROJECT; without one, "
                                   "on the bundled demo project.")
    p.add_argument("project", nargs="?", type=Path, help="a .rsproj project file")
    p.add_argument("--empty", action="store_true",
                   help="start with no project (do not open the demo)")
    p.set_defaults(func=cmd_open)

    s = sub.add_parser("screenshot", help="render a view of the app offscreen to a PNG",
                       description="Open PROJECT in the real main window offscreen, wait until "
                                   "the view shows its data, and save a PNG.")
    s.add_argument("project", type=Path)
    s.add_argument("out", type=Path, help="PNG file to write")
    s.add_argument("--view", default="labeling",
                   help="labeling (default), or a registered view: review, map, training, compare")
    s.add_argument("--query", help="query id to select first")
    s.add_argument("--document", help="document id to show in the document panel")
    s.add_argument("--hybrid", action="store_true", help="show the hybrid pane as well")
    s.add_argument("--size", type=_size, default=(1400, 900), help="WIDTHxHEIGHT (default 1400x900)")
    s.add_argument("--timeout", type=float, default=300.0,
                   help="seconds to wait for indexes and views (default 300)")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.set_defaults(func=cmd_screenshot)


def cmd_open(args: argparse.Namespace) -> int:
    from .app import ensure_display
    from .app import run as run_app

    ensure_display()
    project = args.project
    if project is not None and not project.exists():
        from core.errors import ProjectError

        raise ProjectError(f"{project}: no such project file")
    return run_app(project, demo=project is None and not args.empty)


def cmd_screenshot(args: argparse.Namespace) -> int:
    from .app import ensure_display

    ensure_display()
    from .screenshot import take_screenshot

    out = take_screenshot(args.project, args.out, view=args.view, query=args.query,
                          size=args.size, timeout=args.timeout, document=args.document,
                          hybrid=True if args.hybrid else None)
    if args.json:
        print_json({"screenshot": str(out), "bytes": out.stat().st_size, "view": args.view})
    else:
        print(out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(extra=[register])
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    # `retriever-studio` and `retriever-studio PROJECT` open the app.
    if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
        argv = ["open", *argv]
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
