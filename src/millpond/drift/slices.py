"""The KPI per slice: per value of each ``slices`` column, the metric with its bootstrap interval, and the paired
candidate-vs-champion gain the promotion's slice guard judges.

A slice is the rows of one value of one column (``region = north``); a missing value is its own slice
(:data:`MISSING`). A slice with fewer labelled rows than ``slices.min_rows`` is reported with status ``too_small``
and no value: it is never judged. Where the metric is undefined on a slice (ROC AUC on a slice with one class) the
status is ``undefined``. Intervals reuse :func:`millpond.drift.kpis.bootstrap_metric` and
:func:`~millpond.drift.kpis.paired_difference` (percentile bootstrap over the slice's rows).

:class:`SliceReport` is what the train stage stores with a model version (``slice_metrics`` in its metadata, only
when ``slices`` are set), what the drift stage logs (``kpi_slices``) and what the model card shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from millpond.config.params import UseCase
from millpond.drift.kpis import HIGHER_IS_BETTER, Interval, bootstrap_metric, paired_difference
from millpond.models.training import FitResult

MISSING = "(missing)"
OK, TOO_SMALL, UNDEFINED = "ok", "too_small", "undefined"


def _finite(value: float | None) -> float | None:
    """The value as JSON can hold it: None for NaN (an interval over resamples where the metric was undefined)."""
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class SliceKpi:
    """The metric on the rows of one slice value (``kpi`` None when too small or undefined)."""

    column: str
    value: str
    rows: int
    status: str  # ok | too_small | undefined
    kpi: Interval | None = None

    @property
    def label(self) -> str:
        return f"{self.column}={self.value}"

    def as_dict(self) -> dict[str, Any]:
        kpi = self.kpi
        return {
            "column": self.column,
            "value": self.value,
            "rows": self.rows,
            "status": self.status,
            "kpi": kpi.value if kpi else None,
            "low": _finite(kpi.low) if kpi else None,
            "high": _finite(kpi.high) if kpi else None,
        }


@dataclass(frozen=True)
class SliceReport:
    """The metric per slice value of every ``slices`` column, on one set of labelled rows."""

    metric: str
    min_rows: int
    confidence: float
    slices: tuple[SliceKpi, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "min_rows": self.min_rows,
            "confidence": self.confidence,
            "slices": [s.as_dict() for s in self.slices],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SliceReport:
        """Read what :meth:`as_dict` wrote (a model's ``slice_metrics``, a drift entry's ``kpi_slices``)."""
        confidence = float(data.get("confidence", 0.95))
        slices = []
        for item in data.get("slices", []):
            kpi = None
            if item.get("kpi") is not None:
                low, high = (math.nan if item.get(k) is None else float(item[k]) for k in ("low", "high"))
                kpi = Interval(float(item["kpi"]), low, high, confidence, 0)
            slices.append(
                SliceKpi(str(item["column"]), str(item["value"]), int(item["rows"]), str(item["status"]), kpi)
            )
        return cls(str(data.get("metric", "")), int(data.get("min_rows", 0)), confidence, tuple(slices))

    def table(self) -> pd.DataFrame:
        """One row per slice value: column, value, rows, status, the metric and its interval (for reports)."""
        frame = pd.DataFrame(
            [s.as_dict() for s in self.slices], columns=["column", "value", "rows", "status", "kpi", "low", "high"]
        )
        return frame.rename(columns={"kpi": self.metric})

    def cells(self) -> list[tuple[str, str, str, str]]:
        """(slice, rows, metric with interval or why not, status) per slice, formatted for a card or summary."""
        out = []
        for s in self.slices:
            if s.kpi is not None:
                shown = f"{s.kpi.value:.3f} [{s.kpi.low:.3f}, {s.kpi.high:.3f}]"
            elif s.status == TOO_SMALL:
                shown = f"too small (< {self.min_rows} rows): not judged"
            else:
                shown = f"undefined on this slice ({self.metric})"
            out.append((s.label, str(s.rows), shown, s.status))
        return out


def slice_masks(frame: pd.DataFrame, columns: list[str]) -> Iterator[tuple[str, str, np.ndarray]]:
    """(column, value, row mask) per value of each column of ``frame``, values sorted; missing values as MISSING."""
    for column in columns:
        values = frame[column].astype("object").where(frame[column].notna(), MISSING).astype("str").to_numpy()
        for value in sorted(set(values)):
            yield column, value, values == value


def slice_kpis(
    frame: pd.DataFrame, y: np.ndarray, scores: np.ndarray, use_case: UseCase, *, resamples: int, confidence: float
) -> SliceReport:
    """The promotion metric per slice value of ``use_case.slices`` on labelled rows (``frame`` holds the slice
    columns, row-aligned with ``y`` and ``scores``), each with a percentile bootstrap interval."""
    spec, metric = use_case.slices, use_case.promotion.metric
    y, scores = np.asarray(y, dtype="float64"), np.asarray(scores, dtype="float64")
    out = []
    for seed, (column, value, mask) in enumerate(slice_masks(frame, spec.columns)):
        rows = int(mask.sum())
        if rows < spec.min_rows:
            out.append(SliceKpi(column, value, rows, TOO_SMALL))
            continue
        kpi = bootstrap_metric(
            metric,
            y[mask],
            scores[mask],
            resamples=resamples,
            confidence=confidence,
            seed=seed,
            threshold=use_case.scoring.threshold,
        )
        status = OK if math.isfinite(kpi.value) else UNDEFINED
        out.append(SliceKpi(column, value, rows, status, kpi if status == OK else None))
    return SliceReport(metric, spec.min_rows, confidence, tuple(out))


@dataclass(frozen=True)
class SliceGain:
    """Candidate minus champion on one slice (oriented: positive is the candidate better), paired bootstrap."""

    column: str
    value: str
    rows: int
    status: str
    gain: Interval | None = None

    @property
    def label(self) -> str:
        return f"{self.column}={self.value}"

    def as_dict(self) -> dict[str, Any]:
        gain = self.gain
        return {
            "slice": self.label,
            "rows": self.rows,
            "status": self.status,
            "gain": gain.value if gain else None,
            "gain_low": _finite(gain.low) if gain else None,
            "gain_high": _finite(gain.high) if gain else None,
        }


def slice_gains(
    frame: pd.DataFrame, y: np.ndarray, candidate: np.ndarray, champion: np.ndarray, use_case: UseCase
) -> list[SliceGain]:
    """Per slice value: the candidate's gain over the champion in the promotion metric on the slice's rows."""
    spec, policy = use_case.slices, use_case.promotion
    sign = 1.0 if HIGHER_IS_BETTER[policy.metric] else -1.0
    y = np.asarray(y, dtype="float64")
    out = []
    for seed, (column, value, mask) in enumerate(slice_masks(frame, spec.columns)):
        rows = int(mask.sum())
        if rows < spec.min_rows:
            out.append(SliceGain(column, value, rows, TOO_SMALL))
            continue
        diff = paired_difference(
            policy.metric,
            y[mask],
            candidate[mask],
            champion[mask],
            resamples=policy.bootstrap_resamples,
            confidence=policy.confidence,
            seed=seed,
            threshold=use_case.scoring.threshold,
        )
        if not math.isfinite(diff.value):
            out.append(SliceGain(column, value, rows, UNDEFINED))
            continue
        low, high = sorted((sign * diff.low, sign * diff.high))
        gain = Interval(sign * diff.value, low, high, diff.confidence, diff.resamples)
        out.append(SliceGain(column, value, rows, OK, gain))
    return out


def holdout_slices(result: FitResult, use_case: UseCase) -> SliceReport | None:
    """The KPI per slice on a fit's held-out rows (None when ``slices`` are not set), with the drift intervals'
    resamples and confidence."""
    if result.holdout_slices is None or result.holdout_scores is None:
        return None
    scores = result.holdout_scores
    return slice_kpis(
        result.holdout_slices,
        scores["label"].to_numpy(),
        scores["score"].to_numpy(),
        use_case,
        resamples=use_case.drift.bootstrap_resamples,
        confidence=use_case.drift.confidence,
    )


def summary_cells(report: SliceReport) -> dict[str, str]:
    """``{"region=north": "0.781 [0.752, 0.809] (412 rows)", ...}``: a stage summary's readable slice lines."""
    return {label: f"{shown} ({rows} rows)" for label, rows, shown, _ in report.cells()}


def labelled_slices(use_case: UseCase) -> Callable[[pd.DataFrame, np.ndarray, np.ndarray], dict[str, Any]]:
    """The slice function ``millpond labels add`` gives :func:`millpond.scoring.labels.add_labels`: the KPI per
    slice of the captured rows (slice columns that are no model input are not captured: listed as such)."""

    def per_slice(rows: pd.DataFrame, y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
        present = [c for c in use_case.slices.columns if c in rows.columns]
        sliced = use_case.model_copy(update={"slices": use_case.slices.model_copy(update={"columns": present})})
        report = slice_kpis(
            rows[present],
            y,
            scores,
            sliced,
            resamples=use_case.drift.bootstrap_resamples,
            confidence=use_case.drift.confidence,
        )
        missing = [c for c in use_case.slices.columns if c not in present]
        return {**report.as_dict(), **({"not_captured": missing} if missing else {})}

    return per_slice
