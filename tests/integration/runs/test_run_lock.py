"""`millpond run STAGE` takes the use case's cycle lock: refused at once (exit 5) while another process holds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from millpond.cli import main
from millpond.errors import CycleLockedError
from millpond.ops.scheduler import run_stage_locked
from millpond.runs.store import RunStore
from millpond.store.lock import CycleLock, lock_path, read_holder
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot

HOLDER_COMMAND = "millpond cycle --params params/churn.yaml --next"
HOLD = f"""
import sys
from millpond.store.lock import CycleLock
from millpond.workspace import Workspace
lock = CycleLock(Workspace.find(sys.argv[1]), "churn", command={HOLDER_COMMAND!r}).acquire()
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
lock.release()
print("released", flush=True)
"""


def _cli(ws: Workspace, *args: str) -> int:
    return main(["--workspace", str(ws.root), *args])


def _stores(ws: Workspace) -> dict[str, bytes]:
    return {**tree_snapshot(ws.feature_marts), **(tree_snapshot(ws.model_store) if ws.model_store.exists() else {})}


def test_run_is_refused_while_a_cycle_holds_the_lock_then_works_after_release(
    demo_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = demo_workspace
    before = _stores(ws)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(ws.root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code = _cli(ws, "run", "ingest", "--params", "params/churn.yaml", "--window", "2025-01")
        err = capsys.readouterr().err
        assert code == 5
        assert f"locked by PID {holder.pid} on host " in err and " since 20" in err
        assert f"running `{HOLDER_COMMAND}`" in err
        assert "Wait for it to finish" in err and "`millpond status`" in err
        assert not ws.runs.exists() or not [p for p in ws.runs.iterdir() if p.is_dir()]  # no run folder, no record
        assert RunStore(ws.runs).list() == []
        assert _stores(ws) == before  # no mart version, nothing in the model store
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        released = holder.stdout.readline().strip() if holder.stdout else ""
        holder.wait()
    assert released == "released" and holder.returncode == 0
    assert _cli(ws, "run", "ingest", "--params", "params/churn.yaml", "--window", "2025-01") == 0
    assert "ingest 2025-01: succeeded -> run " in capsys.readouterr().out
    (record,) = RunStore(ws.runs).list()
    assert (record.stage, record.window, record.status) == ("ingest", "2025-01", "succeeded")
    assert record.manifest["extra"]["timings"]["wall_seconds"] > 0
    assert read_holder(ws, "churn") is None and lock_path(ws, "churn").read_text() == ""  # released cleanly


def test_the_stage_runs_while_holding_the_lock_that_names_it(workspace: Workspace, churn_params: Path) -> None:
    seen: dict[str, Any] = {}

    def execute(ws: Workspace, params_path: Any, stage: str, window: str, *, progress: bool = False) -> str:
        seen.update(read_holder(ws, "churn") or {})
        with pytest.raises(
            CycleLockedError,
            match=r"locked by PID \d+ .* running `millpond run train --params params/churn.yaml --window 2025-02`",
        ):
            CycleLock(ws, "churn").acquire()  # what a cron cycle starting now meets
        return "recorded"

    assert (
        run_stage_locked(workspace, "params/churn.yaml", "train", "2025-02", execute=execute, echo=lambda _: None)
        == "recorded"
    )
    assert (
        seen["pid"] == os.getpid()
        and seen["command"] == "millpond run train --params params/churn.yaml --window 2025-02"
    )
    assert read_holder(workspace, "churn") is None


def test_bad_params_still_exit_2_with_a_recorded_failed_run(
    workspace: Workspace, churn_params: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(churn_params.read_text())
    data["traning"] = data.pop("training")
    (workspace.params / "bad.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert _cli(workspace, "run", "train", "--params", "params/bad.yaml", "--window", "2025-02") == 2
    assert "Did you mean 'training'?" in capsys.readouterr().err
    (record,) = RunStore(workspace.runs).list()
    assert (record.use_case, record.stage, record.status) == ("churn", "train", "failed")
    assert "traning" in (record.error or "") and record.manifest["extra"]["bad_params"] is True
    assert not lock_path(workspace, "churn").exists()  # invalid params: no use case to lock, nothing else ran
