"""Window metrics in blocks equal scikit-learn's, and the unit-weight bootstrap statistics bit for bit in one block."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from millpond.drift.kpis import weighted_average_precision, weighted_roc_auc
from millpond.models import metrics


def _data(n: int, seed: int, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(float)
    scores = np.clip(0.3 + 0.25 * (y - 0.3) + rng.normal(0, 0.2, n), 0, 1)
    return y, np.round(scores, 2) if ties else scores


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("block", [1, 13, 1_000, metrics.BLOCK])
def test_auc_and_average_precision_in_blocks_equal_sklearn(block: int, ties: bool) -> None:
    y, scores = _data(5_000, block, ties)
    assert metrics.roc_auc(y, scores, block=block) == pytest.approx(skm.roc_auc_score(y, scores), rel=1e-12)
    assert metrics.average_precision(y, scores, block=block) == pytest.approx(
        skm.average_precision_score(y, scores), rel=1e-12
    )


@pytest.mark.parametrize("ties", [False, True])
def test_in_one_block_they_are_the_unit_weight_statistics_bit_for_bit(ties: bool) -> None:
    y, scores = _data(3_000, 5, ties)
    ones = np.ones((1, len(y)))
    assert metrics.roc_auc(y, scores) == float(weighted_roc_auc(y, scores, ones)[0])
    assert metrics.average_precision(y, scores) == float(weighted_average_precision(y, scores, ones)[0])
    probabilities = np.random.default_rng(1).random(len(y))  # CBPE: expected labels, not 0/1
    assert metrics.roc_auc(probabilities, scores) == float(weighted_roc_auc(probabilities, scores, ones)[0])


def test_one_class_gives_nan() -> None:
    assert np.isnan(metrics.roc_auc(np.ones(10), np.linspace(0, 1, 10)))
    assert np.isnan(metrics.average_precision(np.zeros(10), np.linspace(0, 1, 10)))


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.99])
def test_binary_metrics_equal_the_sklearn_ones(threshold: float, monkeypatch: pytest.MonkeyPatch) -> None:
    from millpond.models import training

    y, scores = _data(20_000, 2, False)
    monkeypatch.setattr(metrics, "BLOCK", 3_001)  # several blocks of rows and of distinct scores
    lean = metrics.binary_metrics(y, scores, threshold)
    monkeypatch.setattr(training, "LEAN_ROWS", 10**9)
    reference = training.metrics_from_scores(y, scores, _classification(), threshold=threshold)
    assert lean.keys() == reference.keys()
    for name, value in reference.items():
        assert lean[name] == pytest.approx(value, rel=1e-11, abs=1e-15), name
    monkeypatch.setattr(training, "LEAN_ROWS", 1_000)  # above it, metrics_from_scores takes the block path
    assert training.metrics_from_scores(y, scores, _classification(), threshold=threshold) == lean


def test_binary_metrics_with_one_class_report_what_sklearn_path_reports() -> None:
    lean = metrics.binary_metrics(np.zeros(100), np.linspace(0, 1, 100), 0.5)
    assert set(lean) == {"n", "positive_rate", "accuracy", "f1", "brier"}
    assert lean["f1"] == 0.0 and lean["accuracy"] == pytest.approx(0.5)


def _classification() -> object:
    from types import SimpleNamespace

    return SimpleNamespace(task="classification")
