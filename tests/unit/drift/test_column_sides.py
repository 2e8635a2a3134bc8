"""The drift table and the champion's scores from sides read a column or a batch at a time equal those of frames."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from millpond.drift.stats import DriftThresholds, drift_table
from millpond.marts.columns import MartColumns
from millpond.marts.store import MartStore, MartVersion
from tests.conftest import MakeUseCase


def _publish(root: Path, window: str, frame: pd.DataFrame) -> MartVersion:
    version = f"{window}-{len(frame):012d}"
    manifest = {"mart": "m", "version": version, "window": window, "created_at": datetime.now(UTC).isoformat()}
    return MartStore(root).publish("m", version, frame, manifest).version


def _frame(n: int, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3 + shift, 1, size=n),
            "visits": np.where(rng.random(n) < 0.05, np.nan, rng.poisson(4 + shift, size=n)),
            "plan": rng.choice(["basic", "plus", "pro"], size=n, p=[0.5 - shift / 4, 0.3, 0.2 + shift / 4]),
            "region": rng.integers(0, 4, size=n),
        }
    )


def test_the_table_of_mart_sides_is_the_table_of_their_frames(tmp_path: Path) -> None:
    reference = [
        _publish(tmp_path, "2025-01", _frame(3_000, 1, 0.0)),
        _publish(tmp_path, "2025-02", _frame(2_000, 2, 0.0)),
    ]
    current = [_publish(tmp_path, "2025-03", _frame(4_000, 3, 0.3))]
    frames = [pd.concat([v.read() for v in side], ignore_index=True) for side in (reference, current)]
    options = {
        "numeric": ["amount", "visits"],
        "categorical": ["plan", "region"],
        "thresholds": DriftThresholds(),
        "importance": {"amount": 0.5, "visits": 0.2, "plan": 0.2, "region": 0.1},
    }
    expected = drift_table(frames[0], frames[1], **options)  # type: ignore[arg-type]
    table = drift_table(MartColumns(reference), MartColumns(current), **options)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(table, expected)
    assert table["drifted"].any()  # the shift is seen: the comparison is not of two empty tables


def test_the_champion_scores_a_window_batch_by_batch_as_in_one_call(
    tmp_path: Path, small_demo_raw: Path, make_use_case: MakeUseCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from millpond.drift.analysis import window_scores
    from millpond.marts import columns
    from millpond.models.training import fit, holdout_mask, predict_scores

    uc = make_use_case()
    frame = pd.read_csv(small_demo_raw / "churn_2025-01.csv", dtype={"customer_id": "str"})
    mask = holdout_mask(frame, uc)
    model = fit(frame[~mask], frame[mask], uc).model
    side = MartColumns([_publish(tmp_path, "2025-01", frame)])
    monkeypatch.setattr(columns, "BATCH_ROWS", 97)  # many batches and a short last one
    assert len(frame) % 97
    expected = predict_scores(model, side.frame(uc.feature_columns), uc)
    np.testing.assert_allclose(window_scores(model, side, uc), expected, rtol=1e-12, atol=1e-15)
