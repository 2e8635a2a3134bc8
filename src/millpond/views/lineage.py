"""Lineage of a model version: model -> training run -> mart versions -> ingest runs -> raw sources, and code.

Each link is resolved through its store (``ModelStore``, ``RunStore``, ``MartStore``)
and checked where a hash was recorded, so the chain says both where a model came
from and whether every piece is still what it was.
"""

from __future__ import annotations

from typing import Any

from millpond.errors import MartVersionNotFoundError, RunNotFoundError
from millpond.marts.store import MartStore
from millpond.models.store import ModelStore
from millpond.runs.store import RunStore
from millpond.store.files import sha256_file
from millpond.workspace import Workspace


def _run(runs: RunStore, run_id: str | None) -> dict[str, Any] | None:
    """A run's identity, status and code version, or a note saying why it cannot be found."""
    if not run_id:
        return None
    try:
        record = runs.get(run_id)
    except RunNotFoundError:
        return {"run_id": run_id, "found": False, "note": "not in the runs index (run outside `millpond run`/`cycle`?)"}
    code = record.run_manifest.code or {}
    return {
        "run_id": record.run_id,
        "found": True,
        "stage": record.stage,
        "window": record.window,
        "status": record.status,
        "started_at": record.started_at,
        "notebook": str(record.path / "notebook.ipynb"),
        "code_commit": code.get("commit"),
        "code_dirty": code.get("dirty"),
    }


def trace_lineage(ws: Workspace, name: str, ref: str = "champion") -> dict[str, Any]:
    """The full chain behind ``name@ref`` as a JSON-ready mapping."""
    store, runs, marts = ModelStore(ws.model_store), RunStore(ws.runs), MartStore(ws.feature_marts)
    version = store.get(name, ref)
    meta = version.metadata
    mart_name = str(meta.use_case or name)
    mart_links = []
    for item in meta.training_marts:
        link: dict[str, Any] = {
            "mart": mart_name,
            "version": item["version"],
            "window": item.get("window"),
            "recorded_sha256": item.get("sha256"),
        }
        try:
            mart = marts.get(mart_name, item["version"])
        except MartVersionNotFoundError:
            link.update(found=False, note="mart version no longer in the store")
            mart_links.append(link)
            continue
        actual = sha256_file(mart.data_path) if mart.data_path.exists() else None
        link.update(
            found=True,
            rows=mart.rows,
            path=ws.relative(mart.path),
            data_intact=actual == item.get("sha256") == mart.sha256,
            created_at=mart.manifest.created_at,
            source=mart.manifest.source,
            ingest_run=_run(runs, mart.manifest.run_id),
        )
        mart_links.append(link)
    aliases = sorted(alias for alias, target in store.aliases(name).items() if target == version.version)
    return {
        "model": {
            "name": name,
            "version": version.version,
            "aliases": aliases,
            "sha256": version.sha256,
            "created_at": version.created_at,
            "family": meta.family,
            "trained_for_window": meta.trained_for_window,
        },
        "training_run": _run(runs, meta.run_id),
        "code": meta.code,
        "marts": mart_links,
    }


def lineage_lines(lineage: dict[str, Any]) -> list[str]:
    """The chain as an indented text tree for the terminal."""
    model, run, code = lineage["model"], lineage["training_run"], lineage.get("code") or {}
    alias = f" ({', '.join(model['aliases'])})" if model["aliases"] else ""
    lines = [
        f"model {model['name']}@{model['version']}{alias}  {model['family']}  trained for {model['trained_for_window']}  sha256 {model['sha256'][:16]}…"
    ]
    commit = f"{code.get('commit') or 'unknown'}{' (dirty)' if code.get('dirty') else ''}"
    lines.append(f"  code commit {commit}")
    lines.append("  training run " + _run_text(run))
    for mart in lineage["marts"]:
        if not mart.get("found"):
            lines.append(f"    mart {mart['mart']}@{mart['version']}  MISSING: {mart.get('note')}")
            continue
        intact = "sha256 ok" if mart["data_intact"] else "sha256 MISMATCH (data altered)"
        lines.append(
            f"    mart {mart['mart']}@{mart['version']}  window {mart['window']}  {mart['rows']} rows  {intact}"
        )
        lines.append("      ingest run " + _run_text(mart.get("ingest_run")))
        source = mart.get("source") or {}
        where = source.get("path") or source.get("query") or source.get("url") or "unknown"
        digest = f"  sha256 {source['sha256'][:16]}…" if source.get("sha256") else ""
        lines.append(f"        source {where}{digest}")
    return lines


def _run_text(run: dict[str, Any] | None) -> str:
    if run is None:
        return "(none recorded)"
    if not run.get("found"):
        return f"{run['run_id']}  ({run['note']})"
    commit = run.get("code_commit") or "unknown"
    return f"{run['run_id']}  {run['status']}  code {commit[:12]}{' (dirty)' if run.get('code_dirty') else ''}"
