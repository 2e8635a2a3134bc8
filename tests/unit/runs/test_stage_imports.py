"""A stage kernel's `from millpond.runs import stages` (and `import millpond`) loads no heavy library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[3] / "src")
HEAVY = ("skops", "sweetviz", "matplotlib", "dask", "distributed", "dtale", "duckdb", "sklearn", "scipy", "papermill")


def _modules(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", f"{code}; import sys; print('\\n'.join(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return {line.split(".")[0] for line in out.splitlines()}


@pytest.mark.parametrize(
    "code",
    [
        "import millpond.runs.stages",
        "from millpond.runs import stages; from millpond.views import plots",  # what a stage notebook imports
        "from millpond.drift import comparison_report; from millpond.runs import stages",  # the drift notebook
        "import millpond",
    ],
)
def test_importing_what_a_stage_notebook_imports_loads_no_heavy_library(code: str) -> None:
    loaded = _modules(code)
    assert "millpond" in loaded  # the import did run
    assert sorted(loaded & set(HEAVY)) == []
