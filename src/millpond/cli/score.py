"""``score``, ``labels add`` and ``smoke``: score a file, join late labels, smoke-test a model version."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from millpond.cli.common import Subparsers, add_params_window, dump, fmt
from millpond.cli.refs import parse_ref
from millpond.cli.verify import print_verify
from millpond.errors import EXIT_FAILED, EXIT_OK, MillpondError
from millpond.views.console import print_table
from millpond.workspace import Workspace

if TYPE_CHECKING:
    from millpond.config.params import UseCase
    from millpond.scoring.labels import LabelsResult


def add_parsers(sub: Subparsers) -> None:
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

    labels = sub.add_parser("labels", help="join late labels to captured predictions and log KPIs per model version")
    labels_sub = labels.add_subparsers(dest="labels_command", required=True)
    p = labels_sub.add_parser("add", help="store a window's labels and log each model version's KPI on them")
    add_params_window(p)
    p.add_argument(
        "file", nargs="?", help="CSV or Parquet with the key and target columns (default: scoring.labels.path)"
    )

    p = sub.add_parser(
        "smoke", help="smoke-test a model version: good rows score, bad rows are refused (exit 1 on failure)"
    )
    p.add_argument("ref", help="NAME@champion, NAME@<version>…")
    p.add_argument("--params", help="use-case YAML (default: the params the model was trained with)")
    _add_captures(sub)


def _add_captures(sub: Subparsers) -> None:
    captures = sub.add_parser("captures", help="the data capture of scoring runs (inputs + predictions)")
    captures_sub = captures.add_subparsers(dest="captures_command", required=True)
    p = captures_sub.add_parser(
        "verify", help="check every capture part against its recorded sha256 and row count (exit 3 on a mismatch)"
    )
    p.add_argument("name", nargs="?", help="one model / use case (default: every model with captures)")


def _score_command(args: argparse.Namespace) -> str:
    """The command line recorded with the scoring run."""
    return " ".join(
        [
            "millpond score",
            *("--model", args.model, "--input", args.input, "--output", args.output),
            *(["--params", args.params] if args.params else []),
            *("--window", args.window),
            *(["--run-id", args.run_id] if args.run_id else []),
        ]
    )


def cmd_score(args: argparse.Namespace, ws: Workspace) -> int:
    # The model reference goes to score_adhoc unparsed: a malformed one is recorded as a failed scoring run.
    from millpond.runs.adhoc import score_adhoc
    from millpond.runs.progress import StatusLine

    status = StatusLine()  # live "scored N of M rows" on a terminal, silent otherwise
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
            command=_score_command(args),
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
    if args.json:
        dump(
            {
                "rows": result.rows,
                "model": summary["model"],
                "model_version": summary["model_version"],
                "output": str(result.output),
                "captures": {v: ws.relative(path) for v, path in result.captures.items()},
                "metrics": result.metrics,
                "run_id": record.run_id,
            }
        )
        return EXIT_OK
    print(f"scored {result.rows} rows with {summary['model']}@{summary['model_version']} -> {result.output}")
    for v, path in result.captures.items():
        print(f"  capture {v}: {ws.relative(path)}")
    for v, metrics in result.metrics.items():
        print(f"  {v}: {json.dumps({k: round(x, 4) for k, x in metrics.items()})}")
    print(f"  recorded as run {record.run_id} (millpond runs show {record.run_id})")
    return EXIT_OK


def _add_labels_recorded(ws: Workspace, use_case: UseCase, window: str, file: Path | None) -> LabelsResult:
    """``add_labels`` as its own locked, recorded run (kind ``cli``, stage ``labels``): the labels file and the KPI
    entries it logs are written only under the use case's lock, and the run's manifest lists them with sha256.
    A malformed window is refused first, before anything is recorded."""
    from millpond.config.params import check_window
    from millpond.drift.slices import labelled_slices
    from millpond.marts.windows import check_use_case_window
    from millpond.runs.context import StageContext, StageResult
    from millpond.runs.standalone import run_recorded
    from millpond.scoring.capture import CaptureStore
    from millpond.scoring.labels import add_labels

    captured = CaptureStore(ws.model_store, use_case.use_case).windows()
    window = check_use_case_window(ws, use_case, check_window(window), also=captured)
    done: list[LabelsResult] = []

    def work(ctx: StageContext) -> StageResult:
        done.append(add_labels(ws, use_case, window, file, run_id=ctx.run_id, slices=labelled_slices(use_case)))
        summary: dict = {"rows": done[0].rows, "labels": ws.relative(done[0].path), "stored": done[0].created}
        if done[0].slices:
            summary["slices"] = done[0].slices
        return StageResult(stage="labels", summary=summary)

    run_recorded("labels", StageContext(ws, use_case, window), "cli", work)
    return done[0]


def cmd_labels_add(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.config.params import load_use_case, params_file

    use_case = load_use_case(params_file(ws, args.params))
    result = _add_labels_recorded(ws, use_case, args.window, ws.resolve(args.file) if args.file else None)
    note = "stored" if result.created else "identical labels already stored"
    print(f"{result.rows} labels for {use_case.use_case} {result.window}: {note} at {ws.relative(result.path)}")
    metric = use_case.promotion.metric
    rows = [
        {
            "model_version": v,
            "role": result.roles[v],
            "coverage": f"{result.coverage[v]:.0%}",
            metric: fmt(m.get(metric)),
            "n": m.get("n"),
        }
        for v, m in result.metrics.items()
    ]
    print_table(rows, ("model_version", "role", "coverage", metric, "n"))
    if result.slices:
        from millpond.drift.slices import SliceReport

        for version, report in result.slices.items():
            print(f"{metric} per slice, {version} ({result.roles[version]}):")
            for label, n, shown, _ in SliceReport.from_dict(report).cells():
                print(f"  {label}: {shown} ({n} rows)")
    return EXIT_OK


def cmd_smoke(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.config.params import load_use_case, params_file
    from millpond.models.store import ModelStore
    from millpond.scoring.batch import Scorer
    from millpond.scoring.smoke import run_smoke_test

    ref = parse_ref(args.ref)
    use_case = load_use_case(params_file(ws, args.params)) if args.params else None
    scorer = Scorer.load(ModelStore(ws.model_store), ref.name, ref.selector_or("champion"), use_case=use_case)
    report = run_smoke_test(scorer)
    code = EXIT_OK if report.passed else EXIT_FAILED
    if args.json:
        data = {"model": report.model, "version": report.version, "passed": report.passed, "checks": report.rows()}
        if not report.passed:
            data |= {"error": f"smoke test of {report.model}@{report.version} failed", "exit_code": code}
            data["hint"] = "the failed checks say why; `millpond models rollback NAME` restores the previous champion"
        dump(data)
        return code
    print_table(report.rows(), ("check", "status", "detail"))
    print(f"smoke test of {report.model}@{report.version}: {'passed' if report.passed else 'FAILED'}")
    return EXIT_OK if report.passed else EXIT_FAILED


def cmd_captures_verify(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.scoring.capture import CaptureStore

    if args.name:
        return print_verify([CaptureStore(ws.model_store, args.name).verify()], as_json=args.json)
    return print_verify([CaptureStore.verify_all(ws.model_store)], as_json=args.json)
