"""One-line access from any notebook or script inside a workspace: ``load_model`` and ``read_mart``.

::

    import millpond
    model = millpond.load_model("churn@champion")   # a fitted scikit-learn estimator, sha256-checked
    frame = millpond.read_mart("churn@2025-03")     # the newest mart version of that window, as a DataFrame

A model reference is ``NAME@champion`` / ``@challenger`` / ``@previous`` / ``@latest``, ``NAME@<version>`` (a
unique prefix of 4+ characters is enough) or ``NAME@<window>``: the version that was champion when that window was
scored (from the monitoring log), else the newest version trained for that window. A mart reference is ``MART``
(the newest window), ``MART@<window>`` or ``MART@<version>``. The workspace is found from the current directory
upwards unless one is given. Both only read: a model loads only when its file matches the sha256 the store recorded.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from millpond.errors import MartVersionNotFoundError, ModelVersionNotFoundError, ParamsError
from millpond.marts.store import MartStore
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd


class BadReferenceError(ParamsError):
    """A model or mart reference that does not parse (exit 2)."""


def _split(ref: str, what: str, example: str) -> tuple[str, str | None]:
    name, sep, selector = str(ref).strip().partition("@")
    if not name or (sep and not selector):
        raise BadReferenceError(f"{what} reference {ref!r} must look like {example}.")
    return name, selector if sep else None


def _workspace(workspace: Workspace | str | os.PathLike[str] | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)


def champion_at(ws: Workspace, name: str, window: str) -> str | None:
    """The version that served ``window`` as champion (newest kpi or drift entry), else the newest trained for it."""
    served = None
    for entry in MonitoringLog(ws.model_store, name).entries(window=window):
        if entry.kind in ("kpi", "drift"):
            served = entry.model_version or entry.champion or served
    if served:
        return str(served)
    trained = [v for v in ModelStore(ws.model_store).versions(name) if v.metadata.trained_for_window == window]
    return trained[-1].version if trained else None


def resolve_model(ws: Workspace, ref: str) -> tuple[str, str]:
    """(name, version id) of a model reference; a window selector resolves through :func:`champion_at`."""
    name, selector = _split(ref, "Model", "'churn@champion', 'churn@<version>' or 'churn@2025-03'")
    store = ModelStore(ws.model_store)
    try:
        return name, store.get(name, selector or "champion").version
    except ModelVersionNotFoundError:
        version = champion_at(ws, name, selector) if selector else None
        if version is None:
            raise
        return name, version


def load_model(ref: str, workspace: Workspace | str | os.PathLike[str] | None = None) -> Any:
    """The fitted estimator of ``ref`` (e.g. ``"churn@champion"``), loaded after its sha256 check."""
    ws = _workspace(workspace)
    name, version = resolve_model(ws, ref)
    model, _ = ModelStore(ws.model_store).load(name, version)
    return model


def read_mart(
    ref: str, columns: list[str] | None = None, workspace: Workspace | str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """The rows of a mart version (``"churn@2025-03"``: the newest version of that window; ``"churn"``: of the
    newest window), optionally only some columns."""
    ws = _workspace(workspace)
    name, selector = _split(ref, "Mart", "'churn', 'churn@2025-03' or 'churn@<version>'")
    marts = MartStore(ws.feature_marts)
    if selector is None:
        windows = marts.windows(name)
        if not windows:
            raise MartVersionNotFoundError(
                f"Mart {name!r} has no versions in {ws.relative(ws.feature_marts)}; ingest a window first."
            )
        selector = windows[-1]
    try:
        version = marts.get(name, selector)
    except MartVersionNotFoundError:
        version = marts.latest(name, selector)  # a window: its error names the windows stored
    return version.read(columns)
