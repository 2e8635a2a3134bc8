"""The cycle lock: exclusive per use case, named holder, a killed holder's lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from millpond.errors import CycleLockedError
from millpond.store.lock import CycleLock, lock_path, read_holder
from millpond.workspace import Workspace

HOLD = """
import sys
from millpond.store.lock import CycleLock
from millpond.workspace import Workspace
lock = CycleLock(Workspace.find(sys.argv[1]), "churn", command="holder").acquire()
print("held", flush=True)
sys.stdin.read()
"""


def test_second_lock_fails_at_once_naming_the_holder(workspace: Workspace) -> None:
    with CycleLock(workspace, "churn") as first:
        assert first.stale_holder is None
        holder = read_holder(workspace, "churn")
        assert holder is not None and holder["pid"] == os.getpid()
        with pytest.raises(CycleLockedError, match=rf"locked by PID {os.getpid()} on host .+ since "):
            CycleLock(workspace, "churn").acquire()
        with CycleLock(workspace, "credit"):  # another use case is independent
            pass
    assert read_holder(workspace, "churn") is None
    assert lock_path(workspace, "churn").read_text() == ""  # a clean release leaves no holder behind


def test_a_lock_left_by_a_killed_process_is_taken_over(workspace: Workspace) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(workspace.root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(CycleLockedError, match=rf"locked by PID {proc.pid} "):
            CycleLock(workspace, "churn").acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert json.loads(lock_path(workspace, "churn").read_text())["pid"] == proc.pid  # the dead holder's note stays
    assert read_holder(workspace, "churn") is None  # … but the kernel released its flock
    with CycleLock(workspace, "churn") as lock:
        assert lock.stale_holder is not None and lock.stale_holder["pid"] == proc.pid
        assert read_holder(workspace, "churn")["pid"] == os.getpid()
