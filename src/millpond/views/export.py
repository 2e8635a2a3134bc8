"""Ways out: a stored model version as an MLflow model directory or an ONNX file (``millpond models export``).

* ``mlflow``: an MLflow model directory (``MLmodel`` with the ``python_function`` and ``sklearn`` flavours, the
  estimator pickled, ``requirements.txt``, ``python_env.yaml``, ``conda.yaml``), written without MLflow installed;
  ``mlflow.pyfunc.load_model(DIR)`` loads it where MLflow is (``pip install 'millpond[mlflow]'``). The pickle is
  what MLflow's sklearn flavour loads: it runs code when unpickled, so treat the folder like any pickle.
* ``onnx``: ``model.onnx`` converted by skl2onnx (``pip install 'millpond[onnx]'``: skl2onnx, onnxruntime to run
  it). One ``[N, 1]`` input per column of the model's input schema: string for str/bool columns (a missing value
  is ``""``), float32 for int and float columns (NaN is missing). The families skl2onnx converts are listed in
  :data:`ONNX_FAMILIES` (all of millpond's; the tree converters of skl2onnx 1.20 need protobuf < 7); another
  family is refused naming it. Probabilities match scikit-learn's to 1e-5 (float32 inside ONNX).

The version is loaded through the store (sha256-checked) and its metadata is written beside the export
(``millpond.json``), so the export says where it came from. An existing output folder is never overwritten.
"""

from __future__ import annotations

import json
import pickle
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from millpond.errors import ViewError
from millpond.models.store import ModelStore, ModelVersion
from millpond.store.files import atomic_write_bytes, atomic_write_text
from millpond.views.loaders import resolve_model
from millpond.workspace import Workspace

FORMATS = ("mlflow", "onnx")
ONNX_FAMILIES = ("logistic_regression", "random_forest", "hist_gradient_boosting")  # every family millpond fits
_ONNX_TYPES = {"str": "string", "bool": "string", "int": "float", "float": "float"}  # ints are fed as float32


class ExportError(ViewError):
    """A model version cannot be exported in the requested format (a missing optional package, a family the
    converter does not handle, an output folder that exists)."""


@dataclass(frozen=True)
class Exported:
    """What an export wrote."""

    name: str
    version: str
    format: str
    path: Path
    files: tuple[str, ...]


def _mlmodel(version: ModelVersion) -> str:
    import sklearn

    python = platform.python_version()
    return (
        "artifact_path: model\n"
        "flavors:\n"
        "  python_function:\n"
        "    env:\n      conda: conda.yaml\n      virtualenv: python_env.yaml\n"
        "    loader_module: mlflow.sklearn\n"
        "    model_path: model.pkl\n"
        "    predict_fn: predict\n"
        f"    python_version: {python}\n"
        "  sklearn:\n"
        "    code: null\n"
        "    pickled_model: model.pkl\n"
        "    serialization_format: pickle\n"
        f"    sklearn_version: {sklearn.__version__}\n"
        f"model_uuid: {version.sha256[:32]}\n"
        f"utc_time_created: '{version.created_at[:26].replace('T', ' ')}'\n"
    )


def _requirements() -> list[str]:
    import numpy
    import pandas
    import sklearn

    return [f"scikit-learn=={sklearn.__version__}", f"numpy=={numpy.__version__}", f"pandas=={pandas.__version__}"]


def export_mlflow(model: Any, version: ModelVersion, out: Path) -> tuple[str, ...]:
    """Write the MLflow model directory of ``model`` into ``out``; return the file names."""
    requirements = _requirements()
    python = platform.python_version()
    atomic_write_bytes(out / "model.pkl", pickle.dumps(model, protocol=pickle.DEFAULT_PROTOCOL))
    atomic_write_text(out / "MLmodel", _mlmodel(version))
    atomic_write_text(out / "requirements.txt", "mlflow\n" + "\n".join(requirements) + "\n")
    atomic_write_text(
        out / "python_env.yaml",
        f"python: {python}\nbuild_dependencies:\n  - pip\ndependencies:\n  - -r requirements.txt\n",
    )
    atomic_write_text(
        out / "conda.yaml",
        "channels:\n  - conda-forge\ndependencies:\n"
        f"  - python={python}\n  - pip\n  - pip:\n    - mlflow\n" + "".join(f"    - {r}\n" for r in requirements),
    )
    return ("MLmodel", "model.pkl", "requirements.txt", "python_env.yaml", "conda.yaml")


def onnx_inputs(schema: dict[str, str]) -> list[tuple[str, Any]]:
    """skl2onnx initial types: one ``[None, 1]`` tensor per input column, typed from the input schema."""
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    kinds = {"string": StringTensorType, "float": FloatTensorType}
    return [(column, kinds[_ONNX_TYPES.get(str(dtype), "float")]([None, 1])) for column, dtype in schema.items()]


def _string_imputers_take_empty(model: Any) -> Any:
    """A copy of ``model`` whose imputers of string columns treat ``""`` as missing: an ONNX string tensor holds no
    NaN, and skl2onnx converts a string imputer only with a string ``missing_values``."""
    import copy

    from sklearn.impute import SimpleImputer

    adapted = copy.deepcopy(model)
    stack = [adapted]
    while stack:
        step = stack.pop()
        if isinstance(step, SimpleImputer) and getattr(step, "statistics_", None) is not None:
            if step.statistics_.dtype == object:
                step.missing_values = ""
        stack.extend(inner for _, inner in getattr(step, "steps", []))  # a Pipeline's steps
        stack.extend(inner for _, inner, _ in getattr(step, "transformers_", []) if not isinstance(inner, str))
    return adapted


def onnx_bytes(model: Any, family: str, task: str, schema: dict[str, str]) -> bytes:
    """The ONNX file of a fitted millpond pipeline of ``family``; :class:`ExportError` naming the family when it
    is not one skl2onnx converts here, or when the conversion fails."""
    try:
        from skl2onnx import convert_sklearn
    except ImportError as exc:
        raise ExportError(
            "ONNX export needs skl2onnx (and onnxruntime to run the file): pip install 'millpond[onnx]'."
        ) from exc
    if family not in ONNX_FAMILIES:
        raise ExportError(
            f"Family {family!r} is not one skl2onnx converts here ({', '.join(ONNX_FAMILIES)}); "
            "export it as --format mlflow instead."
        )
    adapted = _string_imputers_take_empty(model)
    options = {id(adapted): {"zipmap": False}} if task == "classification" else None
    try:
        return bytes(convert_sklearn(adapted, initial_types=onnx_inputs(schema), options=options).SerializeToString())
    except Exception as exc:  # skl2onnx raises many types for what it cannot convert
        hint = ""
        if "got a boolean" in str(exc):
            hint = " protobuf 7 refuses the tree converters' boolean attributes: pip install 'protobuf<7'."
        raise ExportError(f"skl2onnx could not convert {family} ({type(exc).__name__}: {exc}).{hint}") from exc


def export_onnx(model: Any, version: ModelVersion, out: Path) -> tuple[str, ...]:
    """Convert ``model`` with skl2onnx into ``out/model.onnx``; return the file names."""
    meta = version.metadata
    data = onnx_bytes(model, meta.family or "unknown", meta.task or "classification", dict(meta.input_schema))
    atomic_write_bytes(out / "model.onnx", data)
    return ("model.onnx",)


def export_model(ws: Workspace, ref: str, fmt: str, output: str | Path) -> Exported:
    """Export ``ref`` (e.g. ``churn@champion``) as ``fmt`` into the new folder ``output``."""
    if fmt not in FORMATS:
        raise ExportError(f"Export format must be one of {', '.join(FORMATS)}; got {fmt!r}.")
    out = Path(output)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"Output folder {out} exists and is not empty: name a new folder (nothing is overwritten).")
    name, version_id = resolve_model(ws, ref)
    model, version = ModelStore(ws.model_store).load(name, version_id)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        files = export_mlflow(model, version, out) if fmt == "mlflow" else export_onnx(model, version, out)
    except ExportError:
        if created and not any(out.iterdir()):
            out.rmdir()  # a refused export leaves nothing behind
        raise
    provenance = {"name": name, "version": version.version, "sha256": version.sha256, "format": fmt}
    atomic_write_text(
        out / "millpond.json", json.dumps({**provenance, "metadata": version.metadata.to_dict()}, indent=2, default=str)
    )
    return Exported(name, version.version, fmt, out, (*files, "millpond.json"))
