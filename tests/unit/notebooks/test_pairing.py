"""Stage notebooks are paired with jupytext py:percent scripts that the builder writes too."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from millpond.config.params import STAGES

REPO = Path(__file__).resolve().parents[3]
jupytext = pytest.importorskip("jupytext", reason="jupytext is in the test extra: pip install -e '.[test]'")


def _builder():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("build_notebooks", REPO / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _without_version(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "jupytext_version" not in line)


@pytest.mark.parametrize("stage", STAGES)
def test_each_notebook_has_its_percent_pair(stage: str) -> None:
    nb = nbformat.read(REPO / "notebooks" / f"{stage}.ipynb", as_version=4)
    assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    paired = (REPO / "notebooks" / f"{stage}.py").read_text(encoding="utf-8")
    assert _without_version(paired) == _without_version(_builder().percent_script(nb)), "run `make notebooks`"
    back = jupytext.reads(paired, fmt="py:percent")
    assert [c.source for c in back.cells] == [c.source for c in nb.cells]
    assert [c.metadata.get("tags") for c in back.cells if c.cell_type == "code"][0] == ["parameters"]
