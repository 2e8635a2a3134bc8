"""The input contract of a model version: which columns it takes, their types, categories and missing values.

Scoring refuses rows that break it instead of scoring them silently: a missing
column, a wrong type, a category the model never saw, or a missing value in a
column that had none in training (unless ``scoring.nullable`` lists it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from millpond.config.params import UseCase
from millpond.errors import InputContractError, did_you_mean

_KINDS = {"int": "iu", "float": "iuf", "bool": "b"}
_OBJECT_KINDS = {"int": ("integer",), "float": ("integer", "floating", "mixed-integer-float"), "bool": ("boolean",)}
_MAX_EXAMPLES = 3


@dataclass(frozen=True)
class ColumnContract:
    """What one input column must hold."""

    dtype: str
    nullable: bool = True
    categories: tuple[Any, ...] | None = None  # None: any value of the dtype

    def as_dict(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "nullable": self.nullable,
            "categories": list(self.categories) if self.categories is not None else None,
        }


@dataclass(frozen=True)
class InputContract:
    """Per input column, its :class:`ColumnContract` (in the model's column order)."""

    columns: dict[str, ColumnContract] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in the model's metadata as ``input_contract``."""
        return {name: col.as_dict() for name, col in self.columns.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputContract:
        return cls(
            {
                name: ColumnContract(
                    str(c["dtype"]),
                    bool(c.get("nullable", True)),
                    tuple(c["categories"]) if c.get("categories") is not None else None,
                )
                for name, c in data.items()
            }
        )

    @classmethod
    def from_training(cls, frame: pd.DataFrame, use_case: UseCase) -> InputContract:
        """The contract a model trained on ``frame`` implies: declared dtypes, categories seen, columns that had missing values."""
        cats = set(use_case.categorical_columns)
        columns = {}
        for name in use_case.feature_columns:
            series = frame[name]
            categories = tuple(sorted(pd.unique(series.dropna()).tolist(), key=str)) if name in cats else None
            columns[name] = ColumnContract(use_case.columns[name], bool(series.isna().any()), categories)
        return cls(columns)

    @classmethod
    def for_model(cls, metadata: dict[str, Any], model: Any = None) -> InputContract:
        """The stored contract, or for models trained before contracts: the input schema plus the encoder's categories."""
        if metadata.get("input_contract"):
            return cls.from_dict(metadata["input_contract"])
        known = _encoder_categories(model) if model is not None else {}
        return cls(
            {
                name: ColumnContract(dtype, True, known.get(name))
                for name, dtype in metadata.get("input_schema", {}).items()
            }
        )

    def validate(
        self, frame: pd.DataFrame, *, nullable: tuple[str, ...] | list[str] = (), where: str = "scoring input"
    ) -> None:
        """Raise :class:`InputContractError` listing every way ``frame`` breaks the contract."""
        problems: list[str] = []
        missing = [c for c in self.columns if c not in frame.columns]
        for name in missing:
            problems.append(f"column '{name}' is missing.{did_you_mean(name, [str(c) for c in frame.columns])}")
        for name, col in self.columns.items():
            if name in missing:
                continue
            series = frame[name]
            if not _type_ok(series, col.dtype):
                problems.append(
                    f"column '{name}' must hold {col.dtype} values; got dtype {series.dtype} (e.g. {_examples(series)})."
                )
                continue
            if not col.nullable and name not in nullable:
                n_missing = int(series.isna().sum())
                if n_missing:
                    problems.append(
                        f"column '{name}' has {n_missing} missing value(s), but the model saw none in training; "
                        "fill them, or list the column in scoring.nullable when the model's imputation is acceptable."
                    )
            if col.categories is not None:
                unseen_mask = ~series.isin(col.categories) & series.notna()
                if unseen_mask.any():
                    unseen = pd.unique(series[unseen_mask])[:_MAX_EXAMPLES].tolist()
                    problems.append(
                        f"column '{name}' has {int(unseen_mask.sum())} value(s) the model never saw, e.g. {unseen}; "
                        f"known categories: {list(col.categories)}. Retrain on data that has them, or map them to a known category."
                    )
        if problems:
            raise InputContractError(
                f"{where} breaks the model's input contract:\n" + "\n".join(f"  - {p}" for p in problems)
            )


def _type_ok(series: pd.Series, dtype: str) -> bool:
    if series.isna().all():  # an all-missing column has no type to check; the NaN rule decides
        return True
    if dtype in _KINDS:
        if series.dtype.kind in _KINDS[dtype]:
            return True
        if dtype == "int" and series.dtype.kind == "f":  # integers with missing values arrive as floats
            values = series.dropna().to_numpy()
            return bool((values == np.round(values)).all())
        if series.dtype.kind == "O":
            inferred = pd.api.types.infer_dtype(series, skipna=True)
            return inferred in _OBJECT_KINDS[dtype]
        return False
    if dtype == "str":
        if isinstance(series.dtype, pd.StringDtype):
            return True
        return series.dtype.kind == "O" and pd.api.types.infer_dtype(series, skipna=True) == "string"
    if dtype == "datetime":
        return pd.api.types.is_datetime64_any_dtype(series)
    return True


def _examples(series: pd.Series) -> list[Any]:
    return series.dropna().head(_MAX_EXAMPLES).tolist()


def _encoder_categories(model: Any) -> dict[str, tuple[Any, ...]]:
    """Categories a millpond pipeline's OneHotEncoder learned, per raw column (empty when the model has none)."""
    try:
        preprocess = model.named_steps["preprocess"]
        for name, transformer, columns in preprocess.transformers_:
            if name == "categorical":
                encoder = transformer.named_steps["onehot"]
                return {
                    col: tuple(v for v in cats.tolist() if not (isinstance(v, float) and v != v))
                    for col, cats in zip(columns, encoder.categories_, strict=True)
                }
    except (AttributeError, KeyError, TypeError):
        return {}
    return {}
