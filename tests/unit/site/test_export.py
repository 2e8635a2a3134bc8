"""millpond models export: an MLflow model directory (no MLflow needed to write it) and ONNX behind an extra."""

from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from millpond.cli.app import main
from millpond.marts.store import MartStore
from millpond.models.store import ModelStore
from millpond.models.training import fit, holdout_mask, input_schema, predict_scores
from millpond.views.export import ExportError, export_model, onnx_bytes
from millpond.workspace import Workspace
from tests.conftest import MakeUseCase

HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None
HAS_ONNX = all(importlib.util.find_spec(m) is not None for m in ("skl2onnx", "onnxruntime"))


def _rows(ws: Workspace, n: int = 50) -> pd.DataFrame:
    version = ModelStore(ws.model_store).get("churn", "champion")
    return MartStore(ws.feature_marts).latest("churn", "2025-03").head(n)[list(version.metadata.input_schema)]


def test_the_mlflow_directory_holds_the_champion_and_says_where_it_came_from(
    scoring_workspace: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "mlflow-model"
    done = export_model(scoring_workspace, "churn@champion", "mlflow", out)
    champion = ModelStore(scoring_workspace.model_store).get("churn", "champion")
    assert done.version == champion.version and (out / "MLmodel").is_file()
    mlmodel = yaml.safe_load((out / "MLmodel").read_text(encoding="utf-8"))
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
    assert mlmodel["flavors"]["sklearn"]["pickled_model"] == "model.pkl"
    provenance = json.loads((out / "millpond.json").read_text(encoding="utf-8"))
    assert provenance["sha256"] == champion.sha256
    expected, _ = ModelStore(scoring_workspace.model_store).load("churn", "champion")
    exported = pickle.loads((out / "model.pkl").read_bytes())  # our own file, just written
    rows = _rows(scoring_workspace)
    assert np.array_equal(exported.predict_proba(rows), expected.predict_proba(rows))
    assert "scikit-learn==" in (out / "requirements.txt").read_text(encoding="utf-8")


def test_an_export_never_overwrites_and_names_bad_formats(scoring_workspace: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "x"
    export_model(scoring_workspace, "churn@champion", "mlflow", out)
    before = (out / "model.pkl").read_bytes()
    with pytest.raises(ExportError, match="exists and is not empty"):
        export_model(scoring_workspace, "churn@challenger", "mlflow", out)
    assert (out / "model.pkl").read_bytes() == before
    with pytest.raises(ExportError, match="one of mlflow, onnx; got 'pmml'"):
        export_model(scoring_workspace, "churn@champion", "pmml", tmp_path / "y")


@pytest.mark.skipif(HAS_ONNX, reason="skl2onnx is installed: the conversion test runs instead")
def test_onnx_without_the_extra_says_what_to_install(
    scoring_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "onnx"
    code = main(
        [
            "--workspace",
            str(scoring_workspace.root),
            "models",
            "export",
            "churn@champion",
            "--format",
            "onnx",
            "--output",
            str(out),
        ]
    )
    assert code == 2
    assert "pip install 'millpond[onnx]'" in capsys.readouterr().err
    assert not out.exists()  # a refused export leaves nothing behind


def _onnx_feeds(rows: pd.DataFrame, schema: dict[str, str]) -> dict[str, np.ndarray]:
    """The ONNX inputs of ``rows``: [N, 1] per column, strings for str/bool columns, float32 for the rest."""
    kinds = {"str": object, "bool": object, "int": np.float32, "float": np.float32}
    return {c: rows[c].to_numpy().astype(kinds[str(t)]).reshape(-1, 1) for c, t in schema.items()}


@pytest.mark.skipif(not HAS_ONNX, reason="needs the onnx extra: pip install 'millpond[onnx]'")
def test_onnx_predictions_match_the_estimator(scoring_workspace: Workspace, tmp_path: Path) -> None:
    import onnxruntime as rt

    out = tmp_path / "onnx"
    export_model(scoring_workspace, "churn@champion", "onnx", out)
    expected, version = ModelStore(scoring_workspace.model_store).load("churn", "champion")
    rows = _rows(scoring_workspace)
    session = rt.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    probabilities = session.run(None, _onnx_feeds(rows, version.metadata.input_schema))[1]
    assert np.allclose(probabilities, expected.predict_proba(rows), rtol=0, atol=1e-5)


@pytest.mark.skipif(not HAS_ONNX, reason="needs the onnx extra: pip install 'millpond[onnx]'")
@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("family", ["hist_gradient_boosting", "logistic_regression", "random_forest"])
def test_every_family_converts_and_predicts_as_scikit_learn(
    family: str, task: str, make_use_case: MakeUseCase, small_demo_raw: Path
) -> None:
    import onnxruntime as rt

    params = {"n_estimators": 20, "max_depth": 6} if family == "random_forest" else {}
    sections: dict = {"model": {"family": family, "params": params}}
    if task == "regression":
        sections.update(task="regression", target="monthly_charges", promotion={"metric": "rmse"})
    uc = make_use_case(**sections)
    frame = pd.read_csv(small_demo_raw / "churn_2025-01.csv", dtype={"customer_id": "str"})
    mask = holdout_mask(frame, uc)
    model = fit(frame[~mask], frame[mask], uc).model
    schema = input_schema(uc)
    session = rt.InferenceSession(onnx_bytes(model, family, task, schema), providers=["CPUExecutionProvider"])
    rows = frame[mask][uc.feature_columns].head(300)
    outputs = session.run(None, _onnx_feeds(rows, schema))
    if task == "classification":  # probabilities: absolute 1e-5
        assert np.allclose(outputs[1][:, 1], predict_scores(model, rows, uc), rtol=0, atol=1e-5)
    else:  # charges of 20-120: float32 inside ONNX, so relative 1e-5
        assert np.allclose(outputs[0].ravel(), predict_scores(model, rows, uc), rtol=1e-5, atol=0)


@pytest.mark.skipif(not HAS_ONNX, reason="needs the onnx extra: pip install 'millpond[onnx]'")
def test_a_family_onnx_cannot_take_is_refused_naming_it() -> None:
    with pytest.raises(ExportError, match=r"Family 'svm' is not one skl2onnx converts here \(logistic_regression, "):
        onnx_bytes(object(), "svm", "classification", {"tenure_months": "int"})


@pytest.mark.skipif(not HAS_MLFLOW, reason="needs the mlflow extra: pip install 'millpond[mlflow]'")
def test_mlflow_pyfunc_loads_the_directory(scoring_workspace: Workspace, tmp_path: Path) -> None:
    import mlflow.pyfunc

    out = tmp_path / "mlflow-model"
    export_model(scoring_workspace, "churn@champion", "mlflow", out)
    expected, _ = ModelStore(scoring_workspace.model_store).load("churn", "champion")
    rows = _rows(scoring_workspace)
    assert np.array_equal(mlflow.pyfunc.load_model(str(out)).predict(rows), expected.predict(rows))
