"""millpond: notebook-first MLOps on one machine.

The public API, imported lazily so that ``import millpond`` (and the CLI) stays fast::

    from millpond import Workspace, load_use_case, run_cycle
    model = millpond.load_model("churn@champion")   # from any notebook inside the workspace
    cycle = millpond.read_cycle(cycle_id)            # what its stage notebooks glued, by stage
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Workspace": "millpond.workspace",
    "UseCase": "millpond.config.params",
    "load_use_case": "millpond.config.params",
    "MartStore": "millpond.marts.store",
    "ingest": "millpond.marts.store",
    "ModelStore": "millpond.models.store",
    "RunStore": "millpond.runs.store",
    "MonitoringLog": "millpond.models.monitoring",
    "execute_stage": "millpond.runs.runner",
    "run_cycle": "millpond.runs.runner",
    "drift_table": "millpond.drift.stats",
    "dataset_verdict": "millpond.drift.stats",
    "DriftThresholds": "millpond.drift.stats",
    "MillpondError": "millpond.errors",
    "load_model": "millpond.views.loaders",
    "read_mart": "millpond.views.loaders",
    "read_cycle": "millpond.views.scraps",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'millpond' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
