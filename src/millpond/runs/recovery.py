"""Sealing run folders whose process died before recording them: "interrupted", never taken for tampering.

A run folder without a manifest is *unfinished*: its stage is running now, or the process running it was killed.
:func:`seal_interrupted` records the dead ones as failed runs (error :data:`INTERRUPTED`), with secrets scrubbed
from what the folder holds and from the manifest, and leaves the live ones alone.

Whose a folder is comes from what the run wrote, never from its id (``<time>-<use_case>-<window>-<hex>`` cannot be
split when a use case name contains ``-``): the ``.claim.json`` that :meth:`RunStore.prepare` writes (use case,
window, kind, PID, host), else the parameters papermill wrote into the half-written notebook. A folder that names
neither is left unfinished (``verify`` notes it). A folder is live when the process that claimed it still runs on
this machine, or when another process holds its use case's lock (a papermill-kind run holds it in its kernel).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.config.secrets import redact_url
from millpond.errors import LockedError
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.runner import scrub_notebook
from millpond.runs.store import RunRecord, RunStore, read_claim
from millpond.store.lock import CycleLock, process_alive, read_holder
from millpond.workspace import Workspace

log = logging.getLogger(__name__)
INTERRUPTED = (
    "interrupted: the process running this stage died before recording it (killed, crashed or the machine went down)"
)
_SCRUBBED = ("notebook.ipynb", "kernel.log")  # the text files a killed stage leaves that may hold its parameters


@dataclass(frozen=True)
class Unfinished:
    """A run folder without a manifest, and whose it is (``use_case`` None: it names no use case)."""

    run_id: str
    path: Path
    use_case: str | None
    window: str | None
    stage: str
    claim: dict[str, Any]
    params: dict[str, Any]


def _notebook_parameters(notebook: Path) -> dict[str, Any]:
    """The parameters papermill recorded in a (possibly half-written) notebook; ``{}`` when it does not parse."""
    if not notebook.is_file():
        return {}
    import json

    try:
        parameters = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]["papermill"]["parameters"]
    except (OSError, ValueError, KeyError, TypeError):  # a half-written notebook may not parse
        return {}
    return dict(parameters) if isinstance(parameters, dict) else {}


def unfinished_runs(runs: RunStore) -> list[Unfinished]:
    """Every run folder without a manifest, with the use case and window its claim (or notebook) names."""
    found = []
    for run_id, path in sorted(runs.unfinished().items()):
        claim, params = read_claim(path), _notebook_parameters(path / "notebook.ipynb")
        use_case = claim.get("use_case") or params.get("use_case")
        window = claim.get("window") or params.get("window")
        stage = str(claim.get("stage") or path.name.partition("-")[2])
        found.append(
            Unfinished(
                run_id,
                path,
                use_case if isinstance(use_case, str) and use_case else None,
                str(window) if window else None,
                stage,
                claim,
                params,
            )
        )
    return found


def live_reason(ws: Workspace, run: Unfinished) -> str:
    """Why ``run`` may still be running ('' when its process is gone and nobody else holds its use case's lock)."""
    pid, host = run.claim.get("pid"), run.claim.get("host")
    if isinstance(pid, int) and pid != os.getpid():
        if host not in (None, socket.gethostname()):
            return f"it was started on host {host}: its process cannot be checked from here"
        if process_alive(pid):
            return f"its process (PID {pid}) is still running"
    holder = read_holder(ws, run.use_case) if run.use_case else None
    if holder and holder.get("pid") != os.getpid():
        return f"the lock of {run.use_case!r} is held by PID {holder.get('pid')} ({holder.get('command', '')})"
    return ""


def seal_interrupted(
    ws: Workspace, use_case: str | None = None, *, holding_lock: bool = False, by: str = "scheduler"
) -> list[RunRecord]:
    """Record the dead unfinished runs of ``use_case`` (None: of every use case) as failed, interrupted ones.

    ``holding_lock``: the caller holds ``use_case``'s lock (a cycle's start). Otherwise each use case's lock is
    taken for its sealing, and a use case whose lock is held is left alone (a run of it is live).
    """
    runs = RunStore(ws.runs)
    mine = [u for u in unfinished_runs(runs) if u.use_case and u.window and (use_case in (None, u.use_case))]
    sealed: list[RunRecord] = []
    for name in sorted({u.use_case for u in mine if u.use_case}):
        group = [u for u in mine if u.use_case == name and not live_reason(ws, u)]
        if not group:
            continue
        if holding_lock and name == use_case:
            sealed += [_seal(ws, runs, u, by) for u in group]
            continue
        try:
            with CycleLock(ws, name, command=f"millpond: sealing interrupted runs of {name}"):
                sealed += [_seal(ws, runs, u, by) for u in group]
        except LockedError as exc:
            log.info("unfinished runs of %s left alone: %s", name, exc)
    return sealed


def _scrub(path: Path, params: dict[str, Any]) -> None:
    """Hide the secret values of ``params`` in a file a killed stage left, and every URL password in its text
    (a half-written notebook may not parse, so its parameters may be unknown)."""
    if not path.is_file():
        return
    scrub_notebook(path, params)
    text = path.read_text(encoding="utf-8", errors="replace")
    clean = redact_url(text)
    if clean != text:
        path.write_text(clean, encoding="utf-8")


def _seal(ws: Workspace, runs: RunStore, run: Unfinished, by: str) -> RunRecord:
    """Scrub the secrets a killed stage may have left in its folder, then record it as failed (interrupted)."""
    from millpond.governance.events import notify_event

    for name in _SCRUBBED:
        _scrub(run.path / name, run.params)
    started = datetime.fromtimestamp(run.path.stat().st_mtime, UTC)
    kind = run.claim.get("kind")
    manifest = RunManifest(
        use_case=str(run.use_case),
        window=str(run.window),
        stage=run.stage,
        status="failed",
        timings=RunTimings.between(started, datetime.now(UTC)),
        params=run.params,
        error=INTERRUPTED,
        scraps={"kind": kind} if kind else {},
        extra={"interrupted": True, "recorded_by": by, **({"kind": kind} if kind else {})},
    )
    record = runs.record(run.path, manifest, repo_dir=ws.root)
    notify_event(ws, "interrupted_run_recorded", use_case=run.use_case, run_id=record.run_id, window=run.window)
    return record
