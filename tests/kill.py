"""The kill -9 harness: run a Python snippet in a subprocess and SIGKILL it at a named checkpoint.

Every multi-step store write calls :func:`millpond.store.checkpoint.checkpoint` between its steps; with
``MILLPOND_KILL_AT=<name>`` in its environment the process kills itself with SIGKILL at that step (no ``finally``
block, no lock release: what ``kill -9`` or a power cut leaves). :func:`run_killed` runs ``snippet`` that way and
fails the test when the process was not killed there (the checkpoint was never reached, or it failed first), so a
kill test cannot pass without the kill. The names in use: :data:`millpond.store.checkpoint.CHECKPOINTS`.

To make a kill point cheap, the snippet does not start a new interpreter: a *zygote* process, started once per
test session, imports millpond's heavy modules (pandas, scikit-learn, pyarrow, …) once and forks one child per
snippet. The child is a process of its own (its own session and process group, the test's environment, fresh
module state: nothing ran in the zygote but imports) that runs the snippet and dies by the checkpoint's SIGKILL,
exactly as a fresh ``python -c`` would; only the seconds of imports are saved. ``MILLPOND_KILL_FORK=0`` runs each
snippet in a fresh interpreter instead.

Usage::

    from tests.kill import run_killed
    run_killed(f"from millpond.models.store import ModelStore; ...", "alias-switched")
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from millpond.store.checkpoint import CHECKPOINTS, KILL_ENV

SRC = Path(__file__).resolve().parents[1] / "src"


def _env(at: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.pop(KILL_ENV, None)
    if at is not None:
        env[KILL_ENV] = at
    return env


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in a new process group; when it ends, SIGKILL what is left of the group (e.g. Dask workers a
    killed scorer started): what a power cut leaves. Output goes through files, so no child holds a pipe open."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err, text=True, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(args, code, out.read(), err.read())


# The zygote: imports once, then forks a child per request (one JSON line on stdin); answers the child's PID, then
# its exit code as os.waitstatus_to_exitcode gives it (-9: SIGKILL).
ZYGOTE = r"""
import json, os, sys, traceback
import millpond.cli.app, millpond.runs.stages, millpond.ops.retention, millpond.governance.approvals
import millpond.scoring.batch, millpond.scoring.labels, millpond.ops.verify
import millpond.store.checkpoint as checkpoints

def child(request):
    os.setsid()
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, request["out"], os.O_WRONLY), (2, request["err"], os.O_WRONLY)):
        os.dup2(os.open(path, flags), fd)
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["-c"]
    checkpoints._hits.clear()
    try:
        exec(compile(request["snippet"], "<snippet>", "exec"), {"__name__": "__main__"})
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)

print(json.dumps({"ready": os.getpid()}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        child(request)
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"pid": pid, "code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class _Zygote:
    """The forking server of :data:`ZYGOTE`, started on first use and stopped when the test session ends."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.buffer = b""

    def _line(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The zygote's next answer (None: none within ``timeout`` seconds)."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            if timeout is not None and not select.select([fd], [], [], timeout)[0]:
                return None
            chunk = os.read(fd, 65536)
            assert chunk, "the zygote died"
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return dict(json.loads(line))

    def _start(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", ZYGOTE], env=_env(None), stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
            )
            self.buffer = b""
            assert "ready" in (self._line() or {}), "the zygote did not start"
            atexit.register(self.stop)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def run(self, snippet: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
        self._start()
        assert self.proc is not None and self.proc.stdin is not None
        with tempfile.NamedTemporaryFile("r") as out, tempfile.NamedTemporaryFile("r") as err:
            request = {"snippet": snippet, "env": env, "out": out.name, "err": err.name}
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            pid = int((self._line() or {})["pid"])
            try:
                done = self._line(timeout)
                if done is None:
                    os.killpg(pid, signal.SIGKILL)
                    self._line()  # the zygote reaps it
                    raise subprocess.TimeoutExpired(["snippet"], timeout)
            finally:
                try:
                    os.killpg(pid, signal.SIGKILL)  # what the snippet started (e.g. Dask workers) dies with it
                except (ProcessLookupError, PermissionError):
                    pass
            return subprocess.CompletedProcess(["snippet"], int(done["code"]), out.read(), err.read())


_ZYGOTE = _Zygote()


def _python(snippet: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``snippet`` in a process of its own: a fork of the zygote, or (``MILLPOND_KILL_FORK=0``) a new one."""
    if os.environ.get("MILLPOND_KILL_FORK", "1") != "0" and hasattr(os, "fork"):
        return _ZYGOTE.run(snippet, env, timeout)
    return _run([sys.executable, "-c", snippet], env, timeout)


def run_killed(snippet: str, at: str, *, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``snippet`` with ``python -c`` and SIGKILL it at checkpoint ``at``; assert it died there."""
    name = at.partition(":")[0]
    assert name in CHECKPOINTS, f"unknown checkpoint {name!r}; known: {', '.join(CHECKPOINTS)}"
    proc = _python(textwrap.dedent(snippet), _env(at), timeout)
    assert proc.returncode == -signal.SIGKILL, (
        f"the snippet was not killed at {at!r} (exit {proc.returncode}): it never reached that checkpoint.\n"
        f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    )
    return proc


def run_cli_killed(ws: object, args: list[str], at: str, *, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``millpond --workspace <ws> <args>`` and SIGKILL it at checkpoint ``at`` (see :func:`run_killed`)."""
    from millpond.workspace import Workspace

    assert isinstance(ws, Workspace)
    return run_killed(
        f"from millpond.cli import main\nraise SystemExit(main({['--workspace', str(ws.root), *args]!r}))",
        at,
        timeout=timeout,
    )


def run_through(snippet: str, *, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``snippet`` to its end without a kill point; assert it succeeded."""
    proc = _run([sys.executable, "-c", textwrap.dedent(snippet)], _env(None), timeout)
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
    smoke = smoke_champion(models, uc)
    assert smoke == "", f"champion {champion.version} fails its smoke test: {smoke}"
    AuditLog(ws.model_store, uc.use_case).verify()
    MonitoringLog(ws.model_store, uc.use_case).entries()


def assert_verified(ws: object) -> None:
    """The cheaper check after a follow-up step that did not touch the champion: ``millpond verify`` finds nothing."""
    from millpond.ops.verify import verify_workspace
    from millpond.workspace import Workspace

    assert isinstance(ws, Workspace)
    problems = [str(p) for report in verify_workspace(ws) for p in report.problems]
    assert problems == [], problems
