"""The kernel pool (runs/kernels.py): one new kernel per stage, started ahead, used once, none left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest

from millpond.runs import kernels
from millpond.runs.kernels import KernelPool, alive_kernel_pids
from millpond.runs.runner import run_cycle
from millpond.workspace import Workspace
from tests.kill import SRC

pytestmark = pytest.mark.integration

PROBE = """\
import os, sys, scrapbook as sb
sb.glue("status", "succeeded")
sb.glue("summary", {
    "pid": os.getpid(),
    "names": sorted(n for n in globals() if not n.startswith("_")),
    "count": get_ipython().execution_count,
    "warm": "email.mime.text" in sys.modules,
    "cwd": os.getcwd(),
})
"""


def _probe_notebooks(ws: Workspace) -> None:
    """Stage notebooks that glue what their kernel looks like; train's raises (a failing stage)."""
    for stage, code in (("ingest", PROBE), ("train", "raise RuntimeError('boom')")):
        nb = nbformat.v4.new_notebook()
        params = nbformat.v4.new_code_cell('window = ""', metadata={"tags": ["parameters"]})
        nb.cells = [params, nbformat.v4.new_code_cell(code)]
        nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
        nbformat.write(nb, ws.notebooks / f"{stage}.ipynb")


def _cycle(ws: Workspace, monkeypatch: pytest.MonkeyPatch, prestart: str) -> tuple[Any, list[KernelPool]]:
    pools: list[KernelPool] = []

    class Spy(KernelPool):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setenv(kernels.PRESTART_ENV, prestart)
    monkeypatch.setattr(kernels, "KernelPool", Spy)
    monkeypatch.setattr(kernels, "WARM_MODULES", ("email.mime.text",))  # a light import the probe can see
    monkeypatch.setattr(kernels, "WARM_BY_STAGE", {})  # ... for every stage
    return run_cycle(ws, "params/churn.yaml", "2025-01", stages=("ingest", "ingest", "train")), pools


@pytest.mark.parametrize("mode", ["1", "warm"])  # kernels forked by the zygote (the default), or warmed up
def test_each_stage_gets_a_new_kernel_used_once_and_none_survives(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    workspace = demo_workspace
    _probe_notebooks(workspace)
    result, pools = _cycle(workspace, monkeypatch, mode)
    assert [(r.stage, r.status) for r in result.records] == [
        ("ingest", "succeeded"),
        ("ingest", "succeeded"),
        ("train", "failed"),
    ]
    (pool,) = pools
    first, second = (r.scraps["summary"] for r in result.records[:2])
    assert first["pid"] != second["pid"] and {first["pid"], second["pid"]} <= set(pool.started)
    assert second["warm"]  # the second was started (forked after the imports, or warmed) while the first ran
    if mode == "warm":
        assert not first["warm"] and pool.zygote is None  # the first stage starts its own kernel, cold
    else:
        assert second["pid"] in pool.forked and pool.zygote.process.poll() is not None  # the zygote exited too
    assert len(set(pool.started)) == len(pool.started) == 3  # one per stage that ran a notebook, none handed twice
    assert alive_kernel_pids(pool.started) == []  # after a failed stage too
    assert not pool.live and pool.waiting is None
    for record in result.records:
        assert "IPKernelApp" in (Path(record.path) / "kernel.log").read_text(encoding="utf-8")  # its own lines

    off, no_pool = _cycle(workspace, monkeypatch, "0")
    assert no_pool == []
    assert [(r.stage, r.status) for r in off.records] == [(r.stage, r.status) for r in result.records]
    same = ("names", "count", "cwd")  # what a stage sees: no name bound by the warm-up, no execution counted
    for on_record, off_record in zip(result.records[:2], off.records[:2], strict=True):
        assert {k: on_record.scraps["summary"][k] for k in same} == {k: off_record.scraps["summary"][k] for k in same}
    assert first["cwd"] == str(workspace.root)


FRESH = """\
import numpy, os, sys
print(os.getpid(), numpy.random.random(), "numpy" in sys.modules)
"""


def test_forked_kernels_are_fresh_processes_with_their_own_random_state(tmp_path: Path) -> None:
    from jupyter_client import BlockingKernelClient

    from millpond.runs.runner import kernel_name

    pool = KernelPool(kernel_name(), tmp_path, warm=("numpy",), fork=True)
    seen = []
    try:
        assert pool.zygote is not None and pool.zygote.ready(60), pool.zygote and pool.zygote.failure()
        for _ in range(2):
            kernel = pool.take()
            client = BlockingKernelClient()
            client.load_connection_info(kernel.km.get_connection_info(session=False))
            client.start_channels()
            client.wait_for_ready(timeout=60)
            out: list[str] = []
            client.execute_interactive(FRESH, output_hook=lambda m, out=out: out.append(m["content"].get("text", "")))
            client.stop_channels()
            seen.append("".join(out).split())
            pool.release(kernel, tmp_path / "kernel.log")()
        assert [int(s[0]) for s in seen] == pool.forked  # both forked by the zygote, neither the zygote itself
        assert seen[0][1] != seen[1][1]  # numpy's global random state drawn anew in each kernel
        assert "IPKernelApp" in (tmp_path / "kernel.log").read_text()  # their own log lines, handed over
        assert "Ctrl-C will not work" not in (tmp_path / "kernel.log").read_text()  # it knows its parent
    finally:
        pool.close()
    assert alive_kernel_pids(pool.started) == [] and pool.zygote.process.poll() is not None


def test_a_kernel_that_died_while_waiting_is_replaced(tmp_path: Path) -> None:
    from millpond.runs.runner import kernel_name

    pool = KernelPool(kernel_name(), tmp_path, warm=())
    try:
        pool.prestart()
        dead = pool.waiting
        assert dead is not None
        kernels._kill(dead)
        fresh = pool.take()
        assert fresh.pid != dead.pid and alive_kernel_pids([fresh.pid]) == [fresh.pid]
    finally:
        pool.close()
    assert alive_kernel_pids(pool.started) == []


SIGNALLED = """\
import sys
from pathlib import Path
from millpond.runs.kernels import KernelPool
from millpond.runs.runner import kernel_name
pool = KernelPool(kernel_name(), Path({cwd!r}), warm=({warm}), fork={fork})
with pool.handling_signals():
    if pool.zygote is not None:
        assert pool.zygote.ready(60), pool.zygote.failure()
    pool.prestart()
    running = pool.take(ahead=True)  # one kernel "running a stage", one waiting
    print(*pool.started, *([pool.zygote.process.pid] if pool.zygote else []), flush=True)
    sys.stdin.readline()
"""


@pytest.mark.parametrize("fork", [False, True])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_leaves_no_kernel_behind(tmp_path: Path, signum: int, fork: bool) -> None:
    script = SIGNALLED.format(cwd=str(tmp_path), warm="'email.mime.text'," if fork else "", fork=fork)
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2 + fork, proc.stderr.read() if proc.stderr else ""  # two kernels (and the zygote)
    proc.send_signal(signum)
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert alive_kernel_pids(pids) == []  # killed before the runner exited, not left to notice its parent is gone
