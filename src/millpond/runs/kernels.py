"""Fresh kernels started ahead: while one stage computes, the next stage's kernel starts and imports.

A kernel's start (an interpreter, ipykernel, zmq) and the imports every stage makes (millpond's stages, pandas,
scikit-learn, scrapbook) cost seconds before a stage does any work. :class:`KernelPool` starts the next stage's
kernel while the current stage runs, has it import those modules, and hands it to papermill (``km=``, passed through
papermill's engine to nbclient's ``NotebookClient``) when the stage begins. What a stage sees is what a fresh kernel
gives it:

- **one new kernel per stage, used once**: :meth:`KernelPool.take` hands a kernel out once; :meth:`KernelPool.retire`
  shuts it down (gracefully, as nbclient does) once its notebook is done. No kernel runs two notebooks.
- **imports only**: the warm-up is one *silent* execution (no output, no history, execution count unchanged) of
  ``importlib.import_module`` calls inside a comprehension, so no name is bound in the notebook's namespace.
- **the same start**: the kernelspec, arguments (nbclient's in-memory history), working directory and environment a
  kernel papermill starts gets; its own log lines land in the run folder's ``kernel.log`` as before.
- **a kernel that died while waiting** (or whose warm-up failed) is shut down and replaced by a new one.
- **nothing left behind**: :meth:`KernelPool.close` (the end of a cycle, a failure) shuts down every kernel the pool
  started and has not retired; SIGTERM and SIGINT kill them (their whole process group) before the signal's usual
  effect (:meth:`KernelPool.handling_signals`).

Where kernels come from: by default a *zygote* (:mod:`millpond.runs.zygote`) imports :data:`WARM_MODULES` once per
cycle and each kernel after the first is a fork of it (no warm-up needed); ``MILLPOND_PRESTART=warm`` starts each
kernel with jupyter_client and warms it with :data:`WARM_BY_STAGE`; ``MILLPOND_PRESTART=0`` (or ``false``/``no``/
``off``) runs every stage in a kernel papermill starts itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

PRESTART_ENV = "MILLPOND_PRESTART"
# What each stage imports (measured per stage in a fresh process with `sys.modules` before and after): the stage
# code, scrapbook, the plots' matplotlib where a notebook plots, and the scikit-learn, pyarrow and millpond modules
# its function imports when it runs. An entry "module:function" is a call that imports (skops.io without
# scikit-learn's all_estimators(), millpond.models.skops_import).
_BASE = ("millpond.runs.stages", "millpond.views.plots", "pandas", "scrapbook", "pyarrow.csv", "pyarrow.dataset")
_MODELS = (
    "sklearn",
    "sklearn.impute",
    "sklearn.inspection",
    "millpond.models.training",
    "millpond.models.skops_import:skops_io",
)
_PLOTS = ("matplotlib.pyplot", "sklearn.calibration")
WARM_BY_STAGE: dict[str, tuple[str, ...]] = {
    "ingest": _BASE,
    "score": (*_BASE, *_MODELS, "millpond.scoring.batch"),
    "drift": (
        *_BASE,
        *_MODELS,
        *_PLOTS,
        "millpond.drift.analysis",
        "millpond.marts.columns",
        "millpond.governance.notifications",
    ),
    "train": (*_BASE, *_MODELS, *_PLOTS, "millpond.governance.notifications"),
    "promote": (
        *_BASE,
        *_MODELS,
        "millpond.governance.promotion",
        "millpond.governance.notifications",
        "millpond.scoring.batch",
        "millpond.scoring.smoke",
    ),
}
WARM_MODULES = tuple(dict.fromkeys(m for mods in WARM_BY_STAGE.values() for m in mods))  # a stage not named: all
START_TIMEOUT = 60.0  # papermill's default start_timeout: a kernel not ready by then is replaced


def prestart_enabled() -> bool:
    """Whether cycles pre-start their stages' kernels (default on; ``MILLPOND_PRESTART=0`` turns it off)."""
    return os.environ.get(PRESTART_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def fork_enabled() -> bool:
    """Whether pre-started kernels are forked by a zygote (default; ``MILLPOND_PRESTART=warm``: warmed up instead)."""
    return prestart_enabled() and os.environ.get(PRESTART_ENV, "1").strip().lower() != "warm"


def warm_code(modules: tuple[str, ...]) -> str:
    """The warm-up cell: the format-checker block the stages apply first, then each import (an entry
    ``module:function`` imports the module and calls the function); binds no name."""
    imports = [m for m in modules if ":" not in m]
    calls = [m.split(":", 1) for m in modules if ":" in m]
    return (
        "__import__('importlib').import_module('millpond.runs.kernel_imports').skip_unused_format_checkers()\n"
        f"[__import__('importlib').import_module(name) for name in {imports!r}]\n"
        f"[getattr(__import__('importlib').import_module(m), f)() for m, f in {calls!r}]\n"
    )


@dataclass
class PooledKernel:
    """One started kernel: its manager (handed to papermill), its process, and where it logs until handed over."""

    km: Any  # a jupyter_client AsyncKernelManager
    pid: int
    pgid: int | None
    log_path: Path
    warm_msg_id: str | None = None
    warm_client: Any = None
    clients: list[Any] = field(default_factory=list)  # every client made for it (papermill's too), stopped at the end
    shutdown_requested: bool = False  # release() sent the shutdown request; retire() waits for the exit
    log_handed_over: int | None = None  # bytes of its log already appended to its run's kernel.log


def _manager_class() -> type:
    """An AsyncKernelManager that remembers the clients it makes, so their channels are stopped with the kernel
    (nbclient leaves a kernel manager it was given, and its client, running)."""
    from jupyter_client.manager import AsyncKernelManager

    class PooledKernelManager(AsyncKernelManager):
        made: list[Any]

        def client(self, **kwargs: Any) -> Any:
            made = super().client(**kwargs)
            self.__dict__.setdefault("made", []).append(made)
            return made

    return PooledKernelManager


def _run(coro_function: Any, *args: Any, **kwargs: Any) -> Any:
    from jupyter_core.utils import run_sync

    return run_sync(coro_function)(*args, **kwargs)


class KernelPool:
    """Kernels for one cycle's stages, each started ahead of its stage and handed out once."""

    def __init__(self, kernel_name: str, cwd: Path, *, warm: tuple[str, ...] | None = None, fork: bool = False) -> None:
        self.kernel_name = kernel_name
        self.cwd = Path(cwd)
        self.warm = WARM_MODULES if warm is None else warm  # what a pre-started kernel imports
        self.warm_by_stage = dict(WARM_BY_STAGE) if warm is None else {}  # ... when its stage is known
        self.next_stage: str | None = None  # set by the cycle: the stage after the current one (None: the last)
        self.waiting: PooledKernel | None = None
        self.live: dict[int, PooledKernel] = {}  # started, not yet retired (waiting or running a notebook)
        self.started: list[int] = []  # every kernel PID this pool started, in order
        self._logs = Path(tempfile.mkdtemp(prefix="millpond-kernels-"))
        self.zygote: Any = self._start_zygote() if fork else None  # runs/zygote.py: kernels forked, imports done
        self.forked: list[int] = []  # the PIDs of the kernels the zygote forked

    def _start_zygote(self) -> Any:
        from jupyter_client.kernelspec import KernelSpecManager

        from millpond.runs.zygote import Zygote

        try:
            argv = list(KernelSpecManager().get_kernel_spec(self.kernel_name).argv)
            return Zygote(argv, self.warm, self._logs, self.cwd)
        except Exception as exc:  # noqa: BLE001 - kernels are then started by jupyter_client, warmed up
            log.warning("kernel zygote not started (%s); starting kernels the usual way", exc)
            return None

    def _fork(self, *, wait: bool) -> PooledKernel | None:
        """A kernel forked by the zygote (waiting for it to be ready when ``wait``), or None when there is none."""
        import uuid

        from nbclient import NotebookClient

        from millpond.runs.zygote import ForkProvisioner

        if self.zygote is None or not self.zygote.ready(START_TIMEOUT if wait else 0.0):
            if self.zygote is not None and self.zygote.process.poll() is not None:
                log.warning("kernel zygote exited (%s); starting kernels the usual way", self.zygote.failure())
                self.zygote = None
            return None
        log_path = self._logs / f"kernel-{len(self.started) + 1}.log"
        km = _manager_class()(kernel_name=self.kernel_name)
        km.kernel_id = str(uuid.uuid4())
        provisioner = ForkProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
        provisioner.zygote_socket, provisioner.log_path = str(self.zygote.socket), str(log_path)
        km.provisioner = provisioner
        extra = [f"--HistoryManager.hist_file={NotebookClient.ipython_hist_file.default_value}"]
        _run(km.start_kernel, extra_arguments=extra, cwd=str(self.cwd))
        pid = int(provisioner.pid or 0)
        kernel = PooledKernel(km, pid, pid, log_path)
        self.live[kernel.pid] = kernel
        self.started.append(kernel.pid)
        self.forked.append(kernel.pid)
        return kernel

    def _start(self, *, warm: bool) -> PooledKernel:
        from nbclient import NotebookClient

        log_path = self._logs / f"kernel-{len(self.started) + 1}.log"
        km = _manager_class()(kernel_name=self.kernel_name)
        extra = [f"--HistoryManager.hist_file={NotebookClient.ipython_hist_file.default_value}"]
        with open(log_path, "ab") as handle:  # the child keeps its own descriptor
            _run(km.start_kernel, extra_arguments=extra, cwd=str(self.cwd), stdout=handle, stderr=handle)
        kernel = PooledKernel(km, int(km.provisioner.pid), getattr(km.provisioner, "pgid", None), log_path)
        self.live[kernel.pid] = kernel
        self.started.append(kernel.pid)
        modules = self.warm_by_stage.get(self.next_stage or "", self.warm)
        if warm and modules:
            from jupyter_client import BlockingKernelClient

            client = BlockingKernelClient()
            client.load_connection_info(km.get_connection_info(session=False))
            client.start_channels(iopub=False, stdin=False, hb=False, control=False)
            kernel.warm_client = client
            kernel.warm_msg_id = client.execute(warm_code(modules), silent=True, store_history=False)
        return kernel

    def prestart(self) -> None:
        """Start the next stage's kernel (and its imports) now, unless one is already waiting: forked by the zygote
        when it is ready (when it is still importing, the next :meth:`take` forks one), else warmed up."""
        if self.waiting is None:
            try:
                if self.zygote is not None:
                    self.waiting = self._fork(wait=False)
                else:
                    self.waiting = self._start(warm=True)
            except Exception as exc:  # noqa: BLE001 - the stage then starts its own kernel, as without a pool
                log.warning("kernel not pre-started: %s", exc)

    def take(self, *, ahead: bool = False) -> PooledKernel:
        """A started kernel for one stage, never handed out before: the waiting one when it is alive and warm, else a
        new one. ``ahead``: pre-start the kernel of the stage after this one."""
        self.reap()
        kernel, self.waiting = self.waiting, None
        if kernel is not None and not self._ready(kernel):
            log.warning("pre-started kernel %s died or failed its warm-up; starting a new one", kernel.pid)
            self.retire(kernel)
            kernel = None
        if kernel is None:  # the first stage does not wait for the zygote's imports: it starts its own kernel
            kernel = self._fork(wait=bool(self.started)) or self._start(warm=False)
        if ahead:
            self.prestart()
        return kernel

    def _ready(self, kernel: PooledKernel) -> bool:
        """Wait for the kernel's warm-up reply: True when it is alive and the imports succeeded."""
        client, deadline = kernel.warm_client, time.monotonic() + START_TIMEOUT
        try:
            while client is not None and time.monotonic() < deadline:
                if not _run(kernel.km.is_alive):
                    return False
                with suppress(Exception):  # queue.Empty: not yet
                    reply = client.get_shell_msg(timeout=0.2)
                    if reply["parent_header"].get("msg_id") == kernel.warm_msg_id:
                        return reply["content"].get("status") == "ok"
            return client is None and bool(_run(kernel.km.is_alive))
        finally:
            if client is not None:
                client.stop_channels()
                kernel.warm_client = None

    def release(self, kernel: PooledKernel, log_to: Path | None = None) -> Callable[[], None]:
        """Begin shutting ``kernel`` down the way ``shutdown_kernel`` does (clients stopped, interrupt, shutdown
        request) without waiting for the process to exit, and return what the caller runs before it seals the run:
        append what the kernel logged to ``log_to``. Its exit is reaped later, while the next stage runs
        (:meth:`reap`) or at :meth:`close` (a kernel that has not exited by then is shut down as nbclient does,
        killed at last); anything it logs after its notebook ended is a warning in the cycle's own log."""
        try:
            self._stop_clients(kernel)
            km = kernel.km
            if _run(km.is_alive):
                km.shutting_down = True
                km.stop_restarter()
                _run(km.interrupt_kernel)
                _run(km.request_shutdown)
                kernel.shutdown_requested = True
        except Exception as exc:  # noqa: BLE001 - shut down (or killed) the usual way, now
            log.warning("kernel %s: shutdown request failed (%s); retiring it now", kernel.pid, exc)
            return lambda: self.retire(kernel, log_to)
        return lambda: self._hand_over_log(kernel, log_to)

    def _hand_over_log(self, kernel: PooledKernel, log_to: Path | None) -> None:
        """Append the kernel's log so far to ``log_to`` (once) and remember how much was handed over."""
        if log_to is None or kernel.log_handed_over is not None:
            return
        try:
            written = kernel.log_path.read_bytes()
        except FileNotFoundError:
            written = b""
        with open(log_to, "ab") as out:
            out.write(written)
        kernel.log_handed_over = len(written)

    def reap(self) -> None:
        """Clean up every released kernel whose process has exited (never waits for one that has not)."""
        for kernel in [k for k in self.live.values() if k.shutdown_requested]:
            with suppress(Exception):
                if not _run(kernel.km.is_alive):
                    self.retire(kernel)

    def _stop_clients(self, kernel: PooledKernel) -> None:
        for client in [kernel.warm_client, *kernel.km.__dict__.get("made", [])]:
            if client is not None:
                with suppress(Exception):
                    client.stop_channels()

    def retire(self, kernel: PooledKernel, log_to: Path | None = None) -> None:
        """Shut ``kernel`` down as nbclient does (graceful), stop its clients, and append its log lines to ``log_to``;
        after :meth:`release`, only wait for its exit and clean up. Once per kernel: a second call does nothing."""
        if self.live.pop(kernel.pid, None) is None:
            return
        try:
            self._stop_clients(kernel)
            with suppress(RuntimeError):  # "No kernel is running!"
                if kernel.shutdown_requested:
                    _run(kernel.km.finish_shutdown)
                elif _run(kernel.km.is_alive):
                    _run(kernel.km.shutdown_kernel, now=False)
            _run(kernel.km.cleanup_resources)
        except Exception as exc:  # noqa: BLE001 - never leave it running: kill its process group
            log.warning("kernel %s did not shut down cleanly (%s); killing it", kernel.pid, exc)
            _kill(kernel)
        if kernel.log_handed_over is not None:
            _warn_late_lines(kernel)
        elif log_to is not None:
            with open(log_to, "ab") as out, suppress(FileNotFoundError), open(kernel.log_path, "rb") as lines:
                shutil.copyfileobj(lines, out)
        kernel.log_path.unlink(missing_ok=True)

    def close(self) -> None:
        """Shut down every kernel this pool started and has not retired (the waiting one, a stage's on failure)."""
        self.waiting = None
        for kernel in list(self.live.values()):
            self.retire(kernel)
        if self.zygote is not None:
            self.zygote.stop()
        shutil.rmtree(self._logs, ignore_errors=True)

    def kill_all(self) -> None:
        """Kill every live kernel's process group at once (from a signal handler: no event loop, no messages)."""
        for kernel in list(self.live.values()):
            _kill(kernel)
            with suppress(Exception):
                kernel.km.cleanup_connection_file()
        self.live.clear()
        self.waiting = None
        if self.zygote is not None:
            self.zygote.kill()
        shutil.rmtree(self._logs, ignore_errors=True)

    @contextmanager
    def handling_signals(self) -> Iterator[KernelPool]:
        """While inside: SIGTERM and SIGINT first kill the pool's kernels, then do what they did before; at the end
        (normal or not) :meth:`close`. Signal handlers are installed from the main thread only."""
        import threading

        previous: dict[int, Any] = {}

        def handler(signum: int, frame: FrameType | None) -> None:
            self.kill_all()
            before = previous.get(signum, signal.SIG_DFL)
            if callable(before):
                before(signum, frame)
                return
            if before != signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        if threading.current_thread() is threading.main_thread():
            for caught in (signal.SIGTERM, signal.SIGINT):
                previous[caught] = signal.signal(caught, handler)
        try:
            yield self
        finally:
            for number, before in previous.items():
                signal.signal(number, before)
            self.close()


def _warn_late_lines(kernel: PooledKernel) -> None:
    """What a released kernel logged after its log went into its run record: a warning here (the record is sealed)."""
    with suppress(OSError), open(kernel.log_path, "rb") as lines:
        lines.seek(kernel.log_handed_over or 0)
        late = lines.read().decode(errors="replace").strip()
        if late:
            log.warning("kernel %s logged after its run was recorded: %s", kernel.pid, late)


def _kill(kernel: PooledKernel) -> None:
    """SIGKILL the kernel's process group (its own session, as jupyter_client starts it), the kernel itself (a kernel
    forked a moment ago may not have its own session yet), and reap it when it is our child."""
    own = os.getpgid(0)
    with suppress(ProcessLookupError, PermissionError):
        if kernel.pgid and kernel.pgid != own:
            os.killpg(kernel.pgid, signal.SIGKILL)
    with suppress(ProcessLookupError, PermissionError):
        os.kill(kernel.pid, signal.SIGKILL)
    try:
        os.waitpid(kernel.pid, 0)
    except ChildProcessError:  # not our child when the zygote forked it: wait until it is gone (the zygote reaps it)
        deadline = time.monotonic() + 2.0
        while alive_kernel_pids([kernel.pid]) and time.monotonic() < deadline:
            time.sleep(0.01)
    except OSError:
        pass


def alive_kernel_pids(pids: list[int]) -> list[int]:
    """Those of ``pids`` whose process still runs (not gone, not a zombie): for tests and benchmarks."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError, ProcessLookupError):
            continue
        if state not in ("Z", "X"):
            alive.append(pid)
    return alive
