"""The drift run's sweetviz comparison as a run of its own: drawn after the verdict, recorded, verifiable."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from millpond.errors import ReportError
from millpond.runs.comparison import start_ahead, start_comparison
from millpond.runs.store import RunStore
from millpond.workspace import Workspace
from tests.conftest import copy_workspace, run_millpond

pytestmark = pytest.mark.integration


@pytest.fixture
def ws(tmp_path: Path, two_cycled_windows: Path) -> Workspace:
    return copy_workspace(two_cycled_windows, tmp_path / "ws")


def _cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return run_millpond(ws, *args)


def test_the_cycle_recorded_the_comparison_after_its_stages(ws: Workspace) -> None:
    runs = RunStore(ws.runs)
    drift = runs.list(stage="drift", window="2025-02")[0]
    (compare,) = runs.list(stage="compare", window="2025-02")
    assert [r.stage for r in runs.cycle(drift.cycle_id)] == ["ingest", "score", "drift", "compare"]
    assert compare.status == "succeeded" and compare.manifest["extra"]["drift_run"] == drift.run_id
    score = runs.list(stage="score", window="2025-02")[0]
    assert score.finished_at <= compare.started_at  # drawn ahead, from after score: beside the drift stage
    assert compare.finished_at >= drift.finished_at  # and recorded for the drift run once it was sealed
    assert (compare.path / "outputs" / "comparison.html").stat().st_size > 10_000


def test_runs_compare_draws_any_drift_run_again_as_the_next_run_of_its_cycle(ws: Workspace) -> None:
    drift = RunStore(ws.runs).list(stage="drift", window="2025-02")[0]
    done = _cli(ws, "runs", "compare", drift.run_id, "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["run_id"] == f"{drift.cycle_id}/05-compare" and shown["status"] == "succeeded"
    assert _cli(ws, "verify").returncode == 0  # its report is one of its hashed files
    again = RunStore(ws.runs).get(shown["run_id"])
    first = RunStore(ws.runs).get(f"{drift.cycle_id}/04-compare")
    assert again.manifest["inputs"] == first.manifest["inputs"]  # the same mart versions, pinned by sha256


def test_runs_compare_of_a_run_that_is_not_a_drift_run_says_what_to_give(ws: Workspace) -> None:
    ingest = RunStore(ws.runs).list(stage="ingest", window="2025-02")[0]
    refused = _cli(ws, "runs", "compare", ingest.run_id)
    assert refused.returncode != 0
    assert "has no comparison to draw" in refused.stderr and "runs list --stage drift" in refused.stderr
    assert [r.stage for r in RunStore(ws.runs).cycle(ingest.cycle_id)][-1] == "compare"  # nothing new recorded


def test_a_comparison_that_runs_out_of_time_is_a_failed_compare_run(ws: Workspace) -> None:
    drift = RunStore(ws.runs).list(stage="drift", window="2025-02")[0]
    step = start_comparison(ws, drift)
    assert step is not None
    step.drawing.timeout = 0.01  # the child cannot be done by then: it is stopped
    record = step.finish()
    assert record.status == "failed" and "took longer than" in (record.error or "")
    assert not (record.path / "outputs" / "comparison.html").exists()
    assert RunStore(ws.runs).verify().ok


def test_a_drawing_started_ahead_is_kept_only_for_the_versions_the_drift_run_compared(ws: Workspace) -> None:
    runs = RunStore(ws.runs)
    score, drift = runs.list(stage="score", window="2025-02")[0], runs.list(stage="drift", window="2025-02")[0]
    ahead = start_ahead(ws, score)
    assert ahead is not None and ahead.sides == drift.scraps["summary"]["comparison_sides"]
    assert ahead.for_drift(drift) is ahead  # the same versions: this drawing is the drift run's
    ahead.drawing.close()
    moved = start_ahead(ws, score)
    assert moved is not None
    moved.sides = {**moved.sides, "reference": ["2024-12-000000000000"]}  # as if the champion had moved meanwhile
    redrawn = moved.for_drift(drift)
    assert redrawn is not None and redrawn is not moved and redrawn.sides == drift.scraps["summary"]["comparison_sides"]
    with pytest.raises(ReportError, match="never started"):  # the stale drawing was stopped, its folder removed
        moved.drawing.result()
    record = redrawn.finish()
    assert record.status == "succeeded" and record.manifest["extra"]["drift_run"] == drift.run_id
