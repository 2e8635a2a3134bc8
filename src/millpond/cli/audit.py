"""``audit show|verify``: the hash-chained audit logs of the models."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from millpond.cli.common import Subparsers, dump
from millpond.cli.verify import print_verify
from millpond.errors import EXIT_OK
from millpond.store.verify import VerifyReport
from millpond.views.console import print_table
from millpond.workspace import Workspace

_COLUMNS = ("seq", "time", "action", "actor", "version", "reason")


def add_parsers(sub: Subparsers) -> None:
    audit = sub.add_parser("audit", help="show or verify the hash-chained audit logs (exit 3 naming the broken line)")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    p = audit_sub.add_parser("verify", help="exit 3 naming the line when an audit log was edited or lines deleted")
    p.add_argument("name", nargs="?", help="model name (default: every model)")
    p = audit_sub.add_parser("show", help="the audit entries: promotions, approvals, rejections, rollbacks")
    p.add_argument("name", nargs="?", help="model name (default: every model)")
    p.add_argument("--json", action="store_true")


def _names(args: argparse.Namespace, ws: Workspace) -> list[str]:
    from millpond.models.store import ModelStore

    return [args.name] if args.name else ModelStore(ws.model_store).names()


def cmd_audit_show(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.governance.audit import AuditLog

    rows = [
        {k: str(e.to_dict().get(k, ""))[:60] for k in _COLUMNS}
        for name in _names(args, ws)
        for e in AuditLog(ws.model_store, name).entries()
    ]
    dump(rows) if args.json else print_table(rows, _COLUMNS)
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace, ws: Workspace) -> int:
    return print_verify(_verify_logs(ws, _names(args, ws)), as_json=args.json)


def _verify_logs(ws: Workspace, names: list[str]) -> Iterator[VerifyReport]:
    """Each model's log in turn (a broken one does not stop the others)."""
    from millpond.governance.audit import AuditLog
    from millpond.ops.verify import audit_against_runs

    for name in names:
        audit = AuditLog(ws.model_store, name)
        report = audit.report()
        report.subject = f"{name} audit log (hash chain)"
        yield report
        yield audit_against_runs(ws, audit)  # anchored outside the log: the heads sealed in run records
