"""skops.io without scikit-learn's ``all_estimators()``.

``skops.io`` builds its *default* trusted-type list at import by calling
``sklearn.utils.all_estimators()``, which imports every scikit-learn module
(datasets, the whole of scipy.io, xarray and dask.array through the array-API
shims, pytest): about 860 modules and 0.7 to 1 s in each kernel that saves or
loads a model. millpond never uses that default: every load passes
:data:`millpond.models.store.TRUSTED_TYPES` (an explicit allow-list) and a save
refuses any type outside it. So :func:`skops_io` imports ``skops.io`` with
``all_estimators`` answering an empty list for the duration of that one import
(the public function is put back at once); skops' default list is then only
its internal types, which makes a caller who relies on skops' defaults stricter,
never looser. When ``skops.io`` is already imported it is returned as is.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType
from typing import Any

_LOCK = threading.Lock()


def _no_estimators(*_args: Any, **_kwargs: Any) -> list[tuple[str, type]]:
    return []


def skops_io() -> ModuleType:
    """The ``skops.io`` module, imported (once) without importing every scikit-learn estimator."""
    module = sys.modules.get("skops.io")
    if module is not None:
        return module
    with _LOCK:
        import sklearn.utils

        real = sklearn.utils.all_estimators
        sklearn.utils.all_estimators = _no_estimators
        try:
            import skops.io
        finally:
            sklearn.utils.all_estimators = real
    return skops.io
