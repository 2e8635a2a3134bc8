"""The cron wrapper as cron runs it: `env -i`, a cycle killed mid-stage, two cycles at once, catch-up in order."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from millpond.governance.events import read_events
from millpond.ops.scheduler import INTERRUPTED, completed_windows
from millpond.runs.store import CLAIM, RunStore
from millpond.store.lock import lock_path, process_alive
from millpond.workspace import Workspace
from tests.conftest import REPO

pytestmark = pytest.mark.integration
CRON_ENV = ["env", "-i", "PATH=/usr/bin:/bin"]  # what cron gives: no HOME, no PYTHONPATH, no venv on PATH


def _cron_workspace(ws: Workspace, raw: Path, windows: tuple[str, ...]) -> list[str]:
    """The workspace with its script and a .venv whose python runs this checkout's code."""
    (ws.root / "scripts").mkdir()
    shutil.copy2(REPO / "scripts" / "cron_cycle.sh", ws.root / "scripts" / "cron_cycle.sh")
    (ws.root / ".venv" / "bin").mkdir(parents=True)
    python = ws.root / ".venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={REPO / "src"} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    (ws.raw / "churn").mkdir(parents=True)
    for window in windows:
        shutil.copy2(raw / f"churn_{window}.csv", ws.raw / "churn")
    return [*CRON_ENV, str(ws.root / "scripts" / "cron_cycle.sh"), "params/churn.yaml"]


def _wait_for(condition, what: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _holder(ws: Workspace) -> dict:
    try:
        text = lock_path(ws, "churn").read_text()
    except FileNotFoundError:
        return {}
    return json.loads(text) if text.strip() else {}


def test_cron_script_recovers_from_a_kill_refuses_a_second_cycle_and_catches_up_in_order(
    workspace: Workspace,
    small_demo_raw: Path,
    tmp_path: Path,
) -> None:
    ws = workspace
    command = _cron_workspace(ws, small_demo_raw, ("2025-01", "2025-02"))
    elsewhere = tmp_path.parent  # cron starts in HOME or /: the script must not depend on the current directory

    # 1. a cycle killed (SIGKILL, with its kernel) in the middle of its first stage
    killed = subprocess.Popen(command, cwd=elsewhere, start_new_session=True)
    # the folder with its claim (prepare writes the claim just after the folder: a kill between them, seen once on a
    # loaded machine, leaves a folder verify cannot attribute to the use case)
    _wait_for(lambda: any(ws.runs.glob(f"*/01-ingest/{CLAIM}")), "the first stage's run folder")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    dead_pid = _holder(ws)["pid"]
    _wait_for(lambda: not process_alive(dead_pid), "the killed cycle's process to be gone", timeout=30)
    unfinished = RunStore(ws.runs).verify()  # a crash is not tampering: a note, not a problem
    assert unfinished.ok and any("unfinished run of 'churn'" in n for n in unfinished.notes)

    # 2. the next run takes the lock over; a second one started meanwhile exits at once with code 5
    recovering = subprocess.Popen(command, cwd=elsewhere, start_new_session=True)
    _wait_for(lambda: _holder(ws).get("pid") not in (None, dead_pid), "the new cycle to take the lock")
    live_pid = _holder(ws)["pid"]
    second = subprocess.run(command, cwd=elsewhere, timeout=120)
    assert second.returncode == 5
    assert recovering.wait(timeout=1200) == 0, (ws.logs / "cron.log").read_text()[-3000:]

    log = (ws.logs / "cron.log").read_text()
    assert f"locked by PID {live_pid} on host " in log and " since " in log
    assert f"taking over the lock left by PID {dead_pid}" in log
    assert log.index("window 2025-01: running cycle") < log.index("window 2025-02: running cycle")
    runs = RunStore(ws.runs)
    [interrupted] = [r for r in runs.list(status="failed")]
    assert interrupted.stage == "ingest" and interrupted.error == INTERRUPTED
    done = completed_windows(runs, "churn")
    assert sorted(done) == ["2025-01", "2025-02"] and done["2025-01"] < done["2025-02"]  # oldest first
    assert runs.verify().ok
    assert [e["event"] for e in read_events(ws) if e["event"] in ("lock_taken_over", "interrupted_run_recorded")] == [
        "lock_taken_over",
        "interrupted_run_recorded",
    ]
    assert json.loads((ws.model_store / "churn" / "aliases.json").read_text())["champion"]

    # 3. nothing left: exit 4 with a message
    again = subprocess.run(command, cwd=elsewhere, timeout=300)
    assert again.returncode == 4
    assert "nothing due" in (ws.logs / "cron.log").read_text().rsplit("=== ", 2)[-2]
