"""millpond backtest: windows, policies, totals, the scratch workspace, and a replay that never touches the real stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from millpond.errors import ParamsError
from millpond.ops.backtest import (
    WindowOutcome,
    policy_use_case,
    scratch_workspace,
    select_windows,
    totals_of,
)
from millpond.workspace import Workspace


def _outcome(window: str, **flags: bool) -> WindowOutcome:
    return WindowOutcome(
        window=window,
        champion="c1",
        kpi=flags.pop("kpi", None),  # type: ignore[arg-type]
        data_drift=flags.get("data", False),
        model_drift=flags.get("model", False),
        retrained=flags.get("retrained", False),
        promoted=flags.get("promoted", False),
        rule="first_candidate" if flags.get("first") else "",
        before_change=None,
    )


def test_windows_are_selected_by_range() -> None:
    available = ["2025-01", "2025-02", "2025-03", "2025-04"]
    assert select_windows(available, None) == available
    assert select_windows(available, "2025-02..2025-03") == ["2025-02", "2025-03"]
    assert select_windows(available, "2025-03..") == ["2025-03", "2025-04"]
    assert select_windows(available, "..2025-01") == ["2025-01"]
    with pytest.raises(ParamsError, match="A..B"):
        select_windows(available, "2025-02")
    with pytest.raises(
        ParamsError, match="No window of the source lies in '2026-01..'; the source has 2025-01 .. 2025-04"
    ):
        select_windows(available, "2026-01..")


def test_totals_split_alarms_and_swaps_at_the_change_point() -> None:
    windows = [
        _outcome("w1", promoted=True, retrained=True, first=True),  # the first model: not a swap
        _outcome("w2", data=True, kpi=0.8),
        _outcome("w3", model=True, retrained=True, promoted=True, kpi=0.7),
        _outcome("w4", kpi=0.9),
        _outcome("w5", data=True, model=True, kpi=0.6),
    ]
    totals = totals_of(windows, "w4", higher_is_better=True)
    assert (totals.windows, totals.data_drift, totals.model_drift, totals.retrains, totals.swaps) == (5, 2, 2, 2, 1)
    assert (totals.windows_before, totals.data_drift_before, totals.model_drift_before, totals.swaps_before) == (
        3, 1, 1, 1,
    )  # fmt: skip
    assert totals.detected_at == "w5" and totals.worst_kpi == 0.6 and totals.mean_kpi == pytest.approx(0.75)
    assert totals_of(windows, None, higher_is_better=False).worst_kpi == 0.9
    assert totals_of(windows, None, higher_is_better=True).detected_at is None


def test_policies_change_only_what_they_name(make_use_case) -> None:  # type: ignore[no-untyped-def]
    uc = make_use_case(notify={"webhook": {"url": "http://127.0.0.1:9/hook"}})
    assert policy_use_case(uc, "usecase").notify.webhook is None  # a backtest notifies nobody
    assert policy_use_case(uc, "point").promotion.policy == "point"
    always = policy_use_case(uc, "always")
    assert always.retrain.every_n_windows == 1 and always.promotion.policy == "point"
    assert always.promotion.min_improvement < -1e100 and always.promotion.compare_previous is False
    assert policy_use_case(uc, "static").promotion == uc.promotion
    with pytest.raises(ParamsError, match="--policy must be one of .*Did you mean 'static'"):
        policy_use_case(uc, "statc")


def test_the_scratch_workspace_has_its_own_stores_and_links_the_rest(demo_workspace: Workspace, tmp_path: Path) -> None:
    ws = demo_workspace
    (ws.feature_marts / "churn").mkdir(parents=True)
    (ws.feature_marts / "churn" / "features.sql").write_text("SELECT * FROM source", encoding="utf-8")
    scratch = scratch_workspace(ws, tmp_path / "scratch", "churn")
    assert Workspace.find(scratch.root).root == scratch.root
    for store in (scratch.runs, scratch.model_store, scratch.feature_marts, scratch.feature_marts / "churn"):
        assert store.is_dir() and not store.is_symlink()
    assert (scratch.feature_marts / "churn" / "features.sql").read_text(encoding="utf-8") == "SELECT * FROM source"
    assert (scratch.feature_marts / "raw").is_symlink() and (scratch.params).is_symlink()
    assert (scratch.raw / "churn" / "churn_2025-01.csv").is_file()


def test_the_real_data_example_declares_its_change_point() -> None:
    from millpond.config.params import load_use_case

    repo = Path(__file__).resolve().parents[3]
    uc = load_use_case(repo / "params" / "examples" / "cps_earnings.yaml")
    assert (uc.task, uc.promotion.metric, uc.drift.change_point) == ("regression", "rmse", "2004w01")
    assert uc.promotion.policy == "evidence" and uc.source.path == "feature_marts/raw/cps_earnings/cps_{window}.csv"
    assert (repo / "scripts" / "load_cps_earnings.py").is_file()
