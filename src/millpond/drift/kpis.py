"""Model performance with uncertainty: bootstrap confidence intervals, paired comparisons and label-free estimates.

Everything is vectorised over resamples: a bootstrap draws a ``(resamples, rows)``
matrix of row counts (:func:`resample_counts`; in batches of at most :data:`RESAMPLE_CELLS`
counts, :func:`resample_batches`, so memory stays flat at millions of rows) and every metric
is computed from weighted sums, so a few hundred resamples of 20,000 rows cost well under a
second. The same counts applied to two models' scores give a *paired* bootstrap
of their difference. Every metric the params accept is bootstrapped
(:data:`BOOTSTRAP_METRICS`); each equals its scikit-learn function on the rows
repeated as often as the counts say. Where a resample leaves a metric undefined
(ROC AUC or average precision without positives, ROC AUC without negatives, F1
with no true and no predicted positives) the value is NaN and the interval is
taken over the other resamples (:attr:`Interval.resamples` says how many); R²
on a resample with zero variance in ``y`` is scikit-learn's default
(``force_finite=True``): 1.0 for perfect predictions, else 0.0.

:class:`LossEstimator` is direct loss estimation (DLE, as in NannyML) of RMSE/MAE for regression, beside
:func:`estimate_roc_auc`, confidence-based performance estimation (CBPE, as in
NannyML): with calibrated probabilities ``p`` the expected ROC AUC is the
pair-weighted share of (positive, negative) pairs the score ranks correctly,
each row counting ``p`` as a positive and ``1 - p`` as a negative. It holds
while P(y | x) stays as it was when the calibrator was fitted (covariate shift);
under concept drift it cannot be trusted, and the realised KPI shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression

from millpond.config.params import CLASSIFICATION_METRICS, REGRESSION_METRICS
from millpond.errors import DriftError, did_you_mean

HIGHER_IS_BETTER = {
    "roc_auc": True,
    "pr_auc": True,
    "accuracy": True,
    "f1": True,
    "r2": True,
    "log_loss": False,
    "brier": False,
    "rmse": False,
    "mae": False,
    "mape": False,
}
BOOTSTRAP_METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS  # every metric the params accept
_MAPE_EPSILON = np.finfo(
    np.float64
).eps  # as sklearn.metrics.mean_absolute_percentage_error: |y| below it counts as eps


RESAMPLE_CELLS = 4_000_000
"""At most this many row counts (resamples × rows, 16 MB as int32) are held at once: a bootstrap of a large window
is drawn in batches of resamples, so its memory stays flat in the number of rows and its time grows linearly."""


def resample_batches(rows: int, resamples: int, seed: int = 0, *, cells: int | None = None) -> Iterator[np.ndarray]:
    """The ``(resamples, rows)`` counts of :func:`resample_counts` in consecutive batches of whole resamples.

    One generator draws them in order, so the batches stacked are exactly :func:`resample_counts`' matrix.
    """
    if rows < 1 or resamples < 1:
        raise DriftError(
            f"A bootstrap needs at least one row and one resample; got {rows} rows, {resamples} resamples."
        )
    rng = np.random.default_rng(seed)
    step = max(1, (cells or RESAMPLE_CELLS) // rows)
    for start in range(0, resamples, step):
        size = min(step, resamples - start)
        draws = rng.integers(0, rows, size=(size, rows), dtype=np.int64)
        draws += (np.arange(size, dtype=np.int64) * rows)[:, None]
        yield np.bincount(draws.ravel(), minlength=size * rows).reshape(size, rows).astype(np.int32)


def resample_counts(rows: int, resamples: int, seed: int = 0) -> np.ndarray:
    """``(resamples, rows)`` int32 counts: how often each row is drawn in each bootstrap resample."""
    return np.vstack(list(resample_batches(rows, resamples, seed)))


def _over_resamples(rows: int, resamples: int, seed: int, statistic: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``statistic(counts)`` of every resample, batch by batch (:func:`resample_batches`), as one array."""
    return np.concatenate([statistic(counts) for counts in resample_batches(rows, resamples, seed)])


BOOTSTRAP_ROWS = 200_000
"""Above this many rows an interval is bootstrapped on a seeded subsample of this size and rescaled to the window."""
MIN_CLASS_ROWS = 2_000
"""A class with fewer rows than this in the subsample keeps the plain bootstrap over every row (slower, exact)."""

Statistic = Callable[[np.ndarray | None, np.ndarray], np.ndarray]
"""``statistic(rows, counts)``: the statistic per row of ``counts`` over the given rows (``None``: all of them)."""


def _take(values: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    return values if rows is None else values[rows]


def _subsample(rows: int, m: int, seed: int, classes: np.ndarray | None) -> np.ndarray | None:
    """``m`` of ``rows`` row indices without replacement, seeded, sorted; with ``classes``, each class keeps its share
    (None when a class would have fewer than :data:`MIN_CLASS_ROWS` rows: its interval needs every row)."""
    rng = np.random.default_rng([seed, rows])
    if classes is None:
        return np.sort(rng.choice(rows, size=m, replace=False))
    picked = []
    for value in np.unique(classes):
        members = np.flatnonzero(classes == value)
        take = round(m * len(members) / rows)
        if take < MIN_CLASS_ROWS:
            return None
        picked.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(picked))


def bootstrap_samples(
    rows: int, resamples: int, seed: int, value: float, statistic: Statistic, *, classes: np.ndarray | None = None
) -> np.ndarray:
    """The bootstrap distribution of a statistic whose value on all ``rows`` is ``value``.

    Up to :data:`BOOTSTRAP_ROWS` rows it is the plain bootstrap over every row. Above, the resamples are drawn from
    a seeded subsample of about ``m`` = :data:`BOOTSTRAP_ROWS` rows without replacement (an m-out-of-n bootstrap),
    stratified by ``classes`` (the labels of a classification metric) so each class keeps its share, and their
    spread around the subsample's own value is scaled by sqrt(m / rows) and centred on ``value``: every metric here
    is an average or a U-statistic, whose sampling error shrinks as 1/sqrt(rows), so the interval keeps its width
    (checked against the full bootstrap in the tests and ``scripts/bench/bench_bootstrap.py``) while its cost stops
    growing with the window. A class too rare for the subsample (:data:`MIN_CLASS_ROWS`) keeps the full bootstrap.
    """
    subset = _subsample(rows, BOOTSTRAP_ROWS, seed, classes) if rows > BOOTSTRAP_ROWS else None
    if subset is None:
        return _over_resamples(rows, resamples, seed, lambda counts: statistic(None, counts))
    m = len(subset)
    centre = statistic(subset, np.ones((1, m), dtype=np.int32))[0]
    spread = _over_resamples(m, resamples, seed, lambda counts: statistic(subset, counts)) - centre
    return value + spread * np.sqrt(m / rows)


def weighted_roc_auc(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of ``scores`` for labels (or positive probabilities) ``y`` under each row of ``weights`` (ties count half).

    ``weights`` is ``(k, rows)``; row ``i`` counts ``w*y`` as a positive and ``w*(1-y)`` as a negative. With
    0/1 labels and unit weights this equals :func:`sklearn.metrics.roc_auc_score`.
    """
    order = np.argsort(scores, kind="mergesort")
    s, yy = scores[order], np.asarray(y, dtype="float64")[order]
    w = np.atleast_2d(weights)[:, order].astype("float64")
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # groups of tied scores
    pos = np.add.reduceat(w * yy, starts, axis=1)
    neg = np.add.reduceat(w * (1.0 - yy), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)


def weighted_average_precision(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision of ``scores`` for 0/1 labels ``y`` under each row of ``weights`` (``(k, rows)``).

    As :func:`sklearn.metrics.average_precision_score`: step-wise sum of precision × recall increase over the
    distinct score thresholds, tied scores entering together. NaN for a row of ``weights`` without positives
    (sklearn warns and returns 0.0 there; undefined resamples are left out of an interval instead).
    """
    y, scores = np.asarray(y, dtype="float64"), np.asarray(scores, dtype="float64")
    order = np.argsort(-scores, kind="mergesort")  # rows by descending score
    s = scores[order]
    w = np.atleast_2d(weights)[:, order].astype("float64")
    pos = w * (y[order] == 1)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # groups of tied scores = thresholds
    if len(starts) < len(s):
        pos, w = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(w, starts, axis=1)
    tps = np.cumsum(pos, axis=1)  # weighted true positives at each threshold (its group's last row)
    seen = np.cumsum(w, axis=1, out=w)  # weighted rows at or above it
    precision = np.divide(tps, seen, out=seen, where=seen > 0)  # seen == 0 (left as 0) only where pos == 0 too
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("ij,ij->i", pos, precision) / tps[:, -1]


def weighted_f1(y: np.ndarray, scores: np.ndarray, counts: np.ndarray, threshold: float) -> np.ndarray:
    """F1 of the class ``scores >= threshold`` per row of ``counts``: 2 tp / (2 tp + fp + fn), NaN when that is 0 / 0
    (no true and no predicted positives; sklearn warns and returns 0.0 there)."""
    predicted, positive = np.asarray(scores) >= threshold, np.asarray(y) == 1
    tp, fp, fn = (
        counts
        @ np.stack([predicted & positive, predicted & ~positive, ~predicted & positive], axis=1).astype("float64")
    ).T
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, np.nan)


def weighted_r2(y: np.ndarray, predictions: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Coefficient of determination per row of ``counts``, as :func:`sklearn.metrics.r2_score` with those weights.

    A row whose counted ``y`` values are all equal (zero variance) gets sklearn's default (``force_finite=True``):
    1.0 when the predictions are perfect there, else 0.0.
    """
    y, predictions = np.asarray(y, dtype="float64"), np.asarray(predictions, dtype="float64")
    w = np.atleast_2d(counts).astype("float64")
    total = w.sum(axis=1)
    residual = w @ (y - predictions) ** 2
    mean = (w @ y) / total
    spread = (w * (y[None, :] - mean[:, None]) ** 2).sum(axis=1)  # two passes: no cancellation
    drawn = w > 0
    constant = np.where(drawn, y, np.inf).min(axis=1) == np.where(drawn, y, -np.inf).max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(constant, np.where(residual == 0, 1.0, 0.0), 1.0 - residual / spread)


def resampled_metric(
    metric: str, y: np.ndarray, scores: np.ndarray, counts: np.ndarray, *, threshold: float = 0.5
) -> np.ndarray:
    """The metric on every resample of ``counts`` (one value per row of ``counts``).

    ``scores`` are positive-class probabilities (classification) or predictions (regression); ``threshold``
    turns probabilities into classes for accuracy and F1.
    """
    y = np.asarray(y, dtype="float64")
    scores = np.asarray(scores, dtype="float64")
    counts = np.atleast_2d(counts)
    if metric == "roc_auc":
        return weighted_roc_auc(y, scores, counts)
    if metric == "pr_auc":
        return weighted_average_precision(y, scores, counts)
    if metric == "f1":
        return weighted_f1(y, scores, counts, threshold)
    if metric == "r2":
        return weighted_r2(y, scores, counts)
    if metric == "accuracy":
        loss = ((scores >= threshold) == (y == 1)).astype("float64")
    elif metric == "brier":
        loss = (scores - y) ** 2
    elif metric == "log_loss":
        p = np.clip(scores, 1e-15, 1 - 1e-15)
        loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    elif metric in ("rmse", "mae"):
        loss = (scores - y) ** 2 if metric == "rmse" else np.abs(scores - y)
    elif metric == "mape":
        loss = np.abs(scores - y) / np.maximum(np.abs(y), _MAPE_EPSILON)
    else:
        raise DriftError(
            f"No bootstrap for metric {metric!r}: it is not a metric millpond knows.{did_you_mean(metric, BOOTSTRAP_METRICS)} "
            f"Classification metrics: {', '.join(CLASSIFICATION_METRICS)}; regression metrics: {', '.join(REGRESSION_METRICS)}. "
            "Use one of them as promotion.metric or promotion.guard_metric."
        )
    mean = counts @ loss / counts.sum(axis=1)
    return np.sqrt(mean) if metric == "rmse" else mean


def point_metric(metric: str, y: np.ndarray, scores: np.ndarray, *, threshold: float = 0.5) -> float:
    """The metric on all rows (the bootstrap's centre); ROC AUC and PR AUC in blocks (:mod:`millpond.models.metrics`:
    the same value as with unit weights, without their full-length copies)."""
    from millpond.models import metrics

    if metric == "roc_auc":
        return metrics.roc_auc(y, scores)
    if metric == "pr_auc":
        return metrics.average_precision(y, scores)
    return float(resampled_metric(metric, y, scores, np.ones((1, len(y)), dtype=np.int32), threshold=threshold)[0])


@dataclass(frozen=True)
class Interval:
    """A point value with its bootstrap percentile interval."""

    value: float
    low: float
    high: float
    confidence: float
    resamples: int

    def as_dict(self) -> dict[str, float]:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "resamples": self.resamples,
        }

    def __str__(self) -> str:
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"


def _interval(value: float, samples: np.ndarray, confidence: float) -> Interval:
    samples = samples[np.isfinite(samples)]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha]) if len(samples) else (np.nan, np.nan)
    return Interval(float(value), float(low), float(high), confidence, int(len(samples)))


def bootstrap_metric(
    metric: str,
    y: np.ndarray,
    scores: np.ndarray,
    *,
    resamples: int = 300,
    confidence: float = 0.95,
    seed: int = 0,
    threshold: float = 0.5,
) -> Interval:
    """The metric with a percentile bootstrap interval (:func:`bootstrap_samples`)."""
    value = point_metric(metric, y, scores, threshold=threshold)

    def statistic(rows: np.ndarray | None, counts: np.ndarray) -> np.ndarray:
        return resampled_metric(metric, _take(y, rows), _take(scores, rows), counts, threshold=threshold)

    classes = np.asarray(y) if metric in CLASSIFICATION_METRICS else None
    return _interval(value, bootstrap_samples(len(y), resamples, seed, value, statistic, classes=classes), confidence)


def paired_difference(
    metric: str,
    y: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    *,
    resamples: int = 300,
    confidence: float = 0.95,
    seed: int = 0,
    threshold: float = 0.5,
) -> Interval:
    """``metric(first) - metric(second)`` on the same rows, with a paired bootstrap interval (same resamples for both)."""
    value = point_metric(metric, y, first, threshold=threshold) - point_metric(metric, y, second, threshold=threshold)

    def diff(rows: np.ndarray | None, counts: np.ndarray) -> np.ndarray:
        labels = _take(y, rows)
        return resampled_metric(metric, labels, _take(first, rows), counts, threshold=threshold) - resampled_metric(
            metric, labels, _take(second, rows), counts, threshold=threshold
        )

    classes = np.asarray(y) if metric in CLASSIFICATION_METRICS else None
    return _interval(value, bootstrap_samples(len(y), resamples, seed, value, diff, classes=classes), confidence)


# --- label-free estimation -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibrator:
    """Isotonic map from a model's raw scores to calibrated probabilities, fitted on labelled held-out rows."""

    thresholds: np.ndarray
    values: np.ndarray
    rows: int

    @classmethod
    def fit(cls, y: np.ndarray, scores: np.ndarray) -> Calibrator:
        if len(np.unique(y)) < 2:
            raise DriftError(f"Calibrating needs both classes in the labelled rows; got {len(y)} rows of one class.")
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, y)
        return cls(
            np.asarray(iso.X_thresholds_, dtype="float64"), np.asarray(iso.y_thresholds_, dtype="float64"), len(y)
        )

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(scores, dtype="float64"), self.thresholds, self.values)


def estimate_roc_auc(scores: np.ndarray, calibrator: Calibrator | None = None) -> float:
    """Expected ROC AUC from predicted probabilities alone (CBPE); ``calibrator`` maps raw scores to probabilities first."""
    from millpond.models.metrics import roc_auc

    probs = calibrator(scores) if calibrator is not None else np.asarray(scores, dtype="float64")
    return roc_auc(probs, scores)


RELATIVE_TOLERANCE_METRICS = ("rmse", "mae", "mape")
"""Metrics whose model-drift tolerance is a fraction of the baseline (they have units, or no natural scale)."""


def kpi_tolerance(metric: str, baseline: float | None, *, absolute: float, relative: float) -> float:
    """The KPI worsening that counts as model drift: ``relative * |baseline|`` for :data:`RELATIVE_TOLERANCE_METRICS`
    (an RMSE 5 % above its baseline, whatever the target's units), else ``absolute`` (0.02 ROC AUC)."""
    if metric in RELATIVE_TOLERANCE_METRICS:
        return relative * abs(baseline) if baseline is not None else 0.0
    return absolute


def compare_kpi(
    current: Interval,
    history: list[tuple[str, float]],
    benchmark: float | None,
    *,
    tolerance: float,
    higher_is_better: bool,
    relative: bool = False,
) -> dict[str, Any]:
    """Model drift: the KPI at T against T-1, T-2 (mean) and a benchmark, called drift only when the interval says so.

    Drift when the point value is worse than the baseline by more than the tolerance (``tolerance``, or with
    ``relative`` ``tolerance * |baseline|``) AND the better end of the current interval, widened by
    ``sqrt(1 + 1/k)`` for the noise of the ``k`` baseline KPIs (each from a window like this one), is still worse
    than the baseline: so sampling noise alone is drift in about 2.5 % of stationary windows at most (one-sided, at
    confidence 0.95; ``scripts/bench/model_drift_false_alarms.py`` measures it). Also drift when the interval's
    better end is worse than ``benchmark`` (a fixed number: no widening).
    """
    sign = 1.0 if higher_is_better else -1.0
    best = current.high if higher_is_better else current.low
    reasons: list[str] = []
    drifted = False
    baseline = float(np.mean([v for _, v in history])) if history else None
    delta = None
    allowed = tolerance
    if baseline is not None:
        allowed = tolerance * abs(baseline) if relative else tolerance
        delta = sign * (current.value - baseline)
        widened = current.value + (best - current.value) * float(np.sqrt(1.0 + 1.0 / len(history)))
        significant = sign * (widened - baseline) < 0
        windows = ", ".join(w for w, _ in history)
        drifted = delta < -allowed and significant
        verdict = "drift" if drifted else ("within noise" if not significant else "within tolerance")
        shown = f"{allowed:.4g} ({tolerance:.0%} of the baseline)" if relative else f"{tolerance}"
        reasons.append(
            f"KPI {current} vs {baseline:.4f} (mean of {windows}): change {delta:+.4f}, tolerance {shown}: {verdict}"
        )
    below_benchmark = benchmark is not None and sign * (best - benchmark) < 0
    if benchmark is not None:
        reasons.append(f"benchmark {benchmark:.4f}: {'below (whole interval)' if below_benchmark else 'met'}")
    if not reasons:
        reasons.append(f"KPI {current}: no earlier windows or benchmark to compare with")
    return {
        "model_drift": bool(drifted or below_benchmark),
        "reason": "; ".join(reasons),
        "baseline": baseline,
        "delta": delta,
        "tolerance": allowed,
        "below_benchmark": bool(below_benchmark),
        "interval": current.as_dict(),
    }


def estimate_interval(
    scores: np.ndarray, calibrator: Calibrator, *, resamples: int = 200, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """The CBPE ROC AUC estimate with a bootstrap interval over the window's rows (its sampling noise only)."""
    scores = np.asarray(scores, dtype="float64")
    probs = calibrator(scores)
    value = estimate_roc_auc(scores, calibrator)

    def statistic(rows: np.ndarray | None, counts: np.ndarray) -> np.ndarray:
        return weighted_roc_auc(_take(probs, rows), _take(scores, rows), counts)

    return _interval(value, bootstrap_samples(len(scores), resamples, seed, value, statistic), confidence)


def estimate_check(
    estimate: float | None, realised: float | None, tolerance: float, *, relative: bool = False
) -> dict[str, Any]:
    """Whether the label-free estimate can be trusted at this window, judged against the realised KPI when known
    (``relative``: the gap as a fraction of the realised KPI, for RMSE/MAE)."""
    if estimate is None:
        return {
            "estimate_trusted": None,
            "estimate_gap": None,
            "estimate_note": "no estimate (no calibration rows, or a metric without a label-free estimate)",
        }
    if realised is None:
        return {
            "estimate_trusted": None,
            "estimate_gap": None,
            "estimate_note": "labels not there yet: the KPI shown is an ESTIMATE (CBPE or DLE), valid under covariate "
            "shift only",
        }
    gap = estimate - realised
    size = abs(gap) / max(abs(realised), 1e-12) if relative else abs(gap)
    limit = f"{tolerance:.0%} of the realised KPI" if relative else f"{tolerance}"
    if size > tolerance:
        return {
            "estimate_trusted": False,
            "estimate_gap": gap,
            "estimate_note": f"realised KPI diverges from the estimate by {gap:+.4f} (> {limit}): P(y|x) changed - "
            "concept-like drift; label-free estimates cannot be trusted until the champion is retrained",
        }
    return {
        "estimate_trusted": True,
        "estimate_gap": gap,
        "estimate_note": f"estimate within {limit} of the realised KPI ({gap:+.4f}): covariate shift at most",
    }


# --- direct loss estimation (regression) -------------------------------------------------------------------------
DLE_METRICS = ("rmse", "mae")
"""Regression metrics with a label-free estimate (direct loss estimation)."""


@dataclass(frozen=True)
class LossEstimator:
    """Direct loss estimation (DLE, as in NannyML): a gradient-boosting model that predicts each row's loss of the
    monitored model (squared error for RMSE, absolute error for MAE) from the row's features and the model's
    prediction, fitted on labelled out-of-sample rows. Averaged over a window without labels it estimates the
    window's RMSE/MAE; like CBPE it holds under covariate shift, not when P(y | x) changes."""

    metric: str
    model: Any
    categories: dict[str, list[Any]]
    rows: int

    @classmethod
    def fit(cls, metric: str, features: Any, y: np.ndarray, predictions: np.ndarray, *, seed: int = 0) -> LossEstimator:
        import pandas as pd
        from sklearn.ensemble import HistGradientBoostingRegressor

        if metric not in DLE_METRICS:
            raise DriftError(f"Direct loss estimation covers {', '.join(DLE_METRICS)}; got {metric!r}.")
        if len(y) < 20:
            raise DriftError(f"Direct loss estimation needs at least 20 labelled rows; got {len(y)}.")
        categories = {
            str(c): sorted(features[c].dropna().astype(str).unique().tolist())
            for c in features.columns
            if not pd.api.types.is_numeric_dtype(features[c].dtype)
        }
        error = np.asarray(predictions, dtype="float64") - np.asarray(y, dtype="float64")
        loss = error**2 if metric == "rmse" else np.abs(error)
        from threadpoolctl import threadpool_limits

        frame = _dle_frame(features, predictions, categories)
        with threadpool_limits(1):  # a few thousand rows: threads only contend on a busy machine
            model = HistGradientBoostingRegressor(
                max_iter=100,
                learning_rate=0.05,
                min_samples_leaf=20,
                categorical_features="from_dtype",
                random_state=seed,
            ).fit(frame, loss)
        return cls(metric, model, categories, len(y))

    def losses(self, features: Any, predictions: np.ndarray) -> np.ndarray:
        """The estimated loss of each row (clipped at 0)."""
        from threadpoolctl import threadpool_limits

        frame = _dle_frame(features, predictions, self.categories)
        with threadpool_limits(1):
            return np.clip(np.asarray(self.model.predict(frame), dtype="float64"), 0.0, None)


def _dle_frame(features: Any, predictions: np.ndarray, categories: dict[str, list[Any]]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(index=range(len(features)))
    for column in features.columns:
        values = features[column].reset_index(drop=True)
        if str(column) in categories:
            frame[str(column)] = pd.Categorical(values.astype(str), categories=categories[str(column)])
        else:
            frame[str(column)] = values.astype("float64")
    frame["__prediction__"] = np.asarray(predictions, dtype="float64")
    return frame


def estimate_loss_interval(
    estimator: LossEstimator,
    features: Any,
    predictions: np.ndarray,
    *,
    resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """The DLE estimate of RMSE/MAE on a window without labels, with a bootstrap interval over its rows."""
    return loss_interval(
        estimator.metric, estimator.losses(features, predictions), resamples=resamples, confidence=confidence, seed=seed
    )


def loss_interval(
    metric: str, losses: np.ndarray, *, resamples: int = 200, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """The DLE estimate of ``metric`` (RMSE or MAE) from the estimated loss of each row, with its bootstrap interval."""
    value = float(losses.mean())

    def mean_loss(rows: np.ndarray | None, counts: np.ndarray) -> np.ndarray:
        return np.asarray(counts @ _take(losses, rows) / counts.sum(axis=1))

    means = bootstrap_samples(len(losses), resamples, seed, value, mean_loss)
    if metric == "rmse":
        return _interval(float(np.sqrt(value)), np.sqrt(means), confidence)
    return _interval(value, means, confidence)
