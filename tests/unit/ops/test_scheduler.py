"""The scheduler in-process: windows from the data, due windows, catch-up order, retries, recovery."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from millpond.config.params import validate_use_case
from millpond.errors import CycleLockedError, ParamsError, StageFailedError
from millpond.governance.events import read_events
from millpond.ops.scheduler import (
    INTERRUPTED,
    Hooks,
    available_windows,
    completed_windows,
    is_transient,
    load_params,
    plan_windows,
    recover_interrupted,
    run_next,
    run_stage_locked,
    run_window,
)
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.store import RunStore, new_cycle_id
from millpond.store.lock import CycleLock
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot, write_yaml


def _touch_windows(ws: Workspace, *windows: str) -> None:
    folder = ws.raw / "churn"
    folder.mkdir(parents=True, exist_ok=True)
    for window in windows:
        (folder / f"churn_{window}.csv").write_text("customer_id\n1\n", encoding="utf-8")


class FakeStages:
    """Stands in for execute_stage: records each stage like the runner does, failing as told."""

    def __init__(self, ws: Workspace, failures: dict[tuple[str, str], list[str]] | None = None) -> None:
        self.ws, self.calls, self.failures = ws, [], failures or {}
        self.runs = RunStore(ws.runs)

    def __call__(
        self,
        ws: Workspace,
        params_path: Any,
        stage: str,
        window: str,
        *,
        cycle_id: str,
        order: int,
        extra: dict[str, Any] | None = None,
        progress: bool = False,
    ) -> Any:
        self.calls.append((window, stage, order))
        run_dir = self.runs.prepare(cycle_id, order, stage)
        queue = self.failures.get((window, stage), [])
        error = queue.pop(0) if queue else None
        now = datetime.now(UTC)
        params = yaml.safe_load(ws.resolve(params_path).read_text())
        manifest = RunManifest(
            use_case="churn",
            window=window,
            stage=stage,
            status="failed" if error else "succeeded",
            timings=RunTimings.between(now, now),
            params=params,
            error=error,
            extra=extra or {},
        )
        record = self.runs.record(run_dir, manifest)
        if error:
            raise StageFailedError(f"Stage {stage!r} failed for window {window!r}: {error}")
        return record


def test_windows_come_from_the_files_matching_the_source_pattern(workspace: Workspace, churn_params: Path) -> None:
    _touch_windows(workspace, "2025-02", "2025-01", "2025-03")
    (workspace.raw / "churn" / "notes.txt").write_text("not a window")
    use_case = validate_use_case(yaml.safe_load(churn_params.read_text()))
    assert available_windows(workspace, use_case) == ["2025-01", "2025-02", "2025-03"]


def test_windows_come_from_the_window_column(workspace: Workspace, churn_params: Path) -> None:
    data = yaml.safe_load(churn_params.read_text())
    data["source"] = {"path": "feature_marts/raw/all.csv", "window_column": "month"}
    data["columns"]["month"] = "str"
    workspace.raw.mkdir(parents=True)
    (workspace.raw / "all.csv").write_text("customer_id,month\n1,2025-02\n2,2025-01\n3,2025-02\n")
    assert available_windows(workspace, validate_use_case(data)) == ["2025-01", "2025-02"]


def test_monthly_calendar_lists_the_ended_months(workspace: Workspace, churn_params: Path) -> None:
    data = yaml.safe_load(churn_params.read_text())
    data["schedule"] = {"calendar": "monthly", "start": "2024-11"}
    assert available_windows(workspace, validate_use_case(data), today=date(2025, 2, 14)) == [
        "2024-11",
        "2024-12",
        "2025-01",
    ]
    data["schedule"] = {"calendar": "monthly"}
    with pytest.raises(ParamsError, match="schedule.start as 'YYYY-MM'"):
        validate_use_case(data)


def test_plan_catches_up_oldest_first_with_a_maximum() -> None:
    available = ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05"]
    plan = plan_windows(available, {"2025-01": "c1"}, catch_up=True, max_windows=3)
    assert plan.due == ["2025-02", "2025-03", "2025-04"] and plan.deferred == ["2025-05"]
    assert any("already completed" in m and "2025-01 in cycle c1" in m for m in plan.messages())
    plan = plan_windows(available, {"2025-01": "c1"}, catch_up=False, max_windows=3)
    assert plan.due == ["2025-05"] and plan.skipped == ["2025-02", "2025-03", "2025-04"]
    plan = plan_windows(available, {"2025-01": "c1", "2025-03": "c3"}, catch_up=True, max_windows=12)
    assert plan.due == ["2025-04", "2025-05"] and plan.gaps == ["2025-02"]
    assert plan_windows(available, {w: "c" for w in available}, catch_up=True, max_windows=3).due == []


def test_run_next_catches_up_missed_windows_in_order_then_has_nothing_due(
    workspace: Workspace, churn_params: Path
) -> None:
    _touch_windows(workspace, "2025-01", "2025-02", "2025-03")
    fake = FakeStages(workspace)
    outcome = run_next(workspace, "params/churn.yaml", hooks=Hooks(execute=fake, echo=lambda _: None))
    assert [r.window for r in outcome.results] == ["2025-01", "2025-02", "2025-03"] and outcome.ok
    assert [c[:2] for c in fake.calls[:6]] == [
        ("2025-01", s) for s in ("ingest", "score", "drift", "train", "promote")
    ] + [("2025-02", "ingest")]
    assert set(completed_windows(RunStore(workspace.runs), "churn")) == {"2025-01", "2025-02", "2025-03"}
    messages: list[str] = []
    again = run_next(workspace, "params/churn.yaml", hooks=Hooks(execute=fake, echo=messages.append))
    assert again.results == [] and any("3 window(s) already completed" in m for m in messages)
    _touch_windows(workspace, "2025-04")
    assert [
        r.window
        for r in run_next(workspace, "params/churn.yaml", hooks=Hooks(execute=fake, echo=lambda _: None)).results
    ] == ["2025-04"]


def test_transient_failures_are_retried_with_backoff(workspace: Workspace, churn_params: Path) -> None:
    data = yaml.safe_load(churn_params.read_text())
    data["schedule"] = {"retries": 2, "backoff_seconds": 0.01}
    write_yaml(churn_params, data)
    _touch_windows(workspace, "2025-01")
    fake = FakeStages(workspace, {("2025-01", "ingest"): ["SourceUnavailableError: db did not answer"] * 2})
    slept: list[float] = []
    outcome = run_next(
        workspace, "params/churn.yaml", hooks=Hooks(execute=fake, sleep=slept.append, echo=lambda _: None)
    )
    assert outcome.ok and slept == [0.01, 0.02]
    result = outcome.results[0]
    assert [(r.stage, r.status) for r in result.records][:3] == [
        ("ingest", "failed"),
        ("ingest", "failed"),
        ("ingest", "succeeded"),
    ]
    assert [e["attempt"] for e in read_events(workspace, "stage_retry")] == [1, 2]
    assert "2025-01" in completed_windows(RunStore(workspace.runs), "churn")


def test_a_stage_that_keeps_failing_ends_the_cycle_keeps_its_record_and_notifies(
    workspace: Workspace, churn_params: Path
) -> None:
    data = yaml.safe_load(churn_params.read_text())
    data["schedule"] = {"retries": 1, "backoff_seconds": 0.0}
    write_yaml(churn_params, data)
    _touch_windows(workspace, "2025-01", "2025-02")
    fake = FakeStages(workspace, {("2025-01", "score"): ["ConnectionRefusedError: no answer"] * 5})
    outcome = run_next(
        workspace, "params/churn.yaml", hooks=Hooks(execute=fake, sleep=lambda s: None, echo=lambda _: None)
    )
    assert not outcome.ok and [r.window for r in outcome.results] == ["2025-01"]  # 2025-02 waits
    assert [(r.stage, r.status) for r in outcome.results[0].records] == [
        ("ingest", "succeeded"),
        ("score", "failed"),
        ("score", "failed"),
    ]
    [event] = read_events(workspace, "cycle_failed")
    assert event["stage"] == "score" and event["window"] == "2025-01"
    # a permanent error is not retried
    fake2 = FakeStages(workspace, {("2025-01", "ingest"): ["SchemaError: column 'x' is missing"]})
    outcome = run_next(
        workspace,
        "params/churn.yaml",
        hooks=Hooks(execute=fake2, sleep=lambda s: pytest.fail("slept"), echo=lambda _: None),
    )
    assert [(r.stage, r.status) for r in outcome.results[0].records] == [("ingest", "failed")]


def test_is_transient_knows_the_family() -> None:
    assert (
        is_transient("SourceUnavailableError: x")
        and is_transient("TransientError: x")
        and is_transient("TimeoutError: t")
    )
    assert not is_transient("SchemaError: x") and not is_transient(None) and not is_transient("ValueError: x")


def test_an_interrupted_run_folder_is_recorded_as_failed(workspace: Workspace, churn_params: Path) -> None:
    runs = RunStore(workspace.runs)
    cycle_id = new_cycle_id("churn", "2025-01")
    half = runs.prepare(cycle_id, 1, "ingest", claim={"use_case": "churn", "window": "2025-01"})
    (half / "notebook.ipynb").write_text("{ half written")
    other = runs.prepare(new_cycle_id("credit", "2025-01"), 1, "ingest")  # another use case: left alone
    report = runs.verify()
    assert report.ok and any("unfinished run of 'churn'" in n for n in report.notes)
    [record] = recover_interrupted(workspace, "churn")
    assert record.run_id == f"{cycle_id}/01-ingest" and record.status == "failed" and record.error == INTERRUPTED
    assert record.window == "2025-01"
    assert [p for p in map(str, runs.verify().problems) if "credit" not in p] == []
    assert not (other / "manifest.json").exists()
    assert recover_interrupted(workspace, "churn") == []


def test_run_next_refuses_while_locked_and_says_by_whom(workspace: Workspace, churn_params: Path) -> None:
    _touch_windows(workspace, "2025-01")
    with CycleLock(workspace, "churn"):
        with pytest.raises(CycleLockedError, match=r"locked by PID \d+ on host .+ since 20\d\d-"):
            run_next(workspace, "params/churn.yaml", hooks=Hooks(execute=FakeStages(workspace), echo=lambda _: None))
    assert RunStore(workspace.runs).list() == []


def test_a_params_change_is_shown_as_a_diff_in_the_next_manifest(workspace: Workspace, churn_params: Path) -> None:
    _touch_windows(workspace, "2025-01")
    run_next(workspace, "params/churn.yaml", hooks=Hooks(execute=FakeStages(workspace), echo=lambda _: None))
    data = yaml.safe_load(churn_params.read_text())
    data["promotion"]["min_improvement"] = 0.01
    write_yaml(churn_params, data)
    _touch_windows(workspace, "2025-02")
    outcome = run_next(workspace, "params/churn.yaml", hooks=Hooks(execute=FakeStages(workspace), echo=lambda _: None))
    manifest = json.loads((outcome.results[0].records[0].path / "manifest.json").read_text())
    change = manifest["extra"]["params_change"]
    assert change["changed"] == {"promotion.min_improvement": {"before": 0.0, "after": 0.01}}
    assert change["previous_run"].endswith("05-promote")


@pytest.mark.parametrize(
    ("params", "window", "message"),
    [
        ("params/chrun.yaml", None, r"Did you mean 'params/churn\.yaml'\?"),
        ("params/chrun.yaml", "2025-01", r"Did you mean 'params/churn\.yaml'\?"),
        ("params/churn.yaml", "2025-1", r"Did you mean '2025-01'\?"),
    ],
    ids=["next-params", "window-params", "window"],
)
def test_run_next_refuses_bad_input_before_taking_the_lock(
    workspace: Workspace, churn_params: Path, params: str, window: str | None, message: str
) -> None:
    _touch_windows(workspace, "2025-01", "2025-02")
    before = tree_snapshot(workspace.root)
    with pytest.raises(ParamsError, match=message):
        run_next(workspace, params, window=window, hooks=Hooks(execute=FakeStages(workspace), echo=lambda _: None))
    assert tree_snapshot(workspace.root) == before  # no lock file, no run, no event


@pytest.mark.parametrize(
    ("stage", "params", "window", "message"),
    [
        ("trian", "params/churn.yaml", "2025-01", r"Unknown stage 'trian'\. Did you mean 'train'\?"),
        ("train", "params/chrun.yaml", "2025-01", r"Did you mean 'params/churn\.yaml'\?"),
        ("train", "params/churn.yaml", "2025-1", r"Did you mean '2025-01'\?"),
    ],
    ids=["stage", "params", "window"],
)
def test_run_stage_locked_refuses_bad_input_before_taking_the_lock(
    workspace: Workspace, churn_params: Path, stage: str, params: str, window: str, message: str
) -> None:
    _touch_windows(workspace, "2025-01", "2025-02")
    before = tree_snapshot(workspace.root)
    with pytest.raises(ParamsError, match=message):
        run_stage_locked(workspace, params, stage, window, execute=lambda *a, **k: pytest.fail("ran"))
    assert tree_snapshot(workspace.root) == before


def test_a_parameter_problem_stops_the_window_without_a_cycle_failed_event(
    workspace: Workspace, churn_params: Path
) -> None:
    def execute(*args: Any, **kwargs: Any) -> Any:
        raise ParamsError("params/churn.yaml has 1 problem(s)")

    result = run_window(
        workspace, "params/churn.yaml", "2025-01", load_params(workspace, "params/churn.yaml"), execute=execute
    )
    assert result.bad_input and result.error == "params/churn.yaml has 1 problem(s)"
    assert read_events(workspace, "cycle_failed") == []
