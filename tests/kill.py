"""The kill -9 harness: run a Python snippet in a subprocess and SIGKILL it at a named checkpoint.

Every multi-step store write calls :func:`millpond.store.checkpoint.checkpoint` between its steps; with
``MILLPOND_KILL_AT=<name>`` in its environment the process kills itself with SIGKILL at that step (no ``finally``
block, no lock release: what ``kill -9`` or a power cut leaves). :func:`run_killed` runs ``snippet`` that way and
fails the test when the process was not killed there (the checkpoint was never reached, or it failed first), so a
kill test cannot pass without the kill. The names in use: :data:`millpond.store.checkpoint.CHECKPOINTS`.

Usage::

    from tests.kill import run_killed
    run_killed(f"from millpond.models.store import ModelStore; ...", "alias-switched")
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from millpond.store.checkpoint import CHECKPOINTS, KILL_ENV

SRC = Path(__file__).resolve().parents[1] / "src"


def _env(at: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.pop(KILL_ENV, None)
    if at is not None:
        env[KILL_ENV] = at
    return env


def run_killed(snippet: str, at: str, *, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``snippet`` with ``python -c`` and SIGKILL it at checkpoint ``at``; assert it died there."""
    name = at.partition(":")[0]
    assert name in CHECKPOINTS, f"unknown checkpoint {name!r}; known: {', '.join(CHECKPOINTS)}"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(snippet)],
        env=_env(at),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, (
        f"the snippet was not killed at {at!r} (exit {proc.returncode}): it never reached that checkpoint.\n"
        f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    )
    return proc


def run_through(snippet: str, *, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``snippet`` to its end without a kill point; assert it succeeded."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(snippet)],
        env=_env(None),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstderr:\n{proc.stderr[-4000:]}"
    return proc


def assert_workspace_sound(ws: object, uc: object) -> None:
    """What must hold after any kill, once recovered: ``millpond verify`` finds no problem, the champion resolves,
    loads and passes its smoke test, every log parses, and no alias move is left half done."""
    from millpond.config.params import UseCase
    from millpond.governance.audit import AuditLog
    from millpond.governance.deployment import smoke_champion
    from millpond.models.monitoring import MonitoringLog
    from millpond.models.store import ModelStore
    from millpond.ops.verify import verify_workspace
    from millpond.workspace import Workspace

    assert isinstance(ws, Workspace) and isinstance(uc, UseCase)
    problems = [str(p) for report in verify_workspace(ws) for p in report.problems]
    assert problems == [], problems
    models = ModelStore(ws.model_store)
    champion = models.load(uc.use_case, "champion")[1]
    assert smoke_champion(models, uc) == "", f"champion {champion.version} fails its smoke test"
    AuditLog(ws.model_store, uc.use_case).verify()
    MonitoringLog(ws.model_store, uc.use_case).entries()
