"""The drift stage's analysis of one window: data drift against the champion's training data, the champion's KPI
(realised, with a bootstrap interval, and its label-free CBPE estimate), and model drift against T-1, T-2.

The functions read the use case, the window and the stores through a :class:`WindowContext` (a stage's context is
one); they log nothing: the drift stage records what :func:`analyse_drift` found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from millpond.config.params import UseCase
from millpond.marts.columns import MartColumns
from millpond.marts.store import MartStore
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore, ModelVersion

if TYPE_CHECKING:
    from millpond.drift.kpis import Interval

CALIBRATION_WINDOWS = 6  # at most this many labelled windows after the champion's training window calibrate its CBPE


class WindowContext(Protocol):
    """What an analysis reads: the use case, the window, and the marts, models and monitoring log."""

    @property
    def name(self) -> str: ...

    @property
    def use_case(self) -> UseCase: ...

    @property
    def window(self) -> str: ...

    @property
    def marts(self) -> MartStore: ...

    @property
    def models(self) -> ModelStore: ...

    @property
    def log(self) -> MonitoringLog: ...


@dataclass(frozen=True)
class DriftReport:
    """What the drift analysis of one window found."""

    champion: str
    table: pd.DataFrame  # drift per feature, by impact
    verdict: dict[str, Any]  # the dataset verdict (drift_detected, drifted_features, impact_total, n_drifted)
    performance: dict[str, Any]  # see champion_performance
    reference: pd.DataFrame | MartColumns  # the champion's training rows
    current: pd.DataFrame | MartColumns  # this window's mart
    mart_version: str
    kpi_benchmark: float | None

    @property
    def entry(self) -> dict[str, Any]:
        """The monitoring log's drift entry of the window."""
        perf, verdict = self.performance, self.verdict
        return {
            "champion": self.champion,
            "data_drift": bool(verdict["drift_detected"]),
            "model_drift": bool(perf["model"]["model_drift"]),
            "impact_total": float(verdict["impact_total"]),
            "drifted_features": list(verdict["drifted_features"]),
            "kpi": perf["kpi"],
            "kpi_interval": perf["kpi_interval"],
            "kpi_history": perf["history"],
            "kpi_benchmark": self.kpi_benchmark,
            "kpi_basis": perf["basis"],
            "kpi_estimate": perf["estimate"],
            "kpi_estimate_interval": perf["estimate_interval"],
            "kpi_estimate_is_estimate": True,
            **perf["check"],
            **({"kpi_slices": perf["slices"]} if perf.get("slices") else {}),  # only with `slices:` set
        }

    @property
    def reason(self) -> str:
        """One line: the data drift verdict, the model drift verdict, and why the estimate is not trusted."""
        verdict, check = self.verdict, self.performance["check"]
        data = (
            "impactful data drift in " + ", ".join(verdict["drifted_features"])
            if verdict["drift_detected"]
            else "no impactful data drift"
        )
        note = check["estimate_note"] if check["estimate_trusted"] is not True else ""
        return "; ".join(part for part in (data, self.performance["model"]["reason"], note) if part)

    def summary(self) -> dict[str, Any]:
        """The drift stage's summary: the entry, why model drift was (not) found, how many features drifted."""
        from millpond.drift.slices import SliceReport, summary_cells

        entry = self.entry
        if "kpi_slices" in entry:
            entry["kpi_slices"] = summary_cells(SliceReport.from_dict(entry["kpi_slices"]))
        return {
            **entry,
            "model_drift_reason": self.performance["model"]["reason"],
            "n_drifted": int(self.verdict["n_drifted"]),
            "drift_meaning": str(self.verdict.get("meaning", "")),
            "mart_version": self.mart_version,
        }


def training_columns(ctx: WindowContext, version: ModelVersion) -> MartColumns:
    """The rows the model was trained on, from the mart versions in its lineage, read a column at a time."""
    return MartColumns([ctx.marts.get(ctx.name, item["version"]) for item in version.metadata.training_marts])


def analyse_drift(
    ctx: WindowContext, champion: ModelVersion, on_frames: Callable[[MartColumns, MartColumns], None] | None = None
) -> DriftReport:
    """Data drift (the champion's training data vs this window) and the champion's performance at this window.

    Both sides are read a column at a time (the statistics) or a record batch at a time (the champion's scores),
    never whole, so memory follows a column of the window rather than the window. ``on_frames(reference,
    current)`` is called before any statistic (the drift stage starts its comparison report there, to be drawn
    from its samples while the statistics run).
    """
    from millpond.drift.distributed import drift_table_on_engine
    from millpond.drift.stats import dataset_verdict

    uc = ctx.use_case
    reference = training_columns(ctx, champion)
    mart = ctx.marts.latest(ctx.name, ctx.window)
    current = MartColumns([mart])
    if on_frames is not None:
        on_frames(reference, current)
    table = drift_table_on_engine(  # drift_table in this process, or from partitions on the engine's Dask cluster
        reference,
        current,
        uc.engine,
        numeric=uc.numeric_columns,
        categorical=uc.categorical_columns,
        thresholds=uc.drift,
        importance=champion.metadata.importance or None,
    )
    verdict = dataset_verdict(table, uc.drift)
    performance = champion_performance(ctx, champion, current)
    return DriftReport(
        champion.version, table, verdict, performance, reference, current, mart.version, uc.drift.kpi_benchmark
    )


def per_batch(
    current: MartColumns, columns: list[str], compute: Callable[[pd.DataFrame, slice], np.ndarray]
) -> np.ndarray:
    """``compute(batch, rows)`` over ``current``'s record batches of ``columns`` (``rows``: the batch's slice of the
    window), filled into one float64 array in place (no list of parts, no copy of them at the end); on a window
    without rows, ``compute`` of the empty frame (a model's own refusal, as for a frame)."""
    if len(current) == 0:
        return compute(current.frame(columns), slice(0, 0))
    out = np.empty(len(current), dtype="float64")
    for batch in current.batches(columns):
        rows = slice(batch.index[0], batch.index[-1] + 1)
        out[rows] = compute(batch, rows)
    return out


def window_scores(model: Any, current: MartColumns, uc: UseCase) -> np.ndarray:
    """The model's scores of every row of ``current``, scored a record batch at a time (the same scores as one call)."""
    from millpond.models.training import predict_scores

    return per_batch(current, uc.feature_columns, lambda batch, _: predict_scores(model, batch, uc))


def champion_performance(ctx: WindowContext, champion: ModelVersion, current: MartColumns) -> dict[str, Any]:
    """The champion's KPI at this window with a bootstrap interval (labels in the mart) and its label-free CBPE estimate
    (isotonic calibration on the champion's labelled out-of-sample rows, see calibration_rows), model drift against
    T-1, T-2 and the benchmark."""
    from millpond.drift.kpis import estimate_check

    uc = ctx.use_case
    metric = uc.promotion.metric
    model = ctx.models.load(ctx.name, champion.version)[0]
    scores = window_scores(model, current, uc)
    labels = current[uc.target] if uc.target in current.columns else None
    interval = realised_kpi(uc, labels, scores)
    slices = realised_slices(uc, current, labels, scores)
    del labels  # a large window's labels leave memory before the estimate's arrays arrive
    estimate = estimated_kpi(ctx, champion, model, scores, current)
    history = ctx.log.kpi_history(metric, before=ctx.window)
    basis, result = model_drift(uc, interval, estimate, history)
    kpi = interval.value if interval else None
    relative = uc.task == "regression"
    tolerance = uc.drift.kpi_tolerance_relative if relative else uc.drift.estimate_tolerance
    return {
        "kpi": kpi,
        "kpi_interval": interval.as_dict() if interval else None,
        "history": history,
        "basis": basis,
        "estimate": estimate.value if estimate else None,
        "estimate_interval": estimate.as_dict() if estimate else None,
        "check": estimate_check(estimate.value if estimate else None, kpi, tolerance, relative=relative),
        "model": result,
        "slices": slices,
    }


def realised_slices(
    uc: UseCase, current: MartColumns, labels: pd.Series | None, scores: np.ndarray
) -> dict[str, Any] | None:
    """The promotion metric per slice value on the window's labelled rows (``labels``: the target column), with
    bootstrap intervals (see :mod:`millpond.drift.slices`); None without ``slices`` or labels."""
    from millpond.drift.slices import slice_kpis

    if not uc.slices.columns or labels is None:
        return None
    labelled = labels.notna().to_numpy()
    if labelled.sum() < 2:
        return None
    report = slice_kpis(
        current.frame(uc.slices.columns).loc[labelled].reset_index(drop=True),
        labels.to_numpy()[labelled],
        scores[labelled],
        uc,
        resamples=uc.drift.bootstrap_resamples,
        confidence=uc.drift.confidence,
    )
    return report.as_dict()


def realised_kpi(uc: UseCase, labels: pd.Series | None, scores: np.ndarray) -> Interval | None:
    """The promotion metric on the window's labelled rows (``labels``: its target column, None when it has none) with
    a bootstrap interval; None with fewer than 2 labels.

    Every params metric is bootstrapped; an unknown one raises DriftError naming the valid ones.
    """
    from millpond.drift.kpis import bootstrap_metric

    if labels is None:
        return None
    labelled = labels.notna().to_numpy()
    if labelled.sum() < 2:
        return None
    every = bool(labelled.all())  # then no copies of a large window's labels and scores
    y = labels.to_numpy() if every else labels.to_numpy()[labelled]
    return bootstrap_metric(
        uc.promotion.metric,
        y,
        scores if every else scores[labelled],
        resamples=uc.drift.bootstrap_resamples,
        confidence=uc.drift.confidence,
        threshold=uc.scoring.threshold,
    )


def estimated_kpi(
    ctx: WindowContext, champion: ModelVersion, model: Any, scores: np.ndarray, current: MartColumns
) -> Interval | None:
    """The label-free estimate of the promotion metric: CBPE of ROC AUC (classification with both classes in the
    calibration rows), DLE of RMSE/MAE (regression, see :class:`~millpond.drift.kpis.LossEstimator`), else None."""
    from millpond.drift.kpis import DLE_METRICS, Calibrator, estimate_interval

    uc = ctx.use_case
    if uc.task == "regression":
        if uc.promotion.metric not in DLE_METRICS:
            return None
        return estimated_loss(ctx, champion, model, current, scores)
    if uc.promotion.metric != "roc_auc":
        return None
    from millpond.models.training import predict_scores

    rows = calibration_rows(ctx, champion)
    if rows is None or len(np.unique(rows[uc.target])) != 2:
        return None
    calibrator = Calibrator.fit(rows[uc.target].to_numpy(), predict_scores(model, rows[uc.feature_columns], uc))
    return estimate_interval(scores, calibrator, resamples=uc.drift.bootstrap_resamples, confidence=uc.drift.confidence)


def estimated_loss(
    ctx: WindowContext, champion: ModelVersion, model: Any, current: MartColumns, predictions: np.ndarray
) -> Interval | None:
    """DLE of the champion's RMSE/MAE on ``current`` (this window's rows, scored as ``predictions``) from a loss model
    fitted on its calibration rows (None with fewer than 20 of them); the window's losses are estimated a record
    batch at a time."""
    from millpond.drift.kpis import LossEstimator, loss_interval
    from millpond.models.training import predict_scores

    uc = ctx.use_case
    rows = calibration_rows(ctx, champion)
    if rows is None or len(rows) < 20:
        return None
    features = rows[uc.feature_columns]
    estimator = LossEstimator.fit(
        uc.promotion.metric, features, rows[uc.target].to_numpy(), predict_scores(model, features, uc)
    )
    losses = per_batch(current, uc.feature_columns, lambda batch, rows: estimator.losses(batch, predictions[rows]))
    return loss_interval(
        estimator.metric, losses, resamples=uc.drift.bootstrap_resamples, confidence=uc.drift.confidence
    )


def model_drift(
    uc: UseCase, interval: Interval | None, estimate: Interval | None, history: list[tuple[str, float]]
) -> tuple[str, dict[str, Any]]:
    """The KPI basis ('realised', 'estimate' without labels for ROC AUC, or 'none') and the comparison with T-1, T-2
    and the benchmark."""
    from millpond.drift.kpis import DLE_METRICS, RELATIVE_TOLERANCE_METRICS, compare_kpi

    basis, target = "realised", interval
    if target is None and estimate is not None and uc.promotion.metric in ("roc_auc", *DLE_METRICS):
        target, basis = estimate, "estimate"
    if target is None:
        return "none", {
            "model_drift": False,
            "reason": "no labels and no estimate: model drift not assessed",
            "baseline": None,
            "delta": None,
        }
    policy = uc.drift
    relative = uc.promotion.metric in RELATIVE_TOLERANCE_METRICS
    result = compare_kpi(
        target,
        history,
        policy.kpi_benchmark,
        tolerance=policy.kpi_tolerance_relative if relative else policy.kpi_tolerance,
        higher_is_better=uc.metric_higher_is_better,
        relative=relative,
    )
    if basis == "estimate":
        result["reason"] = f"ESTIMATED (no labels yet): {result['reason']}"
    return basis, result


def calibration_rows(ctx: WindowContext, champion: ModelVersion) -> pd.DataFrame | None:
    """The champion's labelled out-of-sample rows before this window: the held-out rows of the window it was trained
    for, plus every labelled row of the (at most ``CALIBRATION_WINDOWS``) later windows before ``ctx.window``.

    None when the champion's training mart is unknown. More rows than the ~25% holdout of one window keep the
    isotonic calibration from overfitting its sparse high-score steps, which inflated the CBPE estimate under
    covariate shift (scores moving into that region) by ~0.02 AUC on the demo.
    """
    from millpond.models.training import holdout_mask

    uc = ctx.use_case
    trained_for = champion.metadata.trained_for_window
    marts = [m for m in champion.metadata.training_marts if m.get("window") == trained_for]
    if not marts or trained_for is None:
        return None
    frame = ctx.marts.get(ctx.name, marts[-1]["version"]).read()
    parts = [frame[holdout_mask(frame, uc)]]
    later = [w for w in ctx.marts.windows(ctx.name) if trained_for < w < ctx.window][-CALIBRATION_WINDOWS:]
    for window in later:
        part = ctx.marts.latest(ctx.name, window).read()
        if uc.target in part.columns:
            parts.append(part[part[uc.target].notna()])
    rows = pd.concat(parts, ignore_index=True)
    return rows[rows[uc.target].notna()]


def estimate_history(log: MonitoringLog, window: str, tolerance: float) -> pd.DataFrame:
    """Per window up to ``window``: the label-free estimate logged by the drift stage and the realised ROC AUC
    (from the mart, or from late labels added with ``millpond labels add``), with their gap."""
    estimates = {e.window: e.fields.get("kpi_estimate") for e in log.entries("drift") if e.window <= window}
    realised = {e.window: e.metrics.get("roc_auc") for e in log.run_entries("kpi") if e.window <= window}
    rows = []
    for w in sorted(estimates):
        est, real = estimates[w], realised.get(w)
        gap = est - real if est is not None and real is not None else None
        rows.append(
            {
                "window": w,
                "estimated": est,
                "realised": real,
                "gap": gap,
                "trusted": None if gap is None else abs(gap) <= tolerance,
            }
        )
    return pd.DataFrame(rows)
