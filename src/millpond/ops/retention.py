"""Retention: ``millpond gc`` removes what the policy allows, ``millpond du`` shows what takes the space.

Something is removable only when it is older than ``keep_days`` AND not among the
newest ``keep_versions`` of its kind AND not protected. Protected, always: the model
versions behind any alias (champion, challenger, previous) or a pending approval, the
mart versions they were trained on, the run cycles that produced them, and the mart
versions the next training needs. gc holds each use case's cycle lock (a running
cycle makes it skip that use case) and appends every removal to ``logs/retention.jsonl`` (a
:class:`~millpond.store.log.JsonLinesLog`: a line torn by a crash is skipped and cut off by the next append).

A removal is crash-safe: it is logged first (once: a removal logged by a killed gc is not logged again), then
its folder leaves its store with one rename into ``.gc-trash/`` at the workspace root (so no half-deleted mart,
model or run is ever visible), then the trash is deleted. A gc killed anywhere leaves at most a folder in the
trash, which the next gc deletes first.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from millpond.config.params import UseCase
from millpond.errors import CycleLockedError, MillpondError
from millpond.governance.events import notify_event
from millpond.marts.store import MartStore
from millpond.models.store import ModelStore
from millpond.ops.scheduler import load_params
from millpond.ops.status import open_approvals
from millpond.runs.store import RunStore
from millpond.store.checkpoint import checkpoint
from millpond.store.lock import CycleLock
from millpond.store.log import JsonLinesLog
from millpond.workspace import Workspace

LOG_FILE = "retention.jsonl"
TRASH = ".gc-trash"  # at the workspace root: removed folders wait here, out of every store, until deleted


def retention_log(ws: Workspace) -> JsonLinesLog:
    """The log of every removal gc made, oldest first (``logs/retention.jsonl``)."""
    return JsonLinesLog(ws.logs / LOG_FILE)


@dataclass
class Removal:
    kind: str  # run_cycle, mart_version, model_version, capture
    use_case: str
    ref: str
    path: Path
    bytes: int
    created: str


@dataclass
class GcReport:
    removals: list[Removal] = field(default_factory=list)
    kept: dict[str, list[str]] = field(default_factory=dict)  # protected refs, with why
    skipped: list[str] = field(default_factory=list)  # use cases not collected, with why


def size_of(path: Path) -> int:
    """Bytes under ``path`` (files only; symlinks not followed)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _removable(
    items: list[tuple[str, datetime]], keep_versions: int, cutoff: datetime, protected: set[str]
) -> list[str]:
    """Refs older than ``cutoff``, not among the newest ``keep_versions``, not protected."""
    newest_first = sorted(items, key=lambda item: item[1], reverse=True)
    return [
        ref
        for index, (ref, created) in enumerate(newest_first)
        if index >= keep_versions and created < cutoff and ref not in protected
    ]


def plan_gc(
    ws: Workspace,
    params_path: str,
    *,
    keep_days: int | None = None,
    keep_versions: int | None = None,
    now: datetime | None = None,
) -> tuple[list[Removal], dict[str, list[str]]]:
    """What gc would remove for one use case, and what it keeps because of lineage."""
    use_case = load_params(ws, params_path)
    days = use_case.retention.keep_days if keep_days is None else keep_days
    keep = use_case.retention.keep_versions if keep_versions is None else keep_versions
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    kept = _protected(ws, use_case, keep)
    why = {
        "models": [f"{v}: {r}" for v, r in kept.models.items()],
        "marts": [f"{v}: {r}" for v, r in kept.marts.items()],
        "cycles": [f"{c}: {r}" for c, r in kept.cycles.items()],
    }
    name = use_case.use_case
    removals = _version_removals(ws, name, kept, keep, cutoff)
    removals += _cycle_removals(ws, name, kept, keep, cutoff)
    removals += _capture_removals(ws, name, keep, cutoff)
    return removals, why


@dataclass
class _Protected:
    """What gc keeps whatever its age, each with why: aliased and pending model versions and their lineage."""

    models: dict[str, str] = field(default_factory=dict)
    marts: dict[str, str] = field(default_factory=dict)
    cycles: dict[str, str] = field(default_factory=dict)


def _protected(ws: Workspace, use_case: UseCase, keep: int) -> _Protected:
    name = use_case.use_case
    models, marts = ModelStore(ws.model_store), MartStore(ws.feature_marts)
    kept = _Protected()
    versions = models.versions(name) if (ws.model_store / name / "versions").is_dir() else []
    if versions:
        for alias, target in models.aliases(name).items():
            kept.models.setdefault(target, f"alias {alias}")
    approvals = open_approvals(ws, name)
    for entry in approvals:
        kept.models.setdefault(str(entry.candidate), f"pending approval ({entry.window})")
    for version in versions:
        if version.version not in kept.models:
            continue
        reason = f"lineage of {name}@{version.version} ({kept.models[version.version]})"
        for mart in version.metadata.training_marts:
            kept.marts.setdefault(str(mart.get("version")), reason)
        if version.metadata.run_id:
            kept.cycles.setdefault(str(version.metadata.run_id).split("/")[0], reason)
    for entry in approvals:
        if entry.run_id:
            kept.cycles.setdefault(entry.run_id.split("/")[0], "pending approval")
    windows = sorted({v.window for v in marts.versions(name)})[-max(use_case.training.windows, keep) :]
    for window in windows:
        kept.marts.setdefault(marts.latest(name, window).version, "needed by the next training")
    return kept


def _version_removals(ws: Workspace, name: str, kept: _Protected, keep: int, cutoff: datetime) -> list[Removal]:
    models, marts = ModelStore(ws.model_store), MartStore(ws.feature_marts)
    versions = models.versions(name) if (ws.model_store / name / "versions").is_dir() else []
    removals = []
    for ref in _removable([(v.version, _utc(v.created_at)) for v in versions], keep, cutoff, set(kept.models)):
        version = next(v for v in versions if v.version == ref)
        removals.append(Removal("model_version", name, ref, version.path, size_of(version.path), version.created_at))
    mart_versions = marts.versions(name)
    for ref in _removable(
        [(v.version, _utc(v.manifest.created_at)) for v in mart_versions], keep, cutoff, set(kept.marts)
    ):
        found = next(v for v in mart_versions if v.version == ref)
        removals.append(Removal("mart_version", name, ref, found.path, size_of(found.path), found.manifest.created_at))
    return removals


def _cycle_removals(ws: Workspace, name: str, kept: _Protected, keep: int, cutoff: datetime) -> list[Removal]:
    cycles: dict[str, str] = {}
    for record in RunStore(ws.runs).list(use_case=name):
        cycles[record.cycle_id] = max(cycles.get(record.cycle_id, ""), str(record.finished_at))
    return [
        Removal("run_cycle", name, ref, ws.runs / ref, size_of(ws.runs / ref), cycles[ref])
        for ref in _removable([(c, _utc(t)) for c, t in cycles.items()], keep, cutoff, set(kept.cycles))
    ]


def _capture_removals(ws: Workspace, name: str, keep: int, cutoff: datetime) -> list[Removal]:
    captures_dir = ws.model_store / name / "captures"
    captures = [
        (p.name, datetime.fromtimestamp(p.stat().st_mtime, UTC)) for p in captures_dir.glob("window=*") if p.is_dir()
    ]
    removals = []
    for ref in _removable(captures, keep, cutoff, set()):
        path = captures_dir / ref
        created = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
        removals.append(Removal("capture", name, ref, path, size_of(path), created))
    return removals


def _writable(path: Path) -> None:
    """Let the owner delete everything under ``path`` (run records and versions are sealed read-only)."""
    for folder in [path, *(p for p in path.rglob("*") if p.is_dir() and not p.is_symlink())]:
        folder.chmod(folder.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)


def _rmtree(path: Path) -> None:
    """Delete ``path`` file by file, bottom up (the kill point ``gc-deleting`` comes after the first file)."""
    _writable(path)
    first = True
    for top, folders, files in os.walk(path, topdown=False):
        for entry in [*files, *(f for f in folders if os.path.islink(os.path.join(top, f)))]:
            os.unlink(os.path.join(top, entry))
            if first:
                checkpoint("gc-deleting")
                first = False
        os.rmdir(top)


def trash_dir(ws: Workspace) -> Path:
    """Where gc moves a folder before deleting it (``.gc-trash/`` at the workspace root)."""
    return ws.root / TRASH


def empty_trash(ws: Workspace) -> list[str]:
    """Delete what a killed gc left in the trash; the names deleted."""
    trash = trash_dir(ws)
    if not trash.is_dir():
        return []
    left = sorted(p.name for p in trash.iterdir())
    for name in left:
        path = trash / name
        if path.is_dir() and not path.is_symlink():
            _rmtree(path)
        else:
            path.unlink()
    return left


def _hide(ws: Workspace, path: Path) -> Path | None:
    """Move ``path`` out of its store into the trash with one rename (None: another file system, so in place)."""
    trash = trash_dir(ws)
    trash.mkdir(exist_ok=True)
    hidden = trash / f"{path.parent.name}-{path.name}-{os.getpid()}"
    try:
        os.rename(path, hidden)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        return None
    return hidden


def collect(
    ws: Workspace,
    *,
    keep_days: int | None = None,
    keep_versions: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> GcReport:
    """Apply the retention policy of every use case in ``params/``."""
    report = GcReport()
    if not dry_run:
        empty_trash(ws)  # what a killed gc left
    for params in sorted(p for p in ws.params.glob("*.y*ml") if p.is_file()):
        relative = ws.relative(params)
        try:
            name = load_params(ws, relative).use_case
            with CycleLock(ws, name, command="millpond gc"):
                removals, why = plan_gc(ws, relative, keep_days=keep_days, keep_versions=keep_versions, now=now)
                report.kept.update({f"{name} {k}": v for k, v in why.items()})
                if not dry_run:
                    _apply(ws, removals)
                report.removals += removals
        except CycleLockedError as exc:
            report.skipped.append(f"{relative}: {str(exc).splitlines()[0]}")
        except MillpondError as exc:
            report.skipped.append(f"{relative}: {str(exc).splitlines()[0]}")
    return report


def _apply(ws: Workspace, removals: list[Removal]) -> None:
    runs = RunStore(ws.runs)
    log = retention_log(ws)
    logged = {(e.get("kind"), e.get("use_case"), e.get("ref"), e.get("created")) for e in log.entries()}
    for removal in removals:
        if (removal.kind, removal.use_case, removal.ref, removal.created) not in logged:  # a killed gc's, once
            log.append(_removal_entry(ws, removal))
        checkpoint("gc-logged")
        if removal.kind == "run_cycle":
            with runs._connect(write=True) as con:
                con.execute("DELETE FROM runs WHERE cycle_id = ?", (removal.ref,))
        if removal.path.exists():
            hidden = _hide(ws, removal.path)
            checkpoint("gc-hidden")
            _rmtree(hidden if hidden is not None else removal.path)
    if removals:
        notify_event(ws, "gc", removed=len(removals), bytes=sum(r.bytes for r in removals))


def _removal_entry(ws: Workspace, removal: Removal) -> dict[str, Any]:
    return {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "action": "removed",
        "kind": removal.kind,
        "use_case": removal.use_case,
        "ref": removal.ref,
        "path": ws.relative(removal.path),
        "bytes": removal.bytes,
        "created": removal.created,
    }


def _usage(ws: Workspace, what: str, path: Path, items: int) -> dict[str, Any]:
    """One row of ``millpond du``."""
    return {"what": what, "path": ws.relative(path), "items": items, "bytes": size_of(path)}


def _subfolders(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_dir())


def _files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def disk_usage(ws: Workspace) -> list[dict[str, Any]]:
    """What takes the space, biggest first: runs per use case, mart versions, raw data, models, captures, logs."""
    rows: list[dict[str, Any]] = []
    if ws.runs.is_dir():
        per_use_case: dict[str, list[Path]] = {}
        for record in RunStore(ws.runs).list():
            per_use_case.setdefault(record.use_case, [])
            if (ws.runs / record.cycle_id) not in per_use_case[record.use_case]:
                per_use_case[record.use_case].append(ws.runs / record.cycle_id)
        for name, folders in per_use_case.items():
            rows.append(
                {
                    "what": f"runs ({name})",
                    "path": ws.relative(ws.runs),
                    "items": len(folders),
                    "bytes": sum(size_of(f) for f in folders),
                }
            )
    for folder in sorted(ws.feature_marts.glob("*/versions")):
        rows.append(_usage(ws, f"mart versions ({folder.parent.name})", folder, _subfolders(folder)))
    if ws.raw.is_dir():
        rows.append(_usage(ws, "raw data", ws.raw, _files(ws.raw)))
    for model in sorted(p for p in ws.model_store.glob("*") if p.is_dir()):
        for part in ("versions", "captures"):
            folder = model / part
            if folder.is_dir():
                rows.append(_usage(ws, f"model {part} ({model.name})", folder, _subfolders(folder)))
    if ws.logs.is_dir():
        rows.append(_usage(ws, "logs", ws.logs, _files(ws.logs)))
    return sorted(rows, key=lambda r: r["bytes"], reverse=True)


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
