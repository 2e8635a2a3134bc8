"""``marts list|show|diff|verify``: the feature-mart versions."""

from __future__ import annotations

import argparse
from typing import Any

from millpond.cli.common import Subparsers, dump, fmt
from millpond.cli.refs import parse_ref
from millpond.cli.verify import print_verify
from millpond.errors import EXIT_OK
from millpond.views.console import print_table
from millpond.workspace import Workspace


def add_parsers(sub: Subparsers) -> None:
    marts = sub.add_parser("marts", help="list and show feature-mart versions")
    marts_sub = marts.add_subparsers(dest="marts_command", required=True)
    p = marts_sub.add_parser("list", help="every mart version with its window and row count")
    p.add_argument("--json", action="store_true")
    p = marts_sub.add_parser("show", help="schema, rows, hashes, sources, window and the run that made a version")
    p.add_argument("ref", help="MART (newest version), MART@VERSION or MART@WINDOW")
    p.add_argument("--json", action="store_true")
    p = marts_sub.add_parser(
        "diff", help="schema changes, row counts and per-column summary deltas between two versions"
    )
    p.add_argument("old", help="MART@VERSION (or MART@WINDOW)")
    p.add_argument("new", help="MART@VERSION (or MART@WINDOW)")
    p.add_argument("--json", action="store_true")
    p = marts_sub.add_parser(
        "verify",
        help="check every stored version's data and manifest against its recorded sha256 (exit 3 on a mismatch)",
    )
    p.add_argument("mart", nargs="?", help="one mart (default: every mart)")


def _resolve(store: Any, text: str) -> Any:
    """The mart version a ``MART[@VERSION|@WINDOW]`` reference names (its syntax checked by the one ref parser)."""
    from millpond.marts.compare import resolve_ref

    return resolve_ref(store, str(parse_ref(text, of="mart")))


def _mart_store(ws: Workspace) -> Any:
    from millpond.marts.store import MartStore

    return MartStore(ws.feature_marts)


def cmd_marts_list(args: argparse.Namespace, ws: Workspace) -> int:
    store = _mart_store(ws)
    marts = sorted(p.parent.name for p in ws.feature_marts.glob("*/versions") if p.parent.name != "raw")
    rows = [
        {"mart": m, "version": v.version, "window": v.window, "rows": v.rows, "created": v.manifest.created_at[:19]}
        for m in marts
        for v in store.versions(m)
    ]
    dump(rows) if args.json else print_table(rows, ("mart", "version", "window", "rows", "created"))
    return EXIT_OK


def cmd_marts_show(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.marts.compare import describe_version

    data = describe_version(_resolve(_mart_store(ws), args.ref))
    if args.json:
        dump(data)
        return EXIT_OK
    print(f"{data['mart']}@{data['version']}  window {data['window']}  rows {data['rows']}  load {data['load']}")
    print(f"  sha256      {data['sha256']}")
    source = data["source"] or {}
    print(f"  source      {source.get('path') or source.get('url')}  sha256 {source.get('sha256')}")
    for name, extra in (data["sources"] or {}).items():
        if name != "source":
            print(f"  + {name:<9} {extra.get('path') or extra.get('url')}  sha256 {extra.get('sha256')}")
    if data["transform"]:
        print(f"  transform   {data['transform']['path']}  sha256 {data['transform']['sha256']}")
    print(f"  run         {data['run_id'] or '-'}  created {data['created_at']}")
    for warning in data["warnings"]:
        print(f"  warning     {warning}")
    rows = [
        {
            "column": c,
            "dtype": s["dtype"],
            "nulls": s["nulls"],
            "mean/top": fmt(s.get("mean")) if "mean" in s else str(s.get("top")),
            "min/distinct": fmt(s.get("min")) if "min" in s else str(s.get("distinct")),
            "max": fmt(s.get("max")),
        }
        for c, s in data["summary"].items()
    ]
    print_table(rows, ("column", "dtype", "nulls", "mean/top", "min/distinct", "max"))
    return EXIT_OK


def cmd_marts_diff(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.marts.compare import diff_table, diff_versions

    store = _mart_store(ws)
    diff = diff_versions(_resolve(store, args.old), _resolve(store, args.new))
    if args.json:
        dump(diff)
        return EXIT_OK
    print(
        f"{diff['old']['version']} → {diff['new']['version']}"
        + ("  (identical content)" if diff["same_content"] else "")
    )
    print(f"rows: {diff['rows']['old']} → {diff['rows']['new']} ({diff['rows']['delta']:+d})")
    schema = diff["schema"]
    for column, dtype in schema["added"].items():
        print(f"schema: + {column} ({dtype})")
    for column, dtype in schema["removed"].items():
        print(f"schema: - {column} ({dtype})")
    for column, change in schema["retyped"].items():
        print(f"schema: ~ {column} {change['from']} → {change['to']}")
    if not any(schema.values()):
        print("schema: unchanged")
    print_table(diff_table(diff), ("column", "nulls", "stat", "old", "new", "delta"))
    return EXIT_OK


def cmd_marts_verify(args: argparse.Namespace, ws: Workspace) -> int:
    return print_verify([_mart_store(ws).verify(args.mart)], as_json=args.json)
