"""Ad-hoc scoring runs: ``millpond score`` kept as an immutable run record like every stage.

:func:`score_adhoc` scores a Parquet or CSV file with a model version (captured like every scoring run)
and records the run as ``runs/<cycle_id>/01-score/``: no notebook (``kind: cli``), but the same manifest
as a stage's (params, inputs and outputs with their sha256, timings, status, error) and a ``report.html``,
so ``runs list/show/verify``, the runs index, ``status`` and ``gc`` read it like any other run. A failure
(unreadable file, unknown model, tampered model, bad params) is recorded as a failed run and re-raised
unchanged, with nothing stored changed: captures and the output are staged and only published on success.

The run folder is created when the scoring has ended, not before: a cycle that starts meanwhile records
run folders without a manifest as interrupted, and must not take a live ad-hoc run for a dead one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.errors import MillpondError, ReportError
from millpond.runs.store import ADHOC_KIND, RunRecord, RunStore, new_cycle_id
from millpond.store.files import sha256_file
from millpond.workspace import Workspace

STAGE = "score"
ORDER = 1  # the only run of its own cycle id
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass
class AdhocScore:
    """What an ad-hoc score produced and where it is recorded."""

    result: Any  # millpond.scoring.batch.ScoreResult
    record: RunRecord


def _record_name(model_ref: str, raw_params: dict[str, Any]) -> str:
    """The use case to file a run under before a model is loaded: the params' use_case, else the model name."""
    for candidate in (raw_params.get("use_case"), str(model_ref).partition("@")[0]):
        if isinstance(candidate, str) and _SAFE_NAME.match(candidate):
            return candidate
    return "adhoc"


def score_adhoc(
    ws: Workspace,
    model_ref: str,
    input_path: str | Path,
    output_path: str | Path,
    *,
    params_path: str | Path | None = None,
    window: str = "adhoc",
    run_id: str | None = None,
    on_progress: Any = None,
    command: str = "",
) -> AdhocScore:
    """Score ``input_path`` with ``model_ref`` into ``output_path``, capture it under ``window``, and record the run.

    ``run_id`` is the scoring run id written into the predictions and captures (default: the record's run id).
    Raises the scoring error after recording it as a failed run; the error gets a note naming that run.
    A malformed ``window`` is refused before anything is recorded (it names the run folder).
    """
    from millpond.config.params import check_window, read_yaml, validate_use_case
    from millpond.models.store import ModelStore
    from millpond.scoring.batch import Scorer, parse_model_ref, score_file
    from millpond.scoring.capture import CaptureStore

    window = check_window(window)
    started, clock = datetime.now(UTC), time.perf_counter()
    source, output = ws.resolve(input_path), ws.resolve(output_path)
    raw: dict[str, Any] = {}
    inputs: dict[str, str] = {"file": ws.relative(source)}
    outputs: dict[str, str] = {"predictions": ws.relative(output)}
    summary: dict[str, Any] = {"model_ref": model_ref, "input": ws.relative(source), "output": ws.relative(output)}
    extra: dict[str, Any] = {"kind": ADHOC_KIND, "command": command or "millpond score", "model_ref": model_ref}
    name, cycle_id = _record_name(model_ref, raw), ""
    try:
        if params_path is not None:
            raw = read_yaml(ws.resolve(params_path))
            name = _record_name(model_ref, raw)
            extra["params_source"] = str(params_path)
            use_case = validate_use_case(raw, source=str(params_path))
        else:
            use_case = None
        model_name, ref = parse_model_ref(model_ref)
        store = ModelStore(ws.model_store)
        version = store.get(model_name, ref)
        if use_case is None:
            raw = dict(version.metadata.params or {})
            extra["params_source"] = f"metadata of {model_name}@{version.version}"
        aliases = store.aliases(model_name)
        role = next((a for a in ("champion", "challenger") if aliases.get(a) == version.version), "adhoc")
        inputs.update(model=f"{model_name}@{version.version}", model_sha256=version.sha256)
        summary.update(
            model=model_name,
            model_version=version.version,
            role=role,
            champion=version.version if role == "champion" else None,
        )
        scorer = Scorer.load(store, model_name, version.version, role=role, use_case=use_case)
        name = scorer.use_case.use_case
        cycle_id = new_cycle_id(name, window)
        record_id = f"{cycle_id}/{ORDER:02d}-{STAGE}"
        summary["scoring_run_id"] = run_id or record_id
        if source.is_file():
            inputs["file_sha256"] = sha256_file(source)
        scoring_clock = time.perf_counter()
        result = score_file(
            source,
            scorer,
            captures=CaptureStore(ws.model_store, model_name),
            window=window,
            output=output,
            run_id=run_id or record_id,
            on_progress=on_progress,
        )
        scoring_seconds = time.perf_counter() - scoring_clock
    except BaseException as exc:  # a failure is a record too, then the same error goes on to the caller
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        try:
            record = _record(
                ws,
                cycle_id or new_cycle_id(name, window),
                name=name,
                window=window,
                params=raw,
                status="failed",
                started=started,
                error=error,
                inputs=inputs,
                outputs={},
                summary=summary,
                extra={**extra, "timings": {"wall_seconds": time.perf_counter() - clock}},
            )
        except (MillpondError, OSError) as record_error:  # never hide the scoring error behind a recording one
            exc.add_note(f"The failed run could not be recorded: {record_error}")
        else:
            exc.add_note(f"Recorded as failed run {record.run_id} (millpond runs show {record.run_id}).")
        raise
    summary.update(
        rows=result.rows,
        served=result.served,
        scored_at=result.scored_at,
        captures={v: ws.relative(p) for v, p in result.captures.items()},
    )
    metric = scorer.use_case.promotion.metric
    if scorer.version in result.metrics:
        summary["kpi"] = {metric: result.metrics[scorer.version].get(metric)}
    outputs["predictions_sha256"] = sha256_file(result.output) if result.output is not None else ""
    for v, path in result.captures.items():
        outputs[f"capture_{v}"] = ws.relative(path)
        outputs[f"capture_{v}_sha256"] = sha256_file(path)
    wall = time.perf_counter() - clock
    extra.update(
        reason=f"ad hoc: {source.name} scored with {summary['model']}@{scorer.version} ({summary['role']})",
        timings={
            "wall_seconds": wall,
            "scoring_seconds": scoring_seconds,
            "rows_per_second": result.rows / scoring_seconds if scoring_seconds > 0 else None,
        },
    )
    record = _record(
        ws,
        cycle_id,
        name=name,
        window=window,
        params=raw,
        status="succeeded",
        started=started,
        error=None,
        inputs=inputs,
        outputs=outputs,
        summary=summary,
        extra=extra,
        sample=result.sample,
    )
    return AdhocScore(result, record)


def _record(
    ws: Workspace,
    cycle_id: str,
    *,
    name: str,
    window: str,
    params: dict[str, Any],
    status: str,
    started: datetime,
    error: str | None,
    inputs: dict[str, str],
    outputs: dict[str, str],
    summary: dict[str, Any],
    extra: dict[str, Any],
    sample: Any = None,
) -> RunRecord:
    """Create the run folder, write its report.html, and record it once."""
    import logging

    from millpond.runs.report import render_summary_report

    runs = RunStore(ws.runs)
    run_dir = runs.prepare(cycle_id, ORDER, STAGE)
    facts = {
        "kind": f"{ADHOC_KIND} (millpond score, no notebook)",
        **inputs,
        **outputs,
        **{k: summary[k] for k in ("role", "rows", "scoring_run_id") if k in summary},
        "command": extra.get("command"),
    }
    try:
        render_summary_report(
            run_dir,
            title=f"{name} · ad-hoc score · {window}",
            status=status,
            meta=f"run {cycle_id}/{run_dir.name}",
            error=error,
            facts=facts,
            sample=sample,
        )
    except (ReportError, OSError) as exc:  # the record matters more than its page
        logging.getLogger(__name__).warning("report.html of %s not written: %s", run_dir, exc)
    scraps = {
        "kind": ADHOC_KIND,
        "stage": STAGE,
        "status": status,
        "summary": summary,
        "reason": extra.get("reason", ""),
    }
    return runs.record(
        run_dir,
        use_case=name,
        window=window,
        stage=STAGE,
        params=params,
        status=status,
        started_at=started,
        finished_at=datetime.now(UTC),
        error=error,
        scraps=scraps,
        inputs=inputs,
        outputs=outputs,
        repo_dir=ws.root,
        extra=extra,
    )
