"""Locks that name their holder: the cycle lock (exclusive per use case, a killed holder's lock is taken over) and the holder lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from millpond.errors import CycleLockedError, LockedError, ModelStoreLockedError, exit_code_of
from millpond.store.lock import CycleLock, HolderLock, describe_holder, lock_path, read_holder
from millpond.workspace import Workspace

HOLD = """
import sys
from millpond.store.lock import CycleLock
from millpond.workspace import Workspace
lock = CycleLock(Workspace.find(sys.argv[1]), "churn", command="holder").acquire()
print("held", flush=True)
sys.stdin.read()
"""
HOLD_HOLDER = """
import sys
lock = HolderLock(Path(sys.argv[1]), timeout=5, what="x").acquire()
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


def test_a_holder_lock_is_reentrant_and_names_its_holder_to_a_waiter(tmp_path: Path) -> None:
    path = tmp_path / "churn" / ".lock"
    lock = HolderLock(path, timeout=5, what="Model 'churn'", hint="retry later.", error=ModelStoreLockedError)
    with lock, lock:  # re-entrant: the inner release keeps it
        assert lock.depth == 2 and json.loads(path.read_text())["pid"] == os.getpid()
        waiter = HolderLock(path, timeout=0.1, what="Model 'churn'", hint="retry later.", error=ModelStoreLockedError)
        with pytest.raises(ModelStoreLockedError, match=rf"Model 'churn' is locked by PID {os.getpid()} on host ") as e:
            waiter.acquire()
        assert str(e.value).endswith(f"(lock file {path}); retry later.") and exit_code_of(e.value) == 5
    assert lock.depth == 0 and path.read_bytes() == b""  # a clean release empties the note
    with HolderLock(path, timeout=0.1, what="x"):  # free again
        pass


def test_a_holder_lock_left_by_a_killed_process_is_free(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    script = f"from pathlib import Path\nfrom millpond.store.lock import HolderLock\n{HOLD_HOLDER}"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=rf"x is locked by PID {proc.pid} on host .* running `"):
            HolderLock(path, timeout=0.1, what="x").acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert json.loads(path.read_text())["pid"] == proc.pid  # the dead holder's note stays, its lock does not
    with HolderLock(path, timeout=1, what="x") as lock:
        assert lock.depth == 1 and json.loads(path.read_text())["pid"] == os.getpid()


def test_cycle_and_holder_locks_write_the_same_note(workspace: Workspace, tmp_path: Path) -> None:
    with CycleLock(workspace, "churn", command="millpond cycle"), HolderLock(tmp_path / ".lock", timeout=1, what="x"):
        cycle = json.loads(lock_path(workspace, "churn").read_text())
        holder = json.loads((tmp_path / ".lock").read_text())
    assert set(cycle) == {*holder, "use_case"} and cycle["command"] == "millpond cycle"
    assert describe_holder(cycle).startswith(f"PID {os.getpid()} on host ") and cycle["use_case"] == "churn"
