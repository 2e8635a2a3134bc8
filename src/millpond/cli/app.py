"""The ``millpond`` command: parses arguments, then calls one library function.

Exit codes: 0 done, 1 a stage failed (its run is recorded), 2 bad input
(parameters, names, ids), 3 a stored record failed verification, 4 nothing due
(``cycle --next``: every window is completed), 5 locked (another cycle or stage run of the
use case is running).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from millpond.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTEGRITY,
    EXIT_LOCKED,
    EXIT_NOTHING_DUE,
    EXIT_OK,
    MillpondError,
    RunIntegrityError,
    exit_code_of,
)
from millpond.runs.kernel_imports import skip_unused_format_checkers
from millpond.views.console import print_table
from millpond.workspace import Workspace


def _dump(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


# --- commands --------------------------------------------------------------------
def cmd_run(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.errors import CycleLockedError
    from millpond.ops.scheduler import run_stage_locked

    try:  # under the use case's lock, like `cycle`: a stage never races a cron cycle on the stores
        record = run_stage_locked(ws, args.params, args.stage, args.window, progress=sys.stderr.isatty())
    except CycleLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    reason = (
        f" ({record.skip_reason or record.manifest.get('extra', {}).get('reason', '')})"
        if record.status == "skipped"
        else ""
    )
    print(f"{record.stage} {record.window}: {record.status}{reason} -> run {record.run_id}")
    return EXIT_OK


def cmd_cycle(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.runner import CYCLE_COLUMNS, cycle_row, run_cycle

    if args.next or _params_valid(ws, args.params):
        return cmd_cycle_locked(args, ws)
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


def _params_valid(ws: Workspace, params: str) -> bool:
    from millpond.errors import ParamsError
    from millpond.ops.scheduler import load_params

    try:
        load_params(ws, params)
    except ParamsError:
        return False  # the plain cycle records the failed run, then exits 2
    return True


def cmd_cycle_locked(args: argparse.Namespace, ws: Workspace) -> int:
    """``cycle --next`` (what cron runs) and ``cycle --window`` under the use case's lock, with retries."""
    from millpond.errors import CycleLockedError
    from millpond.ops.scheduler import run_next
    from millpond.runs.runner import CYCLE_COLUMNS, CycleResult, cycle_row

    def show(result: CycleResult) -> None:
        for record in result.records:
            note = record.manifest.get("extra", {}).get("reason") or record.error or ""
            print(f"  {record.stage:<8} {record.status:<9} {note}")
        print_table([cycle_row(result)], CYCLE_COLUMNS)
        sys.stdout.flush()

    try:
        outcome = run_next(
            ws,
            args.params,
            catch_up=args.catch_up,
            max_windows=args.max_windows,
            window=None if args.next else args.window,
            on_result=show,
            progress=sys.stderr.isatty(),
        )
    except CycleLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    if not outcome.results:
        print("nothing due: every window with data has completed")
        return EXIT_NOTHING_DUE
    for result in outcome.results:
        if not result.ok:
            print(f"\ncycle {result.cycle_id} stopped: {result.error}", file=sys.stderr)
            return EXIT_BAD_INPUT if result.bad_input else EXIT_FAILED
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.demo.cycle import run_demo

    return EXIT_OK if run_demo(ws, windows=args.windows, rows=args.rows, seed=args.seed) else EXIT_FAILED


def cmd_runs(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.store import RunStore

    store = RunStore(ws.runs)
    if args.runs_command == "rerun":
        return cmd_runs_rerun(args, ws)
    if args.runs_command == "list":
        records = store.list(
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
            _dump(
                [
                    {**row, "use_case": r.use_case, "error": r.error, "skip_reason": r.skip_reason}
                    for row, r in zip(rows, records, strict=True)
                ]
            )
        else:
            print_table(rows, ("run_id", "stage", "window", "status", "seconds", "started"))
        return EXIT_OK
    if args.runs_command == "show":
        record = store.get(args.run)
        data = {
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
            "timings": record.manifest.get("extra", {}).get("timings"),
        }
        if args.json:
            _dump(data)
        else:
            for key in (
                "run_id",
                "stage",
                "use_case",
                "window",
                "status",
                "error",
                "skip_reason",
                "started_at",
                "duration_s",
                "path",
            ):
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
    from millpond.models.store import ModelStore

    store = ModelStore(ws.model_store)
    if args.models_command in MODEL_COMMANDS:
        return MODEL_COMMANDS[args.models_command](args, ws, store)
    if args.models_command == "list":
        aliases = store.aliases(args.name)
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(version, []).append(alias)
        rows = [
            {
                "version": v.version,
                "created": v.created_at[:19],
                "window": v.metadata.get("trained_for_window"),
                "metric": _fmt(
                    v.metadata.get("metrics", {}).get("roc_auc") or v.metadata.get("metrics", {}).get("rmse")
                ),
                "aliases": ",".join(sorted(by_version.get(v.version, []))),
            }
            for v in store.versions(args.name)
        ]
        _dump(rows) if args.json else print_table(rows, ("version", "created", "window", "metric", "aliases"))
        return EXIT_OK
    name, _, ref = args.ref.partition("@")
    version = store.get(name, ref or "champion")
    if args.json:
        _dump(
            {"name": version.name, "version": version.version, "sha256": version.sha256, "metadata": version.metadata}
        )
    else:
        meta = version.metadata
        print(f"{version.name}@{version.version}  sha256 {version.sha256}")
        for key in ("trained_for_window", "family", "train_rows", "holdout_rows", "retrain_reasons", "run_id"):
            print(f"  {key:<19} {meta.get(key)}")
        print(f"  {'metrics':<19} {json.dumps({k: round(v, 4) for k, v in meta.get('metrics', {}).items()})}")
        print(f"  {'training marts':<19} {', '.join(m['version'] for m in meta.get('training_marts', []))}")
        _show_profile_and_search(meta)
    return EXIT_OK


def _show_profile_and_search(meta: dict[str, Any]) -> None:
    profile = meta.get("profile") or {}
    if profile:
        print(f"  {'profile':<19} " + ", ".join(f"{k}={_fmt(v)}" for k, v in profile.items()))
    search = meta.get("search") or {}
    if search:
        print(
            f"  {'search':<19} {search.get('method')} over {search.get('candidates')} candidates, {search.get('folds')} folds "
            f"({search.get('cv')}), best {search.get('scoring')}={_fmt(search.get('best_score'))} with {search.get('best_params')}"
        )


def cmd_models_lineage(args: argparse.Namespace, ws: Workspace, store: Any) -> int:
    from millpond.views.lineage import lineage_lines, trace_lineage

    name, _, ref = args.ref.partition("@")
    lineage = trace_lineage(ws, name, ref or "champion")
    if args.json:
        _dump(lineage)
    else:
        print("\n".join(lineage_lines(lineage)))
    return EXIT_OK


def cmd_models_rollback(args: argparse.Namespace, ws: Workspace, store: Any) -> int:
    import getpass
    import logging

    before = store.aliases(args.name).get("champion")
    actor = f"{getpass.getuser()} via millpond models rollback"
    target = store.rollback(args.name, actor=actor, reason=args.reason)
    # Notification of rollbacks comes with the notification issue; until then the history and this log record it.
    logging.getLogger("millpond.models").warning(
        "rollback of %s: champion %s -> %s by %s (%s)", args.name, before, target, actor, args.reason
    )
    _record_manual_rollback(ws, args.name, actor=actor, reason=args.reason, before=before, target=target)
    print(
        f"{args.name}: champion {before} -> {target} (rolled back; recorded in {ws.relative(ws.model_store / args.name / 'history.jsonl')})"
    )
    return EXIT_OK


def _record_manual_rollback(
    ws: Workspace, name: str, *, actor: str, reason: str, before: str | None, target: str
) -> None:
    """Audit entry and notification (events log; e-mail/webhook when params/<name>.yaml configures them)."""
    from millpond.config.params import NotifySpec, load_use_case
    from millpond.governance.decisions import Decider, record_decision

    spec = NotifySpec()
    try:
        spec = load_use_case(ws.params / f"{name}.yaml").notify
    except MillpondError:
        pass
    record_decision(
        Decider(ws, name, spec, actor),
        "rollback",
        version=before,
        reason=reason,
        audit={"champion_after": target},
        notice={"champion": target},
    )


def cmd_models_compare(args: argparse.Namespace, ws: Workspace, store: Any) -> int:
    from millpond.models.compare import compare_versions

    report = compare_versions(store, args.name, args.first, args.second)
    if args.json:
        _dump(report)
        return EXIT_OK
    a, b = report["versions"]
    print(f"{args.name}: {a} vs {b}\n\nmetrics")
    print_table(
        [{**r, a: _fmt(r[a]), b: _fmt(r[b]), "difference": _fmt(r["difference"])} for r in report["metrics"]],
        ("metric", a, b, "difference"),
    )
    print("\nparameters that differ")
    if report["params"]:
        print_table(report["params"], ("parameter", a, b))
    else:
        print("  (none)")
    data = report["training_data"]
    print("\ntraining data")
    print(f"  mart versions in both: {', '.join(data['both']) or 'none'}")
    print(f"  only {a}: {', '.join(data[f'only_{a}']) or 'none'}")
    print(f"  only {b}: {', '.join(data[f'only_{b}']) or 'none'}")
    print(f"  train rows: {data['train_rows'][a]} vs {data['train_rows'][b]}")
    return EXIT_OK


def cmd_models_verify(args: argparse.Namespace, ws: Workspace, store: Any) -> int:
    name, _, ref = args.ref.partition("@")
    targets = [store.get(name, ref)] if ref else store.versions(name)
    for version in targets:
        store.verify(name, version.version)  # raises ModelIntegrityError (exit 3) naming the file
    print(f"{len(targets)} model file(s) of {name} match their recorded sha256")
    return EXIT_OK


def _approval_use_case(args: argparse.Namespace, ws: Workspace, store: Any) -> Any:
    """The use case of an approval: --params, else params/<name>.yaml, else the params stored with the version."""
    from millpond.config.params import load_use_case, validate_use_case

    if args.params:
        return load_use_case(ws.resolve(args.params))
    default = ws.params / f"{args.name}.yaml"
    if default.is_file():
        return load_use_case(default)
    return validate_use_case(
        store.get(args.name, args.version).metadata["params"], source=f"{args.name}@{args.version} metadata"
    )


def cmd_models_approve(args: argparse.Namespace, ws: Workspace, store: Any) -> int:
    from millpond.governance.approvals import approve, reject

    use_case = _approval_use_case(args, ws, store)
    if args.models_command == "approve":
        outcome = approve(ws, use_case, args.version, by=args.by, reason=args.reason)
        if outcome["outcome"] == "rolled_back":
            print(
                f"{args.name}: {args.version} approved by {args.by} but its smoke test failed ({outcome['smoke']}); rolled back"
            )
            return EXIT_FAILED
        print(f"{args.name}: {args.version} approved by {args.by} and promoted to champion (smoke test passed)")
    else:
        reject(ws, use_case, args.version, by=args.by, reason=args.reason)
        print(f"{args.name}: {args.version} rejected by {args.by}; the champion is unchanged")
    return EXIT_OK


MODEL_COMMANDS = {
    "lineage": cmd_models_lineage,
    "rollback": cmd_models_rollback,
    "compare": cmd_models_compare,
    "verify": cmd_models_verify,
    "approve": cmd_models_approve,
    "reject": cmd_models_approve,
}


def cmd_audit(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.errors import AuditIntegrityError
    from millpond.governance.audit import AuditLog
    from millpond.models.store import ModelStore

    names = [args.name] if args.name else ModelStore(ws.model_store).names()
    if args.audit_command == "show":
        rows = [
            {k: str(e.get(k, ""))[:60] for k in ("seq", "time", "action", "actor", "version", "reason")}
            for name in names
            for e in AuditLog(ws.model_store, name).entries()
        ]
        _dump(rows) if args.json else print_table(rows, ("seq", "time", "action", "actor", "version", "reason"))
        return EXIT_OK
    failures = []
    for name in names:
        try:
            count = AuditLog(ws.model_store, name).verify()
            print(f"{name}: {count} audit entries, hash chain intact")
        except AuditIntegrityError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failures.append(name)
    return EXIT_INTEGRITY if failures else EXIT_OK


def cmd_runs_rerun(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.rerun import rerun_training

    report = rerun_training(ws, args.run)
    if args.json:
        _dump(report.as_dict())
    else:
        print(f"rerun of {report.run_id} ({report.model}@{report.version}):")
        print_table(
            [
                {
                    **r,
                    "recorded": _fmt(r["recorded"]),
                    "rerun": _fmt(r["rerun"]),
                    "match": "yes" if r["match"] else "NO",
                }
                for r in report.metrics
            ],
            ("metric", "recorded", "rerun", "match"),
        )
        print(
            f"metrics match: {'yes' if report.metrics_match else 'NO'}; model file identical: {'yes' if report.model_identical else 'no'}; "
            f"code then {report.code_then or 'unknown'}, now {report.code_now or 'unknown'}"
        )
    return EXIT_OK if report.metrics_match else EXIT_FAILED


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("" if value is None else str(value))


def cmd_marts(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.marts.store import MartStore

    store = MartStore(ws.feature_marts)
    if args.marts_command == "list":
        marts = sorted(p.parent.name for p in ws.feature_marts.glob("*/versions") if p.parent.name != "raw")
        rows = [
            {
                "mart": m,
                "version": v.version,
                "window": v.window,
                "rows": v.rows,
                "created": v.manifest["created_at"][:19],
            }
            for m in marts
            for v in store.versions(m)
        ]
        _dump(rows) if args.json else print_table(rows, ("mart", "version", "window", "rows", "created"))
        return EXIT_OK
    if args.marts_command == "diff":
        return cmd_marts_diff(args, store)
    from millpond.marts.compare import describe_version, resolve_ref

    data = describe_version(resolve_ref(store, args.ref))
    if args.json:
        _dump(data)
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
            "mean/top": _fmt(s.get("mean")) if "mean" in s else str(s.get("top")),
            "min/distinct": _fmt(s.get("min")) if "min" in s else str(s.get("distinct")),
            "max": _fmt(s.get("max")),
        }
        for c, s in data["summary"].items()
    ]
    print_table(rows, ("column", "dtype", "nulls", "mean/top", "min/distinct", "max"))
    return EXIT_OK


def cmd_marts_diff(args: argparse.Namespace, store: Any) -> int:
    from millpond.marts.compare import diff_table, diff_versions, resolve_ref

    diff = diff_versions(resolve_ref(store, args.old), resolve_ref(store, args.new))
    if args.json:
        _dump(diff)
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


def cmd_score(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.adhoc import score_adhoc
    from millpond.runs.progress import StatusLine

    status = StatusLine()  # live "scored N of M rows" on a terminal, silent otherwise
    command = " ".join(
        [
            "millpond score",
            "--model",
            args.model,
            "--input",
            args.input,
            "--output",
            args.output,
            *(["--params", args.params] if args.params else []),
            "--window",
            args.window,
            *(["--run-id", args.run_id] if args.run_id else []),
        ]
    )
    try:
        scored = score_adhoc(
            ws,
            args.model,
            args.input,
            args.output,
            params_path=args.params,
            window=args.window,
            run_id=args.run_id,
            on_progress=status.rows_callback(),
            command=command,
        )
    except MillpondError as exc:
        status.clear()
        for note in getattr(exc, "__notes__", []):  # which failed run was recorded
            print(note, file=sys.stderr)
        raise
    finally:
        status.clear()
    result, record = scored.result, scored.record
    summary = record.scraps["summary"]
    print(f"scored {result.rows} rows with {summary['model']}@{summary['model_version']} -> {result.output}")
    for v, path in result.captures.items():
        print(f"  capture {v}: {ws.relative(path)}")
    for v, metrics in result.metrics.items():
        print(f"  {v}: {json.dumps({k: round(x, 4) for k, x in metrics.items()})}")
    print(f"  recorded as run {record.run_id} (millpond runs show {record.run_id})")
    return EXIT_OK


def cmd_labels(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.config.params import load_use_case
    from millpond.scoring.labels import add_labels

    use_case = load_use_case(ws.resolve(args.params))
    result = add_labels(ws, use_case, args.window, ws.resolve(args.file) if args.file else None)
    note = "stored" if result.created else "identical labels already stored"
    print(f"{result.rows} labels for {use_case.use_case} {result.window}: {note} at {ws.relative(result.path)}")
    metric = use_case.promotion.metric
    rows = [
        {
            "model_version": v,
            "role": result.roles[v],
            "coverage": f"{result.coverage[v]:.0%}",
            metric: _fmt(m.get(metric)),
            "n": m.get("n"),
        }
        for v, m in result.metrics.items()
    ]
    print_table(rows, ("model_version", "role", "coverage", metric, "n"))
    return EXIT_OK


def cmd_smoke(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.config.params import load_use_case
    from millpond.models.store import ModelStore
    from millpond.scoring.batch import Scorer, parse_model_ref
    from millpond.scoring.smoke import run_smoke_test

    name, ref = parse_model_ref(args.ref)
    use_case = load_use_case(ws.resolve(args.params)) if args.params else None
    report = run_smoke_test(Scorer.load(ModelStore(ws.model_store), name, ref, use_case=use_case))
    print_table(report.rows(), ("check", "status", "detail"))
    print(f"smoke test of {report.model}@{report.version}: {'passed' if report.passed else 'FAILED'}")
    return EXIT_OK if report.passed else EXIT_FAILED


def cmd_status(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.ops.status import STATUS_COLUMNS, status_row, workspace_status

    rows = workspace_status(ws)
    if args.json:
        _dump(rows)
    else:
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
        _dump({"dry_run": args.dry_run, "removed": rows, "kept": report.kept, "skipped": report.skipped})
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
        _dump(rows)
    else:
        print_table([{**r, "size": human(r["bytes"])} for r in rows], ("what", "path", "items", "size"))
        print(f"total {human(sum(r['bytes'] for r in rows))}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.report import report_for, summary_json, write_runs_index

    if args.run == "index":
        path = write_runs_index(ws)
        if args.json:
            print(summary_json(ws))
    else:
        from millpond.runs.store import RunStore

        path = report_for(ws, RunStore(ws.runs).get(args.run))
    print(path)
    if args.open:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            print("no browser available here: open the path above yourself", file=sys.stderr)
    return EXIT_OK


def cmd_drift(args: argparse.Namespace, ws: Workspace) -> int:
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
        announce=lambda line: print(line, flush=True),
    )
    return EXIT_OK


# --- parser ----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="millpond", description="Notebook-first MLOps on one machine.")
    parser.add_argument("--workspace", help="workspace folder (default: found from the current directory)")
    sub = parser.add_subparsers(dest="command", required=True)

    def params_window(p: argparse.ArgumentParser) -> None:
        p.add_argument("--params", required=True, help="use-case YAML, e.g. params/churn.yaml")
        p.add_argument("--window", required=True, help="window label, e.g. 2025-03")

    p = sub.add_parser("cycle", help="run ingest, score, drift, train and promote for one window (or the due ones)")
    p.add_argument("--params", required=True, help="use-case YAML, e.g. params/churn.yaml")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--window", help="window label, e.g. 2025-03")
    which.add_argument(
        "--next", action="store_true", help="run the due windows (what cron runs); exit 4 when none is due"
    )
    p.add_argument(
        "--catch-up",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --next: run missed windows oldest first (default: schedule.catch_up, on)",
    )
    p.add_argument(
        "--max-windows", type=int, help="with --next: at most this many windows (default: schedule.max_windows)"
    )
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
    p = runs_sub.add_parser(
        "rerun", help="re-fit a train run from its params and mart versions; exit 1 when the metrics differ"
    )
    p.add_argument("run", help="run id of a train run (a unique part is enough)")
    p.add_argument("--json", action="store_true")
    runs.set_defaults(func=cmd_runs)

    models = sub.add_parser("models", help="list and show model versions")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    p = models_sub.add_parser("list")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p = models_sub.add_parser("show")
    p.add_argument("ref", help="NAME@champion, NAME@<version> or NAME")
    p.add_argument("--json", action="store_true")
    p = models_sub.add_parser(
        "lineage", help="model -> training run -> mart versions -> ingest runs -> sources, code commit"
    )
    p.add_argument("ref", help="NAME@champion, NAME@<version> or NAME")
    p.add_argument("--json", action="store_true")
    p = models_sub.add_parser(
        "rollback", help="make the previous champion champion again (recorded in the alias history)"
    )
    p.add_argument("name")
    p.add_argument("--reason", default="manual rollback", help="why, for the history")
    p = models_sub.add_parser("compare", help="two versions side by side: metrics, parameter diff, training data diff")
    p.add_argument("name")
    p.add_argument("first", help="version, unique prefix or alias")
    p.add_argument("second", help="version, unique prefix or alias")
    p.add_argument("--json", action="store_true")
    p = models_sub.add_parser("verify", help="exit 3 and name the file when a model file was altered")
    p.add_argument("ref", help="NAME (every version) or NAME@<version|alias>")
    for verb, text in (
        ("approve", "promote a candidate awaiting approval (smoke test, rollback on failure)"),
        ("reject", "end a decision awaiting approval without promoting"),
    ):
        p = models_sub.add_parser(verb, help=text)
        p.add_argument("name")
        p.add_argument("version", help="the candidate version awaiting approval (see millpond status)")
        p.add_argument("--by", required=True, help="who decides (recorded in the audit log)")
        p.add_argument("--reason", required=True, help="why (recorded in the audit log)")
        p.add_argument("--params", help="use-case YAML (default: params/<name>.yaml)")
    models.set_defaults(func=cmd_models)

    audit = sub.add_parser("audit", help="show or verify the hash-chained audit logs (exit 3 naming the broken line)")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    p = audit_sub.add_parser("verify", help="exit 3 naming the line when an audit log was edited or lines deleted")
    p.add_argument("name", nargs="?", help="model name (default: every model)")
    p = audit_sub.add_parser("show")
    p.add_argument("name", nargs="?", help="model name (default: every model)")
    p.add_argument("--json", action="store_true")
    audit.set_defaults(func=cmd_audit)

    marts = sub.add_parser("marts", help="list and show feature-mart versions")
    marts_sub = marts.add_subparsers(dest="marts_command", required=True)
    p = marts_sub.add_parser("list")
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
    marts.set_defaults(func=cmd_marts)

    p = sub.add_parser(
        "score",
        help="score a Parquet/CSV file with a model version (captured and recorded as a run like every scoring run)",
    )
    p.add_argument("--model", required=True, help="NAME@champion, NAME@challenger, NAME@previous or NAME@<version>")
    p.add_argument("--input", required=True, help="Parquet or CSV file with the key and the model's input columns")
    p.add_argument("--output", required=True, help="predictions file (.parquet or .csv), replaced atomically")
    p.add_argument("--params", help="use-case YAML (default: the params the model was trained with)")
    p.add_argument("--window", default="adhoc", help="capture partition (default: adhoc)")
    p.add_argument("--run-id", help="scoring run id (default: adhoc-<UTC time>-<random>)")
    p.set_defaults(func=cmd_score)

    labels = sub.add_parser("labels", help="join late labels to captured predictions and log KPIs per model version")
    labels_sub = labels.add_subparsers(dest="labels_command", required=True)
    p = labels_sub.add_parser("add")
    params_window(p)
    p.add_argument(
        "file", nargs="?", help="CSV or Parquet with the key and target columns (default: scoring.labels.path)"
    )
    labels.set_defaults(func=cmd_labels)

    p = sub.add_parser(
        "smoke", help="smoke-test a model version: good rows score, bad rows are refused (exit 1 on failure)"
    )
    p.add_argument("ref", help="NAME@champion, NAME@<version>…")
    p.add_argument("--params", help="use-case YAML (default: the params the model was trained with)")
    p.set_defaults(func=cmd_smoke)

    p = sub.add_parser("status", help="per use case: champion, last cycle, next due window, open approvals, failures")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("schedule", help="print, install or remove the crontab line that runs scripts/cron_cycle.sh")
    p.add_argument("--params", required=True, help="use-case YAML, e.g. params/churn.yaml")
    p.add_argument("--cron", default="0 2 * * *", help='cron expression (default "0 2 * * *": 02:00 every night)')
    action = p.add_mutually_exclusive_group()
    action.add_argument("--install", action="store_true", help="add the line to your crontab (idempotent)")
    action.add_argument("--remove", action="store_true", help="take the line out of your crontab")
    p.add_argument("--crontab-file", help="edit this crontab file instead of your user crontab")
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser(
        "gc", help="remove old runs, mart versions, captures and model versions (never a champion's lineage)"
    )
    p.add_argument("--keep-days", type=int, help="keep everything younger (default: retention.keep_days)")
    p.add_argument(
        "--keep-versions", type=int, help="keep the newest N of each kind (default: retention.keep_versions)"
    )
    p.add_argument("--dry-run", action="store_true", help="only show what would be removed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_gc)

    p = sub.add_parser("du", help="show what takes the disk space")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_du)

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
    skip_unused_format_checkers()
    args = build_parser().parse_args(argv)
    try:
        ws = Workspace.find(args.workspace)
        return int(args.func(args, ws))
    except MillpondError as exc:  # the exit code lives on the exception class (errors.exit_code_of)
        print(f"error: {exc}", file=sys.stderr)
        return exit_code_of(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
