"""The ``millpond`` command: parses arguments, then calls one library function.

Exit codes: 0 done, 1 a stage failed (its run is recorded), 2 bad input
(parameters, names, ids), 3 a stored record failed verification.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from millpond.console import print_table
from millpond.errors import MillpondError, RunIntegrityError, StageFailedError
from millpond.workspace import Workspace

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTEGRITY = 0, 1, 2, 3


def _dump(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


# --- commands --------------------------------------------------------------------
def cmd_run(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runner import execute_stage

    record = execute_stage(ws, args.params, args.stage, args.window, progress=sys.stderr.isatty())
    reason = f" ({record.skip_reason or record.manifest.get('extra', {}).get('reason', '')})" if record.status == "skipped" else ""
    print(f"{record.stage} {record.window}: {record.status}{reason} -> run {record.run_id}")
    return EXIT_OK


def cmd_cycle(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runner import CYCLE_COLUMNS, cycle_row, run_cycle

    result = run_cycle(ws, args.params, args.window, progress=sys.stderr.isatty())
    for record in result.records:
        note = record.manifest.get("extra", {}).get("reason") or record.error or ""
        print(f"  {record.stage:<8} {record.status:<9} {note}")
    print_table([cycle_row(result)], CYCLE_COLUMNS)
    print(f"reports: {ws.relative(ws.runs / 'index.html')} (millpond report index --open)")
    if not result.ok:
        print(f"\ncycle {result.cycle_id} stopped: {result.error}", file=sys.stderr)
        return EXIT_BAD_INPUT if result.bad_input else EXIT_FAILED
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.demo import run_demo

    return EXIT_OK if run_demo(ws, windows=args.windows, rows=args.rows, seed=args.seed) else EXIT_FAILED


def cmd_runs(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs import RunStore

    store = RunStore(ws.runs)
    if args.runs_command == "list":
        records = store.list(use_case=args.use_case, window=args.window, stage=args.stage, status=args.status, limit=args.limit)
        rows = [
            {"run_id": r.run_id, "stage": r.stage, "window": r.window, "status": r.status,
             "seconds": f"{r.duration_s:.1f}", "started": str(r.started_at)[:19]}
            for r in records
        ]
        if args.json:
            _dump([{**row, "use_case": r.use_case, "error": r.error, "skip_reason": r.skip_reason} for row, r in zip(rows, records, strict=True)])
        else:
            print_table(rows, ("run_id", "stage", "window", "status", "seconds", "started"))
        return EXIT_OK
    if args.runs_command == "show":
        record = store.get(args.run)
        data = {
            "run_id": record.run_id, "cycle_id": record.cycle_id, "stage": record.stage, "use_case": record.use_case,
            "window": record.window, "status": record.status, "error": record.error, "skip_reason": record.skip_reason,
            "started_at": record.started_at, "finished_at": record.finished_at, "duration_s": record.duration_s,
            "path": str(record.path), "params": record.manifest.get("params"), "scraps": record.scraps,
            "timings": record.manifest.get("extra", {}).get("timings"),
        }
        if args.json:
            _dump(data)
        else:
            for key in ("run_id", "stage", "use_case", "window", "status", "error", "skip_reason", "started_at", "duration_s", "path"):
                if data[key] not in (None, ""):
                    print(f"{key:<12} {data[key]}")
            print("scraps:")
            for name, value in (record.scraps or {}).items():
                print(f"  {name}: {json.dumps(value, default=str)}")
        return EXIT_OK
    problems = store.verify()
    if problems:
        for problem in problems:
            print(problem)
        raise RunIntegrityError(f"{len(problems)} problem(s) found in the run records under {ws.relative(ws.runs)}.")
    print(f"all {len(store.list())} run records verified")
    return EXIT_OK


def cmd_models(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.model_store import ModelStore

    store = ModelStore(ws.model_store)
    if args.models_command == "list":
        aliases = store.aliases(args.name)
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(version, []).append(alias)
        rows = [
            {"version": v.version, "created": v.created_at[:19], "window": v.metadata.get("trained_for_window"),
             "metric": _fmt(v.metadata.get("metrics", {}).get("roc_auc") or v.metadata.get("metrics", {}).get("rmse")),
             "aliases": ",".join(sorted(by_version.get(v.version, [])))}
            for v in store.versions(args.name)
        ]
        _dump(rows) if args.json else print_table(rows, ("version", "created", "window", "metric", "aliases"))
        return EXIT_OK
    name, _, ref = args.ref.partition("@")
    version = store.get(name, ref or "champion")
    if args.json:
        _dump({"name": version.name, "version": version.version, "sha256": version.sha256, "metadata": version.metadata})
    else:
        meta = version.metadata
        print(f"{version.name}@{version.version}  sha256 {version.sha256}")
        for key in ("trained_for_window", "family", "train_rows", "holdout_rows", "retrain_reasons", "run_id"):
            print(f"  {key:<19} {meta.get(key)}")
        print(f"  {'metrics':<19} {json.dumps({k: round(v, 4) for k, v in meta.get('metrics', {}).items()})}")
        print(f"  {'training marts':<19} {', '.join(m['version'] for m in meta.get('training_marts', []))}")
    return EXIT_OK


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("" if value is None else str(value))


def cmd_marts(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.marts import MartStore

    store = MartStore(ws.feature_marts)
    if args.marts_command == "list":
        marts = sorted(p.parent.name for p in ws.feature_marts.glob("*/versions") if p.parent.name != "raw")
        rows = [
            {"mart": m, "version": v.version, "window": v.window, "rows": v.rows, "created": v.manifest["created_at"][:19]}
            for m in marts for v in store.versions(m)
        ]
        _dump(rows) if args.json else print_table(rows, ("mart", "version", "window", "rows", "created"))
        return EXIT_OK
    mart, _, ref = args.ref.partition("@")
    versions = store.versions(mart)
    version = store.get(mart, ref) if ref else (versions[-1] if versions else store.latest(mart, ""))
    _dump(version.manifest) if args.json else print(json.dumps(version.manifest, indent=2, default=str))
    return EXIT_OK


def cmd_report(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.reports import report_for, summary_json, write_runs_index

    if args.run == "index":
        path = write_runs_index(ws)
        if args.json:
            print(summary_json(ws))
    else:
        from millpond.runs import RunStore

        path = report_for(ws, RunStore(ws.runs).get(args.run))
    print(path)
    if args.open:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            print("no browser available here: open the path above yourself", file=sys.stderr)
    return EXIT_OK


def cmd_drift(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.drift_view import serve_drift_view

    if args.run is None and not (args.params and args.window):
        from millpond.errors import ViewError

        raise ViewError("Say which drift run to view: `millpond drift view RUN`, or --params P --window W.")
    serve_drift_view(ws, args.run, params=args.params, window=args.window, port=args.port, timeout=args.timeout,
                     announce=lambda line: print(line, flush=True))
    return EXIT_OK


# --- parser ----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="millpond", description="Notebook-first MLOps on one machine.")
    parser.add_argument("--workspace", help="workspace folder (default: found from the current directory)")
    sub = parser.add_subparsers(dest="command", required=True)

    def params_window(p: argparse.ArgumentParser) -> None:
        p.add_argument("--params", required=True, help="use-case YAML, e.g. params/churn.yaml")
        p.add_argument("--window", required=True, help="window label, e.g. 2025-03")

    p = sub.add_parser("cycle", help="run ingest, score, drift, train and promote for one window")
    params_window(p)
    p.set_defaults(func=cmd_cycle)

    p = sub.add_parser("run", help="run one stage for one window")
    p.add_argument("stage", help="ingest, score, drift, train or promote")
    params_window(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="generate the demo data and run the cycle over every window")
    p.add_argument("--windows", type=int, default=12)
    p.add_argument("--rows", type=int, default=20_000, help="rows per window")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_demo)

    runs = sub.add_parser("runs", help="list, show and verify run records")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    p = runs_sub.add_parser("list")
    for flag in ("--use-case", "--window", "--stage", "--status"):
        p.add_argument(flag)
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true")
    p = runs_sub.add_parser("show")
    p.add_argument("run", help="run id (a unique part is enough)")
    p.add_argument("--json", action="store_true")
    runs_sub.add_parser("verify", help="exit 3 and name the file when a run record was altered")
    runs.set_defaults(func=cmd_runs)

    models = sub.add_parser("models", help="list and show model versions")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    p = models_sub.add_parser("list")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p = models_sub.add_parser("show")
    p.add_argument("ref", help="NAME@champion, NAME@<version> or NAME")
    p.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)

    marts = sub.add_parser("marts", help="list and show feature-mart versions")
    marts_sub = marts.add_subparsers(dest="marts_command", required=True)
    p = marts_sub.add_parser("list")
    p.add_argument("--json", action="store_true")
    p = marts_sub.add_parser("show")
    p.add_argument("ref", help="MART or MART@VERSION")
    p.add_argument("--json", action="store_true")
    marts.set_defaults(func=cmd_marts)

    p = sub.add_parser("report", help="print the path of a run's HTML report, or write the runs index (`report index`)")
    p.add_argument("run", help="run id (a unique part is enough), or 'index' for runs/index.html")
    p.add_argument("--open", action="store_true", help="also open it in a web browser")
    p.add_argument("--json", action="store_true", help="with 'index': also print every run's row as JSON")
    p.set_defaults(func=cmd_report)

    drift = sub.add_parser("drift", help="explore a drift run interactively")
    drift_sub = drift.add_subparsers(dest="drift_command", required=True)
    p = drift_sub.add_parser("view", help="serve a dtale session (127.0.0.1) over a drift run's table and its data")
    p.add_argument("run", nargs="?", help="drift run id (a unique part is enough)")
    p.add_argument("--params", help="use-case YAML: with --window, view that window's latest drift run")
    p.add_argument("--window")
    p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--timeout", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    drift.set_defaults(func=cmd_drift)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        ws = Workspace.find(args.workspace)
        return int(args.func(args, ws))
    except StageFailedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except RunIntegrityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INTEGRITY
    except MillpondError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
