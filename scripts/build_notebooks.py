"""Write notebooks/<stage>.ipynb from one template and the demo use case's parameters.

The stage notebooks share one parameters cell (the keys of a use-case YAML, with
the demo's values as defaults), so they are generated rather than edited by
hand: change this file or params/churn.yaml, then run `make notebooks`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WINDOW = "2025-03"

INTROS = {
    "ingest": "Reads the window's raw rows, checks columns and dtypes against the use case, and stores a "
    "content-addressed feature-mart version (Parquet + manifest).",
    "score": "Scores the window's mart with the champion; writes predictions with the model version, run id and time, "
    "and logs the champion's KPI when labels are present.",
    "drift": "Data drift per feature between the champion's training data and this window (PSI, KS, chi-square, "
    "Jensen-Shannon, normalised Wasserstein, median shift), weighted by the champion's feature importance; "
    "model drift: the champion's KPI at this window (bootstrap interval) against the two windows before it and the benchmark; "
    "the label-free CBPE estimate of ROC AUC next to the realised one.",
    "train": "Fits a candidate when the retrain policy asks for one (no champion, impactful drift, model drift or schedule), "
    "measures it on held-out rows of this window and stores it with its lineage.",
    "promote": "Compares the window's candidate with the champion on the same held-out labelled rows, switches the "
    "`champion` alias atomically (keeping `previous`) when the policy says so, then smoke-tests the new champion.",
}
PREVIEWS = {  # what a run here with the defaults shows (millpond.runs.preview), writing nothing
    "ingest": "the window's raw rows as read, their columns against the declared dtypes, and a numeric summary",
    "score": "the champion's predictions for the window and its KPI, neither captured nor logged",
    "drift": "the drift analysis of the window with its plots, the verdict not logged",
    "train": "the candidate it would fit (also when the policy would fit none, saying so): metrics, curves and "
    "importance, not saved",
    "promote": "what the policy would decide for the window's candidate (or, when none is stored, for the one train "
    "would fit) against the champion, with the paired comparison; no decision recorded, no alias moved",
}
EXTRAS = {
    "drift": 'plots.drift_impact(result.tables.get("drift per feature (by impact)"))\n'
    "plots.drift_distributions(result.data)\n"
    'plots.estimate_vs_realised(result.data.get("estimates"))\n'
    "drift_report.show_link(result.summary)",
    "train": "plots.training_report(result)",
}
COMMENTS = {
    "use_case": "use-case name; also the mart and model name",
    "description": "what the use case is",
    "task": "classification or regression",
    "source": "raw source: path with {window}, or url + query",
    "key": "unique key of a row",
    "target": "label column",
    "columns": "expected raw columns and their dtypes",
    "features": "default None: every column but key and target",
    "categorical": "default None: the str and bool features",
    "model": "model family and hyperparameters",
    "training": "which windows a candidate trains on",
    "retrain": "when the train stage fits a candidate",
    "drift": "drift thresholds (defaults in millpond.config.params.DriftThresholds)",
    "promotion": "how a candidate wins",
    "scoring": "record batches, challenger shadow/split, smoke test budget",
    "mart": "default None: extra sources, transform, load mode, data contract",
    "schedule": "unattended runs: due windows, catch-up, retries",
    "retention": "what millpond gc may remove",
    "notify": "notifications: email (SMTP) and webhook; credentials as ${ENV} only",
    "engine": "where stages compute: local (this process), or {kind: dask, scheduler: ...}",
    "slices": "KPI per value of these columns, e.g. [region, contract]",
}
# sections that default to None; quoted so that papermill's parameter inspection reads the annotation (it cannot
# parse `list | None`, and warns "Passed unknown parameter" for every such name the runner passes)
NONE_TYPES = {"mart": '"Optional[dict]"'}
# sections the demo YAML leaves out, shown with the schema's default
DEFAULTS = {"engine": {"kind": "local"}, "slices": {"columns": [], "min_rows": 100}}
TYPES = {dict: "dict", list: "list", str: "str", int: "int", float: "float", bool: "bool"}


def parameters_source(params: dict) -> str:
    lines = [f'window: str = "{DEFAULT_WINDOW}"  # window to process, e.g. 2025-03']
    for key in COMMENTS:
        value = params.get(key, DEFAULTS.get(key))
        annotation = TYPES.get(type(value), "object") if value is not None else NONE_TYPES.get(key, '"Optional[list]"')
        lines.append(f"{key}: {annotation} = {value!r}  # {COMMENTS[key]}")
    lines += [
        'run_id: str = ""  # set by the millpond runner',
        'run_dir: str = ""  # set by the millpond runner: where outputs are recorded',
        'workspace: str = ""  # default: found from the current directory upwards',
        "commit: bool = False  # interactive (JupyterLab): True records and writes as a locked run; False writes nothing",
    ]
    return "\n".join(lines)


def build(stage: str, params: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "millpond", "display_name": "Python 3 (millpond)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}  # paired: review notebooks/<stage>.py in git
    cells = [
        nbformat.v4.new_markdown_cell(
            f"# {stage.capitalize()}\n\n{INTROS[stage]}\n\n"
            "Run by `millpond run`/`millpond cycle`, by plain papermill with a use-case YAML (recorded as its own "
            "locked run, kind `papermill`), or top to bottom here: read-only with `commit = False`, a recorded, "
            "locked run (kind `interactive`) with `commit = True`.\n\n"
            f"**Run here with the defaults** (against the demo workspace, `millpond demo`), it shows {PREVIEWS[stage]}; "
            "in a workspace without that data it says what to run first."
        ),
        nbformat.v4.new_code_cell(parameters_source(params), metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            f'{"from millpond.drift import comparison_report as drift_report" + chr(10) if stage == "drift" else ""}from millpond.runs import stages\nfrom millpond.views import plots\n\nresult = stages.run("{stage}", globals())\nresult.display()'
        ),
    ]
    if stage in EXTRAS:
        cells.append(nbformat.v4.new_code_cell(EXTRAS[stage]))
    cells.append(nbformat.v4.new_code_cell("result.glue()", metadata={"tags": ["glue"]}))
    for index, cell in enumerate(cells):
        cell.id = f"{stage}-{index}"  # stable ids: regenerating gives the same file
    nb.cells = cells
    return nb


def percent_script(nb: nbformat.NotebookNode) -> str:
    """The notebook as its jupytext ``py:percent`` pair (what JupyterLab with jupytext keeps in sync)."""
    import jupytext

    return jupytext.writes(nb, fmt="py:percent")


def main() -> int:
    params = yaml.safe_load((ROOT / "params" / "churn.yaml").read_text(encoding="utf-8"))
    for stage in INTROS:
        path = ROOT / "notebooks" / f"{stage}.ipynb"
        nb = build(stage, params)
        nbformat.write(nb, path)
        paired = path.with_suffix(".py")
        paired.write_text(percent_script(nb), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)} and {paired.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
