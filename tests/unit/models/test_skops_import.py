"""skops.io imported without scikit-learn's all_estimators(): fewer modules, the same safe loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
import sklearn.utils
real = sklearn.utils.all_estimators
from millpond.models.skops_import import skops_io
{before}
sio = skops_io()
from millpond.models.store import ModelStore, TRUSTED_TYPES
import numpy as np
from sklearn.linear_model import LogisticRegression
model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))
store = ModelStore(__import__("pathlib").Path(sys.argv[1]))
version = store.save("m", model, {{}})
loaded, _ = store.load("m", version.version)
print(json.dumps({{
    "heavy": sorted(m for m in ("sklearn.datasets", "xarray", "pytest") if m in sys.modules),
    "restored": sklearn.utils.all_estimators is real,
    "estimators": len(sklearn.utils.all_estimators()) if sys.argv[2] == "count" else None,
    "same_module": skops_io() is sio,
    "predicts": loaded.predict(np.array([[0.0], [3.0]])).tolist(),
}}))
"""


def _probe(tmp_path: Path, before: str = "", count: bool = False) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(before=before), str(tmp_path / "store"), "count" if count else "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_saving_and_loading_a_model_imports_no_estimator_it_does_not_use(tmp_path: Path) -> None:
    seen = _probe(tmp_path)
    assert seen["heavy"] == []  # all_estimators() would have imported every one of them
    assert seen["restored"] and seen["same_module"]
    assert seen["predicts"] == [0, 1]


def test_all_estimators_answers_in_full_again_after_the_import(tmp_path: Path) -> None:
    seen = _probe(tmp_path, count=True)
    assert seen["estimators"] > 100  # scikit-learn's own function, put back


def test_an_already_imported_skops_is_used_as_it_is(tmp_path: Path) -> None:
    seen = _probe(tmp_path, before="import skops.io")  # imported the usual way first: every estimator loaded
    assert seen["heavy"] and seen["same_module"] and seen["predicts"] == [0, 1]
