# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (millpond)
#     language: python
#     name: millpond
# ---

# %% [markdown]
# # Promote
#
# Compares the window's candidate with the champion on the same held-out labelled rows, switches the `champion` alias atomically (keeping `previous`) when the policy says so, then smoke-tests the new champion.
#
# Run by `millpond run`/`millpond cycle`, by plain papermill with a use-case YAML (recorded as its own locked run, kind `papermill`), or top to bottom here: read-only with `commit = False`, a recorded, locked run (kind `interactive`) with `commit = True`.
#
# **Run here with the defaults** (against the demo workspace, `millpond demo`), it shows what the policy would decide for the window's candidate (or, when none is stored, for the one train would fit) against the champion, with the paired comparison; no decision recorded, no alias moved; in a workspace without that data it says what to run first.

# %% tags=["parameters"]
window: str = "2025-03"  # window to process, e.g. 2025-03
use_case: str = 'churn'  # use-case name; also the mart and model name
description: str = 'Monthly customer churn (embedded synthetic demo data)'  # what the use case is
task: str = 'classification'  # classification or regression
source: dict = {'path': 'feature_marts/raw/churn/churn_{window}.csv'}  # raw source: path with {window}, or url + query
key: str = 'customer_id'  # unique key of a row
target: str = 'churned'  # label column
columns: dict = {'customer_id': 'str', 'tenure_months': 'int', 'contract': 'str', 'internet_service': 'str', 'payment_method': 'str', 'region': 'str', 'senior_citizen': 'int', 'monthly_charges': 'float', 'total_charges': 'float', 'support_calls': 'int', 'churned': 'int'}  # expected raw columns and their dtypes
features: "Optional[list]" = None  # default None: every column but key and target
categorical: "Optional[list]" = None  # default None: the str and bool features
model: dict = {'family': 'hist_gradient_boosting', 'params': {'max_iter': 200, 'learning_rate': 0.08}}  # model family and hyperparameters
training: dict = {'windows': 2, 'holdout_fraction': 0.25}  # which windows a candidate trains on
retrain: dict = {'on_data_drift': True, 'on_model_drift': True}  # when the train stage fits a candidate
drift: dict = {'kpi_tolerance': 0.02}  # drift thresholds (defaults in millpond.config.params.DriftThresholds)
promotion: dict = {'metric': 'roc_auc', 'min_improvement': 0.0, 'approval': 'auto'}  # how a candidate wins
scoring: dict = {'batch_rows': 100000, 'challenger_mode': 'shadow', 'split_fraction': 0.1, 'smoke_latency_ms': 2000}  # record batches, challenger shadow/split, smoke test budget
mart: "Optional[dict]" = None  # default None: extra sources, transform, load mode, data contract
schedule: dict = {'catch_up': True, 'max_windows': 12, 'retries': 2, 'backoff_seconds': 30}  # unattended runs: due windows, catch-up, retries
retention: dict = {'keep_days': 90, 'keep_versions': 5}  # what millpond gc may remove
notify: dict = {}  # notifications: email (SMTP) and webhook; credentials as ${ENV} only
engine: dict = {'kind': 'local'}  # where stages compute: local (this process), or {kind: dask, scheduler: ...}
slices: dict = {'columns': [], 'min_rows': 100}  # KPI per value of these columns, e.g. [region, contract]
run_id: str = ""  # set by the millpond runner
run_dir: str = ""  # set by the millpond runner: where outputs are recorded
workspace: str = ""  # default: found from the current directory upwards
commit: bool = False  # interactive (JupyterLab): True records and writes as a locked run; False writes nothing

# %%
from millpond.runs import stages
from millpond.views import plots

result = stages.run("promote", globals())
result.display()

# %% tags=["glue"]
result.glue()
