"""``runs list|show|verify|reindex|rerun``: the run records."""

from __future__ import annotations

import argparse
import json
from typing import Any

from millpond.cli.common import Subparsers, dump, fmt
from millpond.cli.verify import print_verify
from millpond.errors import EXIT_FAILED, EXIT_OK
from millpond.views.console import print_table
from millpond.workspace import Workspace

_SHOWN = (
    "run_id",
    "kind",
    "stage",
    "use_case",
    "window",
    "status",
    "error",
    "skip_reason",
    "started_at",
    "duration_s",
    "path",
)


def add_parsers(sub: Subparsers) -> None:
    runs = sub.add_parser("runs", help="list, show and verify run records")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    p = runs_sub.add_parser("list", help="the run records, newest first (from runs/index.sqlite)")
    for flag, text in (
        ("--use-case", "only this use case, e.g. churn"),
        ("--window", "only this window, e.g. 2025-03"),
        (
            "--stage",
            "only this stage: ingest, score, drift, train or promote (or compare: the sweetviz comparison runs)",
        ),
        ("--status", "only this status: succeeded, failed, skipped or interrupted"),
    ):
        p.add_argument(flag, help=text)
    p.add_argument("--limit", type=int, help="at most this many records")
    p.add_argument("--json", action="store_true")
    p = runs_sub.add_parser("show", help="one run record: status, timings, parameters and glued scraps")
    p.add_argument("run", help="run id (a unique part is enough)")
    p.add_argument("--json", action="store_true")
    runs_sub.add_parser("verify", help="exit 3 and name the file when a run record was altered")
    p = runs_sub.add_parser(
        "reindex", help="rebuild runs/index.sqlite from the run records (a crash, a deleted or damaged index)"
    )
    p.add_argument("--json", action="store_true")
    p = runs_sub.add_parser(
        "rerun", help="re-fit a train run from its params and mart versions; exit 1 when the metrics differ"
    )
    p.add_argument("run", help="run id of a train run (a unique part is enough)")
    p.add_argument("--json", action="store_true")
    p = runs_sub.add_parser(
        "compare",
        help="draw a drift run's sweetviz comparison now, recorded as the next run of its cycle (NN-compare)",
    )
    p.add_argument("run", help="run id of a succeeded drift run (a unique part is enough)")
    p.add_argument("--json", action="store_true")


def cmd_runs_compare(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.comparison import compare
    from millpond.runs.store import RunStore
    from millpond.store.lock import CycleLock

    drift = RunStore(ws.runs).get(args.run)
    with CycleLock(ws, drift.use_case, command=f"millpond runs compare {drift.run_id}"):
        record = compare(ws, drift)
    link = (record.scraps or {}).get("summary", {}).get("comparison")
    if args.json:
        dump({"run_id": record.run_id, "status": record.status, "error": record.error, "drift_run": drift.run_id})
    elif link:
        print(f"comparison of {drift.run_id} -> run {record.run_id}: {ws.relative(record.path / link)}")
    else:
        print(f"comparison of {drift.run_id} failed -> run {record.run_id}: {record.error}")
    return EXIT_OK if record.status == "succeeded" else EXIT_FAILED


def cmd_runs_list(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.store import RunStore

    records = RunStore(ws.runs).records(  # from the run records: a damaged index is never shown over them
        use_case=args.use_case, window=args.window, stage=args.stage, status=args.status, limit=args.limit
    )
    rows = [
        {
            "run_id": r.run_id,
            "stage": r.stage,
            "window": r.window,
            "status": r.status,
            "seconds": f"{r.duration_s:.1f}",
            "started": str(r.started_at)[:19],
        }
        for r in records
    ]
    if args.json:
        dump(
            [
                {
                    **row,
                    "use_case": r.use_case,
                    "kind": (r.scraps or {}).get("kind") or "millpond",
                    "error": r.error,
                    "skip_reason": r.skip_reason,
                }
                for row, r in zip(rows, records, strict=True)
            ]
        )
    else:
        print_table(rows, ("run_id", "stage", "window", "status", "seconds", "started"))
    return EXIT_OK


def cmd_runs_show(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.anchors import baseline_changes
    from millpond.runs.store import RunStore

    record = RunStore(ws.runs).get(args.run)
    extra = record.manifest.get("extra") or {}
    changes: list[str] = baseline_changes(ws, record)
    heads: dict[str, Any] = dict(extra.get("audit_heads") or {})
    data: dict[str, Any] = {
        "run_id": record.run_id,
        "cycle_id": record.cycle_id,
        "stage": record.stage,
        "use_case": record.use_case,
        "window": record.window,
        "status": record.status,
        "error": record.error,
        "skip_reason": record.skip_reason,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "duration_s": record.duration_s,
        "path": str(record.path),
        "params": record.manifest.get("params"),
        "scraps": record.scraps,
        "timings": extra.get("timings"),
        "kind": extra.get("kind") or (record.scraps or {}).get("kind") or "millpond",
        "baseline_changes": changes,
        "audit_heads": heads,
    }
    if args.json:
        dump(data)
        return EXIT_OK
    for key in _SHOWN:
        if data[key] not in (None, ""):
            print(f"{key:<12} {data[key]}")
    for line in changes:  # a window's KPI baseline changes only through a recorded run: this one
        print(f"baseline     {line}")
    for log, head in heads.items():
        print(f"audit head   {log} at line {head.get('seq')} (sha256 {str(head.get('sha256'))[:12]}…), sealed here")
    print("scraps:")
    for name, value in (record.scraps or {}).items():
        print(f"  {name}: {json.dumps(value, default=str)}")
    return EXIT_OK


def cmd_runs_verify(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.store import RunStore

    report = RunStore(ws.runs).verify()
    return print_verify([report], ok_line=f"all {report.checked} run records verified", as_json=args.json)


def cmd_runs_reindex(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.store import RunStore

    done = RunStore(ws.runs).reindex()
    if args.json:
        dump(done.to_dict())
    else:
        print("\n".join(done.lines()))
    return EXIT_OK


def cmd_runs_rerun(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.rerun import rerun_training

    report = rerun_training(ws, args.run)
    if args.json:
        dump(report.as_dict())
        return EXIT_OK if report.metrics_match else EXIT_FAILED
    print(f"rerun of {report.run_id} ({report.model}@{report.version}):")
    print_table(
        [
            {**r, "recorded": fmt(r["recorded"]), "rerun": fmt(r["rerun"]), "match": "yes" if r["match"] else "NO"}
            for r in report.metrics
        ],
        ("metric", "recorded", "rerun", "match"),
    )
    print(
        f"metrics match: {'yes' if report.metrics_match else 'NO'}; model file identical: {'yes' if report.model_identical else 'no'}; "
        f"code then {report.code_then or 'unknown'}, now {report.code_now or 'unknown'}"
    )
    return EXIT_OK if report.metrics_match else EXIT_FAILED
