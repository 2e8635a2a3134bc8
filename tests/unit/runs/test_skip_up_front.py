"""A stage that would only say "skipped" is recorded by the runner without a kernel (runner.skip_up_front)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from millpond.errors import StageFailedError
from millpond.runs import context, runner, skips
from millpond.runs.report import write_runs_index
from millpond.runs.store import RunStore
from millpond.workspace import Workspace

PARAMS = "params/churn.yaml"


def _no_kernel(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every notebook execution fail loudly, listing which stages asked for one."""
    started: list[str] = []

    def run_notebook(run: Any, progress: bool) -> tuple[str, str | None, float, Any]:
        started.append(run.stage)
        return "failed", "KernelStarted: a notebook ran", 0.0, lambda: None

    monkeypatch.setattr(runner, "_run_notebook", run_notebook)
    return started


def test_skips_decided_up_front_are_sealed_records_without_a_kernel(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _no_kernel(monkeypatch)
    monkeypatch.setattr(context, "retrain_reasons", lambda ctx: [])  # the policy is not triggered
    result = runner.run_cycle(demo_workspace, PARAMS, "2025-01", stages=("score", "drift", "train", "promote"))
    assert result.ok, result.error
    assert started == []
    expected = {
        "score": skips.NO_CHAMPION["score"],
        "drift": skips.NO_CHAMPION["drift"],
        "train": skips.NOT_TRIGGERED,
        "promote": skips.NO_CANDIDATE,
    }
    assert {r.stage: (r.status, r.manifest["skip_reason"]) for r in result.records} == {
        s: ("skipped", reason) for s, reason in expected.items()
    }
    for record in result.records:
        folder = Path(record.path)
        assert not (folder / "notebook.ipynb").exists()
        assert expected[record.stage] in (folder / "report.html").read_text(encoding="utf-8")
        assert record.scraps["kind"] == runner.SKIP_KIND and record.manifest["extra"]["kernel"] is False
        assert record.scraps["reason"] == expected[record.stage] and record.reason == expected[record.stage]
        assert "params_change" in record.manifest["extra"]  # the cycle's extra, as a notebook run has it
    store = RunStore(demo_workspace.runs)
    assert store.verify().ok
    assert sorted(r.stage for r in store.list(status="skipped")) == sorted(expected)
    index = write_runs_index(demo_workspace).read_text(encoding="utf-8")
    assert all(f"{r.run_id}/report.html" in index for r in result.records)


def test_a_stage_with_work_still_runs_its_notebook(demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    started = _no_kernel(monkeypatch)  # no champion: train has a reason ("no champion yet"), so it needs a kernel
    with pytest.raises(StageFailedError, match="KernelStarted"):
        runner.execute_stage(demo_workspace, PARAMS, "train", "2025-01")
    assert started == ["train"]


def test_a_pending_promotion_is_left_to_the_stage_kernel(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _no_kernel(monkeypatch)
    pending = demo_workspace.model_store / "churn" / "pending.json"
    pending.parent.mkdir(parents=True)
    pending.write_text("{}", encoding="utf-8")  # a crash-interrupted alias move: the kernel's stage recovers it first
    with pytest.raises(StageFailedError):
        runner.execute_stage(demo_workspace, PARAMS, "score", "2025-01")
    assert started == ["score"]


def _pending(ws: Workspace, phase: str) -> None:
    pending = ws.model_store / "churn" / "pending.json"
    pending.parent.mkdir(parents=True, exist_ok=True)
    move = {
        "action": "promote",
        "actor": "millpond cycle",
        "after": {"champion": "b" * 12, "previous": "a" * 12},
        "before": {"champion": "a" * 12},
        "context": {"outcome": "promoted", "version": "b" * 12, "window": "2025-01"},
        "created_at": "2026-12-04T21:11:13.489856+00:00",
        "governed": True,
        "id": "260ff49765324b42",
        "model": "churn",
        "phase": phase,
        "reason": "a test",
    }
    pending.write_text(json.dumps(move), encoding="utf-8")


def test_a_finished_promotion_left_for_the_next_stage_does_not_stop_a_skip(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _no_kernel(monkeypatch)
    _pending(demo_workspace, "done")  # what every promotion leaves: moved, audited, smoke-tested
    record = runner.execute_stage(demo_workspace, PARAMS, "score", "2025-01")
    assert started == [] and record.status == "skipped" and record.manifest["extra"]["kernel"] is False
    assert (demo_workspace.model_store / "churn" / "pending.json").exists()  # tidied by the next stage's kernel


def test_an_unfinished_promotion_is_still_left_to_the_stage_kernel(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _no_kernel(monkeypatch)
    _pending(demo_workspace, "promote")  # the alias moved, the smoke test not yet run: the kernel completes it
    with pytest.raises(StageFailedError):
        runner.execute_stage(demo_workspace, PARAMS, "score", "2025-01")
    assert started == ["score"]
