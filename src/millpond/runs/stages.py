"""The five stages of a cycle as plain functions; each stage notebook calls one.

A stage returns a :class:`StageResult`: status (``succeeded`` or ``skipped``
with a reason), a small summary (glued with scrapbook), small tables for the
reader, and what it read and wrote (``inputs``/``outputs``: sha256-pinned
:class:`~millpond.store.artifacts.Artifact` s the stores note while the stage runs,
glued too, for the run manifest). Stages talk to each other only through the stores: marts, models and
the monitoring log. The stages wire their context to the areas that do the work
(the drift analysis in :mod:`millpond.drift.analysis`, promotion governance in
:mod:`millpond.governance.promotion`) and turn what they return into a result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from millpond.governance.deployment import recover_pending
from millpond.runs.context import (
    StageContext,
    StageResult,
    drift_plot_data,
    glue_artifacts,
    jsonable,
    retrain_reasons,
)
from millpond.runs.skips import NO_CANDIDATE, NO_CHAMPION, NOT_TRIGGERED, skip_reason
from millpond.store.artifacts import Ledger, recording

if TYPE_CHECKING:
    import pandas as pd

    from millpond.models.training import FitResult

# Each stage imports what only it uses (scikit-learn for train and promote, scipy for drift, the scorer for score)
# inside its function: a stage kernel's `from millpond.runs import stages` loads none of them.

ACTOR = "millpond cycle"
_jsonable = jsonable  # the name older callers use
__all__ = ["RUNNERS", "StageContext", "StageResult", "recorded", "retrain_reasons", "run", "skip_reason"]


StageFunction = Callable[[StageContext], StageResult]


def recorded(stage: StageFunction) -> StageFunction:
    """Run ``stage`` in a ledger so its result lists what it read and wrote; when it fails inside a recorded run's
    kernel, what it read and wrote until then is glued before the error goes on (a failed run's manifest lists it)."""

    @functools.wraps(stage)
    def run_stage(ctx: StageContext) -> StageResult:
        with recording(ctx.workspace.root) as ledger:
            try:
                recover_pending(ctx.workspace, ctx.use_case, run_id=ctx.run_id)  # a promotion a crash interrupted
                result = stage(ctx)
            except BaseException:
                _glue_on_failure(ctx, ledger)
                raise
        result.inputs, result.outputs = ledger.inputs, ledger.outputs
        return result

    return run_stage


def _glue_on_failure(ctx: StageContext, ledger: Ledger) -> None:
    """Glue a failing stage's inputs and outputs, only inside a recorded run's kernel; never raises."""
    import logging

    try:
        from IPython import get_ipython

        if ctx.run_dir is not None and get_ipython() is not None:
            glue_artifacts(ledger.inputs, ledger.outputs)
    except Exception as exc:  # noqa: BLE001 - the stage's own error matters more
        logging.getLogger(__name__).warning("inputs/outputs of the failed stage not glued: %s", exc)


@recorded
def run_ingest(ctx: StageContext) -> StageResult:
    """Validate the window's raw rows and store them as a mart version."""
    from millpond.marts.store import ingest
    from millpond.runs.progress import rows_reporter

    quarantine = ctx.run_dir / "outputs" / "quarantine.csv" if ctx.run_dir is not None else None
    show, finish = rows_reporter(f"ingest {ctx.window}", "checked")  # big inputs: a line every 15 s in the notebook
    try:
        result = ingest(
            ctx.workspace, ctx.use_case, ctx.window, run_id=ctx.run_id, quarantine=quarantine, on_progress=show
        )
    finally:
        finish()
    version = result.version
    summary = {
        "mart_version": version.version,
        "rows": version.rows,
        "sha256": version.sha256,
        "source": (version.manifest.source or {}).get("path") or (version.manifest.source or {}).get("url"),
        "created": result.created,
    }
    if result.warnings:
        summary["warnings"] = result.warnings
    if result.windows:
        summary["windows_rebuilt"] = result.windows
    reason = "" if result.created else f"identical input: version {version.version} already stored, nothing written"
    tables = {"first rows": version.head(5), "numeric summary": version.describe().round(3)}
    return StageResult("ingest", "succeeded", reason, summary, tables)


@recorded
def run_score(ctx: StageContext) -> StageResult:
    """Score the window's mart in record batches with the champion (and the challenger, shadow or split), capture
    inputs and predictions per model version, and log KPIs per version when labels are present."""
    from millpond.scoring.batch import Scorer, score_file
    from millpond.scoring.capture import CaptureStore

    champion = ctx.champion()
    if champion is None:
        return StageResult("score", "skipped", NO_CHAMPION["score"])
    scorer = Scorer.load(ctx.models, ctx.name, champion.version, role="champion", use_case=ctx.use_case)
    challenger = None
    challenger_version = ctx.models.aliases(ctx.name).get("challenger")
    if challenger_version and challenger_version != scorer.version:
        challenger = Scorer.load(ctx.models, ctx.name, challenger_version, role="challenger", use_case=ctx.use_case)
    mart = ctx.marts.latest(ctx.name, ctx.window)
    mart.note_read()  # score_file reads its data.parquet in record batches
    captures = CaptureStore(ctx.workspace.model_store, ctx.name)
    from millpond.runs.progress import StatusLine

    status = StatusLine()  # shows "scored N of M rows" only on a terminal (silent inside a papermill kernel)
    try:
        result = score_file(
            mart.data_path,
            scorer,
            challenger=challenger,
            captures=captures,
            window=ctx.window,
            run_id=ctx.run_id,
            on_progress=status.rows_callback(),
        )
    finally:
        status.clear()
    summary: dict[str, Any] = {
        "champion": scorer.version,
        "challenger": challenger.version if challenger else None,
        "challenger_mode": ctx.use_case.scoring.challenger_mode if challenger else None,
        "mart_version": mart.version,
        "rows": result.rows,
        "served": result.served,
        "captures": {v: ctx.workspace.relative(p) for v, p in result.captures.items()},
    }
    for s in (scorer, challenger):
        if s is not None and s.version in result.metrics:
            ctx.log.append(
                "model_kpi",
                ctx.window,
                model_version=s.version,
                role=s.role,
                metrics=result.metrics[s.version],
                run_id=ctx.run_id,
                source="mart",
            )
    if scorer.version in result.metrics:
        metrics = result.metrics[scorer.version]
        ctx.log.append("kpi", ctx.window, model_version=scorer.version, metrics=metrics, run_id=ctx.run_id)
        summary["kpi"] = {ctx.use_case.promotion.metric: metrics.get(ctx.use_case.promotion.metric)}
    return StageResult("score", "succeeded", "", summary, {"prediction sample": result.sample})


@recorded
def run_drift(ctx: StageContext) -> StageResult:
    """Data drift (champion's training data vs this window) and model drift (KPI vs T-1, T-2)."""
    from millpond.drift.analysis import analyse_drift, estimate_history

    champion = ctx.champion()
    if champion is None:
        return StageResult("drift", "skipped", NO_CHAMPION["drift"])
    report = analyse_drift(ctx, champion)
    entry = report.entry
    ctx.log.append("drift", ctx.window, run_id=ctx.run_id, **entry)
    out = ctx.output("drift_table.csv")
    if out is not None:
        report.table.to_csv(out, index=False)
    summary = {**report.summary(), COMPARISON_SIDES: comparison_sides(report)}
    if entry["data_drift"] or entry["model_drift"]:
        _notify(
            ctx,
            "drift",
            reason=report.reason,
            data_drift=entry["data_drift"],
            model_drift=entry["model_drift"],
            drifted_features=entry["drifted_features"],
            kpi=entry["kpi"],
            kpi_estimate=entry["kpi_estimate"],
        )
    tables = {"drift per feature (by impact)": report.table.round(4)}
    if "kpi_slices" in entry:
        from millpond.drift.slices import SliceReport

        slices = SliceReport.from_dict(entry["kpi_slices"])
        tables[f"realised {slices.metric} per slice"] = slices.table().round(4)
    history = estimate_history(ctx.log, ctx.window, ctx.use_case.drift.estimate_tolerance)  # with this window's entry
    if not history.empty:
        tables["estimated vs realised KPI (roc_auc) per window"] = history.round(4)
    uc = ctx.use_case
    data = {
        **drift_plot_data(report, uc),
        "estimates": history,
    }
    return StageResult("drift", "succeeded", report.reason, summary, tables, data)


def _notify(ctx: StageContext, event: str, **fields: Any) -> None:
    """Send a notification (events log + audit always; e-mail/webhook when configured); never raises."""
    import logging

    from millpond.governance.notifications import notify

    try:
        notify(
            ctx.workspace,
            ctx.name,
            ctx.use_case.notify,
            event,
            actor=ACTOR,
            window=ctx.window,
            run_id=ctx.run_id,
            **fields,
        )
    except Exception as exc:  # noqa: BLE001 - a notification never fails the cycle
        logging.getLogger(__name__).warning("notification %s failed: %s", event, exc)


COMPARISON_SIDES = "comparison_sides"  # summary key: the mart versions the comparison step compares


def comparison_sides(report: Any) -> dict[str, Any]:
    """The mart versions a sweetviz comparison of this drift analysis compares (``report``: a :class:`DriftReport`):
    the champion's training versions (reference) and the window's version (current). The comparison itself is
    drawn after the stage by the comparison step (:mod:`millpond.runs.comparison`), never while the verdict waits."""
    reference = getattr(report.reference, "versions", None) or []
    return {"reference": [v.version for v in reference], "current": report.mart_version}


@recorded
def run_train(ctx: StageContext) -> StageResult:
    """Fit a candidate on the training windows when the retrain policy asks for one."""
    import pandas as pd

    from millpond.drift.slices import holdout_slices, summary_cells
    from millpond.models.training import fit, split_training_data

    reasons = retrain_reasons(ctx)
    if not reasons:
        return StageResult("train", "skipped", NOT_TRIGGERED)
    uc = ctx.use_case
    versions = ctx.marts.window_span(ctx.name, ctx.window, uc.training.windows)
    train, holdout, windows = split_training_data([(v.window, v.read()) for v in versions], ctx.window, uc)
    result = fit(train, holdout, uc, windows=windows)
    metadata = _candidate_metadata(ctx, result, versions, train, reasons)
    slices = holdout_slices(result, uc)  # None unless `slices:` is set (the metadata then has no slice_metrics)
    if slices is not None:
        metadata["slice_metrics"] = slices.as_dict()
    saved = ctx.models.save(ctx.name, result.model, metadata)
    importance = pd.Series(result.importance).sort_values(ascending=False).to_frame("importance")
    summary = {
        "candidate": saved.version,
        "reasons": reasons,
        "train_rows": result.train_rows,
        "holdout_rows": result.holdout_rows,
        "windows": [v.window for v in versions],
        "metrics": {k: round(v, 4) for k, v in result.metrics.items()},
        "profile": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in saved.metadata.profile.items()},
    }
    tables = {"feature importance (normalised)": importance.round(4)}
    if slices is not None:
        summary["slices"] = summary_cells(slices)
        tables[f"{slices.metric} per slice (holdout)"] = slices.table().round(4)
    if result.search is not None:
        summary["search"] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.search.summary.items()}
        tables["search iterations"] = result.search.iterations.round(4)
        out = ctx.output("search_iterations.csv")
        if out is not None:
            result.search.iterations.to_csv(out, index=False)
    data = {"task": uc.task, "holdout_scores": result.holdout_scores, "importance": importance}
    _notify(ctx, "retrain", reason="; ".join(reasons), candidate=saved.version, metrics=summary["metrics"])
    return StageResult("train", "succeeded", "; ".join(reasons), summary, tables, data)


def _candidate_metadata(
    ctx: StageContext, result: FitResult, versions: list[Any], train: pd.DataFrame, reasons: list[str]
) -> dict[str, Any]:
    """The metadata a candidate is saved with (its training marts, contract, example rows, code and params)."""
    from millpond.config.secrets import redact
    from millpond.models.training import input_schema
    from millpond.runs.provenance import code_version
    from millpond.scoring.input_contract import InputContract

    uc = ctx.use_case
    return {
        "use_case": uc.use_case,
        "task": uc.task,
        "family": uc.model.family,
        "model_params": {**uc.model.params, **result.best_params},
        "metrics": result.metrics,
        "importance": result.importance,
        "train_rows": result.train_rows,
        "holdout_rows": result.holdout_rows,
        "fit_seconds": result.fit_seconds,
        "profile": result.profile,
        "search": _search_record(result),
        "trained_for_window": ctx.window,
        "training_marts": [{"version": v.version, "window": v.window, "sha256": v.sha256} for v in versions],
        "input_schema": input_schema(uc),
        "input_contract": InputContract.from_training(train, uc).as_dict(),
        "input_example": train[uc.feature_columns].head(5).to_dict(orient="records"),
        "retrain_reasons": reasons,
        "run_id": ctx.run_id,
        "code": code_version(ctx.workspace.root),
        "params": redact(uc.model_dump(mode="json")),  # no literal credential in a model's metadata
        "column_order": list(
            uc.columns
        ),  # metadata.json sorts keys; feature order (and so the model bytes) follows this
    }


def _search_record(result: FitResult) -> dict[str, Any] | None:
    """The search summary and every iteration, as stored in the model's metadata."""
    if result.search is None:
        return None
    return {**result.search.summary, "iterations": result.search.iterations.to_dict(orient="records")}


@recorded
def run_promote(ctx: StageContext) -> StageResult:
    """Compare the window's candidate with the champion and the champions of T-1 and T-2 on the same held-out labelled
    rows (paired bootstrap), apply the policy, then promote (auto) or stop at 'awaiting approval' (manual)."""
    from millpond.governance.promotion import find_candidate, govern_promotion
    from millpond.models.training import holdout_mask

    candidate = find_candidate(ctx.models, ctx.log, ctx.name, ctx.window)
    if candidate is None:
        return StageResult("promote", "skipped", NO_CANDIDATE)
    current = ctx.marts.latest(ctx.name, ctx.window).read()
    labelled = current[holdout_mask(current, ctx.use_case)]
    done = govern_promotion(
        ctx.workspace, ctx.use_case, ctx.window, candidate.version, labelled, actor=ACTOR, run_id=ctx.run_id
    )
    summary: dict[str, Any] = {
        "candidate": done.candidate,
        "champion_before": done.champion_before,
        **done.decision.as_dict(),
        "comparison": done.comparison_records,
    }
    tables = (
        {"paired comparison on the held-out rows (gain = candidate better)": done.comparison.round(4)}
        if not done.comparison.empty
        else {}
    )
    if done.decision.slices:
        import pandas as pd

        tables["gain over the champion per slice (held-out rows)"] = pd.DataFrame(done.decision.slices).round(4)
    reason = done.decision.reason
    if done.outcome == "awaiting_approval":
        summary.update(promoted=False, awaiting_approval=True)
        return StageResult("promote", "succeeded", "awaiting approval: " + reason, summary, tables)
    if done.outcome == "rejected":
        return StageResult("promote", "succeeded", "rejected: " + reason, {**summary, "promoted": False}, tables)
    if done.outcome == "rolled_back":
        why = f"rolled back: smoke test failed ({done.smoke})"
        return StageResult("promote", "succeeded", why, {**summary, "promoted": False}, tables)
    return StageResult("promote", "succeeded", "promoted: " + reason, {**summary, "promoted": True}, tables)


RUNNERS = {"ingest": run_ingest, "score": run_score, "drift": run_drift, "train": run_train, "promote": run_promote}


def run(stage: str, namespace: dict[str, Any]) -> StageResult:
    """Run ``stage`` with a notebook's parameters (the one call each stage notebook makes).

    No store is written without a recorded, locked run (:mod:`millpond.runs.standalone`): inside ``millpond
    run``/``cycle`` the runner records and locks; in a non-interactive kernel (plain papermill, nbclient) the stage
    opens its own run record (kind ``papermill``) under the use case's lock; in an interactive kernel it is a
    read-only preview (:mod:`millpond.runs.preview`) unless ``commit`` is True (then kind ``interactive``).
    """
    from millpond.runs.standalone import execution, notebook_params, run_recorded

    ctx = StageContext.from_namespace(namespace)
    how = execution(namespace)
    if how.kind == "runner":
        return RUNNERS[stage](ctx)
    if not how.writes:
        from millpond.runs.preview import preview

        return preview(stage, ctx)
    return run_recorded(stage, ctx, how.kind, RUNNERS[stage], notebook_params(namespace))
