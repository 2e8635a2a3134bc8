"""``status``, ``schedule``, ``gc`` and ``du``: operating a workspace."""

from __future__ import annotations

import argparse
import sys

from millpond.cli.common import Subparsers, dump
from millpond.cli.verify import print_verify
from millpond.errors import EXIT_INTEGRITY, EXIT_OK
from millpond.views.console import print_table
from millpond.workspace import Workspace


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser(
        "verify",
        help="check every stored byte: run records, mart versions, model versions, captures, audit and other logs "
        "(exit 3 naming each altered file)",
    )
    p.add_argument("--json", action="store_true", help="the reports as JSON (same exit code)")
    p.add_argument(
        "--repair",
        action="store_true",
        help="first seal dead unfinished runs as interrupted and rebuild the runs index from the run records "
        "(`runs reindex`), then verify; a changed byte is never repaired",
    )
    p = sub.add_parser("status", help="per use case: champion, last cycle, next due window, open approvals, failures")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("schedule", help="print, install or remove the crontab line that runs scripts/cron_cycle.sh")
    p.add_argument("--params", required=True, help="use-case YAML, e.g. params/churn.yaml")
    p.add_argument("--cron", default="0 2 * * *", help='cron expression (default "0 2 * * *": 02:00 every night)')
    action = p.add_mutually_exclusive_group()
    action.add_argument("--install", action="store_true", help="add the line to your crontab (idempotent)")
    action.add_argument("--remove", action="store_true", help="take the line out of your crontab")
    p.add_argument("--crontab-file", help="edit this crontab file instead of your user crontab")

    p = sub.add_parser(
        "gc", help="remove old runs, mart versions, captures and model versions (never a champion's lineage)"
    )
    p.add_argument("--keep-days", type=int, help="keep everything younger (default: retention.keep_days)")
    p.add_argument(
        "--keep-versions", type=int, help="keep the newest N of each kind (default: retention.keep_versions)"
    )
    p.add_argument("--dry-run", action="store_true", help="only show what would be removed")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("du", help="show what takes the disk space")
    p.add_argument("--json", action="store_true")


def cmd_status(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.ops.status import STATUS_COLUMNS, status_row, workspace_status

    rows = workspace_status(ws)
    if args.json:
        dump(rows)
        return EXIT_OK
    print_table([status_row(r) for r in rows], STATUS_COLUMNS)
    for row in rows:
        for approval in row.get("approvals") or []:
            print(
                f"{row['use_case']}: candidate {approval['candidate']} ({approval['window']}) awaits approval since {approval['since']}"
            )
        if row.get("last_error"):
            print(f"{row['use_case']}: last failure: {str(row['last_error']).splitlines()[0]}")
    return EXIT_OK


def cmd_schedule(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.ops import cron

    entry = cron.cron_entry(ws, args.params, args.cron)
    if args.remove:
        removed = cron.remove(entry.comment, args.crontab_file)
        print(
            f"removed {removed} crontab line(s) for {entry.comment}"
            if removed
            else f"no crontab line for {entry.comment}"
        )
    elif args.install:
        changed = cron.install(entry, args.crontab_file)
        print(("installed: " if changed else "already installed: ") + entry.line)
    else:
        print(entry.line)
    return EXIT_OK


def cmd_gc(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.ops.retention import collect, human

    report = collect(ws, keep_days=args.keep_days, keep_versions=args.keep_versions, dry_run=args.dry_run)
    rows = [
        {"kind": r.kind, "use_case": r.use_case, "ref": r.ref, "created": r.created[:19], "size": human(r.bytes)}
        for r in report.removals
    ]
    if args.json:
        dump({"dry_run": args.dry_run, "removed": rows, "kept": report.kept, "skipped": report.skipped})
        return EXIT_OK
    print_table(rows, ("kind", "use_case", "ref", "created", "size"))
    total = human(sum(r.bytes for r in report.removals))
    print(
        f"{'would remove' if args.dry_run else 'removed'} {len(rows)} item(s), {total}"
        + ("" if args.dry_run else f"; logged in {ws.relative(ws.logs / 'retention.jsonl')}")
    )
    for line in report.skipped:
        print(f"skipped {line}", file=sys.stderr)
    return EXIT_OK


def cmd_du(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.ops.retention import disk_usage, human

    rows = disk_usage(ws)
    if args.json:
        dump(rows)
    else:
        print_table([{**r, "size": human(r["bytes"])} for r in rows], ("what", "path", "items", "size"))
        print(f"total {human(sum(r['bytes'] for r in rows))}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.ops.verify import repair_workspace, verify_workspace

    if args.repair:  # what it changed goes to stderr under --json, so stdout stays the reports' JSON
        print("\n".join(repair_workspace(ws).lines()), file=sys.stderr if args.json else sys.stdout)
    reports = verify_workspace(ws)
    if args.json:
        dump([r.to_dict() for r in reports])
        return EXIT_INTEGRITY if any(not r.ok for r in reports) else EXIT_OK
    return print_verify(reports)
