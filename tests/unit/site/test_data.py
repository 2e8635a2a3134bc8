"""Page data read from the stores: KPI per window, decisions marked, drift cells, registry rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from millpond.governance.audit import AuditLog
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.site.data import (
    Decision,
    DriftCell,
    KpiPoint,
    UseCaseData,
    flatten,
    kpi_points,
    model_data,
    to_json,
    use_case_data,
)
from millpond.site.overview import drift_heatmap, home_card, kpi_chart
from millpond.workspace import Workspace


def _interval(value: float, half: float = 0.01) -> dict[str, float]:
    return {"value": value, "low": value - half, "high": value + half, "confidence": 0.95, "resamples": 200}


def test_kpi_points_take_the_newest_drift_entry_and_fill_gaps_from_labelled_kpis(tmp_path: Path) -> None:
    log = MonitoringLog(tmp_path, "churn")
    log.append("drift", "2025-02", champion="v1", kpi=0.70, kpi_interval=_interval(0.70), run_id="r1")
    log.append(
        "drift",
        "2025-02",
        champion="v1",
        kpi=0.78,
        kpi_interval=_interval(0.78),
        kpi_estimate=0.8,
        kpi_estimate_interval=_interval(0.8, 0.02),
        kpi_benchmark=0.75,
        data_drift=True,
        model_drift=False,
        run_id="r2",
    )
    log.append("drift", "2025-03", champion="v2", kpi=None, kpi_estimate=0.77, run_id="r3")
    log.append("kpi", "2025-03", model_version="v2", metrics={"roc_auc": 0.74, "f1": 0.3}, run_id="r4")
    log.append("kpi", "2025-04", model_version="v2", metrics={"roc_auc": 0.73}, run_id="r5")
    points = kpi_points(log, "roc_auc")
    assert [p.window for p in points] == ["2025-02", "2025-03", "2025-04"]
    first = points[0]
    assert (first.realised, first.low, first.high) == (0.78, pytest.approx(0.77), pytest.approx(0.79))
    assert (first.estimate, first.estimate_low, first.benchmark) == (0.8, pytest.approx(0.78), 0.75)
    assert first.data_drift is True and first.model_drift is False
    assert points[1].realised == 0.74 and points[1].estimate == 0.77 and points[1].low is None
    assert points[2].champion == "v2" and points[2].estimate is None


def _decision(action: str, version: str, window: str) -> Decision:
    return Decision(
        time="2026-01-01T00:00:00", action=action, actor="cycle", reason="r", version=version, window=window
    )


def test_promotions_are_marked_and_an_unexplained_champion_change_too() -> None:
    uc = UseCaseData(name="churn", params="params/churn.yaml", metric="roc_auc", status={})
    uc.kpis = [
        KpiPoint("2025-02", champion="v1"),
        KpiPoint("2025-03", champion="v2"),
        KpiPoint("2025-04", champion="v3"),
    ]
    uc.decisions = [
        _decision("promotion", "v1", "2025-01"),
        _decision("notification", "v1", "2025-01"),
        _decision("promotion", "v2", "2025-02"),
        _decision("rejection", "v9", "2025-03"),
    ]
    assert uc.marks == [
        ("2025-01", "promoted v1"),
        ("2025-02", "promoted v2"),
        ("2025-03", "rejected v9"),
        ("2025-04", "champion v3"),  # no promotion of v3 was logged: the change itself is marked
    ]
    chart = kpi_chart(uc)
    assert chart == ""  # no KPI value at all: no chart (the page says so instead)


def test_the_heatmap_orders_features_by_their_peak_impact_and_marks_verdicts() -> None:
    uc = UseCaseData(name="churn", params="p", metric="roc_auc", status={})
    uc.kpis = [KpiPoint("2025-02", data_drift=False), KpiPoint("2025-03", data_drift=True, model_drift=True)]
    uc.drift = [
        DriftCell("region", "2025-02", 0.01, False),
        DriftCell("contract", "2025-02", 0.02, False),
        DriftCell("region", "2025-03", 0.02, False),
        DriftCell("contract", "2025-03", 0.40, True, psi=0.31),
    ]
    out = drift_heatmap(uc)
    assert out.index(">contract</text>") < out.index(">region</text>")
    assert "PSI 0.3100" in out and "DRIFTED" in out
    assert ">data model</text>" in out
    assert out.count('stroke="#222"') == 1


def test_a_home_card_shows_the_status_and_a_sparkline_of_the_realised_kpi(tmp_path: Path) -> None:
    status = {
        "use_case": "churn",
        "champion": "abc123",
        "champion_age": "2.0 d",
        "last_cycle": "c1",
        "last_window": "2025-04",
        "last_time": "2026-01-01T10:00:00",
        "last_result": "failed at drift",
        "next_due": "2025-05",
        "open_approvals": 2,
        "failing_stages": ["drift"],
        "error": None,
    }
    uc = UseCaseData(name="churn", params="p", metric="roc_auc", status=status)
    uc.kpis = [KpiPoint("2025-03", realised=0.71), KpiPoint("2025-04", realised=0.69)]
    report = tmp_path / "runs" / "c1" / "03-drift" / "report.html"
    uc.failing_reports = {"drift": report}
    card = home_card(uc, tmp_path / "site")
    assert 'href="model-churn.html#v-abc123"' in card
    assert "failed at drift" in card
    assert '<a class="mp-bad" href="../runs/c1/03-drift/report.html">drift</a>' in card
    assert '<span class="mp-approvals">2</span>' in card
    assert "2025-05" in card and "0.690" in card and "<polyline" in card


def test_use_case_data_of_a_fresh_workspace_has_one_entry_per_params_file(workspace: Workspace) -> None:
    data = use_case_data(workspace)
    assert [d.name for d in data] == ["churn"]
    assert data[0].kpis == [] and data[0].has_model is False
    assert data[0].status["last_result"] == "never run"


def test_model_data_lists_versions_aliases_and_the_alias_history(scoring_workspace: Workspace) -> None:
    store = ModelStore(scoring_workspace.model_store)
    model = model_data(scoring_workspace, "churn")
    assert [v.version for v in model.versions] == [v.version for v in store.versions("churn")]
    assert model.aliases == store.aliases("churn")
    champion = next(v for v in model.versions if v.version == model.aliases["champion"])
    assert champion.aliases == ["champion"]
    stored = store.get("churn", "champion").metadata
    assert champion.metrics["roc_auc"] == stored.metrics["roc_auc"]
    assert champion.train_windows == [m["window"] for m in stored.training_marts]
    assert champion.size_bytes == stored.size_bytes
    assert [(m.alias, m.target) for m in model.moves] == [(e.alias, e.target) for e in store.history("churn")]
    assert len(model.decisions) == len(AuditLog(scoring_workspace.model_store, "churn").entries())


def test_flatten_and_script_safe_json() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {"a.b": 1, "a.c.d": [1, 2], "e": None}
    text = to_json({"x": "</script><script>alert(1)</script>"})
    assert "</script>" not in text and "\\u003c/script\\u003e" in text


def test_failing_reports_are_the_failed_stages_of_the_last_cycle(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from millpond.site.data import failing_reports

    def record(stage: str, status: str, with_report: bool = True) -> SimpleNamespace:
        path = tmp_path / "c1" / stage
        path.mkdir(parents=True)
        if with_report:
            (path / "report.html").write_text("<html></html>", encoding="utf-8")
        return SimpleNamespace(stage=stage, status=status, path=path)

    records = [record("ingest", "succeeded"), record("score", "failed"), record("drift", "failed", with_report=False)]
    runs = SimpleNamespace(cycle=lambda cycle_id: records if cycle_id == "c1" else [])
    status = {"last_cycle": "c1", "failing_stages": ["score", "drift"]}
    assert failing_reports(runs, status) == {"score": tmp_path / "c1" / "score" / "report.html"}  # type: ignore[arg-type]
    assert failing_reports(runs, {"last_cycle": "c1", "failing_stages": []}) == {}  # type: ignore[arg-type]
