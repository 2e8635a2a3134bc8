"""Drift statistics from partitions (merged summaries) equal the in-process drift_table, on a cluster too."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from millpond.drift.distributed import drift_table_partitioned, merge, merge_all, rebuild, split, summarise
from millpond.drift.stats import TABLE_COLUMNS, drift_table
from millpond.errors import DriftError

NUMERIC = ["amount", "code", "constant"]
CATEGORICAL = ["plan", "region"]
STATS = [c for c in TABLE_COLUMNS if c not in ("feature", "kind", "significant", "material", "drifted")]


def _frame(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    amount = rng.normal(shift, 1.0, rows)
    amount[rng.random(rows) < 0.1] = np.nan
    code = rng.integers(0, 12, rows).astype(float)  # many ties: the merge compresses them
    code[rng.random(rows) < 0.05] = np.nan
    plan = rng.choice(["basic", "plus", "pro", None], rows, p=[0.5, 0.3, 0.15, 0.05])
    region = rng.choice([1.0, 2.0, 3.5, np.nan], rows)  # float codes compare as "1", "2", "3.5"
    return pd.DataFrame(
        {"amount": amount, "code": code, "constant": np.full(rows, 7.0), "plan": plan, "region": region}
    )


@pytest.fixture(scope="module")
def sides() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(19)
    return _frame(rng, 4000, 0.0), _frame(rng, 3000, 0.3)


def _uneven(frame: pd.DataFrame) -> list[pd.DataFrame]:
    """Parts of 0, 1, 7, 0, most, 0 and the rest rows: uneven and empty partitions."""
    cuts = [0, 0, 1, 8, 8, len(frame) - 5, len(frame) - 5, len(frame)]
    return [frame.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


PARTITIONINGS = {
    "one": lambda f: [f],
    "even-4": lambda f: split(f, 4),
    "uneven-with-empty": _uneven,
    "row-per-part-tail": lambda f: [f.iloc[:-3], *(f.iloc[i : i + 1] for i in range(len(f) - 3, len(f)))],
    "shuffled-rows": lambda f: split(f.sample(frac=1.0, random_state=3), 5),
}


def _assert_equal(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert actual["feature"].tolist() == expected["feature"].tolist()
    assert actual["drifted"].tolist() == expected["drifted"].tolist()
    for column in STATS:
        a, e = actual[column].to_numpy(dtype=float), expected[column].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(a), np.isnan(e)), column
        np.testing.assert_allclose(a[~np.isnan(a)], e[~np.isnan(e)], rtol=0, atol=1e-9, err_msg=column)


@pytest.mark.parametrize("name", list(PARTITIONINGS))
def test_partitioned_drift_equals_in_process_drift_table(sides, name: str) -> None:
    reference, current = sides
    cut = PARTITIONINGS[name]
    expected = drift_table(reference, current, numeric=NUMERIC, categorical=CATEGORICAL, importance={"amount": 2.0})
    actual = drift_table_partitioned(
        cut(reference), cut(current), numeric=NUMERIC, categorical=CATEGORICAL, importance={"amount": 2.0}
    )
    _assert_equal(actual, expected)
    # the numeric statistics are bit for bit (same sorted values), not only within 1e-9
    numeric = expected["kind"] == "numeric"
    for column in ("psi", "ks_statistic", "ks_pvalue", "wasserstein_norm", "median_shift", "jensen_shannon"):
        assert actual.loc[numeric, column].tolist() == expected.loc[numeric, column].tolist()


def test_large_sides_take_the_asymptotic_ks_branch_and_still_match() -> None:
    rng = np.random.default_rng(5)
    reference, current = _frame(rng, 12_000, 0.0), _frame(rng, 11_000, 0.05)
    expected = drift_table(reference, current, numeric=NUMERIC, categorical=CATEGORICAL)
    actual = drift_table_partitioned(split(reference, 3), _uneven(current), numeric=NUMERIC, categorical=CATEGORICAL)
    _assert_equal(actual, expected)


def test_merging_is_exact_and_order_free_for_the_multiset(sides) -> None:
    reference, _ = sides
    parts = [summarise(p, NUMERIC, CATEGORICAL) for p in split(reference, 3)]
    left = merge(merge(parts[0], parts[1]), parts[2])
    right = merge(parts[0], merge(parts[1], parts[2]))
    whole = summarise(reference, NUMERIC, CATEGORICAL)
    for summary in (left, right, merge_all(parts)):
        assert summary.rows == whole.rows == len(reference)
        for name in NUMERIC:
            assert np.array_equal(summary.numeric[name][0], whole.numeric[name][0])
            assert np.array_equal(summary.numeric[name][1], whole.numeric[name][1])
        for name in CATEGORICAL:
            assert summary.categorical[name].sort_index().equals(whole.categorical[name].sort_index())
    rebuilt = rebuild(whole)
    assert np.array_equal(rebuilt["amount"].dropna().to_numpy(), np.sort(reference["amount"].dropna().to_numpy()))
    assert rebuilt["plan"].isna().sum() == reference["plan"].isna().sum()


def test_bad_partitions_fail_with_the_in_process_errors(sides) -> None:
    reference, current = sides
    with pytest.raises(DriftError, match="'amount' is missing from a partition"):
        drift_table_partitioned([reference.drop(columns="amount")], [current], numeric=NUMERIC, categorical=[])
    with pytest.raises(DriftError, match="No partitions"):
        drift_table_partitioned([], [current], numeric=NUMERIC, categorical=[])
    empty = reference.assign(amount=np.nan)
    with pytest.raises(DriftError, match="'amount' of the reference frame has no non-null values"):
        drift_table_partitioned(split(empty, 2), [current], numeric=NUMERIC, categorical=[])
    text = reference.assign(amount="x")
    with pytest.raises(DriftError, match="'amount' must hold numbers"):
        drift_table_partitioned([text], [current], numeric=NUMERIC, categorical=[])


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.mark.parametrize("name", ["even-4", "uneven-with-empty"])
def test_on_a_cluster_the_table_is_the_in_process_one(sides, client, name: str) -> None:
    reference, current = sides
    cut = PARTITIONINGS[name]
    expected = drift_table(reference, current, numeric=NUMERIC, categorical=CATEGORICAL)
    actual = drift_table_partitioned(
        cut(reference), cut(current), numeric=NUMERIC, categorical=CATEGORICAL, client=client
    )
    _assert_equal(actual, expected)


def test_a_dask_dataframe_is_read_by_partition(sides, client) -> None:
    dd = pytest.importorskip("dask.dataframe")
    reference, current = sides
    expected = drift_table(reference, current, numeric=NUMERIC, categorical=CATEGORICAL)
    ref, cur = dd.from_pandas(reference, npartitions=3), dd.from_pandas(current, npartitions=2)
    _assert_equal(drift_table_partitioned(ref, cur, numeric=NUMERIC, categorical=CATEGORICAL, client=client), expected)
    _assert_equal(drift_table_partitioned(ref, cur, numeric=NUMERIC, categorical=CATEGORICAL), expected)
