"""millpond backtest end to end: the CLI replays the small demo in a scratch workspace, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from millpond.workspace import Workspace


def _tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def test_a_replay_reports_each_window_and_never_touches_the_real_stores(
    demo_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    from millpond.cli.app import main

    ws = demo_workspace
    before = {name: _tree(ws.root / name) for name in ("runs", "model_store", "feature_marts")}
    code = main(
        [
            "--workspace", str(ws.root), "backtest", "--params", "params/churn.yaml", "--to", "2025-04",
            "--change-point", "2025-03", "--report", str(ws.root / "out" / "bt.html"), "--json",
        ]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    result, static, always = out["results"]
    assert [r["policy"] for r in out["results"]] == ["usecase", "static", "always"]  # the baselines beside it
    assert [w["window"] for w in result["windows"]] == ["2025-01", "2025-02", "2025-03", "2025-04"]
    first = result["windows"][0]
    assert first["retrained"] and first["promoted"] and first["rule"] == "first_candidate" and first["champion"] is None
    assert all(w["champion"] for w in result["windows"][1:]) and result["windows"][1]["kpi"] is not None
    totals = result["totals"]
    assert totals["windows_before"] == 2 and totals["data_drift_before"] == 0 and totals["swaps_before"] == 0
    # the small demo's covariate shift from 2025-03 and concept drift from 2025-04 are found
    assert totals["detected_at"] in ("2025-03", "2025-04")
    # the baselines: static never retrains after its first model, always retrains and promotes every window
    summary = {s["policy"]: s for s in out["summary"]}
    assert (summary["static"]["retrains"], summary["always"]["retrains"], summary["always"]["swaps"]) == (1, 4, 3)
    assert all(w["champion"] == static["windows"][1]["champion"] for w in static["windows"][1:])
    assert summary["always"]["regret_always"] == 0.0 and summary["usecase"]["regret_best"] >= 0.0
    assert summary["usecase"]["false_alarms"] == 0 and summary["usecase"]["detected_at"] == totals["detected_at"]
    page = Path(out["report"])
    assert page == ws.root / "out" / "bt.html" and page.read_text(encoding="utf-8").count('class="kpi-chart"') == 4
    assert {name: _tree(ws.root / name) for name in ("runs", "model_store", "feature_marts")} == before
