"""``report`` and ``drift view``: the HTML reports and the interactive drift view."""

from __future__ import annotations

import argparse
import json
import sys

from millpond.cli.common import Subparsers
from millpond.errors import EXIT_OK
from millpond.workspace import Workspace


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser("report", help="print the path of a run's HTML report, or write the runs index (`report index`)")
    p.add_argument("run", help="run id (a unique part is enough), or 'index' for runs/index.html")
    p.add_argument("--open", action="store_true", help="also open it in a web browser")
    p.add_argument("--json", action="store_true", help="with 'index': also print every run's row as JSON")

    drift = sub.add_parser("drift", help="explore a drift run interactively")
    drift_sub = drift.add_subparsers(dest="drift_command", required=True)
    p = drift_sub.add_parser("view", help="serve a dtale session (127.0.0.1) over a drift run's table and its data")
    p.add_argument("run", nargs="?", help="drift run id (a unique part is enough)")
    p.add_argument("--params", help="use-case YAML: with --window, view that window's latest drift run")
    p.add_argument("--window", help="window label, e.g. 2025-03 (with --params)")
    p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--timeout", type=float, help="stop after this many seconds (default: until Ctrl-C)")


def cmd_report(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.report import report_for, summary_json, write_runs_index

    if args.run == "index":
        path = write_runs_index(ws)
        if args.json:  # one JSON document: every run's index row (index.html is written all the same)
            print(summary_json(ws))
            return EXIT_OK
    else:
        from millpond.runs.store import RunStore

        path = report_for(ws, RunStore(ws.runs).get(args.run))
    print(path)
    if args.open:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            print("no browser available here: open the path above yourself", file=sys.stderr)
    return EXIT_OK


def cmd_drift_view(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.views.dtale_view import serve_drift_view

    if args.run is None and not (args.params and args.window):
        from millpond.errors import ViewError

        raise ViewError("Say which drift run to view: `millpond drift view RUN`, or --params P --window W.")
    serve_drift_view(
        ws,
        args.run,
        params=args.params,
        window=args.window,
        port=args.port,
        timeout=args.timeout,
        announce=lambda line: print(json.dumps({"message": line}) if args.json else line, flush=True),  # JSON lines
    )
    return EXIT_OK
