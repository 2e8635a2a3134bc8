"""Typing raw rows to a use case's declared columns, with problems that add up across record batches.

``conform`` types a whole window at once; a streamed ingest types one record
batch at a time with ``type_columns`` and folds each batch's problems into a
``TypeProblems`` so the final message counts the whole window, exactly as the
one-shot path would say it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from millpond.config.params import UseCase
from millpond.errors import SchemaError, did_you_mean
from millpond.marts.contracts import MAX_EXAMPLES, Violation, write_quarantine

_KIND_ORDER = (
    "not_utf8",
    "text",
    "all_null",
    "missing",
    "fractions",
    "int_range",
    "datetime",
    "bool",
)  # the one reported per column, first wins


@dataclass
class TypeProblem:
    """Values of one column that do not fit its declared type."""

    column: str
    expected: str
    kind: str  # one of _KIND_ORDER
    count: int
    examples: list[object] = field(default_factory=list)
    index: pd.Index | None = None  # offending rows (None: a whole-column problem)

    def describe(self) -> str:
        name, n = self.column, self.count
        shown = ", ".join(repr(v) for v in self.examples[:MAX_EXAMPLES])
        return {
            "datetime": f"column {name!r} should be datetime; {n} value(s) do not parse, e.g. {shown}",
            "bool": f"column {name!r} should be bool; {n} value(s) are not, e.g. {shown}",
            "not_utf8": f"column {name!r} should be str but holds {n} value(s) that are not UTF-8 text, e.g. {shown}; "
            "re-encode the source as UTF-8",
            "text": f"column {name!r} should be {self.expected} but holds text in {n} row(s), e.g. {shown}",
            "all_null": f"column {name!r}, rule not all null: all {n} row(s) are null: the column is empty",
            "missing": f"column {name!r} should be int but has {n} missing value(s); declare it 'float' or fill them",
            "fractions": f"column {name!r} should be int but holds fractions in {n} row(s), e.g. {shown}; declare it 'float'",
            "int_range": f"column {name!r} should be int but holds infinite or out-of-range (beyond 64 bits) values "
            f"in {n} row(s), e.g. {shown}; fix the source or declare it 'float'",
        }[self.kind]


def _not_utf8(value: object) -> bool:
    if not isinstance(value, bytes):
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _outside_int64(numeric: pd.Series) -> pd.Series:
    """Values an int64 cannot hold: ±inf, or beyond 64 bits (2**63 - 1024 is the largest float64 below 2**63)."""
    if pd.api.types.is_integer_dtype(numeric):
        return numeric > 2**63 - 1 if numeric.dtype == "uint64" else pd.Series(False, index=numeric.index)
    if pd.api.types.is_float_dtype(numeric):
        return ~numeric.between(-(2.0**63), 2.0**63 - 1024)
    return pd.Series(True, index=numeric.index)  # object: Python ints too large for any numpy type


def _problem(name: str, expected: str, kind: str, bad: pd.Series, *, rows: bool = True) -> TypeProblem:
    return TypeProblem(name, expected, kind, len(bad), bad.head(MAX_EXAMPLES).tolist(), bad.index if rows else None)


def coerce(name: str, expected: str, column: pd.Series) -> tuple[pd.Series | None, TypeProblem | None]:
    """Cast a column to the declared dtype, or say why not and which rows are at fault."""
    if expected == "str":
        try:
            return column.astype("str").where(column.notna()), None
        except UnicodeError:  # bytes that are not UTF-8 (a binary or damaged Parquet column)
            return None, _problem(name, expected, "not_utf8", column[column.map(_not_utf8)])
    if expected == "datetime":
        parsed = pd.to_datetime(column, errors="coerce")
        bad = column[parsed.isna() & column.notna()]
        return (parsed, None) if bad.empty else (None, _problem(name, expected, "datetime", bad))
    if expected == "bool":
        if pd.api.types.is_bool_dtype(column):
            return column.astype("bool"), None
        mapped = (
            column.astype("str")
            .str.lower()
            .map({"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False})
        )
        bad = column[mapped.isna()]
        return (mapped.astype("bool"), None) if bad.empty else (None, _problem(name, expected, "bool", bad))
    numeric = pd.to_numeric(column, errors="coerce")
    bad = column[numeric.isna() & column.notna()]
    if not bad.empty:
        return None, _problem(name, expected, "text", bad)
    if expected == "int":
        if numeric.isna().all():
            return None, TypeProblem(name, expected, "all_null", len(column), [], None)
        if numeric.isna().any():
            return None, _problem(name, expected, "missing", column[numeric.isna()])
        out_of_range = _outside_int64(numeric)
        if out_of_range.any():
            return None, _problem(name, expected, "int_range", column[out_of_range])
        if not (numeric == numeric.round()).all():
            return None, _problem(name, expected, "fractions", column[numeric != numeric.round()])
        return numeric.astype("int64"), None
    return numeric.astype("float64"), None


def column_problems(present: list[str], use_case: UseCase) -> list[str]:
    """Missing and undeclared columns, each with a hint."""
    declared = list(use_case.columns)
    missing = [c for c in declared if c not in present]
    extra = [c for c in present if c not in declared]
    problems = [f"column {name!r} is missing.{did_you_mean(name, extra)}" for name in missing]
    for name in sorted({n for n in present if present.count(n) > 1}):
        problems.append(f"column {name!r} appears {present.count(name)} times; every column name must be unique")
    for name in extra:
        if not any(did_you_mean(m, [name]) for m in missing):
            problems.append(
                f"column {name!r} is not declared in 'columns'; add it to the params or drop it from the source"
            )
    return problems


def type_columns(
    frame: pd.DataFrame, use_case: UseCase, names: list[str]
) -> tuple[dict[str, pd.Series], list[TypeProblem]]:
    """Typed columns ``names`` of ``frame`` and the problems of those that do not fit."""
    typed: dict[str, pd.Series] = {}
    problems: list[TypeProblem] = []
    for name in names:
        column, problem = coerce(name, use_case.columns[name], frame[name])
        if problem is not None:
            problems.append(problem)
        elif column is not None:
            typed[name] = column
    return typed, problems


def schema_error(
    origin: str,
    problems: list[str],
    type_problems: list[TypeProblem],
    *,
    quarantine: Path | None,
    offending: pd.DataFrame | None,
) -> SchemaError:
    """The one message for every column and type problem of a window; offending rows go to ``quarantine``."""
    lines = problems + [p.describe() for p in type_problems]
    violations = [
        Violation(p.column, f"type {p.expected}", p.count, index=p.index) for p in type_problems if p.index is not None
    ]
    written = (
        write_quarantine(quarantine, offending, violations) if quarantine is not None and offending is not None else 0
    )
    return SchemaError(
        f"{origin} does not match the use case's columns ({len(lines)} problem(s)):\n"
        + "\n".join(f"  - {p}" for p in lines)
        + "\nFix the source data, or the 'columns' section of the params."
        + (f"\n{written} offending row(s) written to {quarantine}." if written else "")
    )


def conform(frame: pd.DataFrame, use_case: UseCase, *, origin: str, quarantine: Path | None = None) -> pd.DataFrame:
    """Check columns and dtypes against the use case and return a typed copy (declared column order).

    Rows holding values of the wrong type are written to ``quarantine`` (CSV) when given.
    """
    present = [str(c) for c in frame.columns]
    problems = column_problems(present, use_case)
    declared = list(use_case.columns)
    typed, type_problems = type_columns(frame, use_case, [n for n in declared if present.count(n) == 1])
    if problems or type_problems:
        raise schema_error(origin, problems, type_problems, quarantine=quarantine, offending=frame)
    return pd.DataFrame(typed)[declared]


class TypeProblems:
    """Type problems of a window read batch by batch, counted as if the window were typed at once."""

    def __init__(self, *, max_rows: int = 100_000) -> None:
        self._found: dict[str, dict[str, TypeProblem]] = {}
        self.max_rows = max_rows
        self.offending: list[pd.DataFrame] = []
        self._kept = 0
        self.rows_dropped = 0

    def add(self, problems: list[TypeProblem], batch: pd.DataFrame) -> None:
        """Fold one batch's problems in; keep its offending raw rows (up to ``max_rows`` in all) for quarantine."""
        for problem in problems:
            kinds = self._found.setdefault(problem.column, {})
            kind = (
                "missing" if problem.kind == "all_null" else problem.kind
            )  # a batch of nulls is not yet an empty column
            index = problem.index if problem.index is not None else batch.index
            if kind in kinds:
                known = kinds[kind]
                known.count += problem.count
                known.examples = (known.examples + problem.examples)[:MAX_EXAMPLES]
                known.index = known.index.append(index) if known.index is not None else index
            else:
                examples = (
                    problem.examples
                    if problem.kind != "all_null"
                    else batch[problem.column].head(MAX_EXAMPLES).tolist()
                )
                kinds[kind] = TypeProblem(problem.column, problem.expected, kind, problem.count, examples, index)
        rows = (
            pd.Index([]).append([p.index for p in problems if p.index is not None]).unique()
            if problems
            else pd.Index([])
        )
        if any(p.index is None for p in problems):
            rows = batch.index
        room = max(self.max_rows - self._kept, 0)
        if len(rows) and room:
            keep = batch.loc[rows[:room]]
            self.offending.append(keep)
            self._kept += len(keep)
        self.rows_dropped += max(0, len(rows) - room)

    def __bool__(self) -> bool:
        return bool(self._found)

    def merged(self, total_rows: int) -> list[TypeProblem]:
        """One problem per column, as ``coerce`` would report it over the whole window."""
        merged = []
        for kinds in self._found.values():
            for kind in _KIND_ORDER:
                if kind in kinds:
                    problem = kinds[kind]
                    if kind == "missing" and problem.count == total_rows:
                        problem = TypeProblem(problem.column, problem.expected, "all_null", total_rows, [], None)
                    merged.append(problem)
                    break
        return merged

    def offending_rows(self) -> pd.DataFrame | None:
        return pd.concat(self.offending) if self.offending else None
