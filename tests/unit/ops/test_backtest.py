"""millpond backtest: windows, policies, totals, the scratch workspace, and a replay that never touches the real stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from millpond.errors import ParamsError
from millpond.ops.backtest import (
    BacktestResult,
    WindowOutcome,
    compare_policies,
    policies_to_run,
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


def _result(policy: str, kpis: list[float | None], **events: set[int]) -> BacktestResult:
    """A replayed policy over windows w1.. with these KPIs; ``events`` name the window indexes of each flag."""
    windows = [
        WindowOutcome(
            window=f"w{i + 1}",
            champion=None if i == 0 else "c",
            kpi=kpi,
            data_drift=i in events.get("data", set()),
            model_drift=i in events.get("model", set()),
            retrained=i == 0 or i in events.get("retrained", set()),
            promoted=i == 0 or i in events.get("promoted", set()),
            rule="first_candidate" if i == 0 else ("evidence" if i in events.get("promoted", set()) else ""),
            before_change=f"w{i + 1}" < "w4",
        )
        for i, kpi in enumerate(kpis)
    ]
    return BacktestResult("churn", policy, "roc_auc", "w4", windows)


def test_policies_are_compared_with_regrets_quiet_windows_and_false_alarms(make_use_case) -> None:  # type: ignore[no-untyped-def]
    uc = make_use_case()  # roc_auc, kpi_tolerance 0.02
    static = _result("static", [None, 0.80, 0.79, 0.70, 0.68])
    always = _result("always", [None, 0.80, 0.80, 0.74, 0.78], retrained={1, 2, 3, 4}, promoted={1, 2, 3, 4})
    usecase = _result("usecase", [None, 0.80, 0.79, 0.70, 0.76], data={2, 3}, model={3}, retrained={3}, promoted={3})
    report = compare_policies([usecase, static, always], uc)
    # w2, w3: static within 0.02 of its first KPI (0.80) and always no better by more than 0.02; w4, w5 changed
    assert report.quiet == ["w2", "w3"] and report.tolerance == pytest.approx(0.02)
    by = {s.policy: s for s in report.summaries}
    # best per window: 0.80, 0.80, 0.74, 0.78
    assert by["usecase"].regret_best == pytest.approx((0 + 0.01 + 0.04 + 0.02) / 4)
    assert by["static"].regret_best == pytest.approx((0 + 0.01 + 0.04 + 0.10) / 4)
    assert by["always"].regret_best == pytest.approx(0.0) and by["always"].regret_always == pytest.approx(0.0)
    assert by["usecase"].regret_always == by["usecase"].regret_best
    assert (by["usecase"].quiet_alarms, by["usecase"].false_alarms, by["usecase"].detected_at) == (1, 1, "w4")
    assert (by["usecase"].retrains, by["usecase"].promotions, by["usecase"].swaps) == (2, 2, 1)
    assert (by["always"].retrains, by["always"].swaps, by["always"].false_swaps) == (5, 4, 2)
    assert by["static"].mean_kpi == pytest.approx(0.7425) and by["static"].worst_kpi == pytest.approx(0.68)


def test_lower_is_better_metrics_flip_the_regret_and_use_a_relative_quiet_tolerance() -> None:
    from millpond.config.params import load_use_case

    uc = load_use_case(Path(__file__).resolve().parents[3] / "params" / "examples" / "cps_earnings.yaml")
    assert (uc.promotion.metric, uc.drift.kpi_tolerance_relative) == ("rmse", 0.05)
    results = [
        BacktestResult("churn", p.policy, "rmse", None, p.windows)
        for p in (_result("static", [None, 10.0, 10.4, 14.0]), _result("always", [None, 10.0, 10.0, 11.0]))
    ]
    report = compare_policies(results, uc)
    assert report.tolerance == pytest.approx(0.5)  # 5 % of static's first RMSE
    assert report.quiet == ["w2", "w3"]
    static = report.summaries[0]
    assert static.regret_always == pytest.approx((0 + 0.4 + 3.0) / 3) and static.false_alarms is None


def test_the_baselines_are_replayed_beside_the_chosen_policies() -> None:
    assert policies_to_run(None, True) == ["usecase", "static", "always"]
    assert policies_to_run(["point", "static"], True) == ["point", "static", "always"]
    assert policies_to_run(["evidence"], False) == ["evidence"]
    with pytest.raises(ParamsError, match="Did you mean 'always'"):
        policies_to_run(["alway"], True)
