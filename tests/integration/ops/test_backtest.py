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
            "--workspace", str(ws.root), "backtest", "--params", "params/churn.yaml", "--windows", "..2025-04",
            "--change-point", "2025-03", "--json",
        ]
    )  # fmt: skip
    assert code == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert [w["window"] for w in result["windows"]] == ["2025-01", "2025-02", "2025-03", "2025-04"]
    first = result["windows"][0]
    assert first["retrained"] and first["promoted"] and first["rule"] == "first_candidate" and first["champion"] is None
    assert all(w["champion"] for w in result["windows"][1:]) and result["windows"][1]["kpi"] is not None
    totals = result["totals"]
    assert totals["windows_before"] == 2 and totals["data_drift_before"] == 0 and totals["swaps_before"] == 0
    # the small demo's covariate shift from 2025-03 and concept drift from 2025-04 are found
    assert totals["detected_at"] in ("2025-03", "2025-04")
    assert {name: _tree(ws.root / name) for name in ("runs", "model_store", "feature_marts")} == before
