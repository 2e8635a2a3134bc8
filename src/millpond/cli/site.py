"""``site``: write the control room (static HTML over every store); ``models export``: a model version as MLflow/ONNX."""

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


def add_export_parser(models_sub: Subparsers) -> None:
    """``models export REF --format mlflow|onnx --output DIR`` (added to the ``models`` group)."""
    p = models_sub.add_parser("export", help="write a model version as an MLflow model directory or an ONNX file")
    p.add_argument("ref", help="NAME@champion, NAME@<version> or NAME@<window>")
    p.add_argument(
        "--format", required=True, choices=("mlflow", "onnx"), help="mlflow (needs nothing) or onnx (millpond[onnx])"
    )
    p.add_argument("--output", required=True, help="a new folder to write into (never overwritten)")


def cmd_models_export(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.views.export import export_model

    done = export_model(ws, args.ref, args.format, args.output)
    print(f"{done.name}@{done.version} exported as {done.format} to {done.path}: {', '.join(done.files)}")
    return EXIT_OK
