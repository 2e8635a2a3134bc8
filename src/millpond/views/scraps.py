"""What a cycle's stage notebooks glued, keyed by stage: :func:`read_cycle`.

scrapbook's ``read_notebooks(path)`` reads the notebooks of one folder; a cycle keeps each executed notebook one
level deeper, ``runs/<cycle_id>/<NN>-<stage>/notebook.ipynb``, beside the manifest that pins its sha256. So::

    import millpond
    cycle = millpond.read_cycle("20260101T000000Z-churn-2025-03-ab12")   # or a unique part of the id
    cycle["train"].summary["metrics"]            # what the train notebook glued as its summary
    cycle["drift"].scraps                        # every name the drift notebook glued, with its value
    list(cycle)                                  # the stages that ran, in cycle order

Each notebook is read with scrapbook after its bytes are checked against the manifest (a changed notebook raises
:class:`~millpond.errors.RunIntegrityError`). A stage with no notebook in its record (one the runner skipped
without starting a kernel, or a run recorded by a kernel papermill started elsewhere) gives the scraps its
manifest recorded. Reads only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from millpond.errors import RunIntegrityError, RunNotFoundError, did_you_mean
from millpond.runs.store import RunRecord, RunStore
from millpond.store.files import sha256_file
from millpond.workspace import Workspace

NOTEBOOK = "notebook.ipynb"


@dataclass(frozen=True)
class StageScraps:
    """One stage's glued values: the ones every stage notebook glues as fields, all of them in ``scraps``."""

    stage: str
    run_id: str
    status: str  # succeeded | failed | skipped (from the run record)
    reason: str
    summary: dict[str, Any]
    scraps: dict[str, Any]  # every glued name -> value
    notebook: Path | None  # the executed notebook read; None: the scraps came from the manifest

    def __getitem__(self, name: str) -> Any:
        return self.scraps[name]


@dataclass(frozen=True)
class CycleScraps(Mapping[str, StageScraps]):
    """A cycle's :class:`StageScraps` by stage name, in the order the stages ran."""

    cycle_id: str
    use_case: str
    window: str
    stages: dict[str, StageScraps] = field(default_factory=dict)

    def __getitem__(self, stage: str) -> StageScraps:
        try:
            return self.stages[stage]
        except KeyError:
            ran = ", ".join(self.stages) or "none"
            raise KeyError(f"Cycle {self.cycle_id} has no {stage!r} stage (stages recorded: {ran}).") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.stages)

    def __len__(self) -> int:
        return len(self.stages)


def _cycle_id(store: RunStore, query: str) -> str:
    """The one cycle id equal to, or else containing, ``query``."""
    ids = sorted({r.cycle_id for r in store.list()})
    if query in ids:
        return query
    matches = [i for i in ids if query and query in i]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise RunNotFoundError(
            f"Cycle id {query!r} is ambiguous: it matches {', '.join(matches[:5])}. Give more of it."
        )
    raise RunNotFoundError(
        f"No cycle {query!r} in the runs index.{did_you_mean(query, ids)} See the cycle ids with `millpond runs list`."
    )


def _notebook_scraps(record: RunRecord) -> tuple[dict[str, Any], Path | None]:
    """The glued values of the record's notebook (checked against its manifest), else the manifest's scraps."""
    path = Path(record.path) / NOTEBOOK
    recorded = (record.manifest.get("files") or {}).get(NOTEBOOK)
    if not path.is_file() or not recorded:
        return dict(record.manifest.get("scraps") or record.scraps or {}), None
    if sha256_file(path) != recorded:
        raise RunIntegrityError(
            f"{path} does not match the sha256 its manifest recorded: the notebook was changed after the run. "
            "`millpond runs verify` lists what else changed."
        )
    from millpond.runs.kernel_imports import skip_unused_format_checkers

    skip_unused_format_checkers()
    import scrapbook as sb

    return {name: scrap.data for name, scrap in sb.read_notebook(str(path)).scraps.items()}, path


def _stage_scraps(record: RunRecord) -> StageScraps:
    scraps, notebook = _notebook_scraps(record)
    summary = scraps.get("summary")
    return StageScraps(
        stage=record.stage,
        run_id=record.run_id,
        status=record.status,
        reason=str(scraps.get("reason") or record.reason or ""),
        summary=dict(summary) if isinstance(summary, dict) else {},
        scraps=scraps,
        notebook=notebook,
    )


def read_cycle(cycle_id: str, workspace: Workspace | str | os.PathLike[str] | None = None) -> CycleScraps:
    """The scraps of every stage notebook of one cycle (a full id or a unique part of one), keyed by stage.

    The workspace is found from the current directory upwards unless given. Raises
    :class:`~millpond.errors.RunNotFoundError` for an unknown cycle (with the closest ids) and
    :class:`~millpond.errors.RunIntegrityError` for a notebook changed after its run."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    store = RunStore(ws.runs)
    found = _cycle_id(store, str(cycle_id).strip())
    records = store.cycle(found)
    stages = {record.stage: _stage_scraps(record) for record in records}
    first = records[0]
    return CycleScraps(cycle_id=found, use_case=first.use_case, window=first.window, stages=stages)
