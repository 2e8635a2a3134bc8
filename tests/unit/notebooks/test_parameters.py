"""Each stage notebook's parameters cell matches the use-case schema and the demo params."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
import yaml

from millpond.config.params import RUNTIME_PARAMETERS, STAGES, UseCase, validate_use_case

REPO = Path(__file__).resolve().parents[3]


def _parameters(stage: str) -> dict[str, object]:
    nb = nbformat.read(REPO / "notebooks" / f"{stage}.ipynb", as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{stage}.ipynb must have exactly one cell tagged 'parameters'"
    values = {}
    for node in ast.parse(cells[0].source).body:
        assert isinstance(node, ast.AnnAssign), f"{stage}.ipynb: parameters hold annotated literals only"
        values[node.target.id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("stage", STAGES)
def test_parameters_are_the_schema_keys_with_demo_defaults(stage: str) -> None:
    values = _parameters(stage)
    assert set(values) == set(UseCase.model_fields) | set(RUNTIME_PARAMETERS) | {"commit"}  # commit: stages.run's
    demo = yaml.safe_load((REPO / "params" / "churn.yaml").read_text())
    assert validate_use_case({k: v for k, v in values.items() if k != "commit"}) == validate_use_case(demo)
    assert values["run_dir"] == "" and values["workspace"] == ""


@pytest.mark.parametrize("stage", STAGES)
def test_notebooks_are_stored_without_outputs(stage: str) -> None:
    nb = nbformat.read(REPO / "notebooks" / f"{stage}.ipynb", as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


def test_notebooks_are_what_the_builder_writes(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_notebooks", REPO / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    params = yaml.safe_load((REPO / "params" / "churn.yaml").read_text())
    for stage in STAGES:
        built = module.build(stage, params)
        stored = nbformat.read(REPO / "notebooks" / f"{stage}.ipynb", as_version=4)
        assert [c.source for c in built.cells] == [c.source for c in stored.cells], f"run `make notebooks` ({stage})"
