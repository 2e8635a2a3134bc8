"""The cycle's logic in-process (no notebooks): what each stage decides, window by window."""

from __future__ import annotations

from pathlib import Path

import pytest

from millpond.config.params import load_use_case
from millpond.drift.analysis import calibration_rows
from millpond.governance import deployment, promotion
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.runs import stages
from millpond.runs.stages import StageContext
from millpond.workspace import Workspace


def _ctx(ws: Workspace, window: str, params: str = "churn.yaml") -> StageContext:
    return StageContext(
        workspace=ws, use_case=load_use_case(ws.params / params), window=window, run_id=f"test/{window}"
    )


def _cycle(ws: Workspace, window: str) -> dict[str, stages.StageResult]:
    ctx = _ctx(ws, window)
    return {name: fn(ctx) for name, fn in stages.RUNNERS.items()}


def test_first_window_trains_and_promotes_a_first_champion(demo_workspace: Workspace) -> None:
    out = _cycle(demo_workspace, "2025-01")
    assert out["ingest"].status == "succeeded"
    assert out["score"].status == "skipped" and "no champion" in out["score"].reason
    assert out["drift"].status == "skipped"
    assert out["train"].summary["reasons"] == ["no champion yet"]
    assert out["promote"].summary["promoted"] is True
    store = ModelStore(demo_workspace.model_store)
    assert store.aliases("churn")["champion"] == out["train"].summary["candidate"]


def test_stationary_window_scores_without_drift_or_retrain(demo_workspace: Workspace) -> None:
    _cycle(demo_workspace, "2025-01")
    out = _cycle(demo_workspace, "2025-02")
    assert out["score"].status == "succeeded" and out["score"].summary["kpi"]["roc_auc"] > 0.7
    assert out["drift"].summary["data_drift"] is False, out["drift"].tables
    assert out["train"].status == "skipped"
    assert out["promote"].status == "skipped"
    captures = list(
        (demo_workspace.model_store / "churn" / "captures" / "window=2025-02").glob("model_version=*/part-*.parquet")
    )
    assert len(captures) == 1


def test_drift_triggers_retrain_and_the_decision_is_logged_once(demo_workspace: Workspace) -> None:
    for window in ("2025-01", "2025-02", "2025-03"):
        _cycle(demo_workspace, window)
    drift = MonitoringLog(demo_workspace.model_store, "churn").latest("drift", "2025-03")
    assert drift is not None and drift["data_drift"] is True and "monthly_charges" in drift["drifted_features"]
    out4 = _cycle(demo_workspace, "2025-04")
    assert out4["train"].status == "succeeded"
    decisions = MonitoringLog(demo_workspace.model_store, "churn").entries("decision", "2025-04")
    assert len(decisions) == 1
    again = stages.run_promote(_ctx(demo_workspace, "2025-04"))
    assert again.status == "skipped" and "no undecided candidate" in again.reason


def test_failed_smoke_test_rolls_back_to_the_previous_champion(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cycle(demo_workspace, "2025-01")
    store = ModelStore(demo_workspace.model_store)
    first = store.aliases("churn")["champion"]
    ctx = _ctx(demo_workspace, "2025-02")
    stages.run_ingest(ctx)
    monkeypatch.setattr(stages, "retrain_reasons", lambda ctx: ["forced by test"])
    monkeypatch.setattr(
        promotion, "decide_governed", lambda *a, **k: (_always_promote(), __import__("pandas").DataFrame())
    )
    stages.run_train(ctx)
    monkeypatch.setattr(deployment, "smoke_champion", lambda models, uc: "ValueError: broken")
    result = stages.run_promote(ctx)
    assert result.summary["promoted"] is False and "rolled back" in result.reason
    assert store.aliases("churn")["champion"] == first
    store.load("churn", "champion")


def _always_promote():
    from millpond.governance.promotion import Decision

    return Decision(True, "forced", "roc_auc", 0.9, 0.8)


def test_smoke_test_passes_on_a_real_champion(demo_workspace: Workspace) -> None:
    _cycle(demo_workspace, "2025-01")
    ctx = _ctx(demo_workspace, "2025-01")
    assert deployment.smoke_champion(ctx.models, ctx.use_case) == ""


def test_tampered_champion_is_refused_by_score(demo_workspace: Workspace) -> None:
    from millpond.errors import ModelIntegrityError

    _cycle(demo_workspace, "2025-01")
    store = ModelStore(demo_workspace.model_store)
    path: Path = store.get("churn", "champion").model_file
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    ctx = _ctx(demo_workspace, "2025-02")
    stages.run_ingest(ctx)
    with pytest.raises(ModelIntegrityError, match="altered"):
        stages.run_score(ctx)
    assert not (demo_workspace.model_store / "churn" / "captures" / "window=2025-02").exists()


def test_cbpe_calibration_rows_are_the_champions_holdout_and_later_labelled_windows(demo_workspace: Workspace) -> None:
    from millpond.models.training import holdout_mask

    for window in ("2025-01", "2025-02"):
        _cycle(demo_workspace, window)
    ctx = _ctx(demo_workspace, "2025-03")
    stages.run_ingest(ctx)
    champion = ctx.champion()
    assert champion is not None and champion.metadata["trained_for_window"] == "2025-01"
    rows = calibration_rows(ctx, champion)
    first = ctx.marts.latest("churn", "2025-01").read()
    held_out = first[holdout_mask(first, ctx.use_case)]
    assert rows is not None and len(rows) == len(held_out) + 3000  # never the champion's training rows, nor window T
    assert rows["customer_id"].iloc[: len(held_out)].tolist() == held_out["customer_id"].tolist()
    assert (
        rows["customer_id"].iloc[len(held_out) :].tolist()
        == ctx.marts.latest("churn", "2025-02").read()["customer_id"].tolist()
    )
