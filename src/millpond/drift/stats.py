"""Per-feature data-drift statistics, reference vs current, exact and fast.

Every statistic equals its scipy reference (``ks_2samp``, ``chi2_contingency``,
``jensenshannon``, ``wasserstein_distance``) to float precision. NaN/None are
dropped before any statistic; :func:`drift_table` reports the missing shares
separately. Speed comes from sorting each numeric column once per side and
reusing the sorted arrays for KS, Wasserstein, quantile bins, median and IQR,
and from counting each categorical column once (``value_counts``).

Binning (PSI and Jensen-Shannon):

* numeric: right-closed bins ``(e[i-1], e[i]]`` whose edges are the reference's
  ``bins + 1`` quantiles (numpy's linear interpolation), duplicates removed and
  outer edges replaced by -inf/+inf, so every value lands in a bin;
* categorical: one bin per category in the union of both sides. Categories
  compare as strings; integral floats print as integers, so a code column that
  became float because of missing values still matches its integer reference.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon as _scipy_jensenshannon
from scipy.special import gammaln
from scipy.stats import chi2_contingency, ks_2samp, kstwo

from millpond.config.params import DriftThresholds
from millpond.errors import DriftError, did_you_mean

Values: TypeAlias = np.ndarray | pd.Series | Sequence[Any]

KS_EXACT_MAX_N = 10_000
"""ks_2samp(method='auto') computes the exact p-value when max(n1, n2) is at most this."""
DRIFT_MEMORY = 1 << 30
"""Bytes the columns computed at once may take (about 48 per row of both sides each, see :func:`_workers`)."""
PSI_EPS = 1e-4
"""Shares of empty bins are clipped up to this in PSI, so its log stays finite."""
_LOG_2PI = math.log(2 * math.pi)
# ks_2samp warns when its exact p-value does not converge and it falls back to the asymptotic one, as documented
# (and as the statistics here did before). One process-wide filter for that message only: catch_warnings is not
# thread-safe, and drift_table computes features in threads.
warnings.filterwarnings("ignore", message="ks_2samp: Exact calculation unsuccessful", category=RuntimeWarning)

TABLE_COLUMNS = [
    "feature", "kind", "n_reference", "n_current", "missing_reference", "missing_current",
    "psi", "ks_statistic", "ks_pvalue", "chi2_statistic", "chi2_pvalue", "jensen_shannon",
    "wasserstein_norm", "median_shift", "pvalue", "pvalue_adjusted", "significant", "material", "drifted",
    "drift_score", "importance", "impact",
]  # fmt: skip


@runtime_checkable
class Columns(Protocol):
    """A side read a column at a time (:class:`millpond.marts.columns.MartColumns`); a DataFrame is one too."""

    columns: Any

    def __len__(self) -> int: ...

    def __getitem__(self, name: str) -> Any: ...


# --- input preparation ---------------------------------------------------------------------------
def _check_1d(values: Values, name: str) -> None:
    if np.ndim(values) != 1:
        raise DriftError(f"{name} must be 1-D (a numpy array or pandas Series); got {np.ndim(values)} dimensions.")


def _sorted_numeric(values: Values, name: str) -> np.ndarray:
    """Non-null values as sorted float64; DriftError when none are left or some are infinite."""
    _check_1d(values, name)
    try:
        array = pd.Series(values, copy=False).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise DriftError(
            f"{name} must hold numbers; got {pd.Series(values).dtype} values ({exc}). "
            "Compare it as categorical instead."
        ) from exc
    array = array[~np.isnan(array)]  # a copy, so sorting in place is safe
    if array.size == 0:
        raise DriftError(f"{name} has no non-null values; drift needs at least one on each side.")
    if np.isinf(array).any():
        raise DriftError(f"{name} holds {int(np.isinf(array).sum())} infinite values; expected finite numbers or NaN.")
    array.sort()
    return array


def _category_counts(values: Values, name: str) -> pd.Series:
    """Counts of each non-null category, indexed by the category as a string."""
    _check_1d(values, name)
    counts = pd.Series(values, copy=False).value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]  # unused levels of a pandas Categorical
    if counts.empty:
        raise DriftError(f"{name} has no non-null values; drift needs at least one on each side.")
    if pd.api.types.is_float_dtype(counts.index.dtype):
        counts.index = [str(int(v)) if float(v).is_integer() else str(v) for v in counts.index]
    else:
        counts.index = counts.index.astype(str)
    return counts.groupby(level=0, sort=False).sum()  # 1 and "1" are one category


def _aligned_counts(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current counts over the union of categories (0 where unseen)."""
    both = pd.concat([reference, current], axis=1, keys=["reference", "current"]).fillna(0).astype(np.int64)
    return both["reference"].to_numpy(), both["current"].to_numpy()


def _binned_shares(reference: np.ndarray, current: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Shares of two sorted samples in the reference-quantile bins (see the module docstring)."""
    if not isinstance(bins, int | np.integer) or bins < 1:
        raise DriftError(f"bins must be a positive integer; got {bins!r}.")
    inner_edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)))[1:-1]

    def shares(values: np.ndarray) -> np.ndarray:
        below = np.searchsorted(values, inner_edges, side="right")
        return np.diff(below, prepend=0, append=values.size) / values.size

    return shares(reference), shares(current)


# --- statistics on prepared inputs -------------------------------------------------------------
def _psi(p: np.ndarray, q: np.ndarray, eps: float) -> float:
    if not eps > 0:
        raise DriftError(f"eps must be positive; got {eps!r}.")
    p, q = np.clip(p, eps, None), np.clip(q, eps, None)
    return float(np.sum((q - p) * np.log(q / p)))


def _js(p: np.ndarray, q: np.ndarray) -> float:
    with np.errstate(invalid="ignore"):
        distance = float(_scipy_jensenshannon(p, q, base=2))
    # Near-identical p and q can round the divergence to -1e-17, whose sqrt scipy returns as NaN.
    return 0.0 if math.isnan(distance) else distance


ECDF_BLOCK = 1 << 20
"""Values of each side per block of :func:`_ecdf_gap`'s merge: memory follows the block, not the column."""


def _ecdf_gap(x: np.ndarray, y: np.ndarray, block: int = ECDF_BLOCK) -> tuple[float, float]:
    """KS statistic and Wasserstein-1 distance of two sorted samples, from one merge.

    Both integrate the gap between the empirical CDFs over the pooled sorted values, as ``ks_2samp`` and
    ``wasserstein_distance`` do. Up to ``block`` values a side it is one merge; longer samples are merged in
    consecutive value ranges of at most ``block`` values of each side (cut at every ``block``-th value, so a run
    of ties never straddles two ranges): the same gaps and so the same KS statistic, and the same Wasserstein sum
    up to the order of its additions, in memory bounded by the block.
    """
    n1, n2 = x.size, y.size
    if max(n1, n2) <= block:
        return _ecdf_block(x, y, 0, 0, n1, n2)[:2]
    bounds = np.unique(np.concatenate((x[block::block], y[block::block], [np.inf])))
    statistic, distance, last = 0.0, 0.0, None
    x0 = y0 = 0
    for bound in bounds:  # the range (previous bound, bound]
        x1, y1 = int(np.searchsorted(x, bound, side="right")), int(np.searchsorted(y, bound, side="right"))
        if x1 == x0 and y1 == y0:
            continue
        part_statistic, part_distance, first, end = _ecdf_block(x[x0:x1], y[y0:y1], x0, y0, n1, n2)
        if last is not None:  # the step from the previous range's last value to this range's first
            distance += last[0] * (first - last[1])
        statistic, distance, last = max(statistic, part_statistic), distance + part_distance, end
        x0, y0 = x1, y1
    return statistic, distance


def _ecdf_block(
    x: np.ndarray, y: np.ndarray, x_before: int, y_before: int, n1: int, n2: int
) -> tuple[float, float, float, tuple[float, float]]:
    """The merge of one value range: its largest gap, its Wasserstein part, its first value, (last gap, last value).

    ``x_before``/``y_before`` values of each side lie below the range; ``n1``/``n2`` are the sides' sizes.
    """
    pooled = np.concatenate((x, y))
    order = np.argsort(pooled, kind="stable")  # two sorted runs: a linear merge, x before y on ties
    pooled = pooled[order]
    x_at_or_below = x_before + np.cumsum(order < x.size)
    gap = x_at_or_below / n1 - (x_before + y_before + np.arange(1, pooled.size + 1) - x_at_or_below) / n2
    np.abs(gap, out=gap)
    run_ends = np.append(pooled[1:] != pooled[:-1], True)  # inside a run of ties the counts are partial
    statistic = float(gap[run_ends].max())
    distance = float(np.dot(gap[:-1], np.diff(pooled)))  # tie runs add zero-width steps
    return statistic, distance, float(pooled[0]), (float(gap[-1]), float(pooled[-1]))


def _stirlerr(k: np.ndarray) -> np.ndarray:
    """``log(k!) - ((k + 1/2) log k - k + log(2 pi) / 2)`` for k >= 1: Stirling's error (Loader 2000)."""
    out = np.empty_like(k)
    small = k < 16
    ks = k[small]
    out[small] = gammaln(ks + 1) - (ks + 0.5) * np.log(ks) + ks - _LOG_2PI / 2
    k2 = 1.0 / k[~small] ** 2
    out[~small] = (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - k2 / 1188) * k2) * k2) * k2) / k[~small]
    return out


def _smirnov(n: int, x: float) -> float:
    """``scipy.special.smirnov(n, x)`` for 2.2 <= n x^2 < 370, x < 0.5: its lower sum, vectorised.

    scipy adds the Birnbaum-Tingey terms ``C(n,v) x (x + v/n)^(v-1) (1 - x - v/n)^(n-v)``
    one by one in double-double, ~0.6 s at n = 500,000. Each term is a binomial
    pmf at ``u = x + v/n`` divided by ``u``; in Loader's saddle-point form its
    log has no cancellation, so numpy sums all terms ~15x faster and agrees with
    scipy to ~1e-13 relative (tested).
    """
    nx = n * x
    v = np.arange(1.0, n - math.floor(Fraction(x) * n))  # v = 1 .. n - floor(nx) - 1, as scipy sums
    w = n - v
    # where n * x rounds up to the smallest w, log1p(-1) is -inf: a term of exactly 0 instead of one below 1e-300
    with np.errstate(divide="ignore"):
        tail = w * np.log1p(-nx / w)
    log_terms = (
        _stirlerr(np.array([float(n)]))
        - _stirlerr(v)
        - _stirlerr(w)
        + v * np.log1p(nx / v)
        + tail
        + 0.5 * np.log(n / (2 * np.pi * v * w))
        - np.log(x + v / n)
    )
    return math.exp(n * math.log1p(-x)) + x * float(np.sum(np.exp(log_terms)))


def _ks_pvalue(x: np.ndarray, y: np.ndarray, statistic: float) -> tuple[float, float]:
    """``ks_2samp``'s two-sided 'auto' branch: exact when max(n1, n2) <= 10000, else asymptotic.

    The exact branch is scipy's public ``ks_2samp`` itself (its cost is the exact distribution, not the sort);
    the asymptotic one is computed here from the statistic already found, with a fast path for ``kstwo.sf``.
    """
    n1, n2 = x.size, y.size
    if max(n1, n2) <= KS_EXACT_MAX_N:
        result = ks_2samp(x, y, alternative="two-sided", method="auto")
        return float(result.statistic), float(np.clip(result.pvalue, 0.0, 1.0))
    m, n = sorted((float(n1), float(n2)), reverse=True)
    en = np.round(m * n / (m + n))
    # kstwo.sf takes this branch of scipy's _kolmogn as 2 * smirnov(en, d), O(en) and slow: do it fast.
    if 140 < en <= 1_000_000 and statistic < 0.5 and 2.2 <= en * statistic * statistic < 370.0:
        prob = 2 * _smirnov(int(en), statistic)
    else:
        prob = kstwo.sf(statistic, en)
    return float(statistic), float(np.clip(prob, 0.0, 1.0))


def _chi2(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float]:
    result = chi2_contingency(np.vstack([reference_counts, current_counts]))
    return float(result.statistic), float(result.pvalue)


def _relative(delta: float, scale: float, centre: float) -> float:
    """``delta / scale``; for a constant reference (scale 0), ``delta / max(|centre|, 1)``."""
    return delta / scale if scale > 0 else delta / max(abs(centre), 1.0)


def _wasserstein_norm(x: np.ndarray, distance: float) -> float:
    return _relative(distance, float(np.std(x)), float(np.mean(x)))


def _sorted_median(values: np.ndarray) -> float:
    """``np.median`` of a sorted array without its copy: the middle value, or the mean of the middle two."""
    return float(np.mean(values[(values.size - 1) // 2 : values.size // 2 + 1]))


def _median_shift(x: np.ndarray, y: np.ndarray) -> float:
    q25, q75 = np.percentile(x, [25, 75])
    centre = _sorted_median(x)
    return _relative(abs(_sorted_median(y) - centre), float(q75 - q25), centre)


# --- public statistics ---------------------------------------------------------------------------
def psi(reference: Values, current: Values, *, bins: int = 10, eps: float = PSI_EPS) -> float:
    """Population stability index of a numeric feature over reference-quantile bins.

    ``sum((q - p) * ln(q / p))`` with ``p``/``q`` the reference/current shares;
    shares of empty bins are clipped up to ``eps`` (not renormalised) so the log
    stays finite. Bins are described in the module docstring.
    """
    p, q = _binned_shares(_sorted_numeric(reference, "reference"), _sorted_numeric(current, "current"), bins)
    return _psi(p, q, eps)


def psi_categorical(reference: Values, current: Values, *, eps: float = PSI_EPS) -> float:
    """PSI of a categorical feature over the union of categories (empty shares clipped to ``eps``)."""
    ref, cur = _aligned_counts(_category_counts(reference, "reference"), _category_counts(current, "current"))
    return _psi(ref / ref.sum(), cur / cur.sum(), eps)


def ks_test(reference: Values, current: Values) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov ``(statistic, pvalue)``, equal to ``scipy.stats.ks_2samp``."""
    x, y = _sorted_numeric(reference, "reference"), _sorted_numeric(current, "current")
    return _ks_pvalue(x, y, _ecdf_gap(x, y)[0])


def chi_square_test(reference: Values, current: Values) -> tuple[float, float]:
    """Chi-square test of the 2 x k table of category counts (reference row, current row).

    Equal to ``scipy.stats.chi2_contingency`` with its defaults (Yates'
    correction when dof == 1). Categories seen on one side only are columns with
    a 0 count on the other. One shared category only (dof 0) gives ``(0.0, 1.0)``:
    nothing can have moved.
    """
    return _chi2(*_aligned_counts(_category_counts(reference, "reference"), _category_counts(current, "current")))


def jensen_shannon(
    reference: Values, current: Values, *, kind: Literal["numeric", "categorical"] = "numeric", bins: int = 10
) -> float:
    """Jensen-Shannon distance, ``scipy.spatial.distance.jensenshannon(p, q, base=2)``, in [0, 1].

    ``p``/``q`` are the unclipped shares of the PSI's reference-quantile bins
    (numeric) or of each category (categorical). Where rounding makes scipy
    return NaN for near-identical shares, this returns 0.0.
    """
    if kind == "numeric":
        p, q = _binned_shares(_sorted_numeric(reference, "reference"), _sorted_numeric(current, "current"), bins)
        return _js(p, q)
    if kind == "categorical":
        return _js(*_aligned_counts(_category_counts(reference, "reference"), _category_counts(current, "current")))
    raise DriftError(f"kind must be 'numeric' or 'categorical'; got {kind!r}.")


def wasserstein_normalised(reference: Values, current: Values) -> float:
    """``scipy.stats.wasserstein_distance(ref, cur) / std(ref)`` (ddof=0).

    For a constant reference (std 0) the distance is divided by
    ``max(|mean(ref)|, 1)`` instead: a shift relative to the constant's own
    magnitude (0.0 when nothing moved).
    """
    x, y = _sorted_numeric(reference, "reference"), _sorted_numeric(current, "current")
    return _wasserstein_norm(x, _ecdf_gap(x, y)[1])


def median_shift(reference: Values, current: Values) -> float:
    """``|median(cur) - median(ref)| / IQR(ref)``, IQR the 75th minus 25th percentile (numpy's linear).

    When the reference IQR is 0 the shift is divided by ``max(|median(ref)|, 1)``.
    """
    return _median_shift(_sorted_numeric(reference, "reference"), _sorted_numeric(current, "current"))


# --- the table -------------------------------------------------------------------------------------
def _effect(stats: dict[str, Any], ratios: list[float], pvalue: float) -> dict[str, Any]:
    """The row's p-value and effect: ``material`` when an effect ratio reaches 1, ``drift_score`` the largest capped."""
    strongest = max(ratios)
    return {**stats, "pvalue": float(pvalue), "material": bool(strongest >= 1.0), "drift_score": min(strongest, 1.0)}


def adjust_pvalues(pvalues: Sequence[float] | np.ndarray, method: str = "bh") -> np.ndarray:
    """p-values adjusted for testing them together: 'bh' (Benjamini-Hochberg step-up, as
    ``scipy.stats.false_discovery_control(method='bh')``), 'bonferroni' (times the count, capped at 1) or 'none'.

    A feature is significant at level ``a`` when its adjusted p-value is at most ``a``. Under the global null (no
    feature moved) both methods keep the chance of any rejection at or below ``a``.
    """
    p = np.asarray(pvalues, dtype="float64")
    if p.ndim != 1 or (p.size and (np.isnan(p).any() or (p < 0).any() or (p > 1).any())):
        raise DriftError(f"p-values must be a 1-D array of numbers in [0, 1]; got {p!r}.")
    if method == "none" or p.size == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * p.size, 1.0)
    if method != "bh":
        raise DriftError(f"multiple_testing must be 'bh', 'bonferroni' or 'none'; got {method!r}.")
    order = np.argsort(p)
    scaled = p[order] * p.size / np.arange(1, p.size + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _numeric_row(name: str, reference: pd.Series, current: pd.Series, t: DriftThresholds) -> dict[str, Any]:
    x = _sorted_numeric(reference, f"Numeric column {name!r} of the reference frame")
    y = _sorted_numeric(current, f"Numeric column {name!r} of the current frame")
    statistic, distance = _ecdf_gap(x, y)
    ks_statistic, ks_pvalue = _ks_pvalue(x, y, statistic)
    p, q = _binned_shares(x, y, t.psi_bins)
    stats: dict[str, Any] = {
        "kind": "numeric",
        "n_reference": x.size,
        "n_current": y.size,
        "psi": _psi(p, q, PSI_EPS),
        "ks_statistic": ks_statistic,
        "ks_pvalue": ks_pvalue,
        "jensen_shannon": _js(p, q),
        "wasserstein_norm": _wasserstein_norm(x, distance),
        "median_shift": _median_shift(x, y),
    }
    ratios = [
        stats["psi"] / t.psi_alert,
        stats["jensen_shannon"] / t.jensen_shannon,
        stats["wasserstein_norm"] / t.wasserstein,
        stats["median_shift"] / t.median_shift,
    ]
    return _effect(stats, ratios, ks_pvalue)


def _categorical_row(name: str, reference: pd.Series, current: pd.Series, t: DriftThresholds) -> dict[str, Any]:
    ref, cur = _aligned_counts(
        _category_counts(reference, f"Categorical column {name!r} of the reference frame"),
        _category_counts(current, f"Categorical column {name!r} of the current frame"),
    )
    chi2_statistic, chi2_pvalue = _chi2(ref, cur)
    n_reference, n_current = int(ref.sum()), int(cur.sum())
    stats: dict[str, Any] = {
        "kind": "categorical",
        "n_reference": n_reference,
        "n_current": n_current,
        "psi": _psi(ref / n_reference, cur / n_current, PSI_EPS),
        "chi2_statistic": chi2_statistic,
        "chi2_pvalue": chi2_pvalue,
        "jensen_shannon": _js(ref, cur),
    }
    ratios = [stats["psi"] / t.psi_alert, stats["jensen_shannon"] / t.jensen_shannon]
    return _effect(stats, ratios, chi2_pvalue)


def _workers(features: int, rows: int) -> int:
    """Threads for the features: one per core, fewer when that many columns of ``rows`` values (both sides) would
    not fit in :data:`DRIFT_MEMORY` (a column in flight: Parquet's buffer and pandas' copy while it is read, then
    its values as float64 and sorted, plus a merge block; ~43 bytes a row measured at 20 million rows)."""
    fit = DRIFT_MEMORY // max(48 * rows, 1)
    return max(1, min(features, os.cpu_count() or 1, fit))


def _check_frames(reference: pd.DataFrame | Columns, current: pd.DataFrame | Columns, features: list[str]) -> None:
    if not features:
        raise DriftError("No features to compare: pass column names in numeric= and/or categorical=.")
    repeated = sorted({str(f) for f in features if features.count(f) > 1})
    if repeated:
        raise DriftError(
            f"Each feature must be listed once, in numeric= or categorical=; got {repeated} more than once."
        )
    for label, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame | Columns):
            raise DriftError(f"The {label} data must be a pandas DataFrame; got {type(frame).__name__}.")
        if len(frame) == 0:
            raise DriftError(f"The {label} frame is empty (0 rows); drift needs rows on both sides.")
        for name in features:
            if name not in frame.columns:
                raise DriftError(
                    f"Column {name!r} is missing from the {label} frame, whose columns are "
                    f"{list(frame.columns)}.{did_you_mean(name, frame.columns)}"
                )


def _normalised_importance(features: list[str], importance: dict[str, float] | None) -> np.ndarray:
    """Importance per feature summing to 1; equal weights when None, 0 for features not in the dict."""
    if importance is None:
        return np.full(len(features), 1.0 / len(features))
    for name in importance:
        if name not in features:
            raise DriftError(
                f"importance names {name!r}, which is not among the compared features "
                f"{features}.{did_you_mean(name, features)}"
            )
    raw = np.array([float(importance.get(name, 0.0)) for name in features])
    if not np.isfinite(raw).all() or (raw < 0).any() or raw.sum() <= 0:
        raise DriftError(
            f"importance values must be finite, >= 0 and not all 0 (clip negative permutation "
            f"importances to 0); got {dict(zip(features, raw.tolist(), strict=True))}."
        )
    return raw / raw.sum()


def drift_table(
    reference: pd.DataFrame | Columns,
    current: pd.DataFrame | Columns,
    *,
    numeric: list[str],
    categorical: list[str],
    thresholds: DriftThresholds | None = None,
    importance: dict[str, float] | None = None,
) -> pd.DataFrame:
    """One row per feature with every statistic, the drift flag, score and impact, by impact descending.

    Columns are :data:`TABLE_COLUMNS`; a statistic that does not apply to the
    feature's kind is NaN. ``pvalue`` is the feature's test (KS or chi-square),
    ``pvalue_adjusted`` the same after multiple-testing control over these
    features (:func:`adjust_pvalues`), ``significant`` it at most
    ``significance``, ``material`` an effect size at its floor, ``drifted`` both
    (see :class:`DriftThresholds`); ``importance`` is the model's feature importance
    (normalised over these features; features it omits count 0, and None means
    equal weights) and ``impact = drift_score * importance``. Columns are
    computed in parallel threads (numpy releases the GIL while sorting), as many at once as memory allows.
    ``reference`` and ``current`` may also be :class:`Columns` sources, read one column per feature as it is
    computed, so the table of a large window holds a few columns, not the window.
    """
    t = thresholds if thresholds is not None else DriftThresholds()
    features = [*numeric, *categorical]
    _check_frames(reference, current, features)
    weights = _normalised_importance(features, importance)
    kinds: list[Callable[..., dict[str, Any]]] = [_numeric_row] * len(numeric) + [_categorical_row] * len(categorical)

    def row(kind_row: Callable[..., dict[str, Any]], name: str) -> dict[str, Any]:
        return {"feature": name, **kind_row(name, reference[name], current[name], t)}

    with ThreadPoolExecutor(max_workers=_workers(len(features), len(reference) + len(current))) as pool:
        rows = list(pool.map(row, kinds, features))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["pvalue_adjusted"] = adjust_pvalues(table["pvalue"].to_numpy(dtype="float64"), t.multiple_testing)
    table["significant"] = table["pvalue_adjusted"] <= t.significance
    table["drifted"] = table["significant"] & table["material"].astype(bool)
    table["missing_reference"] = (len(reference) - table["n_reference"]) / len(reference)
    table["missing_current"] = (len(current) - table["n_current"]) / len(current)
    table["importance"] = weights
    table["impact"] = table["drift_score"] * table["importance"]
    return table.sort_values("impact", ascending=False, kind="stable").reset_index(drop=True)


def dataset_verdict(table: pd.DataFrame, thresholds: DriftThresholds | None = None) -> dict[str, Any]:
    """Whether the dataset drifted: the drifted (significant and material) features' summed impact reaches
    ``impact_threshold``; ``meaning`` says in one sentence what that verdict means.

    Returns ``drift_detected``, ``impact_total`` (summed impact of drifted
    features), ``n_drifted``, ``drifted_features`` (by impact), ``warning_features``
    (not drifted but PSI >= ``psi_warning``) and ``top_features`` (up to five
    features with the largest non-zero impact, drifted or not).
    """
    t = thresholds if thresholds is not None else DriftThresholds()
    ranked = table.sort_values("impact", ascending=False, kind="stable")
    drifted = ranked[ranked["drifted"]]
    impact_total = float(drifted["impact"].sum())
    return {
        "drift_detected": impact_total >= t.impact_threshold,
        "impact_total": impact_total,
        "n_drifted": len(drifted),
        "drifted_features": drifted["feature"].tolist(),
        "warning_features": ranked.loc[~ranked["drifted"] & (ranked["psi"] >= t.psi_warning), "feature"].tolist(),
        "top_features": ranked.loc[ranked["impact"] > 0, "feature"].head(5).tolist(),
        "n_significant": int(ranked["significant"].sum()) if "significant" in ranked else len(drifted),
        "meaning": verdict_meaning(t, len(ranked)),
    }


def verdict_meaning(thresholds: DriftThresholds, features: int) -> str:
    """One sentence a reviewer understands: what 'drift: yes' means under these thresholds."""
    control = {"bh": "Benjamini-Hochberg", "bonferroni": "Bonferroni", "none": "no"}[thresholds.multiple_testing]
    return (
        f"drift: yes means features holding at least {thresholds.impact_threshold:.0%} of the model's importance moved "
        f"by more than the effect floors (PSI {thresholds.psi_alert}, Jensen-Shannon {thresholds.jensen_shannon}, "
        f"Wasserstein {thresholds.wasserstein} sd, median {thresholds.median_shift} IQR) and by more than sampling "
        f"noise explains (test p-values at level {thresholds.significance} with {control} control over the "
        f"{features} features), so a stationary window says yes at most about {thresholds.significance:.0%} of the time."
    )
