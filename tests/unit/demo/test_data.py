"""The synthetic churn generator: reproducibility, schema, and the drift story it promises."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from millpond.demo.data import COLUMNS, generate_churn, generate_window, window_labels

REPO = Path(__file__).resolve().parents[3]
TEXT = ("customer_id", "contract", "internet_service", "payment_method", "region")
NUMERIC = ("tenure_months", "senior_citizen", "monthly_charges", "total_charges", "support_calls")


def psi(ref: pd.Series, cur: pd.Series, bins: int = 10) -> float:
    """Population stability index on the reference's quantile bins (or categories)."""
    if ref.dtype.kind in "if":
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
        edges[0], edges[-1] = -np.inf, np.inf
        p, q = np.histogram(ref, edges)[0] / len(ref), np.histogram(cur, edges)[0] / len(cur)
    else:
        cats = sorted(set(ref) | set(cur))
        p = ref.value_counts(normalize=True).reindex(cats, fill_value=0).to_numpy()
        q = cur.value_counts(normalize=True).reindex(cats, fill_value=0).to_numpy()
    p, q = np.clip(p, 1e-4, None), np.clip(q, 1e-4, None)
    return float(np.sum((q - p) * np.log(q / p)))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """The default 12 windows at 3,000 rows, read back as a user would."""
    out = tmp_path_factory.mktemp("churn")
    paths = generate_churn(out, rows_per_window=3000)
    return {p.stem.removeprefix("churn_"): pd.read_csv(p) for p in paths}


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = generate_churn(tmp_path / "a", windows=2, rows_per_window=3000, seed=3)
    b = generate_churn(tmp_path / "b", windows=2, rows_per_window=3000, seed=3)
    c = generate_churn(tmp_path / "c", windows=2, rows_per_window=3000, seed=4)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert all(x.read_bytes() != y.read_bytes() for x, y in zip(a, c))


def test_window_reproducible_alone(small: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    alone = generate_churn(tmp_path, start="2025-10", windows=1, rows_per_window=3000)
    pd.testing.assert_frame_equal(pd.read_csv(alone[0]), small["2025-10"])


def test_columns_and_dtypes_read_back(small: dict[str, pd.DataFrame]) -> None:
    df = small["2025-01"]
    assert tuple(df.columns) == COLUMNS
    assert all(df[c].dtype == "str" for c in TEXT)
    assert {c: str(df[c].dtype) for c in NUMERIC + ("churned",)} == {
        "tenure_months": "int64",
        "senior_citizen": "int64",
        "monthly_charges": "float64",
        "total_charges": "float64",
        "support_calls": "int64",
        "churned": "int64",
    }
    assert set(df["contract"]) == {"month-to-month", "one-year", "two-year"}
    assert set(df["internet_service"]) == {"dsl", "fiber", "none"}
    assert set(df["payment_method"]) == {"electronic-check", "mailed-check", "bank-transfer", "credit-card"}
    assert set(df["region"]) == {"north", "south", "east", "west", "central"}
    assert df["tenure_months"].between(0, 72).all() and set(df["senior_citizen"]) == {0, 1}
    assert (df["monthly_charges"].round(2) == df["monthly_charges"]).all()
    fiber, dsl = (df.loc[df["internet_service"] == s, "monthly_charges"].mean() for s in ("fiber", "dsl"))
    assert fiber > dsl
    ratio = df["total_charges"] / (df["tenure_months"].clip(lower=1) * df["monthly_charges"])
    assert ratio[df["tenure_months"] > 0].between(0.7, 1.3).all()


def test_keys_unique_per_window_and_customers_persist(small: dict[str, pd.DataFrame]) -> None:
    for frame in small.values():
        assert frame["customer_id"].is_unique
        assert frame["customer_id"].str.fullmatch(r"C\d{7}").all()
    kept = len(set(small["2025-01"]["customer_id"]) & set(small["2025-02"]["customer_id"])) / 3000
    assert 0.5 < kept < 1.0


def test_churn_rate_in_range(small: dict[str, pd.DataFrame]) -> None:
    rates = {w: f["churned"].mean() for w, f in small.items()}
    assert all(0.13 <= r <= 0.33 for r in rates.values()), rates


def test_stationary_windows_tiny_psi_and_covariate_shift_large(small: dict[str, pd.DataFrame]) -> None:
    features = [c for c in COLUMNS if c not in ("customer_id", "churned")]
    stationary = window_labels("2025-01", 6)
    worst = max(psi(small[a][c], small[b][c]) for a in stationary for b in stationary if a < b for c in features)
    assert worst < 0.05
    ref, cur = small["2025-01"], small["2025-07"]
    assert psi(ref["monthly_charges"], cur["monthly_charges"]) > 0.25
    calls = wasserstein_distance(ref["support_calls"], cur["support_calls"]) / ref["support_calls"].std()
    assert calls > 0.1


def test_none_disables_drift(tmp_path: Path) -> None:
    paths = generate_churn(tmp_path, rows_per_window=3000, covariate_shift_from=None, concept_drift_from=None)
    first, last = pd.read_csv(paths[0]), pd.read_csv(paths[-1])
    assert max(psi(first[c], last[c]) for c in COLUMNS[1:]) < 0.05


def _fit(frames: list[pd.DataFrame]) -> HistGradientBoostingClassifier:
    df = pd.concat(frames, ignore_index=True)
    with threadpool_limits(1):  # 60k rows: one thread is fastest and immune to a busy machine
        return HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0).fit(
            _x(df), df["churned"]
        )


def _x(df: pd.DataFrame) -> pd.DataFrame:
    x = df[list(COLUMNS[1:-1])].copy()
    for col in TEXT[1:]:
        x[col] = x[col].astype(pd.CategoricalDtype(sorted(x[col].unique())))
    return x


def _auc(model: HistGradientBoostingClassifier, df: pd.DataFrame) -> float:
    return float(roc_auc_score(df["churned"], model.predict_proba(_x(df))[:, 1]))


def test_concept_drift_hurts_old_model_and_retraining_recovers() -> None:
    w = {label: generate_window(label, 20_000) for label in window_labels("2025-01", 12)}
    old = _fit([w["2025-01"], w["2025-02"], w["2025-03"]])
    pre, covariate, concept = _auc(old, w["2025-05"]), _auc(old, w["2025-07"]), _auc(old, w["2025-09"])
    assert abs(covariate - pre) <= 0.03, (pre, covariate)
    assert pre - concept >= 0.05, (pre, concept)
    new = _fit([w["2025-09"], w["2025-10"]])
    assert _auc(new, w["2025-11"]) - _auc(old, w["2025-11"]) >= 0.05


@pytest.mark.parametrize(
    ("layout", "names"),
    [
        ("per_window_csv", ["churn_2025-11.csv", "churn_2025-12.csv", "churn_2026-01.csv"]),
        ("per_window_parquet", ["churn_2025-11.parquet", "churn_2025-12.parquet", "churn_2026-01.parquet"]),
        ("single_parquet", ["churn.parquet"]),
    ],
)
def test_layouts_write_what_they_say(tmp_path: Path, layout: str, names: list[str]) -> None:
    paths = generate_churn(tmp_path, start="2025-11", windows=3, rows_per_window=500, layout=layout)
    assert [p.name for p in paths] == names and sorted(p.name for p in tmp_path.iterdir()) == names
    df = pd.concat([pd.read_csv(p) if p.suffix == ".csv" else pd.read_parquet(p) for p in paths])
    assert len(df) == 1500 and tuple(df.columns[: len(COLUMNS)]) == COLUMNS
    if layout == "single_parquet":
        assert df["month"].dtype == "str" and sorted(df["month"].unique()) == ["2025-11", "2025-12", "2026-01"]


def test_killed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: pd.DataFrame, path: Path, **_: object) -> None:
        Path(path).write_text("customer_id,tenure", encoding="utf-8")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(KeyboardInterrupt):
        generate_churn(tmp_path, windows=1, rows_per_window=10)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_say_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'layout' parameter must be one of"):
        generate_churn(tmp_path, layout="csv")
    with pytest.raises(ValueError, match="month label 'YYYY-MM'. Got '2025-7'"):
        generate_churn(tmp_path, covariate_shift_from="2025-7")


def test_script_skips_when_settings_match(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("make_demo_data", REPO / "scripts" / "make_demo_data.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    args = ["--out", str(tmp_path), "--windows", "2", "--rows", "300", "--concept-drift-from", "none"]
    assert script.main(args) == 0
    first = capsys.readouterr().out
    assert first.count("wrote ") == 2 and "600 rows in 2 windows" in first
    assert script.main(args) == 0 and "up to date" in capsys.readouterr().out
    assert script.main([*args, "--seed", "8"]) == 0 and "wrote " in capsys.readouterr().out
    assert script.main([*args, "--seed", "8", "--force"]) == 0 and "wrote " in capsys.readouterr().out
