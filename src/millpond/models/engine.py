"""The ``engine:`` section at run time: a Dask client for the stage, or None to compute in this process.

``engine: {kind: dask, scheduler: "tcp://host:8786"}`` connects to that scheduler (it must have a worker);
``engine: {kind: dask}`` starts a :class:`distributed.LocalCluster` for the stage (processes on 127.0.0.1, no
dashboard) and closes it at the end; ``kind: local`` (the default) yields None. The drift statistics
(:mod:`millpond.drift.distributed`) and the training search (:func:`millpond.models.tuning.tune`) take the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from millpond.config.params import EngineSpec
from millpond.errors import ClusterUnavailableError, require_extra

if TYPE_CHECKING:
    from distributed import Client

_LOOPBACK = (
    "--host 127.0.0.1 --no-dashboard --dashboard-address 127.0.0.1:0"  # --no-dashboard alone serves HTTP on 0.0.0.0
)
_FIX = (
    f"start one on this machine with `dask scheduler {_LOOPBACK}` and a worker with "
    f"`dask worker {{address}} {_LOOPBACK}` (millpond must be importable there), or remove "
    "'{setting}' from the params to compute in this process"
)


def connect(address: str, *, timeout: float, setting: str = "engine.scheduler") -> Client:
    """A client of the scheduler at ``address`` that has at least one worker; a clear error when there is none.

    ``setting`` names the params key the address came from, for the message.
    """
    Client = require_extra("dask", "distributed", feature=f"'{setting}' ({address})").Client
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnavailableError(
            f"Cannot reach the Dask scheduler at {address} ({setting}) within {timeout:g} s: {exc}. "
            f"To fix it, {_FIX.format(address=address, setting=setting)}."
        ) from exc
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise ClusterUnavailableError(
            f"The Dask scheduler at {address} has no workers after {timeout:g} s. "
            f"Start one with `dask worker {address} {_LOOPBACK}` (millpond must be importable there)."
        ) from exc
    return client


@contextmanager
def engine_client(spec: EngineSpec) -> Iterator[Client | None]:
    """The stage's Dask client (closed, and a LocalCluster stopped, on exit), or None for ``kind: local``."""
    if spec.kind == "local":
        yield None
        return
    if spec.scheduler is not None:
        client = connect(spec.scheduler, timeout=spec.timeout_seconds)
        try:
            yield client
        finally:
            client.close()
        return
    distributed = require_extra("dask", "distributed", feature="'engine: {kind: dask}'")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster

    with (
        LocalCluster(
            n_workers=spec.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address=None,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client
