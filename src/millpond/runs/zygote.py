"""A fork server for stage kernels: one process that has imported what the stages import, forked into each kernel.

A stage kernel spends most of its start importing (pandas, scikit-learn, skops, scrapbook, millpond's stages):
about 1.5 s of CPU per kernel, paid five times a cycle on a machine with two cores. The zygote pays it once per
cycle: :class:`KernelPool` starts ``python -m millpond.runs.zygote SOCKET`` (the kernelspec's own interpreter and
flags), which imports the modules and ipykernel, then waits on a Unix socket. Each kernel the pool starts is a
``fork()`` of it, made through jupyter_client's public provisioner interface (:class:`ForkProvisioner`, a
``LocalProvisioner`` whose ``launch_kernel`` asks the zygote instead of ``Popen``): the child starts a session of
its own, sends its output to the kernel's log, takes the working directory, environment and arguments jupyter_client
gives any kernel, and runs ``IPKernelApp`` (``initialize`` then ``start``, as ``ipykernel_launcher`` does).

What a stage sees is a fresh kernel: the zygote never runs a notebook or any stage code, so a child holds only the
imports (the same state a new process has after importing them); numpy's global random state is drawn anew in the
child (Python's ``random`` does that itself at fork). matplotlib's pyplot is imported in the child once its IPython
shell exists (the inline backend hooks into the shell at import). No thread runs in the zygote when it forks.

The zygote exits when the pool closes its stdin (the end of a cycle, or the cycle's process gone); the pool kills it
on SIGTERM/SIGINT with the kernels. ``MILLPOND_PRESTART=warm`` uses warmed-up kernels started by jupyter_client
instead (``runs/kernels.py``), ``0`` none.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

AFTER_SHELL = ("matplotlib.pyplot",)  # imported in the child once its shell exists (inline backend integration)
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # what ipykernel sets when MPLBACKEND is unset


class ForkedKernel:
    """The ``Popen``-like handle of a forked kernel (not our child: the zygote reaps it), for LocalProvisioner."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._started = _start_time(pid)

    def poll(self) -> int | None:
        if self.returncode is None and (_start_time(self.pid) != self._started or _state(self.pid) in ("Z", "X", "")):
            self.returncode = 0  # its exit status went to the zygote, which reaped it
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0.0)
            time.sleep(0.05)
        return self.returncode or 0

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return []


def _state(pid: int) -> str:
    fields = _stat(pid)
    return fields[0] if fields else ""


def _start_time(pid: int) -> str:
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""  # field 22 of /proc/PID/stat: when it started (pid reuse check)


class ForkProvisioner(LocalProvisioner):
    """A LocalProvisioner whose kernels are forked by the zygote listening at ``zygote_socket``; their output goes to
    ``log_path``. Everything else (connection file, ports, signals, shutdown) is LocalProvisioner's."""

    zygote_socket = ""
    log_path = ""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        args = cmd[cmd.index("ipykernel_launcher") + 1 :] if "ipykernel_launcher" in cmd else cmd[1:]
        cwd = str(kwargs.get("cwd") or os.getcwd())
        request = {"argv": args, "cwd": cwd, "env": dict(kwargs.get("env") or os.environ), "log": self.log_path}
        pid = ask(self.zygote_socket, request)
        self.process = ForkedKernel(pid)  # type: ignore[assignment]  # Popen's interface, for a forked kernel
        self.pid, self.pgid, self.cwd = pid, pid, cwd  # its own session: pgid == pid
        return self.connection_info


def ask(socket_path: str, request: dict[str, Any], timeout: float = 30.0) -> int:
    """Have the zygote at ``socket_path`` fork a kernel for ``request``; its PID."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(socket_path)
        conn.sendall(json.dumps(request).encode() + b"\n")
        reply = json.loads(conn.makefile("rb").readline() or b"{}")
    if "pid" not in reply:
        raise RuntimeError(f"the kernel zygote did not fork a kernel: {reply.get('error', 'no reply')}")
    return int(reply["pid"])


class Zygote:
    """The pool's side of one zygote process: started at once, ready once its socket exists, stopped at the end."""

    def __init__(self, kernel_argv: list[str], modules: tuple[str, ...], folder: Path, cwd: Path) -> None:
        self.socket = folder / "zygote.sock"
        self.log = folder / "zygote.log"
        interpreter = kernel_argv[: kernel_argv.index("-m")] if "-m" in kernel_argv else [sys.executable]
        command = [*interpreter, "-m", __name__, str(self.socket), json.dumps(list(modules))]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=out, stderr=out, cwd=str(cwd), start_new_session=True
            )

    def ready(self, wait: float = 0.0) -> bool:
        """Whether it listens (waiting up to ``wait`` seconds); False once it has died."""
        deadline = time.monotonic() + wait
        while True:
            if self.process.poll() is not None:
                return False
            if self.socket.exists():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def failure(self) -> str:
        """The end of what it printed (why it is not ready)."""
        text = self.log.read_text(errors="replace").strip() if self.log.exists() else ""
        return text.splitlines()[-1] if text else f"exit code {self.process.poll()}"

    def stop(self) -> None:
        """Close its stdin (it exits), then make sure: SIGKILL its session after two seconds."""
        with suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL its session at once (from a signal handler)."""
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(Exception):
            self.process.wait(timeout=2.0)


def _reap(_signum: int, _frame: Any) -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(socket_path: str, modules: list[str]) -> None:
    """Import ``modules`` (entries ``module:function`` are calls that import), then fork a kernel per request."""
    from millpond.runs.kernel_imports import skip_unused_format_checkers

    skip_unused_format_checkers()
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    for name in modules:
        if name in AFTER_SHELL:
            continue
        module, _, function = name.partition(":")
        imported = importlib.import_module(module)
        if function:
            getattr(imported, function)()
    importlib.import_module("ipykernel.kernelapp")
    signal.signal(signal.SIGCHLD, _reap)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path + ".part")
    server.listen(8)
    os.replace(socket_path + ".part", socket_path)  # connectable only once everything is imported
    while True:
        readable, _, _ = select.select([server, sys.stdin], [], [])
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 1):
            return  # the pool closed our stdin: the cycle is over (or its process is gone)
        if server in readable:
            conn, _ = server.accept()
            with conn:
                _fork_one(conn, server)


def _fork_one(conn: socket.socket, server: socket.socket) -> None:
    try:
        request = json.loads(conn.makefile("rb").readline())
    except ValueError as exc:
        conn.sendall(json.dumps({"error": f"bad request: {exc}"}).encode() + b"\n")
        return
    pid = os.fork()
    if pid == 0:  # the kernel: never returns into the zygote's loop
        code = 1
        try:
            os.setsid()  # first: a session (and process group) of its own, as jupyter_client starts kernels
            conn.close()
            server.close()
            _become_kernel(request)
            code = 0
        finally:
            os._exit(code)
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")


def _become_kernel(request: dict[str, Any]) -> None:
    """In the forked child (already in a session of its own): stdio, directory and environment, then IPKernelApp."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    log = os.open(request["log"] or os.devnull, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]  # as `python -m ipykernel_launcher` started there has it
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()  # its legacy global state, drawn anew from the OS as in a new process
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    # its parent is the zygote: it exits when the zygote is gone (which exits when the cycle's process is gone)
    app.initialize([*request["argv"], f"--IPKernelApp.parent_handle={os.getppid()}"])
    for name in AFTER_SHELL:
        importlib.import_module(name)
    app.start()
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":
    serve(sys.argv[1], json.loads(sys.argv[2]))
