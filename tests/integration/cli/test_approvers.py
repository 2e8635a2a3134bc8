"""Who may approve: two real OS users run `millpond models approve|reject|rollback`; only the listed one moves anything.

As root the test creates the users (``useradd``) and runs the CLI as each with ``runuser`` (a Python of the same
version the other users can reach, with this venv's packages on the path); elsewhere it skips, saying why.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from millpond.config.params import load_use_case
from millpond.governance.audit import AuditLog
from millpond.models.store import ModelStore
from millpond.runs import stages
from millpond.workspace import Workspace
from tests.conftest import REPO, tree_snapshot, write_yaml

pytestmark = pytest.mark.integration
USERS = ("mp-approver-ann", "mp-approver-bob")


def _python_for_others() -> str | None:
    """An interpreter of this Python's version outside any folder other users cannot enter (/root)."""
    candidates = [os.path.realpath(sys.executable), f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"]
    return next((c for c in candidates if not c.startswith("/root/") and os.path.exists(c)), None)


@pytest.fixture(scope="module")
def os_users() -> Iterator[dict[str, int]]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create two OS users (useradd) and run the CLI as each (runuser)")
    if not (shutil.which("useradd") and shutil.which("runuser")):
        pytest.skip("useradd or runuser is not installed")
    created = []
    for user in USERS:
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", user], check=True, capture_output=True)
            created.append(user)
    try:
        yield {user: pwd.getpwnam(user).pw_uid for user in USERS}
    finally:
        for user in created:
            subprocess.run(["userdel", user], capture_output=True)


def _share(root: Path) -> None:
    """Let the other users work in the workspace: folders open, writable files writable; read-only records stay so."""
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        if path.is_dir():
            path.chmod(mode | 0o777)
        elif mode & 0o200:
            path.chmod(mode | 0o066)


@pytest.fixture
def shared_ws(demo_workspace: Workspace, os_users: dict[str, int]) -> Iterator[Workspace]:
    """The demo workspace copied to a folder every user can reach (pytest's tmp folders are root-only)."""
    base = Path(tempfile.mkdtemp(prefix="millpond-approvers-"))
    shutil.copytree(demo_workspace.root, base / "ws")
    ws = Workspace.find(base / "ws")
    data = yaml.safe_load((ws.params / "churn.yaml").read_text())
    data["model"] = {"family": "logistic_regression", "params": {"max_iter": 200}}
    data["promotion"] = {
        **data["promotion"],
        "approval": "manual",
        "min_improvement": -1.0,
        "guard_max_regression": 1.0,
        "bootstrap_resamples": 50,
        "approvers": [USERS[0]],
    }
    data["retrain"] = {"every_n_windows": 1}
    data["drift"] = {**data["drift"], "bootstrap_resamples": 50}
    write_yaml(ws.params / "churn.yaml", data)
    base.chmod(0o755)
    yield ws
    shutil.rmtree(base, ignore_errors=True)


def _cycle(ws: Workspace, window: str) -> str:
    """One in-process cycle (no papermill: fast); the candidate left awaiting approval."""
    ctx = stages.StageContext(ws, load_use_case(ws.params / "churn.yaml"), window, run_id=f"t/{window}")
    out = {name: fn(ctx) for name, fn in stages.RUNNERS.items()}
    assert out["promote"].summary["awaiting_approval"] is True
    _share(ws.root)
    return str(out["train"].summary["candidate"])


def _as(user: str, ws: Workspace, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    python = _python_for_others()
    assert python is not None
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(ws.root.parent),
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), sysconfig.get_paths()["purelib"]]),
        "USER": USERS[0],  # spoofed on purpose: the name comes from the uid, never from the environment
        "LOGNAME": USERS[0],
        "OMP_NUM_THREADS": "1",
    }
    run = ["-c", code] if code else ["-m", "millpond", "--workspace", str(ws.root), "models", *args]
    cmd = [shutil.which("runuser") or "runuser", "-u", user, "--", python, *run]
    try:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    finally:
        _share(ws.root)  # what one user wrote (mkstemp files are 0600) stays readable by the other


def _model_files(ws: Workspace) -> dict[str, bytes]:
    return {k: v for k, v in tree_snapshot(ws.model_store).items() if not k.endswith(".lock")}


@pytest.mark.reliability("hostile")
def test_only_the_listed_os_user_approves_rejects_and_rolls_back(
    shared_ws: Workspace, os_users: dict[str, int]
) -> None:
    ws, (ann, bob) = shared_ws, USERS
    python = _python_for_others()
    if python is None or _as(bob, ws, code="import millpond.cli, sklearn").returncode != 0:
        pytest.skip(f"no Python {sys.version_info[:2]} the other users can run with this venv's packages")
    first = _cycle(ws, "2025-01")
    for args in (("approve", "churn", first), ("reject", "churn", first)):
        before = _model_files(ws)
        refused = _as(bob, ws, *args, "--reason", "looks fine", "--by", ann)
        assert refused.returncode == 2, refused.stderr
        assert f"OS user '{bob}' (uid {os_users[bob]}) may not {args[0]} model 'churn'" in refused.stderr
        assert "Nothing was changed" in refused.stderr and _model_files(ws) == before
    done = _as(ann, ws, "approve", "churn", first, "--reason", "reviewed the report", "--by", "Ann A.")
    assert done.returncode == 0, done.stderr
    assert f"approved by Ann A. ({ann}, uid {os_users[ann]})" in done.stdout
    second = _cycle(ws, "2025-02")
    assert _as(ann, ws, "approve", "churn", second, "--reason", "Q2 is better").returncode == 0
    assert ModelStore(ws.model_store).aliases("churn")["champion"] == second
    before = _model_files(ws)
    refused = _as(bob, ws, "rollback", "churn", "--reason", "I prefer the old one")
    assert refused.returncode == 2 and f"OS user '{bob}'" in refused.stderr and "may not roll back" in refused.stderr
    assert _model_files(ws) == before
    rolled = _as(ann, ws, "rollback", "churn", "--reason", "KPI dropped")
    assert rolled.returncode == 0, rolled.stderr
    assert ModelStore(ws.model_store).aliases("churn")["champion"] == first
    audit = AuditLog(ws.model_store, "churn")
    assert audit.verify() > 0
    decided = [e for e in audit.entries() if e.action in ("approval", "rejection", "rollback")]
    assert [(e.action, e.fields["os_user"], e.fields["uid"]) for e in decided] == [
        ("approval", ann, os_users[ann]),
        ("approval", ann, os_users[ann]),
        ("rollback", ann, os_users[ann]),
    ]
    assert decided[0].fields["display_name"] == "Ann A." and decided[1].fields["display_name"] is None
    history = ModelStore(ws.model_store).history("churn")
    assert history[-1].actor == f"{ann} (uid {os_users[ann]})" and history[-1].action == "rollback"
