"""Data contracts of feature marts: rules a window must meet before it is stored.

Every mart checks that no declared column is entirely null, that its key is
unique and never null (a NaN or ``nan`` key is a null key), that no float column
holds ``inf``/``-inf`` (infinite values are never valid features) and that the
window has rows. A NaN is a missing value, as pandas and Parquet treat it. The
contract may allow what these defaults refuse, explicitly:
``columns: {<key>: {nullable: true}}`` or ``columns: {<col>: {allow_infinite: true}}``.
A ``mart.contract`` in the params adds
nullability, ranges, allowed categories (unseen ones warn or fail), another
uniqueness key and a minimum row count. A violation names the column, the
rule, how many rows and a few example values; the offending rows are written
to a quarantine file in the run record so a person can look.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from millpond.config.params import ColumnRule, ContractSpec, UseCase
from millpond.store.artifacts import note_written
from millpond.store.files import sha256_file

MAX_EXAMPLES = 3


@dataclass
class Violation:
    """One broken rule: which column, which rule, which rows."""

    column: str
    rule: str
    rows: int
    examples: list[object] = field(default_factory=list)
    index: pd.Index | None = None  # offending rows (None: the rule is about the whole window)
    detail: str = ""

    def describe(self) -> str:
        subject = f"column {self.column!r}" if self.column else "window"
        shown = ", ".join(repr(_plain(v)) for v in self.examples[:MAX_EXAMPLES])
        text = f"{subject}, rule {self.rule}: {self.rows} row(s)"
        if self.detail:
            text += f" {self.detail}"
        if shown:
            text += f", e.g. {shown}"
        return text


@dataclass
class ContractReport:
    """The outcome of checking one window."""

    violations: list[Violation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def _plain(value: object) -> object:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _examples(values: pd.Series) -> list[object]:
    return values.head(MAX_EXAMPLES).tolist()


def _rows(index: pd.Index) -> str:
    """``row(s) 4, 8, 12`` (1-based rows of the window, as read after the header), the first few of ``index``."""
    shown = ", ".join(
        str(int(label) + 1) if isinstance(label, int | np.integer) else repr(label) for label in index[:5]
    )
    return f"at row(s) {shown}{', …' if len(index) > 5 else ''}"


def effective_rules(use_case: UseCase) -> dict[str, ColumnRule]:
    """The contract's column rules plus the defaults: the key is not nullable unless the contract says
    ``nullable: true`` for it, and every float column refuses infinite values unless ``allow_infinite: true``."""
    contract = use_case.mart.contract if use_case.mart and use_case.mart.contract else ContractSpec()
    rules = dict(contract.columns)
    key = use_case.key
    if key in use_case.columns:
        rule = rules.get(key, ColumnRule())
        if "nullable" not in rule.model_fields_set:
            rules[key] = rule.model_copy(update={"nullable": False})
    for name, dtype in use_case.columns.items():
        if dtype == "float" and name not in rules:
            rules[name] = ColumnRule()
    return rules


def _null_violation(name: str, nulls: pd.Series, *, key: bool) -> Violation:
    if key:
        fix = (
            f"every row needs a key: fill the key or drop those rows (or allow null keys explicitly: "
            f"mart.contract.columns.{name}.nullable: true)"
        )
        return Violation(
            name, "key not null", len(nulls), [], nulls.index, f"have no key (null/NaN) {_rows(nulls.index)}; {fix}"
        )
    return Violation(name, "nullable: false", len(nulls), [], nulls.index, "are null")


def _infinite_violation(name: str, present: pd.Series) -> Violation | None:
    infinite = present[np.isinf(present.to_numpy(dtype="float64"))]
    if not len(infinite):
        return None
    fix = (
        "infinite values are never valid features: fix the source (an overflow or a division by zero?) or allow "
        f"them explicitly: mart.contract.columns.{name}.allow_infinite: true"
    )
    return Violation(
        name,
        "finite values",
        len(infinite),
        _examples(infinite),
        infinite.index,
        f"are infinite {_rows(infinite.index)}; {fix}",
    )


def _rule_violations(
    name: str, column: pd.Series, rule: ColumnRule, dtype: str, report: ContractReport, *, key: bool = False
) -> None:
    if not rule.nullable:
        nulls = column[column.isna()]
        if len(nulls):
            report.violations.append(_null_violation(name, nulls, key=key))
    if dtype == "float" and not rule.allow_infinite:
        infinite = _infinite_violation(name, column.dropna())
        if infinite is not None:
            report.violations.append(infinite)
    present = column.dropna()
    if rule.min is not None:
        low = present[present < rule.min]
        if len(low):
            report.violations.append(
                Violation(name, f"min {rule.min:g}", len(low), _examples(low), low.index, "are below it")
            )
    if rule.max is not None:
        high = present[present > rule.max]
        if len(high):
            report.violations.append(
                Violation(name, f"max {rule.max:g}", len(high), _examples(high), high.index, "are above it")
            )
    if rule.allowed is not None:
        allowed = [str(a) for a in rule.allowed] if dtype == "str" else list(rule.allowed)
        unseen = present[~present.isin(allowed)]
        if len(unseen):
            categories = sorted({str(v) for v in unseen})
            if rule.on_unseen == "fail":
                report.violations.append(
                    Violation(
                        name,
                        "allowed categories",
                        len(unseen),
                        [_plain(v) for v in categories[:MAX_EXAMPLES]],
                        unseen.index,
                        f"hold {len(categories)} unseen categor{'y' if len(categories) == 1 else 'ies'}",
                    )
                )
            else:
                shown = ", ".join(repr(c) for c in categories[:MAX_EXAMPLES])
                report.warnings.append(
                    f"column {name!r}, rule allowed categories (on_unseen: warn): {len(unseen)} row(s) hold unseen "
                    f"categories {shown}; ingested anyway"
                )


def check_contract(frame: pd.DataFrame, use_case: UseCase) -> ContractReport:
    """Check a typed window against the built-in rules and the use case's contract."""
    contract = use_case.mart.contract if use_case.mart and use_case.mart.contract else ContractSpec()
    report = ContractReport()
    if len(frame) < max(contract.min_rows, 1):
        report.violations.append(
            Violation("", f"min_rows {max(contract.min_rows, 1)}", len(frame), detail="in the window")
        )
        return report
    for name in frame.columns:
        if frame[name].isna().all():
            report.violations.append(
                Violation(str(name), "not all null", len(frame), [], None, "are all null: the column is empty")
            )
    for name, rule in effective_rules(use_case).items():
        if name in frame.columns:
            _rule_violations(name, frame[name], rule, use_case.columns[name], report, key=name == use_case.key)
    unique = contract.unique if contract.unique is not None else [use_case.key]
    if unique:
        duplicated = frame.duplicated(subset=unique, keep=False)
        if duplicated.any():
            rows = frame.loc[duplicated, unique]
            values = rows[unique[0]] if len(unique) == 1 else rows.apply(tuple, axis=1)
            report.violations.append(
                Violation(
                    ",".join(unique),
                    "unique key",
                    int(duplicated.sum()),
                    _examples(values.drop_duplicates()),
                    rows.index,
                    f"share a key ({values.nunique()} duplicated value(s))",
                )
            )
    return report


def write_quarantine(path: Path, frame: pd.DataFrame, violations: list[Violation]) -> int:
    """Write the offending rows with the rules they break to ``path`` (CSV); return how many rows."""
    reasons: dict[object, list[str]] = {}
    for violation in violations:
        if violation.index is None:
            continue
        for label in violation.index:
            reasons.setdefault(label, []).append(f"{violation.column}: {violation.rule}")
    if not reasons:
        return 0
    labels = [label for label in frame.index if label in reasons]
    rows = frame.loc[labels].copy()
    rows.insert(0, "_violations", ["; ".join(reasons[label]) for label in labels])
    rows.insert(0, "_row", [int(label) + 1 if isinstance(label, int) else label for label in labels])
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False)
    note_written("quarantine", path, sha256_file(path))  # into the open run's outputs
    return len(rows)
