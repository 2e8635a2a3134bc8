"""MartColumns: a side read a column or a batch at a time equals the same selection of the concatenated versions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from millpond.errors import MartError
from millpond.marts.columns import MartColumns
from millpond.marts.store import MartStore, MartVersion


def _publish(root: Path, window: str, frame: pd.DataFrame) -> MartVersion:
    version = f"{window}-{len(frame):012d}"
    manifest = {"mart": "m", "version": version, "window": window, "created_at": datetime.now(UTC).isoformat()}
    return MartStore(root).publish("m", version, frame, manifest).version


def _frames() -> list[pd.DataFrame]:
    rng = np.random.default_rng(3)
    frames = []
    for n in (1_000, 2_500):
        frames.append(
            pd.DataFrame(
                {
                    "x": rng.normal(size=n),
                    "k": rng.integers(0, 5, size=n),
                    "c": rng.choice(["a", "b", None], size=n),
                    "y": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 2, size=n)),
                }
            )
        )
    return frames


@pytest.fixture
def side(tmp_path: Path) -> tuple[MartColumns, pd.DataFrame]:
    frames = _frames()
    versions = [_publish(tmp_path, w, f) for w, f in zip(("2025-01", "2025-02"), frames, strict=True)]
    whole = pd.concat([v.read() for v in versions], ignore_index=True)
    return MartColumns(versions), whole


def test_a_column_and_a_frame_equal_the_concatenated_versions(side: tuple[MartColumns, pd.DataFrame]) -> None:
    columns, whole = side
    assert len(columns) == len(whole) == 3_500
    assert columns.columns == list(whole.columns)
    for name in whole.columns:
        pd.testing.assert_series_equal(columns[name], whole[name])
    pd.testing.assert_frame_equal(columns.frame(["c", "x"]), whole[["c", "x"]])


def test_batches_cover_every_row_in_order_with_global_row_numbers(side: tuple[MartColumns, pd.DataFrame]) -> None:
    columns, whole = side
    parts = list(columns.batches(["x", "y"], rows=700))
    assert max(len(p) for p in parts) == 700
    pd.testing.assert_frame_equal(pd.concat(parts), whole[["x", "y"]])


@pytest.mark.parametrize("n", [10, 1_234, 3_499, 3_500, 5_000])
def test_a_sample_is_the_one_pandas_draws(side: tuple[MartColumns, pd.DataFrame], n: int) -> None:
    columns, whole = side
    expected = whole.sample(n=n, random_state=0)[["x", "c"]] if n < len(whole) else whole[["x", "c"]]
    pd.testing.assert_frame_equal(columns.sample(n, 0, ["x", "c"]), expected)


def test_a_column_no_version_holds_is_refused_by_name(side: tuple[MartColumns, pd.DataFrame]) -> None:
    columns, _ = side
    with pytest.raises(MartError, match=r"\['nope'\] are in none of the mart versions"):
        columns["nope"]
    with pytest.raises(MartError, match="at least one"):
        MartColumns([])


def test_a_version_without_a_column_is_missing_there(tmp_path: Path) -> None:
    first = _publish(tmp_path, "2025-01", pd.DataFrame({"x": [1.0, 2.0], "z": [5.0, 6.0]}))
    second = _publish(tmp_path, "2025-02", pd.DataFrame({"x": [3.0, 4.0, 5.0]}))
    columns = MartColumns([first, second])
    expected = pd.concat([first.read(), second.read()], ignore_index=True)
    pd.testing.assert_series_equal(columns["z"], expected["z"])
    pd.testing.assert_frame_equal(pd.concat(columns.batches(["x", "z"], rows=2)), expected[["x", "z"]])
