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


def _case(min_improvement: float, **promotion: object) -> tuple:
    data = yaml.safe_load((REPO / "params" / "churn.yaml").read_text())
    data["promotion"] = {
        **data["promotion"],
        "min_improvement": min_improvement,
        "bootstrap_resamples": 50,
        **promotion,
    }
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
    assert decision.rule == "first_candidate"
    assert decision.champion_score is None and table.empty
    assert decision.candidate_score == pytest.approx(roc_auc_score(y, good), abs=1e-12)


def test_a_gain_below_the_required_improvement_is_rejected() -> None:
    uc, labelled, y, good, poor = _case(0.5)  # more than any model can gain
    decision, table = decide_governed(_Fixed(good), [Rival("champion", "c0ffee000001", _Fixed(poor))], labelled, uc)
    assert decision.promote is False and "does not lie wholly above the required +0.5000" in decision.reason
    assert decision.rule == "evidence" and decision.reason.startswith("rule evidence: ")
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


def _noisy_pair(seed: int = 17) -> tuple:
    """A candidate a little better than the champion on 400 rows: point gain > 0, interval containing 0."""
    uc, labelled, y, good, _ = _case(0.0)
    rng = np.random.default_rng(seed)
    champion = np.clip(good + rng.normal(0.0, 0.05, len(y)), 0.001, 0.999)
    candidate = np.clip(good + rng.normal(0.0, 0.045, len(y)), 0.001, 0.999)
    return uc, labelled, y, candidate, champion


def _gain(y: np.ndarray, candidate: np.ndarray, champion: np.ndarray) -> float:
    return float(roc_auc_score(y, candidate) - roc_auc_score(y, champion))


def test_evidence_refuses_a_positive_gain_whose_interval_contains_zero_and_point_takes_it() -> None:
    uc, labelled, y, candidate, champion = _noisy_pair()
    assert _gain(y, candidate, champion) > 0
    rivals = [Rival("champion", "c0ffee000001", _Fixed(champion))]
    decision, table = decide_governed(_Fixed(candidate), rivals, labelled, uc)
    assert table.loc[0, "metric_gain_low"] <= 0 < table.loc[0, "metric_gain"]
    assert decision.promote is False and decision.rule == "evidence"
    assert "does not lie wholly above the required +0.0000" in decision.reason
    point = _case(0.0, policy="point")[0]
    decision, _ = decide_governed(_Fixed(candidate), rivals, labelled, point)
    assert decision.promote is True and decision.rule == "point" and "(policy point)" in decision.reason


def test_evidence_promotes_a_gain_whose_whole_interval_is_above_the_required_improvement() -> None:
    uc, labelled, y, good, poor = _case(0.05)
    decision, table = decide_governed(_Fixed(good), [Rival("champion", "c0ffee000001", _Fixed(poor))], labelled, uc)
    assert table.loc[0, "metric_gain_low"] > 0.05
    assert decision.promote is True and decision.rule == "evidence" and "lies wholly above" in decision.reason


def test_a_drifted_champion_is_replaced_by_a_candidate_that_is_not_worse_but_not_by_a_worse_one() -> None:
    uc, labelled, y, candidate, champion = _noisy_pair()
    better = decide_governed(
        _Fixed(candidate), [Rival("champion", "c1", _Fixed(champion))], labelled, uc, champion_drifted=True
    )[0]
    assert better.promote is True and better.rule == "model_drift"
    worse = decide_governed(
        _Fixed(champion), [Rival("champion", "c1", _Fixed(candidate))], labelled, uc, champion_drifted=True
    )[0]
    assert _gain(y, champion, candidate) < 0
    assert worse.promote is False and worse.rule == "evidence" and "the candidate is worse" in worse.reason


def test_unknown_promotion_policy_is_refused_naming_the_choices() -> None:
    with pytest.raises(Exception, match="evidence.*point|point.*evidence"):
        _case(0.0, policy="always")


def _slice_case(max_slice_drop: float | None, min_rows: int = 40) -> tuple:
    """A candidate better overall than the champion but much worse on region=south (about a tenth of the rows)."""
    data = yaml.safe_load((REPO / "params" / "churn.yaml").read_text())
    promotion = {**data["promotion"], "bootstrap_resamples": 50}
    if max_slice_drop is not None:
        promotion["max_slice_drop"] = max_slice_drop
    data.update(promotion=promotion, slices={"columns": ["region"], "min_rows": min_rows})
    uc = validate_use_case(data)
    labelled = generate_window("2025-05", 1000)
    labelled["region"] = np.where(np.arange(1000) % 10 == 0, "south", "north")
    y = labelled[uc.target].to_numpy()
    rng = np.random.default_rng(5)
    south = labelled["region"].to_numpy() == "south"
    champion = np.clip(0.35 * y + rng.uniform(0, 0.65, len(y)), 0.001, 0.999)
    candidate = np.clip(0.6 * y + rng.uniform(0, 0.4, len(y)), 0.001, 0.999)  # much better...
    candidate[south] = rng.uniform(0.001, 0.999, int(south.sum()))  # ...but noise on the south
    return uc, labelled, candidate, champion


def test_a_candidate_better_overall_but_worse_on_one_slice_is_refused_naming_the_slice() -> None:
    uc, labelled, candidate, champion = _slice_case(0.05)
    rivals = [Rival("champion", "c0ffee000001", _Fixed(champion))]
    decision, table = decide_governed(_Fixed(candidate), rivals, labelled, uc)
    assert table.loc[0, "metric_gain_low"] > 0  # the overall gain is beyond doubt
    assert decision.promote is False and decision.rule == "slice_drop"
    assert decision.reason.startswith("rule slice_drop: ") and "on slice region=south (100 rows)" in decision.reason
    assert "region=north" not in decision.reason.split("max_slice_drop 0.05 on slice")[1]
    south = next(s for s in decision.slices if s["slice"] == "region=south")
    assert south["gain"] < -0.05 and decision.as_dict()["slices"] == list(decision.slices)


def test_without_max_slice_drop_the_slices_are_reported_not_judged_and_small_ones_never() -> None:
    uc, labelled, candidate, champion = _slice_case(None)
    rivals = [Rival("champion", "c0ffee000001", _Fixed(champion))]
    decision, _ = decide_governed(_Fixed(candidate), rivals, labelled, uc)
    assert decision.promote is True and decision.rule == "evidence"
    assert "slices: worst region=south gain" in decision.reason and "no max_slice_drop set" in decision.reason
    small, _ = decide_governed(_Fixed(candidate), rivals, labelled, _slice_case(0.05, min_rows=200)[0])
    assert small.promote is True  # the south has 100 rows < min_rows 200: too small, not judged
    assert "1 slice(s) too small or undefined, not judged" in small.reason
    assert next(s for s in small.slices if s["slice"] == "region=south")["status"] == "too_small"
