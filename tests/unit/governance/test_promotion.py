"""decide_governed on its own: the first candidate, and the required improvement over the champion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from millpond.config.params import validate_use_case
from millpond.demo.data import generate_window
from millpond.governance.promotion import Rival, decide_governed

REPO = Path(__file__).resolve().parents[3]


class _Fixed:  # predict_scores calls predict_proba on the labelled rows, in order
    def __init__(self, probabilities: np.ndarray) -> None:
        self.probabilities = probabilities

    def predict_proba(self, features: object) -> np.ndarray:
        return np.column_stack([1 - self.probabilities, self.probabilities])


def _case(min_improvement: float) -> tuple:
    data = yaml.safe_load((REPO / "params" / "churn.yaml").read_text())
    data["promotion"] = {**data["promotion"], "min_improvement": min_improvement, "bootstrap_resamples": 50}
    uc = validate_use_case(data)
    labelled = generate_window("2025-05", 400)
    y = labelled[uc.target].to_numpy()
    rng = np.random.default_rng(3)
    good = np.clip(0.5 * y + rng.normal(0.25, 0.15, len(y)), 0.001, 0.999)
    poor = np.clip(good + rng.normal(0.0, 0.3, len(y)), 0.001, 0.999)
    return uc, labelled, y, good, poor


def test_the_first_candidate_is_promoted_without_a_comparison() -> None:
    uc, labelled, y, good, _ = _case(0.0)
    decision, table = decide_governed(_Fixed(good), [], labelled, uc)
    assert decision.promote is True and decision.reason == "no champion yet: the first candidate becomes champion"
    assert decision.champion_score is None and table.empty
    assert decision.candidate_score == pytest.approx(roc_auc_score(y, good), abs=1e-12)


def test_a_gain_below_the_required_improvement_is_rejected() -> None:
    uc, labelled, y, good, poor = _case(0.5)  # more than any model can gain
    decision, table = decide_governed(_Fixed(good), [Rival("champion", "c0ffee000001", _Fixed(poor))], labelled, uc)
    assert decision.promote is False and "does not meet the required +0.5000" in decision.reason
    assert table.loc[0, "metric_gain"] == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, poor), abs=1e-12)
    assert decision.champion_score == pytest.approx(roc_auc_score(y, poor), abs=1e-12)


def test_the_earlier_champions_come_only_from_kpi_entries_that_name_their_run(tmp_path: Path) -> None:
    from millpond.governance.promotion import _earlier_champions
    from millpond.models.monitoring import MonitoringLog

    class _NoHistory:
        def history(self, name: str) -> list:
            return []

    log = MonitoringLog(tmp_path, "churn")
    log.append("kpi", "2025-01", model_version="v1", metrics={"roc_auc": 0.7}, run_id="c1/02-score")
    log.append("kpi", "2025-02", model_version="v2", metrics={"roc_auc": 0.7}, run_id="c2/02-score")
    log.append("kpi", "2025-02", model_version="planted", metrics={"roc_auc": 0.9})  # names no run
    earlier = _earlier_champions(_NoHistory(), log, "churn", "2025-03")  # type: ignore[arg-type]
    assert earlier == [("champion of 2025-02", "v2"), ("champion of 2025-01", "v1")]
