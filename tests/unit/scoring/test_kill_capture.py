"""kill -9 while a window is scored, captured, labelled and logged: each completed scoring run's rows are captured
exactly once per window and model version, a window's KPI comes from one run, and staging files are swept."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from millpond.config.params import load_use_case
from millpond.models.monitoring import MonitoringLog
from millpond.runs import stages
from millpond.scoring.capture import CaptureStore
from millpond.scoring.labels import add_labels
from millpond.workspace import Workspace
from tests.kill import assert_workspace_sound, run_killed

SCORE = """
from millpond.config.params import load_use_case
from millpond.runs import stages
from millpond.workspace import Workspace
ws = Workspace.find({root!r})
uc = load_use_case(ws.params / "churn.yaml")
stages.run_score(stages.StageContext(ws, uc, "2025-03", run_id={run!r}))
"""


def _score(ws: Workspace, run_id: str) -> stages.StageResult:
    uc = load_use_case(ws.params / "churn.yaml")
    return stages.run_score(stages.StageContext(ws, uc, "2025-03", run_id=run_id))


def _assert_captured_once(ws: Workspace, run_id: str) -> None:
    """Every model version of 2025-03 holds the rows of ``run_id`` exactly once, and nothing else."""
    captures = CaptureStore(ws.model_store, "churn")
    rows = len(
        stages.StageContext(ws, load_use_case(ws.params / "churn.yaml"), "2025-03")
        .marts.latest("churn", "2025-03")
        .read()
    )
    frame = captures.read("2025-03")
    for version, part in frame.groupby("model_version"):
        assert set(part["run_id"]) == {run_id}, version
        assert part["customer_id"].is_unique and len(part) == rows, version
    assert not [p for p in captures.root.rglob(".*") if p.is_file()]  # no staging file left behind


def _assert_one_kpi_per_window(ws: Workspace, run_id: str) -> None:
    current = MonitoringLog(ws.model_store, "churn").current("kpi")
    mine = [e for e in current if e.window == "2025-03"]
    assert len(mine) == 1 and mine[0].run_id == run_id


@pytest.mark.reliability("kill")
@pytest.mark.parametrize("point", ["capture-staged", "capture-recorded", "capture-published", "monitoring-appended"])
def test_a_kill_while_scoring_then_the_rerun_captures_each_row_once(scoring_workspace: Workspace, point: str) -> None:
    ws = scoring_workspace
    uc = load_use_case(ws.params / "churn.yaml")
    run_killed(SCORE.format(root=str(ws.root), run="killed/2025-03"), point)
    captures = CaptureStore(ws.model_store, "churn")
    visible = {p.path.name for p in captures.parts("2025-03")}
    if point in ("capture-staged", "capture-recorded"):
        assert visible == set()  # the part is published by one rename, after its record
    else:
        assert visible  # the killed run's first part was published whole
    if point == "capture-staged":
        assert [p for p in captures.root.rglob(".staging-*")], "the kill left its staging file (the sweep's case)"
    assert_workspace_sound(ws, uc)  # nothing half-written is visible; verify passes

    _score(ws, "rerun/2025-03")  # the next cycle's score of the same window
    _assert_captured_once(ws, "rerun/2025-03")
    _assert_one_kpi_per_window(ws, "rerun/2025-03")
    assert_workspace_sound(ws, uc)


def test_a_window_scored_again_supersedes_the_earlier_run_and_records_it(scoring_workspace: Workspace) -> None:
    ws = scoring_workspace
    _score(ws, "first/2025-03")  # completed: then the process died in the drift stage
    _score(ws, "again/2025-03")
    _assert_captured_once(ws, "again/2025-03")
    _assert_one_kpi_per_window(ws, "again/2025-03")
    captures = CaptureStore(ws.model_store, "churn")
    kept = captures.parts("2025-03", superseded=True)
    assert len(kept) == 2 * len(captures.parts("2025-03"))  # the earlier parts stay on disk (their run lists them)
    assert len(captures.read("2025-03", run_id="first/2025-03")) > 0  # and can still be read by their run id
    report = captures.verify()
    assert report.ok and any("superseded by a later scoring run" in note for note in report.notes)
    kpis = [e for e in MonitoringLog(ws.model_store, "churn").entries("kpi") if e.window == "2025-03"]
    assert [e.run_id for e in kpis] == ["first/2025-03", "again/2025-03"]
    assert kpis[1].supersedes == [{"run_id": "first/2025-03", "time": kpis[0].time}]
    history = MonitoringLog(ws.model_store, "churn").kpi_history("roc_auc", before="2025-04")
    assert history[-1] == ("2025-03", kpis[1].metrics["roc_auc"])


def test_ad_hoc_scores_never_supersede_each_other(scoring_workspace: Workspace, tmp_path: Path) -> None:
    from millpond.runs.adhoc import score_adhoc

    ws = scoring_workspace
    mart = stages.StageContext(ws, load_use_case(ws.params / "churn.yaml"), "2025-03").marts.latest("churn", "2025-03")
    frame = mart.read()
    for half, rows in enumerate((frame.iloc[:100], frame.iloc[100:250])):
        rows.to_csv(tmp_path / f"in{half}.csv", index=False)
        score_adhoc(ws, "churn@champion", tmp_path / f"in{half}.csv", tmp_path / f"out{half}.csv")
    assert len(CaptureStore(ws.model_store, "churn").read("adhoc")) == 250


@pytest.mark.reliability("kill")
def test_a_kill_after_the_labels_are_stored_then_adding_them_again_logs_one_kpi(
    scoring_workspace: Workspace, tmp_path: Path
) -> None:
    ws = scoring_workspace
    uc = load_use_case(ws.params / "churn.yaml")
    _score(ws, "score/2025-03")
    mart = stages.StageContext(ws, uc, "2025-03").marts.latest("churn", "2025-03").read()
    labels = tmp_path / "labels.csv"
    mart[[uc.key, uc.target]].to_csv(labels, index=False)
    snippet = f"""
from millpond.config.params import load_use_case
from millpond.scoring.labels import add_labels
from millpond.workspace import Workspace
ws = Workspace.find({str(ws.root)!r})
add_labels(ws, load_use_case(ws.params / "churn.yaml"), "2025-03", {str(labels)!r}, run_id="labels/2025-03")
"""
    run_killed(snippet, "labels-stored")
    stored = list((ws.model_store / "churn" / "labels" / "window=2025-03").glob("labels-*.parquet"))
    assert len(stored) == 1  # stored whole (one rename), before any KPI was logged
    assert_workspace_sound(ws, uc)
    result = add_labels(ws, uc, "2025-03", labels, run_id="labels/2025-03")
    assert not result.created and result.path == stored[0]
    _assert_one_kpi_per_window(ws, "labels/2025-03")
    assert_workspace_sound(ws, uc)
    pd.testing.assert_frame_equal(pd.read_parquet(stored[0]), pd.read_parquet(result.path))
