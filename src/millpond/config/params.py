"""Use-case parameter sets: YAML files validated by a typed schema before anything runs.

A use-case YAML is also a papermill parameter file: its top-level keys are the
stage notebooks' parameters. Unknown keys are errors that name the key path and
suggest the closest valid key; every problem is collected and raised at once.

Params are data, never code: :func:`read_yaml` builds plain data only (see
:mod:`millpond.config.loader`), :func:`validate_use_case` refuses NaN and
infinities anywhere, unbounded strings and integers and unsafe use-case names,
a stage notebook is given :meth:`UseCase.notebook_parameters` (re-serialised
from the validated schema, written by :mod:`millpond.config.injection`'s exact
translator) and re-validates what it got with :func:`check_injected`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from millpond.config.families import estimator_class
from millpond.config.loader import bad_character, parse_yaml, read_text
from millpond.config.plain import Loc, dotted, iter_problems
from millpond.config.secrets import remember, secrets_of
from millpond.errors import ParamsError, did_you_mean
from millpond.workspace import Workspace

DType = Literal["int", "float", "str", "bool", "datetime"]
Task = Literal["classification", "regression"]
CLASSIFICATION_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "f1", "accuracy")
REGRESSION_METRICS = ("rmse", "mae", "mape", "r2")
WINDOW_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MONTH_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")  # the windows of a monthly use case: '2025-03'
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")  # use with fullmatch: "$" would let "churn\n" through
# The stages of one cycle, in order; each is notebooks/<stage>.ipynb.
STAGES = ("ingest", "score", "drift", "train", "promote")
# Notebook parameters that are not part of the use case: the window and where the runner records.
RUNTIME_PARAMETERS = ("window", "run_id", "run_dir", "workspace")
# Bounds on parameter values (the loader also caps the file at MAX_PARAMS_BYTES and nesting at MAX_DEPTH).
MAX_STRING = 10_000  # characters in any string value (description, queries, paths, ...)
MAX_NAME = 64  # characters in a use-case name (it names folders, run ids, files and locks)
MAX_LISTED = 20  # problems listed in one error (the count says how many there are)


class DriftThresholds(BaseModel):
    """When a feature counts as drifted, and when the dataset does.

    A feature is drifted when it is both *significant* and *material*:

    * significant: its test's p-value (two-sample KS for numeric, chi-square for categorical) survives
      multiple-testing control over the features tested (``multiple_testing``, Benjamini-Hochberg by default) at
      level ``significance``; this keeps small windows from flagging sampling noise;
    * material: at least one effect size reaches its floor: PSI / ``psi_alert``, Jensen-Shannon /
      ``jensen_shannon`` and, for numeric features, normalised Wasserstein / ``wasserstein`` and median shift /
      ``median_shift`` reaching 1; this keeps huge windows from flagging trivial (if significant) shifts.

    ``drift_score`` is the largest effect ratio capped at 1; the dataset drifts when the summed impact
    (drift_score x normalised importance) of drifted features reaches ``impact_threshold``. So "drift: yes"
    means: at least one feature the model relies on moved by more than the effect floors, and by more than
    sampling noise explains at the ``significance`` level after accounting for the number of features tested
    (on stationary data at most about ``significance`` of windows say yes; ``scripts/bench/drift_false_alarms.py``
    measures it).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    psi_warning: float = Field(
        0.1,
        gt=0,
        description=(
            "PSI at or above this on a feature that did not drift is listed as a warning "
            "(the usual rule of thumb: below 0.1 stable, 0.1-0.25 moderate)."
        ),
    )
    psi_alert: float = Field(
        0.25,
        gt=0,
        description=(
            "PSI at or above this is a significant shift (the usual 0.25 rule of thumb); scales PSI in drift_score."
        ),
    )
    wasserstein: float = Field(
        0.1,
        gt=0,
        description=(
            "Wasserstein distance in reference standard deviations at which a numeric feature drifts "
            "(Evidently's default)."
        ),
    )
    jensen_shannon: float = Field(
        0.1,
        gt=0,
        description=(
            "Jensen-Shannon distance (base 2, in [0, 1]) at which a feature drifts (Evidently's default). "
            "For small shifts 0.1 matches a PSI of about 0.055, so it fires before psi_alert."
        ),
    )
    median_shift: float = Field(
        0.5,
        gt=0,
        description=(
            "Median shift in reference IQRs at which a numeric feature drifts: half an IQR (0.67 sd for a normal) "
            "moves a quarter of the mass across the old median; robust where outliers inflate the sd."
        ),
    )
    significance: float = Field(
        0.05,
        gt=0,
        lt=1,
        description=(
            "False-alarm level of the data-drift verdict: a feature is significant when its test (KS for numeric, "
            "chi-square for categorical) rejects after multiple-testing control at this level, so on stationary "
            "data the verdict says 'drift' in at most about this share of windows."
        ),
    )
    multiple_testing: Literal["bh", "bonferroni", "none"] = Field(
        "bh",
        description=(
            "How the features' p-values are controlled together: 'bh' (Benjamini-Hochberg, the default), "
            "'bonferroni' (stricter), or 'none' (each feature at 'significance': more false alarms with many features)."
        ),
    )
    psi_bins: int = Field(
        10, ge=1, description=("Number of reference-quantile bins (deciles) for numeric PSI and Jensen-Shannon.")
    )
    impact_threshold: float = Field(
        0.2,
        gt=0,
        le=1,
        description=(
            "The dataset drifts when the drifted features' summed impact reaches this, e.g. one fully drifted "
            "feature holding a fifth of the model's importance. Lower than Evidently's 'half of the features' "
            "because importance weighting already discounts the features the model ignores."
        ),
    )

    @model_validator(mode="after")
    def _warning_below_alert(self) -> DriftThresholds:
        if self.psi_warning > self.psi_alert:
            raise ValueError(
                f"psi_warning must not exceed psi_alert; got psi_warning={self.psi_warning}, "
                f"psi_alert={self.psi_alert}."
            )
        return self


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SourceSpec(_Strict):
    """Where raw rows come from."""

    path: str | None = Field(None, description="file path or glob, relative to the workspace; may hold {window}")
    format: Literal["csv", "parquet"] | None = Field(None, description="inferred from the file suffix when absent")
    window_column: str | None = Field(None, description="column holding the window when one file holds every window")
    url: str | None = Field(None, description="SQLAlchemy URL; ${ENV_VAR} references are expanded at connect time")
    query: str | None = Field(None, description="SQL query for a database source; may hold {window}")
    delimiter: str | None = Field(None, description="CSV field delimiter; default ','")

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        if bool(self.path) == bool(self.url):
            raise ValueError("give exactly one of 'path' (files) or 'url' + 'query' (a database)")
        if self.url and not self.query:
            raise ValueError("a database source needs 'query' as well as 'url'")
        return self


class ColumnRule(_Strict):
    """Data-contract rules for one column (its type is the one declared in 'columns')."""

    nullable: bool = Field(True, description="false: a missing value breaks the contract")
    min: float | None = Field(None, description="smallest allowed value (numeric columns)")
    max: float | None = Field(None, description="largest allowed value (numeric columns)")
    allowed: list[str | int | float | bool] | None = Field(None, description="allowed categories")
    on_unseen: Literal["warn", "fail"] = Field("fail", description="what a value outside 'allowed' does")
    allow_infinite: bool = Field(False, description="true: inf/-inf pass (float columns; refused by default)")


class ContractSpec(_Strict):
    """A mart's data contract, checked on every ingested window before anything is stored."""

    columns: dict[str, ColumnRule] = Field(default_factory=dict, description="per-column rules")
    unique: list[str] | None = Field(None, description="columns whose combination must be unique; default: the key")
    min_rows: int = Field(1, ge=0, description="fewer rows in a window breaks the contract")


class MartSpec(_Strict):
    """How the mart is built: extra sources, a DuckDB transform, the load mode and the data contract."""

    sources: dict[str, SourceSpec] = Field(
        default_factory=dict, description="extra named sources, tables of the transform"
    )
    transform: str | None = Field(
        None, description="a .sql file in feature_marts/<mart>/, run by DuckDB over the sources"
    )
    load: Literal["incremental", "full"] = Field(
        "incremental", description="incremental: this window only; full: rebuild every window"
    )
    contract: ContractSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> MartSpec:
        problems = []
        for name in self.sources:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name) or name == "source":
                problems.append(f"source name {name!r} must be a SQL identifier other than 'source'")
        if self.sources and not self.transform:
            problems.append("extra 'sources' need a 'transform' (.sql) that joins them")
        if self.transform and (not self.transform.endswith(".sql") or "/" in self.transform or "\\" in self.transform):
            problems.append(f"transform must be a .sql file name inside feature_marts/<mart>/; got {self.transform!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class SearchSpec(_Strict):
    """Cross-validated hyperparameter search; its best candidate is refit on every training row."""

    method: Literal["grid", "random"] = "grid"
    space: dict[str, Any] = Field(
        description="estimator parameter -> list of values; random search also takes {low, high, log, int}"
    )
    n_iter: int = Field(10, ge=1, description="candidates a random search draws")
    cv_folds: int = Field(
        3, ge=2, description="folds: time-ordered by window when the data spans 3+ windows, else stratified k-fold"
    )
    scoring: str | None = Field(None, description="metric the search maximises; default: promotion.metric")

    @field_validator("space")
    @classmethod
    def _space(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("must name at least one estimator parameter with a list of values")
        for name, values in value.items():
            if isinstance(values, dict):
                unknown = set(values) - {"low", "high", "log", "int"}
                if unknown or not {"low", "high"} <= set(values):
                    raise ValueError(
                        f"range for {name!r} needs 'low' and 'high' (optional 'log', 'int'); got keys {sorted(values)}"
                    )
                low, high = values["low"], values["high"]
                if not _finite_range(low, high):
                    raise ValueError(f"range for {name!r} needs finite numbers low < high; got {low!r} and {high!r}")
            elif not isinstance(values, list) or not values:
                raise ValueError(
                    f"values for {name!r} must be a non-empty list (or a {{low, high}} range); got {values!r}"
                )
        return value


def _finite_range(low: Any, high: Any) -> bool:
    """Both finite numbers (or number strings such as YAML's '1e-3') and low < high."""
    try:
        lo, hi = float(low), float(high)
    except (TypeError, ValueError):
        return False
    return math.isfinite(lo) and math.isfinite(hi) and lo < hi


class ModelSpec(_Strict):
    """Model family and its hyperparameters."""

    family: Literal["hist_gradient_boosting", "logistic_regression", "random_forest"] = "hist_gradient_boosting"
    params: dict[str, Any] = Field(default_factory=dict, description="passed to the estimator")
    random_state: int = 0
    threads: int = Field(
        1, ge=1, description="OpenMP/BLAS threads for fit and predict; 1 avoids oversubscription on a busy machine"
    )
    search: SearchSpec | None = Field(
        None, description="cross-validated hyperparameter search; None fits model.params as given"
    )


class TrainingSpec(_Strict):
    """Which data a model trains on."""

    windows: int = Field(3, ge=1, description="train on the latest N windows up to the current one")
    holdout_fraction: float = Field(
        0.25, gt=0, lt=0.9, description="share of the current window kept out for evaluation"
    )
    min_rows: int = Field(200, ge=10, description="refuse to train on fewer rows")


class RetrainPolicy(_Strict):
    """When the train stage fits a candidate."""

    on_data_drift: bool = True
    on_model_drift: bool = True
    every_n_windows: int | None = Field(
        None, ge=1, description="also retrain when the champion is this many windows old"
    )


class DriftPolicy(DriftThresholds):
    """Data-drift thresholds plus model-drift tolerance."""

    kpi_tolerance: float = Field(
        0.02,
        ge=0,
        description=(
            "KPI drop against the mean of T-1 and T-2 that counts as model drift, in the metric's units, for "
            "unit-free metrics (roc_auc, pr_auc, f1, accuracy, log_loss, brier, r2)"
        ),
    )
    kpi_tolerance_relative: float = Field(
        0.05,
        ge=0,
        description=(
            "for metrics with units (rmse, mae) and mape: the tolerated worsening as a fraction of the baseline "
            "(0.05: an RMSE 5% above the mean of T-1 and T-2), so one setting fits any target scale"
        ),
    )
    kpi_benchmark: float | None = Field(
        None, description="KPI the champion must reach; drift when the whole bootstrap interval is worse"
    )
    bootstrap_resamples: int = Field(
        200, ge=20, le=5000, description="bootstrap resamples of the KPI interval (vectorised)"
    )
    confidence: float = Field(0.95, gt=0.5, lt=1, description="confidence level of bootstrap intervals")
    estimate_tolerance: float = Field(
        0.02,
        gt=0,
        description="|estimated - realised| KPI above which the label-free estimate is not trusted (concept drift)",
    )
    comparison_rows: int = Field(
        5_000,
        ge=100,
        le=1_000_000,
        description=(
            "rows per side the sweetviz comparison report samples (fixed seed); the drift statistics and the verdict "
            "always use every row"
        ),
    )
    change_point: str | None = Field(
        None,
        description=(
            "a documented change in the data (the first window after it), for millpond backtest: alarms in earlier "
            "windows are counted as false alarms, the first alarm from it on as the detection"
        ),
    )


class PromotionPolicy(_Strict):
    """How a candidate wins."""

    metric: str = "roc_auc"
    min_improvement: float = Field(0.0, description="candidate must beat the champion by at least this much")
    approval: Literal["auto", "manual"] = "auto"
    approvers: list[str] | None = Field(
        None,
        min_length=1,
        description="OS user names who may approve, reject and roll back; unset: any user who can run millpond",
    )
    guard_metric: str | None = Field(
        None, description="a second metric the candidate may not worsen by more than guard_max_regression"
    )
    guard_max_regression: float = Field(
        0.01, ge=0, description="largest allowed worsening of guard_metric against the champion"
    )
    policy: Literal["evidence", "point"] = Field(
        "evidence",
        description=(
            "evidence: the candidate replaces the champion only when the paired-bootstrap gain's whole interval "
            "lies above min_improvement, or when the champion has model drift at this window and the candidate is "
            "not worse (point gain >= 0); point: the point gain meeting min_improvement is enough (noisy)"
        ),
    )
    require_significant: bool = Field(
        False,
        description="with policy 'point': also require the paired interval's lower end to meet min_improvement",
    )
    compare_previous: bool = Field(
        True, description="also compare with the champions of T-1 and T-2 (from the alias history)"
    )
    bootstrap_resamples: int = Field(
        200, ge=20, le=5000, description="paired bootstrap resamples of the metric difference"
    )
    confidence: float = Field(0.95, gt=0.5, lt=1, description="confidence level of the paired difference interval")
    max_slice_drop: float | None = Field(
        None,
        ge=0,
        description=(
            "slice guard (needs 'slices'): refuse a candidate whose metric on any slice (held-out rows of that slice "
            "value, at least slices.min_rows of them) is worse than the champion's by more than this; unset: off"
        ),
    )


class SliceSpec(_Strict):
    """Columns whose values the KPI is also reported per (holdout, scoring labels, drift) and the slice guard judges.

    ``slices: [region, contract]`` is short for ``slices: {columns: [region, contract]}``.
    """

    columns: list[str] = Field(default_factory=list, description="mart columns to slice by (str, bool or int)")
    min_rows: int = Field(
        100, ge=2, description="a slice value with fewer labelled rows is reported as too small, never judged"
    )


class LabelsSource(_Strict):
    """Where late ground truth for a window comes from (``millpond labels add`` without a FILE)."""

    path: str = Field(description="CSV or Parquet file relative to the workspace; may hold {window}")


class ScoringSpec(_Strict):
    """How the score stage and ``millpond score`` run: batches, the challenger, the smoke test."""

    batch_rows: int = Field(
        100_000, ge=1, description="rows per Arrow record batch; peak memory grows with it, not with the input"
    )
    challenger_mode: Literal["shadow", "split"] = Field(
        "shadow",
        description="shadow: the challenger scores every row, unserved; split: it serves a deterministic share by key hash",
    )
    split_fraction: float = Field(0.1, gt=0, lt=1, description="share of keys the challenger serves in split mode")
    threshold: float = Field(0.5, gt=0, lt=1, description="probability at or above which the predicted class is 1")
    smoke_rows: int = Field(100, ge=1, description="rows the smoke test scores, drawn from the model's input example")
    smoke_latency_ms: float = Field(
        2000.0,
        gt=0,
        description="latency budget of the smoke rows; 10x the model's profiled latency when larger; retried once",
    )
    nullable: list[str] = Field(
        default_factory=list, description="features that may be missing at scoring even when training saw none"
    )
    labels: LabelsSource | None = Field(None, description="late labels source for `millpond labels add` without a FILE")
    dask_scheduler: str | None = Field(
        None,
        description=(
            "Dask scheduler address, e.g. 'tcp://127.0.0.1:8786': batches are scored on its workers (same numbers as "
            "in-process); start one with `dask scheduler --host 127.0.0.1 --no-dashboard`; None scores in this process"
        ),
    )
    dask_timeout_seconds: float = Field(
        10.0, gt=0, description="how long to wait for the Dask scheduler to answer before failing"
    )

    @field_validator("dask_scheduler")
    @classmethod
    def _dask_address(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(tcp|tls|inproc|ucx)://[^\s/]+$", value):
            raise ValueError(f"must look like 'tcp://127.0.0.1:8786' (protocol://host:port). Got {value!r} instead")
        return value


class EngineSpec(_Strict):
    """Where the drift statistics, the training search and scoring run: this process, or a Dask cluster."""

    kind: Literal["local", "dask"] = Field("local", description="local: in this process; dask: on a Dask cluster")
    scheduler: str | None = Field(
        None,
        description="kind dask: the scheduler address, e.g. 'tcp://127.0.0.1:8786'; None starts a LocalCluster for the stage",
    )
    workers: int = Field(2, ge=1, description="workers of the LocalCluster started when scheduler is None")
    timeout_seconds: float = Field(10.0, gt=0, description="how long to wait for the scheduler and a worker")

    @field_validator("scheduler")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return ScoringSpec._dask_address(value)  # same rule as scoring.dask_scheduler, the older spelling


class EmailSpec(_Strict):
    """SMTP e-mail notifications; credentials only as ${ENV_VAR} references, expanded when sending."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True)

    host: str
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field(alias="from", description="From: address")
    to: list[str] = Field(min_length=1, description="recipients")
    username: str | None = None
    password: str | None = Field(None, description="must be a ${ENV_VAR} reference, never the password itself")
    starttls: bool = False
    timeout_seconds: float = Field(10.0, gt=0)

    @field_validator("password")
    @classmethod
    def _env_only(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", value):
            raise ValueError("must be a ${ENV_VAR} reference (e.g. '${SMTP_PASSWORD}'), never the password itself")
        return value


class WebhookSpec(_Strict):
    """HTTP webhook notifications: a JSON POST per event."""

    url: str = Field(description="http(s) URL; ${ENV_VAR} references are expanded when sending")
    timeout_seconds: float = Field(10.0, gt=0)
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra headers; values may be ${ENV_VAR} references"
    )


class NotifySpec(_Strict):
    """Where notifications go besides logs/events.jsonl (always written)."""

    email: EmailSpec | None = None
    webhook: WebhookSpec | None = None
    events: list[str] | None = Field(None, description="events to send by e-mail/webhook; default: all")


class ScheduleSpec(_Strict):
    """Unattended runs: which windows are due, catch-up and retries of transient failures."""

    calendar: Literal["data", "monthly"] = Field(
        "data", description="'data': windows found in the raw source; 'monthly': every month from 'start' to last month"
    )
    start: str | None = Field(None, description="first window of the monthly calendar, e.g. '2025-01'")
    catch_up: bool = Field(True, description="run missed windows oldest first; false: only the newest due window")
    max_windows: int = Field(12, ge=1, description="most windows one scheduled run catches up")
    retries: int = Field(2, ge=0, le=10, description="retries of a stage that failed with a transient error")
    backoff_seconds: float = Field(
        30.0, ge=0, le=86_400, description="wait before the first retry (at most a day); doubled for each further one"
    )

    @model_validator(mode="after")
    def _start(self) -> ScheduleSpec:
        if self.calendar == "monthly" and not (self.start and re.fullmatch(r"\d{4}-\d{2}", self.start)):
            raise ValueError("schedule.calendar 'monthly' needs schedule.start as 'YYYY-MM', e.g. '2025-01'")
        return self


class RetentionPolicy(_Strict):
    """What `millpond gc` may remove (never the lineage of champion, challenger, previous or a pending approval)."""

    keep_days: int = Field(90, ge=0, description="keep everything younger than this many days")
    keep_versions: int = Field(
        5, ge=1, description="keep the newest N cycles, mart versions, model versions and capture windows"
    )


class UseCase(_Strict):
    """One use case: a source, a target and the policies of its cycle."""

    use_case: str
    description: str = ""
    task: Task = "classification"
    source: SourceSpec
    key: str
    target: str
    columns: dict[str, DType] = Field(description="expected raw columns and their dtypes")
    features: list[str] | None = Field(None, description="default: every column but key, target and window column")
    categorical: list[str] | None = Field(None, description="default: the 'str' and 'bool' columns among the features")
    model: ModelSpec = ModelSpec()
    training: TrainingSpec = TrainingSpec()
    retrain: RetrainPolicy = RetrainPolicy()
    drift: DriftPolicy = DriftPolicy()
    promotion: PromotionPolicy = PromotionPolicy()
    scoring: ScoringSpec = ScoringSpec()
    mart: MartSpec | None = Field(None, description="extra sources, transform, load mode and data contract")
    schedule: ScheduleSpec = ScheduleSpec()
    retention: RetentionPolicy = RetentionPolicy()
    notify: NotifySpec = NotifySpec()
    engine: EngineSpec = Field(EngineSpec(), description="local, or a Dask cluster (see README, Running on Dask)")
    slices: SliceSpec = Field(SliceSpec(), description="KPI per value of these columns; e.g. [region, contract]")

    @field_validator("slices", mode="before")
    @classmethod
    def _slice_list(cls, value: Any) -> Any:
        """``slices: [region, contract]`` is short for ``slices: {columns: [region, contract]}``."""
        return {"columns": value} if isinstance(value, list) else value

    @model_validator(mode="before")
    @classmethod
    def _engine_scores(cls, data: Any) -> Any:
        """``engine.scheduler`` scores too: ``scoring.dask_scheduler`` is its older spelling (both set must agree)."""
        engine, scoring = (data.get(k) if isinstance(data, dict) else None for k in ("engine", "scoring"))
        if not isinstance(engine, dict) or engine.get("kind") != "dask" or engine.get("scheduler") is None:
            return data
        if scoring is not None and not isinstance(scoring, dict):
            return data
        address = engine["scheduler"]
        older = (scoring or {}).get("dask_scheduler")
        if older is not None and older != address:
            raise ValueError(
                f"engine.scheduler is {address!r} but scoring.dask_scheduler (its older spelling) is {older!r}; "
                "keep engine.scheduler only"
            )
        timeout = engine.get("timeout_seconds", 10.0)
        return {**data, "scoring": {"dask_timeout_seconds": timeout, **(scoring or {}), "dask_scheduler": address}}

    @field_validator("use_case")
    @classmethod
    def _name(cls, value: str) -> str:
        if not is_use_case_name(value):
            shown = repr(value) if len(value) <= MAX_NAME else f"{value[:MAX_NAME]!r}... ({len(value)} characters)"
            raise ValueError(
                f"must be a name of at most {MAX_NAME} letters, digits, '-' or '_', starting with a letter "
                f"(not 'raw'; no spaces, newlines or path separators); got {shown}"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> UseCase:
        problems: list[str] = []
        for label, name in (
            ("key", self.key),
            ("target", self.target),
            ("source.window_column", self.source.window_column),
        ):
            if name is not None and name not in self.columns:
                problems.append(f"{label} {name!r} is not in 'columns'.{did_you_mean(name, self.columns)}")
        for label, names in (("features", self.features), ("categorical", self.categorical)):
            for name in names or ():
                if name not in self.columns:
                    problems.append(
                        f"{label} lists {name!r}, which is not in 'columns'.{did_you_mean(name, self.columns)}"
                    )
        problems.extend(self._mart_problems())
        metrics = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        if self.promotion.metric not in metrics:
            problems.append(
                f"promotion.metric must be one of {', '.join(metrics)} for task {self.task!r}. "
                f"Got {self.promotion.metric!r} instead.{did_you_mean(self.promotion.metric, metrics)}"
            )
        guard = self.promotion.guard_metric
        if guard is not None and guard not in metrics:
            problems.append(
                f"promotion.guard_metric must be one of {', '.join(metrics)} for task {self.task!r}. "
                f"Got {guard!r} instead.{did_you_mean(guard, metrics)}"
            )
        problems += _search_problems(self)
        problems += _slice_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _mart_problems(self) -> list[str]:
        problems: list[str] = []
        if self.mart is None:
            return problems
        contract = self.mart.contract
        if contract is not None:
            for name, rule in contract.columns.items():
                if name not in self.columns:
                    problems.append(
                        f"mart.contract.columns lists {name!r}, which is not in 'columns'.{did_you_mean(name, self.columns)}"
                    )
                elif (rule.min is not None or rule.max is not None) and self.columns[name] not in ("int", "float"):
                    problems.append(
                        f"mart.contract.columns.{name}: min/max need an int or float column, {name!r} is {self.columns[name]}"
                    )
            for name in contract.unique or ():
                if name not in self.columns:
                    problems.append(
                        f"mart.contract.unique lists {name!r}, which is not in 'columns'.{did_you_mean(name, self.columns)}"
                    )
        if self.mart.load == "full" and not self.source.window_column:
            problems.append(
                "mart.load 'full' rebuilds every window, so it needs 'source.window_column' (one file or query holding every window)"
            )
        return problems

    # --- derived views -------------------------------------------------------
    @property
    def feature_columns(self) -> list[str]:
        if self.features is not None:
            return list(self.features)
        skip = {self.key, self.target, self.source.window_column}
        return [c for c in self.columns if c not in skip]

    @property
    def categorical_columns(self) -> list[str]:
        if self.categorical is not None:
            return [c for c in self.categorical if c in self.feature_columns]
        return [c for c in self.feature_columns if self.columns[c] in ("str", "bool")]

    @property
    def numeric_columns(self) -> list[str]:
        cats = set(self.categorical_columns)
        return [c for c in self.feature_columns if c not in cats]

    @property
    def metric_higher_is_better(self) -> bool:
        return self.promotion.metric not in ("log_loss", "brier", "rmse", "mae", "mape")

    @classmethod
    def from_namespace(cls, namespace: dict[str, Any], *, source: str = "notebook parameters") -> UseCase:
        """Build a use case from a notebook's globals (the injected parameters), re-validated: see
        :func:`check_injected`."""
        return check_injected(namespace, source=source)

    def notebook_parameters(self) -> dict[str, Any]:
        """Every field as plain data, to inject into a stage notebook: re-serialised from this validated use case
        (defaults included, so the notebook sees what the schema says, not its own parameters cell), never the
        raw YAML. Round-trips: ``validate_use_case(uc.notebook_parameters()) == uc``."""
        return self.model_dump(mode="json", by_alias=True)


def _slice_problems(use_case: UseCase) -> list[str]:
    """Problems of ``slices``: a name that is no column of the mart, the key or target, a float/datetime column,
    a repeated name, and ``promotion.max_slice_drop`` without slices."""
    problems = []
    columns = use_case.columns
    names = use_case.slices.columns
    for name in names:
        if name not in columns:
            problems.append(
                f"slices lists {name!r}, which is not a column of the mart {use_case.use_case!r} "
                f"(its columns: {', '.join(columns)}).{did_you_mean(name, columns)}"
            )
        elif name in (use_case.key, use_case.target):
            role = "key" if name == use_case.key else "target"
            problems.append(f"slices lists {name!r}, the {role}: slice by a column that groups rows")
        elif columns[name] in ("float", "datetime"):
            problems.append(
                f"slices lists {name!r}, a {columns[name]} column: slices need categories (a str, bool or int column)"
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        problems.append(f"slices lists {', '.join(map(repr, repeated))} more than once")
    if use_case.promotion.max_slice_drop is not None and not names:
        problems.append("promotion.max_slice_drop guards slices: list the columns in 'slices' (e.g. [region])")
    return problems


def _search_problems(use_case: UseCase) -> list[str]:
    """Problems of model.search: estimator parameters that do not exist, ranges in a grid, a metric of the other task."""
    search = use_case.model.search
    if search is None:
        return []

    problems = []
    estimator = estimator_class(use_case.model.family, use_case.task)
    valid = sorted(estimator().get_params())
    for name, values in search.space.items():
        if name not in valid:
            problems.append(
                f"model.search.space names {name!r}, which {estimator.__name__} does not take.{did_you_mean(name, valid)} "
                f"Parameters: {', '.join(valid)}."
            )
        if search.method == "grid" and isinstance(values, dict):
            problems.append(
                f"model.search.space.{name} is a range; a grid search needs a list of values (or use method: random)"
            )
    metrics = CLASSIFICATION_METRICS if use_case.task == "classification" else REGRESSION_METRICS
    if search.scoring is not None and search.scoring not in metrics:
        problems.append(
            f"model.search.scoring must be one of {', '.join(metrics)} for task {use_case.task!r}. "
            f"Got {search.scoring!r} instead.{did_you_mean(search.scoring, metrics)}"
        )
    return problems


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a params YAML mapping as plain data (see :class:`millpond.config.loader.ParamsLoader`), refusing a file
    over 1 MiB before reading it."""
    file = Path(path)
    if not file.is_file():
        hint = ""
        if file.parent.is_dir():
            hint = did_you_mean(file.name, [p.name for p in file.parent.glob("*.y*ml")])
        raise ParamsError(f"Parameter file {file} does not exist.{hint} Pass an existing file with --params.")
    data = parse_yaml(read_text(file), str(file))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(
            f"Parameter file {file} must hold a mapping of parameter names to values, got {type(data).__name__}."
        )
    return data


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Valid key names at a location of the schema (for 'did you mean')."""
    model: Any = UseCase
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
        # Optional sub-models (e.g. model.search): look inside the union for the model class
        model = next((arg for arg in getattr(model, "__args__", ()) if hasattr(arg, "model_fields")), model)
    return list(getattr(model, "model_fields", {}))


def _describe(error: ErrorDetails) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    path = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        name = str(loc[-1])
        valid = _fields_at(loc[:-1])
        return f"unknown key '{path}'.{did_you_mean(name, valid)} Valid keys here: {', '.join(valid)}."
    if error["type"] == "missing":
        return f"missing required key '{path}'."
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc:
        return message
    if error["type"] in ("literal_error", "enum"):
        got = error.get("input")
        expected = error.get("ctx", {}).get("expected", "")
        hint = did_you_mean(str(got), re.findall(r"'([^']+)'", expected))
        return f"'{path}' must be one of {expected}. Got {got!r} instead.{hint}"
    return f"'{path}': {message}"


def _leaf_problem(value: str | int) -> str | None:
    """Strings: at most :data:`MAX_STRING` characters, no control characters or lone surrogates. Integers: 64-bit."""
    if isinstance(value, int):
        return None if -(2**63) <= value < 2**63 else "an integer beyond the 64-bit range; give a smaller number"
    if len(value) > MAX_STRING:
        return f"{len(value):,} characters is longer than the {MAX_STRING:,} allowed; shorten it"
    bad = bad_character(value)
    return f"holds {bad}; remove it" if bad else None


def data_problems(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    """What makes a parameter mapping more than plain, bounded data, with key paths: non-plain values (bytes, sets,
    objects), NaN and infinities (anywhere, free-form ``model.params`` too), strings over :data:`MAX_STRING`
    characters or holding control characters, integers beyond 64 bits, nesting deeper than :data:`~millpond.config.injection.MAX_DEPTH`, and runtime parameters
    (window, run_id, ...) that are not strings or integers."""
    problems = list(iter_problems(data, (), 0, _leaf_problem))
    for name in RUNTIME_PARAMETERS:
        if name in data and type(data[name]) in (list, dict, float, bool):  # other non-plain types: named above
            problems.append(((name,), f"must be a string; got a {type(data[name]).__name__}"))
    return problems


def _problem_lines(found: list[tuple[Loc, str]], errors: list[ErrorDetails]) -> list[str]:
    """Every problem once: the data checks' first, then the schema's not at (or under) a path already named."""
    lines = [f"'{dotted(loc) or '(top level)'}': {message}" for loc, message in found]
    for error in errors:
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if not any(loc[: len(seen)] == seen for seen, _ in found):
            lines.append(_describe(error))
    return lines


def validate_use_case(data: dict[str, Any], *, source: str = "parameters") -> UseCase:
    """Validate a mapping against :class:`UseCase`, raising one :class:`ParamsError` listing every problem.

    The mapping must be plain, bounded data (:func:`data_problems`); runtime parameters (``window``, ``run_id``,
    ``run_dir``, ``workspace``) may be present and are not part of the use case.
    """
    if not isinstance(data, dict):
        raise ParamsError(f"{source} must be a mapping of parameter names to values, got {type(data).__name__}.")
    found = data_problems(data)
    payload = {k: v for k, v in data.items() if k not in RUNTIME_PARAMETERS}
    remember(secrets_of(data))  # masked from then on in every log and record this process writes
    errors: list[ErrorDetails] = []
    try:
        use_case = UseCase.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors()
    lines = _problem_lines(found, errors)
    if lines:
        shown = lines[:MAX_LISTED] + ([f"... and {len(lines) - MAX_LISTED} more"] if len(lines) > MAX_LISTED else [])
        raise ParamsError(f"{source} has {len(lines)} problem(s):\n" + "\n".join(f"  - {line}" for line in shown))
    return use_case


def check_injected(namespace: dict[str, Any], *, source: str = "notebook parameters") -> UseCase:
    """Re-validate the parameters a stage notebook received (its globals) before anything runs.

    The stage entry (``stages.run`` via :meth:`UseCase.from_namespace`) calls this: the use-case fields and the
    runtime parameters in ``namespace`` must be plain data (no bytes, sets or objects, no NaN, bounded strings, see
    :func:`data_problems`) and validate against the schema, so values injected by something other than millpond's
    translator (a plain papermill without millpond's entry point, an edited notebook) are refused with a
    :class:`ParamsError` naming each one. Other globals (modules, IPython's) are not looked at.
    """
    names = (*UseCase.model_fields, *RUNTIME_PARAMETERS)
    return validate_use_case({name: namespace[name] for name in names if name in namespace}, source=source)


def is_use_case_name(value: object) -> bool:
    """A use-case name: at most :data:`MAX_NAME` letters, digits, '-' or '_', starting with a letter, not 'raw'
    (it names folders, run ids, locks and files, so no newline, space or path separator)."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_NAME
        and NAME_PATTERN.fullmatch(value) is not None
        and value != "raw"
    )


def load_use_case(path: str | os.PathLike[str]) -> UseCase:
    """Read and validate a use-case YAML file."""
    return validate_use_case(read_yaml(path), source=str(path))


def check_window(window: str) -> str:
    """Validate a window label (no path separators; e.g. '2025-03')."""
    if not isinstance(window, str) or not WINDOW_PATTERN.match(window):
        raise ParamsError(f"window must be a label such as '2025-03' (letters, digits, '-', '_', '.'); got {window!r}.")
    return window


def params_file(ws: Workspace, params_path: str | os.PathLike[str]) -> Path:
    """The use-case YAML ``params_path`` names (relative to the workspace), refused when it does not exist.

    Refused before anything runs or is recorded: a misspelt path names no use case, so nothing may be filed
    under it. The message suggests the closest file in the workspace's params/ folder.
    """
    path = ws.resolve(params_path)
    if path.is_file():
        return path
    files = sorted(p for p in ws.params.glob("*.y*ml") if p.is_file()) if ws.params.is_dir() else []
    by_name = {p.name: ws.relative(p) for p in files}
    closest = did_you_mean(path.name, by_name)  # by file name, shown as the path to pass
    hint = "".join(
        f" Did you mean '{shown}'?" for name, shown in by_name.items() if closest == did_you_mean(name, [name])
    )
    listed = ", ".join(by_name.values()) or f"none yet in {ws.relative(ws.params)}/"
    raise ParamsError(
        f"Parameter file {params_path} does not exist.{hint} "
        f"Pass an existing use-case file with --params (use cases: {listed})."
    )


def _window_shape(label: str) -> str:
    """'2025-03' -> '9999-99': what a window looks like, digit and letter runs by length."""
    return re.sub(r"[A-Za-z]", "a", re.sub(r"[0-9]", "9", label))


def _month_of(label: str) -> str | None:
    """'2025-5', '2025/05', '202505' -> '2025-05'; None when the label holds no year and month."""
    match = re.fullmatch(r"(\d{4})[-_./]?(\d{1,2})", label)
    if match is None or not 1 <= int(match[2]) <= 12:
        return None
    return f"{match[1]}-{int(match[2]):02d}"


def check_window_format(window: str, known: Iterable[str], *, monthly: bool = False, use_case: str = "") -> str:
    """Refuse a ``window`` that does not look like the use case's windows (``known``: the windows it has data for).

    The windows of a monthly use case (``monthly``, or every known window a 'YYYY-MM' month) must be months;
    otherwise a window must be shaped like one of the known ones (digits and letters in the same places).
    With no known window and no monthly calendar only :func:`check_window` applies. The error suggests the
    closest known window ('2025-5' -> '2025-05').
    """
    check_window(window)
    labels = sorted(set(known))
    if window in labels:
        return window
    months = monthly or (bool(labels) and all(MONTH_PATTERN.match(w) for w in labels))
    if months and MONTH_PATTERN.match(window):
        return window
    if not months and (not labels or _window_shape(window) in {_window_shape(w) for w in labels}):
        return window
    month = _month_of(window) if months else None  # '2025-5' -> '2025-05', preferred when it has data
    if month and (month in labels or not labels):
        hint = f" Did you mean '{month}'?"
    else:
        hint = did_you_mean(window, labels) or (f" Did you mean '{month}'?" if month else "")
    owner = f" of use case {use_case!r}" if use_case else ""
    example = labels[-1] if labels else "2025-03"
    expected = f"months 'YYYY-MM' such as {example!r}" if months else f"labels shaped like {example!r}"
    have = f" Windows with data: {labels[0]} … {labels[-1]} ({len(labels)})." if labels else ""
    raise ParamsError(f"Window {window!r} does not fit the windows{owner}: they are {expected}.{hint}{have}")
