"""Unfinished run folders: whose they are (never split from the run id), live or dead, sealed as interrupted."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from millpond.cli import main
from millpond.ops.scheduler import recover_interrupted
from millpond.ops.verify import repair_workspace
from millpond.runs.recovery import INTERRUPTED, seal_interrupted
from millpond.runs.store import RunStore, new_cycle_id
from millpond.workspace import Workspace

HOLD = """
import sys
from millpond.store.lock import CycleLock
from millpond.workspace import Workspace
lock = CycleLock(Workspace.find(sys.argv[1]), sys.argv[2], command="papermill kernel: notebooks/score.ipynb").acquire()
print("held", flush=True)
sys.stdin.read()
lock.release()
"""
PASSWORD = "Literal-Pw-4417"


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


@pytest.fixture
def holder(workspace: Workspace) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of churn-b (as a papermill-kind run's kernel does)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(workspace.root), "churn-b"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def _unfinished(ws: Workspace, use_case: str, window: str, stage: str = "ingest", *, pid: int | None = None) -> Path:
    """A run folder its process left without a manifest; ``pid`` None: a folder with no claim at all."""
    runs = RunStore(ws.runs)
    run_dir = runs.prepare(new_cycle_id(use_case, window), 1, stage, claim={"use_case": use_case, "window": window})
    claim = run_dir / ".claim.json"
    if pid is None:
        claim.unlink()
    else:
        claim.write_text(json.dumps({**json.loads(claim.read_text()), "pid": pid}))
    return run_dir


@pytest.mark.reliability("kill")
def test_the_sweep_of_churn_never_touches_churn_b(workspace: Workspace) -> None:
    dead = _dead_pid()
    mine = _unfinished(workspace, "churn", "2025-01", pid=dead)
    theirs = _unfinished(workspace, "churn-b", "2025-01", pid=dead)  # its id starts with 'churn-' too
    [record] = recover_interrupted(workspace, "churn")
    assert record.path == mine and record.use_case == "churn" and record.window == "2025-01"
    assert record.error == INTERRUPTED and record.status == "failed"
    assert not (theirs / "manifest.json").exists()
    [other] = recover_interrupted(workspace, "churn-b")
    assert other.path == theirs and other.use_case == "churn-b" and other.window == "2025-01"


@pytest.mark.reliability("kill")
def test_a_live_run_is_never_sealed(workspace: Workspace, holder: subprocess.Popen[str]) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        running = _unfinished(workspace, "churn", "2025-02", pid=sleeper.pid)  # its process still runs
        locked = _unfinished(workspace, "churn-b", "2025-02", pid=_dead_pid())  # its use case's lock is held
        assert recover_interrupted(workspace, "churn") == []
        assert seal_interrupted(workspace) == []
        assert repair_workspace(workspace).sealed == []
        assert not (running / "manifest.json").exists() and not (locked / "manifest.json").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_folder_naming_no_use_case_is_left_unfinished_whatever_its_id_says(workspace: Workspace) -> None:
    bare = _unfinished(workspace, "churn", "2025-03", pid=None)  # no claim, no notebook
    named = _unfinished(workspace, "churn-b", "2025-03", pid=None)
    parameters = {"use_case": "churn-b", "window": "2025-03"}
    (named / "notebook.ipynb").write_text(json.dumps({"metadata": {"papermill": {"parameters": parameters}}}))
    assert recover_interrupted(workspace, "churn") == []
    assert not (bare / "manifest.json").exists() and not (named / "manifest.json").exists()
    [record] = recover_interrupted(workspace, "churn-b")  # its notebook says whose it is
    assert record.path == named


@pytest.mark.reliability("secret")
def test_verify_notes_an_unfinished_run_and_repair_seals_it_with_secrets_scrubbed(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = _unfinished(workspace, "churn", "2025-04", pid=_dead_pid())
    url = f"postgresql://millpond:{PASSWORD}@db.internal/marts"
    parameters = {"use_case": "churn", "window": "2025-04", "source": {"url": url}}
    notebook = {"metadata": {"papermill": {"parameters": parameters}}, "cells": [{"source": f"source = {url!r}"}]}
    (run_dir / "notebook.ipynb").write_text(json.dumps(notebook))
    (run_dir / "kernel.log").write_text(f"connecting to {url}\n")
    assert main(["--workspace", str(workspace.root), "verify"]) == 0  # a crash is not tampering
    assert "unfinished run of 'churn'" in capsys.readouterr().out
    done = repair_workspace(workspace)
    assert done.sealed == [f"{run_dir.parent.name}/{run_dir.name}"]
    assert any(line.startswith("sealed ") for line in done.lines())
    record = RunStore(workspace.runs).get(done.sealed[0])
    assert record.error == INTERRUPTED and RunStore(workspace.runs).verify().ok
    leaked = [p for p in run_dir.rglob("*") if p.is_file() and PASSWORD in p.read_text(errors="replace")]
    assert leaked == []
    assert PASSWORD not in (workspace.runs / "index.sqlite").read_bytes().decode("utf-8", "replace")
