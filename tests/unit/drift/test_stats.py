"""Drift statistics equal their scipy references; drift_table and the verdict follow the documented rules."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

from millpond.drift.stats import (
    TABLE_COLUMNS,
    DriftThresholds,
    _smirnov,
    chi_square_test,
    dataset_verdict,
    drift_table,
    jensen_shannon,
    ks_test,
    median_shift,
    psi,
    psi_categorical,
    wasserstein_normalised,
)
from millpond.errors import DriftError


def close(expected: float) -> object:
    return pytest.approx(expected, rel=1e-9, abs=1e-12)


def close_rel(expected: float) -> object:
    """Relative only: p-values far below 1e-12 must match too, not just be tiny."""
    return pytest.approx(expected, rel=1e-9, abs=1e-300)


# --- independent references (no code shared with the module) -------------------------------------
def dropped(values: object) -> np.ndarray:
    return pd.Series(values, dtype="float64").dropna().to_numpy()


def binned_shares(ref: object, cur: object, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Shares in right-closed bins at the reference quantiles, outer edges +-inf, via pandas.cut."""
    r, c = dropped(ref), dropped(cur)
    edges = np.unique(np.quantile(r, np.linspace(0, 1, bins + 1)))
    edges = np.array([-np.inf, *edges[1:-1], np.inf])
    share = lambda v: np.bincount(pd.cut(v, edges, right=True).codes, minlength=edges.size - 1) / v.size  # noqa: E731
    return share(r), share(c)


def category_table(ref: list, cur: list) -> np.ndarray:
    """2 x k counts over the union of the string forms of the non-null values."""
    count = lambda values: Counter(str(v) for v in values if not pd.isna(v))  # noqa: E731
    r, c = count(ref), count(cur)
    keys = sorted(set(r) | set(c))
    return np.array([[r[k] for k in keys], [c[k] for k in keys]])


def psi_formula(p: np.ndarray, q: np.ndarray, eps: float = 1e-4) -> float:
    p, q = np.maximum(p, eps), np.maximum(q, eps)
    return float(np.sum((q - p) * np.log(q / p)))


def numeric_pair(
    seed: int, n1: int, n2: int, shift: float = 0.0, kind: str = "normal"
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "ties":  # few distinct values: most of the pooled sample is tied
        return rng.integers(0, 4, n1).astype(float), (rng.integers(0, 4, n2) + (rng.random(n2) < shift)).astype(float)
    return rng.normal(0.0, 1.0, n1), rng.normal(shift, 1.0 + shift, n2)


SIZES = [
    (1, 1),
    (1, 2),
    (2, 1),
    (3, 2),
    (3, 3),
    (50, 70),
    (500, 500),
    (999, 9000),
    (10_000, 10_000),  # exact
    (10_001, 300),
    (20_000, 15_000),
    (30_000, 30_000),
    (120_000, 80_000),
]  # asymptotic


# --- KS ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n1, n2", SIZES)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("shift", [0.0, 0.02, 0.5])
def test_ks_equals_scipy(n1: int, n2: int, seed: int, shift: float) -> None:
    ref, cur = numeric_pair(seed, n1, n2, shift)
    expected = stats.ks_2samp(ref, cur)
    statistic, pvalue = ks_test(ref, cur)
    assert statistic == close(expected.statistic)
    assert pvalue == close_rel(expected.pvalue)


@pytest.mark.parametrize("n1, n2", [(3, 2), (40, 41), (2_000, 3_000), (15_000, 12_000)])
@pytest.mark.parametrize("seed", [3, 4])
def test_ks_equals_scipy_with_heavy_ties(n1: int, n2: int, seed: int) -> None:
    ref, cur = numeric_pair(seed, n1, n2, shift=0.2, kind="ties")
    expected = stats.ks_2samp(ref, cur)
    assert ks_test(ref, cur) == (close(expected.statistic), close_rel(expected.pvalue))


@pytest.mark.parametrize("seed, shift", [(5, 0.02), (6, 0.03), (7, 0.06), (8, 0.1), (9, 0.2)])
def test_ks_pvalue_in_the_slow_smirnov_band_equals_scipy(seed: int, shift: float) -> None:
    # en * d**2 in [2.2, 370) is where kstwo.sf sums the Smirnov series; the module sums it vectorised.
    ref, cur = numeric_pair(seed, 60_000, 50_000, shift)
    expected = stats.ks_2samp(ref, cur)
    en = round(60_000 * 50_000 / 110_000)
    assert 2.2 <= en * expected.statistic**2 < 370
    assert ks_test(ref, cur) == (close(expected.statistic), close_rel(expected.pvalue))
    assert 0 < expected.pvalue < 0.05


@pytest.mark.parametrize(
    "n, nx2",
    [(n, nx2) for n in (141, 1_000, 9_999, 50_000, 200_000) for nx2 in (2.2, 7.5, 30.0, 60.0, 369.9) if nx2 / n < 0.24],
)
def test_vectorised_smirnov_equals_scipy_special(n: int, nx2: float) -> None:
    x = math.sqrt(nx2 / n) * 1.000123  # the branch kstwo.sf hands to smirnov: 2.2 <= n x^2 < 370, x < 0.5
    assert _smirnov(n, x) == close_rel(special.smirnov(n, x))


def test_ks_on_constant_samples() -> None:
    assert ks_test(np.full(20, 3.0), np.full(30, 3.0)) == (0.0, 1.0)
    statistic, pvalue = ks_test(np.full(20, 3.0), np.full(30, 4.0))
    expected = stats.ks_2samp(np.full(20, 3.0), np.full(30, 4.0))
    assert (statistic, pvalue) == (1.0, close(expected.pvalue))


# --- chi-square --------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n1, n2", [(1, 1), (2, 3), (60, 40), (5_000, 7_000)])
def test_chi_square_equals_scipy_with_unseen_categories(seed: int, n1: int, n2: int) -> None:
    rng = np.random.default_rng(seed)
    ref = list(rng.choice(list("abcde"), n1))
    cur = list(rng.choice(list("abcdefg"), n2, p=[0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2]))
    expected = stats.chi2_contingency(category_table(ref, cur))
    assert chi_square_test(ref, cur) == (close(expected.statistic), close_rel(expected.pvalue))


def test_chi_square_two_categories_uses_yates_like_scipy() -> None:
    ref, cur = ["a"] * 30 + ["b"] * 10, ["a"] * 20 + ["b"] * 20
    table = np.array([[30, 10], [20, 20]])
    with_yates = stats.chi2_contingency(table)
    assert chi_square_test(ref, cur) == (close(with_yates.statistic), close(with_yates.pvalue))
    assert with_yates.statistic != pytest.approx(stats.chi2_contingency(table, correction=False).statistic)


def test_chi_square_single_shared_category_is_no_evidence() -> None:
    assert chi_square_test(["x"] * 5, ["x"] * 9) == (0.0, 1.0)
    assert stats.chi2_contingency(np.array([[5], [9]]))[:2] == (0.0, 1.0)


def test_categories_compare_as_strings_and_drop_missing() -> None:
    ref = pd.Series([1, 2, 3] * 50)
    cur = pd.Series([1.0, 2.0, 3.0, np.nan] * 50)  # became float because of NaN: still the same codes
    assert chi_square_test(ref, cur) == (0.0, 1.0)
    assert psi_categorical(ref, cur) == 0.0
    assert chi_square_test(["1", 1, None], [1, "1", "2"]) == (
        close(stats.chi2_contingency(np.array([[2, 0], [2, 1]])).statistic),
        close(stats.chi2_contingency(np.array([[2, 0], [2, 1]])).pvalue),
    )


def test_unused_levels_of_a_pandas_categorical_are_ignored() -> None:
    dtype = pd.CategoricalDtype(["a", "b", "never"])
    ref, cur = pd.Series(["a", "b", "a"] * 20, dtype=dtype), pd.Series(["a", "b", "b"] * 20, dtype=dtype)
    expected = stats.chi2_contingency(np.array([[40, 20], [20, 40]]))
    assert chi_square_test(ref, cur) == (close(expected.statistic), close_rel(expected.pvalue))


# --- PSI and Jensen-Shannon --------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "n1, n2, kind",
    [(1, 1, "normal"), (3, 2, "normal"), (200, 300, "normal"), (5_000, 4_000, "normal"), (3_000, 3_000, "ties")],
)
def test_psi_and_jensen_shannon_match_independent_binning(seed: int, n1: int, n2: int, kind: str) -> None:
    ref, cur = numeric_pair(seed, n1, n2, shift=0.4, kind=kind)
    p, q = binned_shares(ref, cur, bins=10)
    assert psi(ref, cur) == close(psi_formula(p, q))
    assert jensen_shannon(ref, cur) == close(jensenshannon(p, q, base=2))
    p5, q5 = binned_shares(ref, cur, bins=5)
    assert psi(ref, cur, bins=5, eps=1e-3) == close(psi_formula(p5, q5, eps=1e-3))


def test_psi_by_hand_including_an_empty_bin_clipped_to_eps() -> None:
    ref = np.arange(1.0, 11.0)  # 2 bins: edge at the median 5.5
    assert psi(ref, [1.0] * 9 + [10.0], bins=2) == close(0.4 * math.log(1.8) - 0.4 * math.log(0.2))
    assert psi(ref, [1.0, 2.0, 3.0], bins=2) == close(0.5 * math.log(2.0) + (1e-4 - 0.5) * math.log(1e-4 / 0.5))


@pytest.mark.parametrize("seed", [0, 1])
def test_categorical_psi_and_jensen_shannon(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref, cur = list(rng.choice(list("abc"), 400)), list(rng.choice(list("abcd"), 300))
    table = category_table(ref, cur)
    p, q = table[0] / table[0].sum(), table[1] / table[1].sum()
    assert psi_categorical(ref, cur) == close(psi_formula(p, q))
    assert jensen_shannon(ref, cur, kind="categorical") == close(jensenshannon(p, q, base=2))


def test_jensen_shannon_bounds_and_rounding() -> None:
    assert jensen_shannon(["a"] * 5, ["b"] * 5, kind="categorical") == close(1.0)
    values = np.random.default_rng(0).normal(size=2_000)
    assert jensen_shannon(values, values.copy()) == 0.0
    # shares equal up to rounding: scipy returns NaN (sqrt of a divergence of -1e-17), the module 0.0
    ref_counts, cur_counts = [1_000_002, 1_000_003], [1_000_003, 1_000_004]
    with np.errstate(invalid="ignore"):
        assert math.isnan(jensenshannon(ref_counts, cur_counts, base=2))
    ref, cur = np.repeat(["a", "b"], ref_counts), np.repeat(["a", "b"], cur_counts)
    assert jensen_shannon(ref, cur, kind="categorical") == 0.0


# --- Wasserstein and median shift --------------------------------------------------------------------
@pytest.mark.parametrize("n1, n2", SIZES[2:])
@pytest.mark.parametrize("kind", ["normal", "ties"])
def test_wasserstein_normalised_equals_scipy(n1: int, n2: int, kind: str) -> None:
    ref, cur = numeric_pair(11, n1, n2, shift=0.3, kind=kind)
    scale = np.std(ref) if np.std(ref) > 0 else max(abs(np.mean(ref)), 1.0)  # tiny 'ties' samples can be constant
    expected = stats.wasserstein_distance(ref, cur) / scale
    assert wasserstein_normalised(ref, cur) == close(expected)


@pytest.mark.parametrize("n1, n2", SIZES)
@pytest.mark.parametrize("kind", ["normal", "ties"])
def test_median_shift_equals_numpy(n1: int, n2: int, kind: str) -> None:
    ref, cur = numeric_pair(12, n1, n2, shift=0.3, kind=kind)
    iqr = np.percentile(ref, 75) - np.percentile(ref, 25)
    scale = iqr if iqr > 0 else max(abs(np.median(ref)), 1.0)  # tiny and 'ties' samples can have IQR 0
    assert median_shift(ref, cur) == close(abs(np.median(cur) - np.median(ref)) / scale)


def test_constant_reference_scales_by_its_magnitude() -> None:
    assert wasserstein_normalised([5.0] * 4, [7.0] * 3) == close(2.0 / 5.0)
    assert wasserstein_normalised([0.0] * 4, [0.5, 0.5]) == close(0.5)
    assert wasserstein_normalised([3.0] * 4, [3.0]) == 0.0
    assert median_shift([5.0] * 4, [7.0, 8.0, 9.0]) == close(3.0 / 5.0)
    assert median_shift([0.0] * 9 + [1.0], [0.25]) == close(0.25)  # IQR 0, |median| < 1 -> divide by 1


def test_nans_and_nones_are_dropped_first() -> None:
    ref, cur = numeric_pair(13, 300, 200, shift=0.5)
    ref_nan, cur_nan = np.append(ref, [np.nan] * 7), pd.Series([*cur, None, None], dtype="Float64")
    assert ks_test(ref_nan, cur_nan) == ks_test(ref, cur)
    assert psi(ref_nan, cur_nan) == psi(ref, cur)
    assert wasserstein_normalised(ref_nan, cur_nan) == wasserstein_normalised(ref, cur)
    assert median_shift(ref_nan, cur_nan) == median_shift(ref, cur)


@pytest.mark.parametrize(
    "ref, cur, message",
    [
        ([], [1.0], "reference has no non-null values"),
        ([1.0], [np.nan, None], "current has no non-null values"),
        ([1.0, np.inf], [1.0], "reference holds 1 infinite values"),
        (np.ones((2, 2)), [1.0], "reference must be 1-D.*got 2 dimensions"),
        (["a", "b"], [1.0], "reference must hold numbers.*categorical"),
    ],
)
def test_bad_numeric_input_raises(ref: object, cur: object, message: str) -> None:
    with pytest.raises(DriftError, match=message):
        ks_test(ref, cur)


def test_bad_parameters_raise() -> None:
    with pytest.raises(DriftError, match="bins must be a positive integer; got 0"):
        psi([1.0, 2.0], [1.0], bins=0)
    with pytest.raises(DriftError, match="eps must be positive; got 0"):
        psi_categorical(["a"], ["b"], eps=0)
    with pytest.raises(DriftError, match="kind must be 'numeric' or 'categorical'; got 'text'"):
        jensen_shannon(["a"], ["b"], kind="text")  # type: ignore[arg-type]
    with pytest.raises(DriftError, match="current has no non-null values"):
        chi_square_test(["a"], [None])


# --- drift_table and the verdict ---------------------------------------------------------------------
def frames(
    n_ref: int, n_cur: int, seed: int = 0, shift: dict[str, float] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Columns x, y (numeric) and c (categorical); ``shift`` moves numeric means / tilts c in current."""
    shift = shift or {}
    rng = np.random.default_rng(seed)

    def frame(n: int, side: str) -> pd.DataFrame:
        move = (lambda col: shift.get(col, 0.0)) if side == "cur" else (lambda col: 0.0)
        tilt = np.array([1.0, 1.0, 1.0 + 4 * move("c")])
        return pd.DataFrame(
            {
                "x": rng.normal(move("x"), 1.0, n),
                "y": rng.normal(move("y"), 1.0, n),
                "c": rng.choice(["u", "v", "w"], n, p=tilt / tilt.sum()),
            }
        )

    return frame(n_ref, "ref"), frame(n_cur, "cur")


def test_table_columns_kinds_and_consistency_with_the_statistics() -> None:
    ref, cur = frames(3_000, 2_000, shift={"x": 0.5})
    ref.loc[:9, "x"] = np.nan
    cur.loc[:19, "c"] = None
    table = drift_table(ref, cur, numeric=["x", "y"], categorical=["c"])
    assert list(table.columns) == TABLE_COLUMNS
    row = table.set_index("feature")
    assert row.loc["x", "kind"] == "numeric" and row.loc["c", "kind"] == "categorical"
    assert (row.loc["x", "n_reference"], row.loc["x", "missing_reference"]) == (2_990, close(10 / 3_000))
    assert (row.loc["c", "n_current"], row.loc["c", "missing_current"]) == (1_980, close(20 / 2_000))
    assert row.loc["x", "ks_statistic"] == close(ks_test(ref["x"], cur["x"])[0])
    assert row.loc["x", "ks_pvalue"] == close(ks_test(ref["x"], cur["x"])[1])
    assert row.loc["x", "psi"] == close(psi(ref["x"], cur["x"]))
    assert row.loc["x", "jensen_shannon"] == close(jensen_shannon(ref["x"], cur["x"]))
    assert row.loc["x", "wasserstein_norm"] == close(wasserstein_normalised(ref["x"], cur["x"]))
    assert row.loc["x", "median_shift"] == close(median_shift(ref["x"], cur["x"]))
    assert row.loc["c", "chi2_pvalue"] == close(chi_square_test(ref["c"], cur["c"])[1])
    assert row.loc["c", "jensen_shannon"] == close(jensen_shannon(ref["c"], cur["c"], kind="categorical"))
    assert row.loc[["x", "y"], ["chi2_statistic", "chi2_pvalue"]].isna().all().all()
    assert row.loc["c", ["ks_statistic", "ks_pvalue", "wasserstein_norm", "median_shift"]].isna().all()
    assert table["importance"].tolist() == [close(1 / 3)] * 3
    assert table["impact"].is_monotonic_decreasing and table["feature"].iloc[0] == "x"
    assert table["drift_score"].between(0, 1).all()
    assert row.loc["x", "drift_score"] == 1.0 and bool(row.loc["x", "drifted"])


def test_identical_distributions_do_not_drift() -> None:
    ref, cur = frames(5_000, 4_000, seed=1)
    table = drift_table(ref, cur, numeric=["x", "y"], categorical=["c"])
    assert not table["drifted"].any()
    assert table["drift_score"].max() < 0.5
    verdict = dataset_verdict(table)
    assert (verdict["drift_detected"], verdict["n_drifted"], verdict["impact_total"]) == (False, 0, 0.0)


def test_shift_in_an_important_feature_triggers_the_verdict() -> None:
    ref, cur = frames(5_000, 5_000, seed=2, shift={"x": 0.6})
    table = drift_table(ref, cur, numeric=["x", "y"], categorical=["c"], importance={"x": 8.0, "y": 1.0, "c": 1.0})
    verdict = dataset_verdict(table)
    assert verdict["drift_detected"] is True
    assert verdict["drifted_features"] == ["x"]
    assert verdict["impact_total"] == close(0.8)
    assert verdict["top_features"][0] == "x"


def test_same_shift_in_an_ignored_feature_does_not_trigger_the_verdict() -> None:
    ref, cur = frames(5_000, 5_000, seed=2, shift={"x": 0.6})
    table = drift_table(ref, cur, numeric=["x", "y"], categorical=["c"], importance={"x": 0.0, "y": 1.0, "c": 1.0})
    row = table.set_index("feature").loc["x"]
    assert bool(row["drifted"]) and row["drift_score"] == 1.0 and row["impact"] == 0.0
    verdict = dataset_verdict(table)
    assert verdict["drift_detected"] is False
    assert verdict["drifted_features"] == ["x"] and verdict["impact_total"] == 0.0
    assert "x" not in verdict["top_features"]


def test_categorical_shift_drifts_and_features_missing_from_importance_count_zero() -> None:
    ref, cur = frames(5_000, 5_000, seed=3, shift={"c": 1.0})
    table = drift_table(ref, cur, numeric=["x"], categorical=["c"], importance={"c": 3.0})
    row = table.set_index("feature")
    assert bool(row.loc["c", "drifted"]) and not bool(row.loc["x", "drifted"])
    assert (row.loc["c", "importance"], row.loc["x", "importance"]) == (1.0, 0.0)
    assert dataset_verdict(table)["drift_detected"] is True


def test_a_feature_drifts_only_when_significant_and_material() -> None:
    # 0.35 sd with 400 rows: KS rejects and the effect floors are reached. A 0.04 sd shift on 20,000 rows: KS still
    # rejects, but no effect reaches its floor (not material). A 0.35 sd shift on 30 rows: material, not significant.
    small_ref, small_cur = frames(400, 400, seed=4, shift={"x": 0.35})
    small = drift_table(small_ref, small_cur, numeric=["x"], categorical=[]).iloc[0]
    assert small["ks_pvalue"] < 0.05 and bool(small["significant"]) and bool(small["material"])
    assert bool(small["drifted"])
    big_ref, big_cur = frames(20_000, 20_000, seed=4, shift={"x": 0.04})
    big = drift_table(big_ref, big_cur, numeric=["x"], categorical=[]).iloc[0]
    assert big["ks_pvalue"] < 0.05 and bool(big["significant"]) and not bool(big["material"])
    assert not bool(big["drifted"]) and big["drift_score"] < 1.0
    tiny_ref, tiny_cur = frames(30, 30, seed=5, shift={"x": 0.35})
    tiny = drift_table(tiny_ref, tiny_cur, numeric=["x"], categorical=[]).iloc[0]
    assert tiny["ks_pvalue"] > 0.05 and bool(tiny["material"]) and not bool(tiny["drifted"])


def test_pvalues_are_adjusted_over_the_features_tested() -> None:
    from scipy.stats import false_discovery_control

    from millpond.drift.stats import adjust_pvalues

    p = np.array([0.001, 0.02, 0.03, 0.04, 0.5, 0.9])
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), false_discovery_control(p, method="bh"))
    np.testing.assert_allclose(adjust_pvalues(p, "bonferroni"), np.minimum(p * 6, 1.0))
    np.testing.assert_array_equal(adjust_pvalues(p, "none"), p)
    # at 0.05 each of the first four rejects alone; after BH only the first does (0.02 * 6 / 2 = 0.06)
    assert (adjust_pvalues(p, "bh") <= 0.05).tolist() == [True, False, False, False, False, False]
    with pytest.raises(DriftError, match="multiple_testing must be"):
        adjust_pvalues(p, "holm")


def test_dataset_verdict_rule_on_a_handmade_table() -> None:
    table = pd.DataFrame(
        {
            "feature": ["a", "b", "c", "d"],
            "drifted": [True, True, False, False],
            "impact": [0.15, 0.05, 0.3, 0.0],
            "psi": [0.4, 0.3, 0.12, 0.11],
        }
    )
    verdict = dataset_verdict(table)
    meaning = verdict.pop("meaning")
    assert verdict == {
        "drift_detected": True,
        "impact_total": close(0.2),
        "n_drifted": 2,
        "drifted_features": ["a", "b"],
        "warning_features": ["c", "d"],
        "top_features": ["c", "a", "b"],
        "n_significant": 2,
    }
    assert meaning.startswith("drift: yes means features holding at least 20% of the model's importance moved")
    assert "at level 0.05 with Benjamini-Hochberg control over the 4 features" in meaning
    assert dataset_verdict(table, DriftThresholds(impact_threshold=0.21))["drift_detected"] is False


def test_missing_column_names_it_with_a_suggestion() -> None:
    ref, cur = frames(50, 50)
    with pytest.raises(
        DriftError,
        match=r"Column 'xx' is missing from the reference frame, whose columns are "
        r"\['x', 'y', 'c'\]\. Did you mean 'x'\?",
    ):
        drift_table(ref, cur, numeric=["xx"], categorical=[])
    with pytest.raises(DriftError, match="Column 'c' is missing from the current frame"):
        drift_table(ref, cur.drop(columns="c"), numeric=[], categorical=["c"])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r, c: (r.iloc[:0], c), "The reference frame is empty"),
        (lambda r, c: (r, c.assign(y=np.nan)), "Numeric column 'y' of the current frame has no non-null values"),
        (lambda r, c: (r.assign(c=None), c), "Categorical column 'c' of the reference frame has no non-null values"),
        (lambda r, c: (r.assign(y=r["c"]), c), "Numeric column 'y' of the reference frame must hold numbers"),
        (lambda r, c: (r.to_numpy(), c), "The reference data must be a pandas DataFrame; got ndarray"),
    ],
)
def test_bad_frames_raise(change: object, message: str) -> None:
    ref, cur = change(*frames(50, 50))  # type: ignore[operator]
    with pytest.raises(DriftError, match=message):
        drift_table(ref, cur, numeric=["x", "y"], categorical=["c"])


@pytest.mark.parametrize(
    "numeric, categorical, importance, message",
    [
        ([], [], None, "No features to compare"),
        (["x", "c"], ["c"], None, r"listed once.*\['c'\]"),
        (["x"], ["c"], {"x": 1.0, "cc": 1.0}, "importance names 'cc'.*Did you mean 'c'"),
        (["x"], ["c"], {"x": -1.0, "c": 2.0}, "importance values must be finite, >= 0"),
        (["x"], ["c"], {"x": 0.0}, "not all 0"),
    ],
)
def test_bad_feature_lists_and_importance_raise(
    numeric: list, categorical: list, importance: dict | None, message: str
) -> None:
    ref, cur = frames(50, 50)
    with pytest.raises(DriftError, match=message):
        drift_table(ref, cur, numeric=numeric, categorical=categorical, importance=importance)


def test_thresholds_are_strict() -> None:
    assert DriftThresholds().model_dump() == {
        "psi_warning": 0.1,
        "psi_alert": 0.25,
        "wasserstein": 0.1,
        "jensen_shannon": 0.1,
        "median_shift": 0.5,
        "significance": 0.05,
        "multiple_testing": "bh",
        "psi_bins": 10,
        "impact_threshold": 0.2,
    }
    with pytest.raises(ValidationError, match="psi_alrt"):
        DriftThresholds(psi_alrt=0.3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="psi_warning must not exceed psi_alert"):
        DriftThresholds(psi_warning=0.3)
    with pytest.raises(ValidationError, match="greater than 0"):
        DriftThresholds(wasserstein=0)


# --- large columns: a blocked merge, a sorted median, bounded threads -----------------------------
@pytest.mark.parametrize("block", [1, 7, 100, 4_096])
@pytest.mark.parametrize("kind", ["continuous", "ties", "disjoint"])
def test_the_blocked_merge_has_the_one_merge_gaps(block: int, kind: str) -> None:
    from millpond.drift.stats import _ecdf_gap

    rng = np.random.default_rng(block)
    if kind == "continuous":
        x, y = rng.normal(size=3_000), rng.normal(0.2, 1.3, size=5_000)
    elif kind == "ties":
        x, y = rng.integers(0, 12, size=3_000).astype(float), rng.integers(2, 15, size=5_000).astype(float)
    else:
        x, y = rng.normal(size=3_000), rng.normal(size=5_000) + 10
    x.sort()
    y.sort()
    whole = _ecdf_gap(x, y, block=10**9)
    blocked = _ecdf_gap(x, y, block=block)
    assert blocked[0] == whole[0]  # the same gaps: the same maximum, bit for bit
    assert blocked[1] == pytest.approx(whole[1], rel=1e-12)
    assert whole[0] == pytest.approx(stats.ks_2samp(x, y).statistic, rel=1e-12)
    assert blocked[1] == pytest.approx(stats.wasserstein_distance(x, y), rel=1e-10)


def test_a_long_column_is_merged_in_blocks_and_still_equals_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    import millpond.drift.stats as drift_stats

    rng = np.random.default_rng(11)
    ref, cur = rng.normal(size=20_000), rng.normal(0.05, 1.0, size=30_000)
    expected = (ks_test(ref, cur), wasserstein_normalised(ref, cur))
    calls: list[int] = []
    block = drift_stats._ecdf_block

    def counted(*args: object) -> object:
        calls.append(1)
        return block(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(drift_stats, "ECDF_BLOCK", 4_000)
    monkeypatch.setattr(drift_stats._ecdf_gap, "__defaults__", (4_000,))
    monkeypatch.setattr(drift_stats, "_ecdf_block", counted)
    assert ks_test(ref, cur) == expected[0]
    assert wasserstein_normalised(ref, cur) == pytest.approx(expected[1], rel=1e-12)
    assert len(calls) >= 2 * 12  # two statistics, each in at least (30,000 / 4,000) + (20,000 / 4,000) ranges


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11])
def test_the_median_of_a_sorted_array_is_numpys(n: int) -> None:
    from millpond.drift.stats import _sorted_median

    values = np.sort(np.random.default_rng(n).normal(size=n))
    assert _sorted_median(values) == float(np.median(values))


def test_threads_are_bounded_by_the_columns_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import millpond.drift.stats as drift_stats

    monkeypatch.setattr(drift_stats.os, "cpu_count", lambda: 8)
    assert drift_stats._workers(12, 1_000) == 8
    assert drift_stats._workers(3, 1_000) == 3
    assert drift_stats._workers(12, 10_200_000) == 2  # 5M rows against 5M: two columns in flight within 1 GiB
    assert drift_stats._workers(12, 20_200_000) == 1  # 20M rows: one at a time
