"""A real Dask cluster on 127.0.0.1: `dask scheduler` and two `dask worker` processes (no nanny, no dashboard)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
DASK = str(Path(sys.executable).with_name("dask"))
REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(pid: int) -> list[str]:
    """The addresses the process ``pid`` and its children listen on (TCP)."""
    import psutil

    parent = psutil.Process(pid)
    out = []
    for process in [parent, *parent.children(recursive=True)]:
        out += [c.laddr.ip for c in process.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]
    return out


@dataclass
class RealCluster:
    """The scheduler's address, each worker's address and process, and a client (closed at teardown)."""

    address: str
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    client: distributed.Client | None = None

    def kill(self, worker: str) -> None:
        """SIGKILL one worker process (no nanny restarts it) and wait until the scheduler has dropped it."""
        process = self.workers.pop(worker)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 20
        assert self.client is not None
        while worker in self.client.nthreads() and time.monotonic() < deadline:
            time.sleep(0.05)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen([DASK, *args], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def real_cluster(tmp_path: Path) -> Iterator[RealCluster]:
    """Scheduler + 2 single-threaded workers on loopback (random free ports), their processes stopped at the end."""
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(REPO)) if p)  # tests' helpers run there too
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    port = free_port()
    cluster = RealCluster(f"tcp://127.0.0.1:{port}")
    # --no-dashboard alone still serves the HTTP endpoints on 0.0.0.0: bind them to loopback too
    common = ["--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--host", "127.0.0.1"]
    try:
        cluster.processes.append(_start(["scheduler", "--port", str(port), *common], env, tmp_path / "scheduler.log"))
        for i in range(2):
            worker_port = free_port()
            process = _start(
                [
                    "worker",
                    cluster.address,
                    "--no-nanny",
                    "--nthreads",
                    "1",
                    "--worker-port",
                    str(worker_port),
                    *common,
                ],
                env,
                tmp_path / f"worker-{i}.log",
            )
            cluster.processes.append(process)
            cluster.workers[f"tcp://127.0.0.1:{worker_port}"] = process
        cluster.client = distributed.Client(cluster.address, timeout=30, set_as_default=False)
        cluster.client.wait_for_workers(2, timeout=60)
        assert set(cluster.client.nthreads()) == set(cluster.workers)
        yield cluster
    finally:
        if cluster.client is not None:
            cluster.client.close()
        _stop(cluster.processes)
