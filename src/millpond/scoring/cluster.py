"""Dask clusters: connect to a scheduler and run the predict step of batch scoring on its workers.

The client (the scoring process) still reads the input, checks every batch against the models' input
contracts, and writes predictions and captures in input order, exactly as in-process scoring does. Only
``predict`` moves: each batch's feature rows go to a worker, which loads the model version from the model
store itself (the same sha256 check before skops loads it, once per worker process; no pickled model ever
travels) and returns scores and predictions. Results are taken back in submission order, so predictions,
captures, KPIs and summaries are the in-process ones, bit for bit.

The workers read the model store by path: they must run on this machine (a LocalCluster, or
``dask worker`` processes started here) or see the workspace at the same path.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from millpond.errors import ModelIntegrityError, ScoringError
from millpond.models import engine
from millpond.scoring.predict import Prepared, Scorer, predict_frame

if TYPE_CHECKING:
    from distributed import Client

_MODELS: dict[tuple[str, str, str, str], Any] = {}  # on a worker: (store, name, version, sha256) -> loaded model
_MODELS_LOCK = threading.Lock()
_MODELS_KEPT = 4


def connect(address: str, *, timeout: float) -> Client:
    """A client of the scheduler at ``address`` (``scoring.dask_scheduler``, the older spelling of
    ``engine.scheduler``) that has at least one worker; a clear error when there is none."""
    return engine.connect(address, timeout=timeout, setting="scoring.dask_scheduler")


def model_on_worker(store_root: str, name: str, version: str, sha256: str) -> Any:
    """The model version from the store (sha256 checked before skops loads it), loaded once per worker process."""
    key = (store_root, name, version, sha256)
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        from millpond.models.store import ModelStore

        model, stored = ModelStore(Path(store_root)).load(name, version)
        if stored.sha256 != sha256:
            raise ModelIntegrityError(
                f"Model {name}@{version} in {store_root} has sha256 {stored.sha256} on this worker, not the {sha256} "
                "the scoring process verified; the workers must see the same model store."
            )
        while len(_MODELS) >= _MODELS_KEPT:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[key] = model
        return model


def score_part(
    model_ref: tuple[str, str, str, str], task: str, features: pd.DataFrame, threshold: float, threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, predictions) of one batch's feature rows; runs on a worker."""
    from threadpoolctl import threadpool_limits

    model = model_on_worker(*model_ref)
    with threadpool_limits(limits=threads):
        return predict_frame(model, task, features, threshold, label=f"{model_ref[1]}@{model_ref[2]}")


def _model_ref(scorer: Scorer) -> tuple[str, str, str, str]:
    sha256 = scorer.metadata.get("sha256")
    if scorer.store_root is None or not sha256:
        raise ScoringError(
            f"Model {scorer.name}@{scorer.version} was not loaded from a model store, so Dask workers cannot load it; "
            "load it with Scorer.load or remove 'scoring.dask_scheduler' from the params."
        )
    return (str(scorer.store_root), scorer.name, scorer.version, str(sha256))


def scored_on_cluster(
    client: Client, prepared: Iterable[Prepared], *, threshold: float, threads: int, depth: int | None = None
) -> Generator[tuple[Prepared, list[tuple[np.ndarray, np.ndarray]]], None, None]:
    """Yield each prepared batch with its (scores, predictions) per job, computed on the workers, in input order.

    At most ``depth`` batches (default: twice the cluster's worker threads, at least 2) are in flight, so the
    client's memory stays flat; a worker's error is raised here unchanged and the remaining tasks are cancelled.
    """
    depth = depth or max(2, 2 * sum(client.nthreads().values()))
    in_flight: deque[tuple[Prepared, list[Any]]] = deque()
    refs: dict[str, tuple[str, str, str, str]] = {}
    try:
        for part in prepared:
            futures = []
            for scorer, _, frame in part.jobs:
                ref = refs.get(scorer.version) or refs.setdefault(scorer.version, _model_ref(scorer))
                futures.append(
                    client.submit(score_part, ref, scorer.use_case.task, frame, threshold, threads, pure=False)
                )
            in_flight.append((part, futures))
            if len(in_flight) >= depth:
                done, futures = in_flight.popleft()
                yield done, [f.result() for f in futures]
        while in_flight:
            done, futures = in_flight.popleft()
            yield done, [f.result() for f in futures]
    finally:
        leftover = [f for _, futures in in_flight for f in futures]
        if leftover:
            client.cancel(leftover)
