"""``site``: write the control room (static HTML over every store) and print where its home page is."""

from __future__ import annotations

import argparse
import sys

from millpond.cli.common import Subparsers
from millpond.errors import EXIT_OK
from millpond.workspace import Workspace


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser(
        "site", help="write the control room: static pages per use case, model and run (opens from file://)"
    )
    p.add_argument("--out", help="folder to write the pages into (default: <workspace>/site)")
    p.add_argument("--open", action="store_true", help="also open the home page in a web browser")


def cmd_site(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.site import build_site

    home = build_site(ws, args.out)
    print(home)
    if args.open:
        import webbrowser

        if not webbrowser.open(home.resolve().as_uri()):
            print("no browser available here: open the path above yourself", file=sys.stderr)
    return EXIT_OK
