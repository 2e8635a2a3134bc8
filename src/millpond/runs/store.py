"""Immutable run records: one folder per executed stage notebook, and a SQLite index to query them.

``runs/<cycle_id>/<NN>-<stage>/`` holds ``notebook.ipynb``, ``outputs/`` and ``manifest.json``;
``runs/index.sqlite`` has one row per run. ``RunStore.prepare`` makes the folder, the executor
writes into it, ``RunStore.record`` writes the manifest once, makes every file read-only and
adds the index row last, so a crash leaves a folder that ``verify`` notes and ``reindex`` adds.

The index is derived data: :meth:`RunStore.reindex` (``millpond runs reindex``) rebuilds it from the run
folders, from scratch when ``index.sqlite`` is missing or does not read (the damaged file is kept beside it as
``index.sqlite.corrupt``). It never rewrites a row whose manifest hash differs from the record's: that row is
the evidence ``verify`` reports as tampering.
"""

from __future__ import annotations

import builtins
import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.config.secrets import redact, redact_text, scrub_files, secrets_of
from millpond.errors import RunError, RunIntegrityError, RunNotFoundError, did_you_mean
from millpond.runs.entities import RunManifest, utc
from millpond.runs.provenance import code_version, package_versions
from millpond.store.checkpoint import checkpoint
from millpond.store.files import (
    atomic_write_text,
    make_read_only,
    read_json,
    sha256_bytes,
    sha256_file,
    storage_error,
)
from millpond.store.refs import matching_ids, shown_ids
from millpond.store.verify import VerifyReport

STATUSES = ("succeeded", "failed", "skipped")
MANIFEST = "manifest.json"
CLAIM = ".claim.json"  # written by prepare(): who runs the folder (use case, window, kind, PID); removed by record()
INDEX = "index.sqlite"
CORRUPT_SUFFIX = ".corrupt"  # a damaged index is moved to index.sqlite.corrupt before it is rebuilt
SCHEMA_VERSION = 2  # PRAGMA user_version of the index (2 added row_key)
BUSY_SECONDS = 60.0
_COLUMNS = (
    "run_id",
    "cycle_id",
    "stage",
    "use_case",
    "window",
    "status",
    "started_at",
    "finished_at",
    "duration_s",
    "error",
    "skip_reason",
    "scraps_json",
    "manifest_sha256",
    "row_key",
)
_QUOTED = ", ".join(f'"{c}"' for c in _COLUMNS)  # the column list in SQL ("window" is a keyword)
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY, cycle_id TEXT NOT NULL, stage TEXT NOT NULL, use_case TEXT NOT NULL,
        "window" TEXT NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,
        duration_s REAL NOT NULL, error TEXT, skip_reason TEXT, scraps_json TEXT NOT NULL,
        manifest_sha256 TEXT NOT NULL, row_key TEXT NOT NULL DEFAULT '')""",
    'CREATE INDEX IF NOT EXISTS runs_by_use_case ON runs (use_case, "window", stage, started_at)',
    "CREATE INDEX IF NOT EXISTS runs_by_cycle ON runs (cycle_id)",
)


def _check_name(value: object, what: str) -> str:
    text = str(value)
    if not text or text in (".", "..") or any(sep in text for sep in ("/", "\\", os.sep)) or not text.isprintable():
        raise RunError(f"The {what} must be a non-empty name without path separators. Got {text!r} instead.")
    return text


def claim_note(claim: dict[str, Any], stage: str) -> dict[str, Any]:
    """A run folder's claim: ``claim`` (use case, window, kind) with the stage, this process's PID, host and time."""
    return {
        **claim,
        "stage": stage,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def read_claim(run_dir: Path) -> dict[str, Any]:
    """The claim :meth:`RunStore.prepare` wrote into an unfinished run folder (``{}``: none, or unreadable)."""
    try:
        claim = read_json(run_dir / CLAIM)
    except (OSError, ValueError):
        return {}
    return claim if isinstance(claim, dict) else {}


def unfinished_note(folder: str, claim: dict[str, Any]) -> str:
    """What verify says of a run folder without a manifest: unfinished, not tampered with (a crash is no attack)."""
    whose = f" of {claim['use_case']!r}" if claim.get("use_case") else ""
    return (
        f"{folder} is an unfinished run{whose} (no manifest yet: its stage is still running, or its process died "
        "before recording it); `millpond verify --repair` or the next run of the use case seals it as interrupted"
    )


def new_cycle_id(use_case: str, window: str, now: datetime | None = None) -> str:
    """``<YYYYmmddTHHMMSSZ>-<use_case>-<window>-<4 hex>``: sorts by time, unique per cycle."""
    _check_name(use_case, "use case")
    _check_name(window, "window")
    stamp = utc(now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{use_case}-{window}-{secrets.token_hex(2)}"


class _LazyManifest:
    """``RunRecord.manifest``: read from the run folder on first use, so listing runs stays index-only."""

    def __get__(self, record: RunRecord | None, owner: type | None = None) -> Any:
        if record is None:
            return None  # the dataclass default
        if record.__dict__.get("_manifest") is None:
            path = Path(record.path) / MANIFEST
            try:
                record.__dict__["_manifest"] = read_json(path)
            except (OSError, ValueError) as exc:
                raise RunIntegrityError(
                    f"{path} cannot be read ({exc}): check the run records with `millpond runs verify`."
                ) from exc
        return record.__dict__["_manifest"]

    def __set__(self, record: RunRecord, value: dict[str, Any] | None) -> None:
        record.__dict__["_manifest"] = value


@dataclass(repr=False)
class RunRecord:
    """One executed stage notebook: what ran, how it ended, and where its record lives."""

    run_id: str
    cycle_id: str
    stage: str
    use_case: str
    window: str
    status: str  # 'succeeded' | 'failed' | 'skipped'
    started_at: str  # ISO 8601, UTC
    finished_at: str
    duration_s: float
    path: Path  # the run folder
    manifest: dict[str, Any] = _LazyManifest()  # type: ignore[assignment]
    scraps: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skip_reason: str | None = None

    def __repr__(self) -> str:
        return f"RunRecord({self.run_id!r}, status={self.status!r})"

    @property
    def run_manifest(self) -> RunManifest:
        """The manifest as a typed entity (read from the run folder on first use, like ``manifest``)."""
        return RunManifest.from_dict(self.manifest)

    @property
    def params(self) -> dict[str, Any]:
        """The run's parameters, secrets hidden (from the manifest)."""
        return self.run_manifest.params

    @property
    def reason(self) -> str:
        """Why the stage did what it did (the manifest's ``extra.reason``), '' when it gave none."""
        return self.run_manifest.reason


ADHOC_KIND = "cli"  # scraps["kind"] (and extra["kind"]) of a run recorded by a command outside any cycle
# scraps["kind"] of a stage notebook that recorded its own run (plain papermill or nbclient; Jupyter with commit=True)
NOTEBOOK_KINDS = ("papermill", "interactive")


def is_adhoc(record: RunRecord) -> bool:
    """Whether ``record`` ran outside any cycle (``millpond score``, a stage notebook run by plain papermill, nbclient
    or Jupyter) rather than as a cycle's stage; read from the index only.

    Readers that mean "the use case's last cycle" (status, the params diff) skip these.
    """
    return (record.scraps or {}).get("kind") in (ADHOC_KIND, *NOTEBOOK_KINDS)


@dataclass
class Reindexed:
    """What :meth:`RunStore.reindex` did to the index, by run id (``lines()`` says it for the command line)."""

    index: str  # the index file, relative to the workspace
    added: builtins.list[str] = field(default_factory=builtins.list)  # records the index lacked
    removed: builtins.list[str] = field(default_factory=builtins.list)  # rows whose run folder is gone
    refreshed: builtins.list[str] = field(default_factory=builtins.list)  # rows that differed from their manifest
    kept: dict[str, str] = field(default_factory=dict)  # rows left as they are for verify to report, and why
    sealed: builtins.list[str] = field(default_factory=builtins.list)  # unfinished runs sealed as interrupted
    swept: builtins.list[str] = field(default_factory=builtins.list)  # staging left by dead writers, removed
    skipped: dict[str, str] = field(default_factory=dict)  # folders whose manifest does not read, and why
    rebuilt: str = ""  # why the index was rebuilt from scratch ('' when it was updated in place)

    def lines(self) -> builtins.list[str]:
        """One line per change and per row or folder left for ``verify``, then a closing count."""
        out = [f"rebuilt {self.index} from the run records: {self.rebuilt}"] if self.rebuilt else []
        out += [f"added {run_id}" for run_id in self.added]
        out += [f"removed {run_id} (its run folder is gone)" for run_id in self.removed]
        out += [f"refreshed {run_id} (its row differed from its manifest)" for run_id in self.refreshed]
        out += [f"sealed {run_id} as interrupted (its process had died)" for run_id in self.sealed]
        out += [f"swept {path} (staging left by a writer that died)" for path in self.swept]
        out += [f"kept {run_id}: {why}" for run_id, why in self.kept.items()]
        out += [f"skipped {run_id}: {why}" for run_id, why in self.skipped.items()]
        out.append(
            f"{self.index}: {len(self.added)} added, {len(self.removed)} removed, {len(self.refreshed)} refreshed"
            + (
                f"; {len(self.kept) + len(self.skipped)} left for `millpond runs verify`"
                if self.kept or self.skipped
                else ""
            )
        )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "rebuilt": self.rebuilt,
            "added": list(self.added),
            "removed": list(self.removed),
            "refreshed": list(self.refreshed),
            "swept": list(self.swept),
            "kept": dict(self.kept),
            "sealed": list(self.sealed),
            "skipped": dict(self.skipped),
        }


def _damage(exc: sqlite3.Error) -> bool:
    """Whether an SQLite error says the index file is damaged (not busy, locked, or a caller's mistake)."""
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return False
    return isinstance(exc, sqlite3.DatabaseError) and getattr(exc, "sqlite_errorcode", None) not in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )


def _stat_key(st: os.stat_result) -> str:
    """What changes whenever a manifest's file does: size, modification and inode-change times, inode."""
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def _row_key(row: dict[str, Any] | sqlite3.Row, stat_key: str) -> str:
    """The key ``runs list`` trusts an index row by: its values and its manifest's file, as they were indexed.

    A row edited in the index, or a manifest written, replaced, restored or copied since (its ctime changes
    with every write, rename and chmod), no longer has its key, and is listed from the manifest instead.
    """
    values = "\x1f".join(str(row[c]) for c in _COLUMNS if c != "row_key")
    return sha256_bytes(f"{values}\x1e{stat_key}".encode())


def _row(
    run_id: str, manifest: dict[str, Any], manifest_sha256: str, stat: os.stat_result | None = None
) -> dict[str, Any]:
    """The index row of a manifest; with the manifest file's ``stat``, its ``row_key`` (else '': never trusted)."""
    timings = manifest["timings"]
    row = {
        "run_id": run_id,
        "cycle_id": run_id.split("/")[0],
        "stage": manifest["stage"],
        "use_case": manifest["use_case"],
        "window": manifest["window"],
        "status": manifest["status"],
        "started_at": timings["started_at"],
        "finished_at": timings["finished_at"],
        "duration_s": float(timings["duration_s"]),
        "error": manifest.get("error"),
        "skip_reason": manifest.get("skip_reason"),
        "scraps_json": json.dumps(manifest.get("scraps") or {}, sort_keys=True),
        "manifest_sha256": manifest_sha256,
        "row_key": "",
    }
    if stat is not None:
        row["row_key"] = _row_key(row, _stat_key(stat))
    return row


_UNREADABLE = (OSError, ValueError, KeyError, TypeError)  # what a manifest that does not read as one raises


def _manifest_row(run_id: str, manifest_path: str | os.PathLike[str], *, hashed: bool) -> dict[str, Any]:
    """The index row a manifest file gives; with ``hashed`` its sha256 (of the bytes read) and its ``row_key``,
    else both '' (listing needs neither). Raises one of ``_UNREADABLE`` when the file does not read."""
    with open(manifest_path, "rb") as fh:
        data = fh.read()
    if not hashed:
        return _row(run_id, json.loads(data), "")
    return _row(run_id, json.loads(data), sha256_bytes(data), os.stat(manifest_path))


def _use_wal(con: sqlite3.Connection) -> None:
    """Switch the index to WAL (readers never block the one writer), retrying while another process holds it.

    SQLite does not call the busy handler for the exclusive lock a journal-mode change takes, so two processes
    opening a new index at once could see "database is locked" here; the mode is persistent, so this runs once.
    """
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            if con.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
        if time.monotonic() > deadline:
            raise RunError("the run index stayed locked by another process for a minute: try again.")
        time.sleep(0.05)


def _subdirs(folder: str | os.PathLike[str]) -> builtins.list[os.DirEntry[str]]:
    """The folders directly in ``folder``, by name."""
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if e.is_dir()), key=lambda e: e.name)


class RunStore:
    """The run records under one ``runs/`` folder and their index."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.index_path = self.root / INDEX

    def _rel(self, path: Path) -> str:
        try:
            return Path(path).relative_to(self.root.parent).as_posix()
        except ValueError:
            return str(path)

    # --- index ----------------------------------------------------------------
    @contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection to the index (one write transaction with ``write``); a damaged index names its cure."""
        try:
            with self._open(write=write) as con:
                yield con
        except sqlite3.Error as exc:
            if not _damage(exc):
                raise
            raise RunIntegrityError(
                f"{self._rel(self.index_path)} does not read ({exc}). The index is derived from the run records: "
                "rebuild it with `millpond runs reindex`."
            ) from exc

    @contextmanager
    def _open(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        self.root.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.index_path, timeout=BUSY_SECONDS, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
            self._migrate(con)
            if not write:
                yield con
                return
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def _migrate(self, con: sqlite3.Connection) -> None:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise RunError(
                f"{self._rel(self.index_path)} has schema version {version}, newer than this millpond "
                f"reads ({SCHEMA_VERSION}): upgrade millpond."
            )
        con.execute("BEGIN IMMEDIATE")  # waits on the busy handler: one process creates the schema
        if con.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:  # another process may have won
            for statement in _SCHEMA:
                con.execute(statement)
            if "row_key" not in {r[1] for r in con.execute("PRAGMA table_info(runs)")}:  # a version 1 index
                con.execute("ALTER TABLE runs ADD COLUMN row_key TEXT NOT NULL DEFAULT ''")
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("COMMIT")
        _use_wal(con)

    @staticmethod
    def _insert(con: sqlite3.Connection, row: dict[str, Any], *, replace: bool = False) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        con.execute(
            f"{verb} INTO runs ({_QUOTED}) VALUES ({', '.join('?' * len(_COLUMNS))})", [row[c] for c in _COLUMNS]
        )

    def _record(self, row: sqlite3.Row | dict[str, Any]) -> RunRecord:
        return RunRecord(
            run_id=row["run_id"],
            cycle_id=row["cycle_id"],
            stage=row["stage"],
            use_case=row["use_case"],
            window=row["window"],
            status=row["status"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            duration_s=row["duration_s"],
            path=Path(os.path.join(self.root, row["run_id"])),  # one parse, not a join of two Paths
            scraps=json.loads(row["scraps_json"]),
            error=row["error"],
            skip_reason=row["skip_reason"],
        )

    # --- writing --------------------------------------------------------------
    def prepare(self, cycle_id: str, order: int, stage: str, *, claim: dict[str, Any] | None = None) -> Path:
        """Create and return the empty run folder ``<cycle_id>/<NN>-<stage>``; refuse one that exists.

        ``claim`` (use case, window, kind) is written into the folder as ``.claim.json`` with this process's PID
        and host: what recovery reads to tell whose an unfinished folder is and whether its process still runs
        (a run id is never split into names: a use case may contain ``-``). :meth:`record` removes it.
        """
        _check_name(cycle_id, "cycle id")
        _check_name(stage, "stage")
        if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= 99:
            raise RunError(f"The stage order must be an integer from 0 to 99. Got {order!r} instead.")
        run_dir = self.root / cycle_id / f"{order:02d}-{stage}"
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError as exc:
            raise RunError(
                f"Run folder {self._rel(run_dir)} already exists: run records are never overwritten; "
                "start a new cycle (a new cycle id) to run the stage again."
            ) from exc
        except OSError as exc:  # a read-only or full disk: name the folder
            raise storage_error(run_dir, "create the run folder", exc) from exc
        if claim is not None:
            atomic_write_text(run_dir / CLAIM, json.dumps(claim_note(claim, stage), sort_keys=True) + "\n")
        return run_dir

    def record(
        self, run_dir: str | os.PathLike[str], manifest: RunManifest, *, repo_dir: str | os.PathLike[str] | None = None
    ) -> RunRecord:
        """Write the manifest once, make the run folder's files read-only, then add the index row.

        ``manifest`` describes the run; the store fills in its run and cycle id (from ``run_dir``), the sha256 of
        every file of the folder and the code (git, of ``repo_dir``, default the workspace) and package versions,
        and hides secrets in its params, error, scraps and extra.
        """
        run_dir = Path(run_dir)
        manifest_path = self._check_unrecorded(run_dir, manifest)
        checkpoint("record-started")
        (run_dir / CLAIM).unlink(missing_ok=True)
        scrub_files(run_dir.rglob("*"), secrets_of(manifest.params or {}))  # every path: ran, failed, interrupted
        files = self._files(run_dir)
        sealed = self._seal(run_dir, manifest, files, repo_dir)
        atomic_write_text(manifest_path, sealed.to_json(), read_only=True)
        for path in files.values():
            make_read_only(path)
        checkpoint("record-manifest-written")
        return self._index(sealed, manifest_path)

    def _check_unrecorded(self, run_dir: Path, manifest: RunManifest) -> Path:
        """The manifest path of a prepared, not yet recorded run folder of ``manifest``'s stage; raises otherwise."""
        if manifest.status not in STATUSES:
            raise RunError(f"The run status must be one of {set(STATUSES)}. Got {manifest.status!r} instead.")
        if not run_dir.is_dir() or run_dir.parent.parent.resolve() != self.root.resolve():
            raise RunError(f"{run_dir} is not a run folder under {self.root}: create it with RunStore.prepare().")
        if run_dir.name.partition("-")[2] != manifest.stage:
            raise RunError(f"Run folder {self._rel(run_dir)} was prepared for another stage than {manifest.stage!r}.")
        manifest_path = run_dir / MANIFEST
        if manifest_path.exists():
            raise RunError(f"{self._rel(manifest_path)} already exists: a run is recorded once and never rewritten.")
        return manifest_path

    def _seal(
        self, run_dir: Path, manifest: RunManifest, files: dict[str, Path], repo_dir: str | os.PathLike[str] | None
    ) -> RunManifest:
        """``manifest`` as recorded: ids, file hashes, code and packages filled in, secrets hidden, JSON-normalised."""
        secrets = secrets_of(manifest.params or {})
        return replace(
            manifest,
            run_id=f"{run_dir.parent.name}/{run_dir.name}",
            cycle_id=run_dir.parent.name,
            error=redact_text(manifest.error, secrets) if manifest.error else manifest.error,
            params=redact(manifest.params or {}, secrets),
            inputs=redact(dict(manifest.inputs or {}), secrets),
            outputs=redact(dict(manifest.outputs or {}), secrets),
            files={name: sha256_file(path) for name, path in files.items()},
            code=code_version(repo_dir if repo_dir is not None else self.root.parent),
            packages=package_versions(),
            scraps=redact(manifest.scraps or {}, secrets),
            extra=redact(manifest.extra or {}, secrets),
        ).normalised()

    def _index(self, manifest: RunManifest, manifest_path: Path) -> RunRecord:
        """Add the index row of a written manifest; return its record."""
        data = manifest.to_dict()
        row = _row(manifest.run_id, data, sha256_file(manifest_path), manifest_path.stat())
        with self._connect(write=True) as con:
            self._insert(con, row, replace=True)  # a reindex running meanwhile may have added this very row
        record = self._record(row)
        record.manifest = data
        return record

    def reindex(self) -> Reindexed:
        """Make the index match the run records: every run folder with a manifest, nothing else.

        Adds records the index lacks (a crash between manifest and index row), removes rows whose run folder is
        gone, refreshes rows that differ from their manifest. A missing or damaged ``index.sqlite`` is rebuilt from
        scratch (the damaged file moved aside to ``index.sqlite.corrupt``), never trusted over the records. A row
        whose manifest hash differs from the record's, or whose manifest is gone, is kept: it is the evidence
        ``verify`` reports. A folder whose manifest does not read is skipped (``verify`` reports it too).
        """
        done = Reindexed(self._rel(self.index_path))
        if not self.index_path.exists():
            done.rebuilt = "it was missing"
        elif damage := self._index_damage():
            self._set_aside()
            done.rebuilt = f"it did not read ({damage}); the damaged file is kept as {done.index}{CORRUPT_SUFFIX}"
        with self._connect(write=True) as con:
            rows = {r["run_id"]: dict(r) for r in con.execute("SELECT * FROM runs")}
            on_disk = self._run_dirs()
            for run_id, row in rows.items():
                self._reindex_row(con, done, row, on_disk.get(run_id))
            for run_id, run_dir in on_disk.items():
                if run_id not in rows and (run_dir / MANIFEST).is_file():
                    fresh = self._fresh_row(done, run_id, run_dir)
                    if fresh is not None:
                        self._insert(con, fresh)
                        done.added.append(run_id)
        return done

    def _reindex_row(self, con: sqlite3.Connection, done: Reindexed, row: dict[str, Any], run_dir: Path | None) -> None:
        """Bring one index row in line with its run folder (``None``: the folder is gone)."""
        run_id = row["run_id"]
        if run_dir is None:
            con.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            done.removed.append(run_id)
            return
        manifest_path = run_dir / MANIFEST
        if not manifest_path.is_file():
            done.kept[run_id] = f"{self._rel(manifest_path)} is missing"
            return
        if sha256_file(manifest_path) != row["manifest_sha256"]:
            done.kept[run_id] = f"{self._rel(manifest_path)} differs from the hash its index row recorded (tampering?)"
            return
        fresh = self._fresh_row(done, run_id, run_dir)
        if fresh is None or fresh == {c: row[c] for c in _COLUMNS}:
            return
        self._insert(con, fresh, replace=True)
        if any(fresh[c] != row[c] for c in _COLUMNS if c != "row_key"):
            done.refreshed.append(run_id)  # a new row_key alone (a copied workspace, an old index) is no news

    def _fresh_row(self, done: Reindexed, run_id: str, run_dir: Path) -> dict[str, Any] | None:
        """The index row a run folder's manifest gives (None, and noted in ``done``, when it does not read)."""
        manifest_path = run_dir / MANIFEST
        try:
            return _manifest_row(run_id, manifest_path, hashed=True)
        except _UNREADABLE as exc:
            done.skipped[run_id] = f"{self._rel(manifest_path)} is not a readable run manifest ({exc!r})"
            return None

    def _index_damage(self) -> str:
        """Why ``index.sqlite`` cannot be used ('' when it reads, or does not exist yet)."""
        if not self.index_path.exists():
            return ""
        try:
            with self._open() as con:
                check = [r[0] for r in con.execute("PRAGMA quick_check")]
                if check != ["ok"]:
                    return f"SQLite's integrity check says: {'; '.join(map(str, check[:3]))}"
                con.execute(f"SELECT {_QUOTED} FROM runs LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            if not _damage(exc):
                raise
            return str(exc)
        return ""

    def _set_aside(self) -> None:
        """Move a damaged index (and its WAL files) to ``index.sqlite.corrupt[-wal|-shm]``, replacing older ones."""
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{self.index_path}{suffix}")
            if path.exists():
                os.replace(path, f"{self.index_path}{CORRUPT_SUFFIX}{suffix}")

    # --- reading --------------------------------------------------------------
    def list(
        self,
        *,
        use_case: str | None = None,
        window: str | None = None,
        stage: str | None = None,
        cycle_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[RunRecord]:
        """Runs matching every filter given, newest first, read from the index only."""
        filters = {"use_case": use_case, "window": window, "stage": stage, "cycle_id": cycle_id, "status": status}
        given = {k: v for k, v in filters.items() if v is not None}
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(f'"{k}" = ?' for k in given) if given else "")
        sql += " ORDER BY started_at DESC, rowid DESC" + (" LIMIT ?" if limit is not None else "")
        args = [*given.values(), *([int(limit)] if limit is not None else [])]
        with self._connect() as con:
            return [self._record(row) for row in con.execute(sql, args)]

    def get(self, run_id: str) -> RunRecord:
        """The run with this id, or the only one a piece of an id names (:func:`millpond.store.refs.matching_ids`)."""
        query = str(run_id).strip()
        with self._connect() as con:
            row = con.execute("SELECT * FROM runs WHERE run_id = ?", (query,)).fetchone()
            if row is not None:  # the exact id, without reading every id
                return self._record(row)
            ids = [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY run_id")]
            matches = matching_ids(query, ids)
            if len(matches) == 1:
                return self._record(con.execute("SELECT * FROM runs WHERE run_id = ?", (matches[0],)).fetchone())
        if matches:
            raise RunNotFoundError(
                f"Run id {query!r} is ambiguous: it matches {len(matches)} runs ({shown_ids(matches)}). "
                "Give more of the id; `millpond runs list` shows them."
            )
        choices = ids + sorted({i.rsplit("/", 1)[-1] for i in ids})
        raise RunNotFoundError(
            f"No run {query!r} in {self._rel(self.index_path)}.{did_you_mean(query, choices)} "
            "See the run ids with `millpond runs list`."
        )

    def latest(self, use_case: str, window: str, stage: str, status: str | None = "succeeded") -> RunRecord | None:
        """The newest run of a stage for a use case and window (with ``status``, unless it is None)."""
        found = self.list(use_case=use_case, window=window, stage=stage, status=status, limit=1)
        return found[0] if found else None

    def cycle(self, cycle_id: str) -> builtins.list[RunRecord]:
        """The runs of one cycle, in stage order."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM runs WHERE cycle_id = ? ORDER BY run_id", (cycle_id,)).fetchall()
        return [self._record(row) for row in rows]

    # --- checking -------------------------------------------------------------
    def _run_dirs(self) -> dict[str, Path]:
        """Every ``<cycle>/<run>`` folder under the root, by run id, in id order (scandir: no stat per entry)."""
        return {run_id: Path(path) for run_id, path in self._run_dir_paths().items()}

    def _run_dir_paths(self) -> dict[str, str]:
        """:meth:`_run_dirs` as plain strings (listing 10,000 folders pays for no ``Path`` objects)."""
        if not self.root.is_dir():
            return {}
        out = {}
        for cycle in _subdirs(self.root):
            for run in _subdirs(cycle.path):
                out[f"{cycle.name}/{run.name}"] = run.path
        return out

    def unfinished(self) -> dict[str, Path]:
        """Run folders without a manifest (a stage running now, or one whose process died), by run id."""
        return {run_id: path for run_id, path in self._run_dirs().items() if not (path / MANIFEST).exists()}

    @staticmethod
    def _files(run_dir: Path) -> dict[str, Path]:
        """Every file of a run folder but its manifest, by path relative to the folder."""
        return {
            p.relative_to(run_dir).as_posix(): p
            for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p != run_dir / MANIFEST
        }

    def _check_files(self, report: VerifyReport, run_dir: Path) -> None:
        manifest_path = run_dir / MANIFEST
        try:
            recorded: dict[str, str] = dict(read_json(manifest_path)["files"])
        except (OSError, ValueError, KeyError, TypeError):
            report.add(self._rel(manifest_path), "is not a readable run manifest: restore it from a backup.")
            return
        actual = self._files(run_dir)
        for name, digest in sorted(recorded.items()):
            path = run_dir / name
            if name not in actual:
                report.add(
                    self._rel(path),
                    "is missing although its manifest records it: restore it from a backup or re-run the stage.",
                )
            elif sha256_file(path) != digest:
                report.add(
                    self._rel(path),
                    "was altered after it was recorded (its sha256 differs from the manifest): "
                    "restore it from a backup or re-run the stage.",
                )
        for name in sorted(set(actual) - set(recorded)):
            report.add(
                self._rel(run_dir / name), "was added after the run was recorded: remove it, run records are immutable."
            )

    def verify(self) -> VerifyReport:
        """Every way the run records differ from what was recorded (``report.ok``: nothing was altered).

        A record the index lacks is a note (``reindex`` adds it), its files still checked against its manifest;
        an index row whose manifest hash differs from the record's is a problem. A damaged index is a problem too,
        and every record is then checked against its own manifest.
        """
        damage = self._index_damage()
        indexed: dict[str, str] = {}
        if not damage:
            with self._connect() as con:
                indexed = {r[0]: r[1] for r in con.execute("SELECT run_id, manifest_sha256 FROM runs ORDER BY run_id")}
        report = VerifyReport(f"run records under {self._rel(self.root)}", checked=len(indexed))
        if damage:
            report.add(
                self._rel(self.index_path),
                f"does not read ({damage}): the index is derived from the run records, "
                "rebuild it with `millpond runs reindex`.",
            )
        for run_id, digest in indexed.items():
            self._check_indexed(report, run_id, digest)
        if not damage:
            self._check_rows(report)
        for run_id, run_dir in self._run_dirs().items():
            if run_id not in indexed:
                self._check_unindexed(report, run_id, run_dir, note=not damage)
        return report

    def _check_unindexed(self, report: VerifyReport, run_id: str, run_dir: Path, *, note: bool) -> None:
        """A run folder without an index row: a record to note and check, or a folder that was never recorded."""
        manifest_path = run_dir / MANIFEST
        if not manifest_path.is_file():
            sealed = [p for p in self._files(run_dir).values() if not p.stat().st_mode & 0o222]
            if sealed and not (run_dir / CLAIM).exists():  # record() seals files read-only: this one was recorded
                report.add(
                    self._rel(manifest_path),
                    "is missing from a recorded run (its files are sealed read-only) and so is its index row: "
                    "restore both from a backup.",
                )
                return
            report.note(unfinished_note(self._rel(run_dir), read_claim(run_dir)))
            return
        report.checked += 1
        try:
            _manifest_row(run_id, manifest_path, hashed=False)  # a manifest the index can be built from
        except _UNREADABLE:
            report.add(self._rel(manifest_path), "is not a readable run manifest: restore it from a backup.")
            return
        if note:
            report.note(
                f"{self._rel(run_dir)} is not indexed (a crash between its manifest and the index write?): "
                "`millpond runs reindex` adds it"
            )
        self._check_files(report, run_dir)

    def _check_indexed(self, report: VerifyReport, run_id: str, digest: str) -> None:
        run_dir, manifest_path = self.root / run_id, self.root / run_id / MANIFEST
        if not run_dir.is_dir():
            report.add(self._rel(run_dir), "is in the index but its folder is gone: restore it from a backup.")
        elif not manifest_path.is_file():
            report.add(self._rel(manifest_path), "is missing: restore it from a backup or re-run the stage.")
        else:
            if sha256_file(manifest_path) != digest:
                report.add(
                    self._rel(manifest_path),
                    "was altered (its sha256 differs from the index): restore it from a backup or re-run the stage.",
                )
            self._check_files(report, run_dir)

    # --- the records over the index (issue 14: a corrupt index is never trusted over them) ------------------------
    def records(
        self,
        *,
        use_case: str | None = None,
        window: str | None = None,
        stage: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[RunRecord]:
        """Runs matching every filter given, newest first: the run folders on disk, each as its manifest says.

        What ``millpond runs list`` shows: the truth even when ``index.sqlite`` is damaged, emptied or has a row
        changed (``millpond verify`` reports that, ``--repair`` rebuilds it). An index row is used only while its
        ``row_key`` still matches its values and its manifest's file (size, mtime, ctime, inode); any other folder
        is read from its manifest, so listing 10,000 records costs a select and a stat each, not 10,000 parses.
        A folder whose manifest does not read is left out (verify reports it too)."""
        wanted = {"use_case": use_case, "window": window, "stage": stage, "status": status}
        given = {k: v for k, v in wanted.items() if v is not None}
        rows = [row for row in self._listed_rows() if all(row[k] == v for k, v in given.items())]
        rows.sort(key=lambda row: (str(row["started_at"]), row["run_id"]), reverse=True)
        return [self._record(row) for row in rows[: limit if limit is not None else len(rows)]]

    def _listed_rows(self) -> builtins.list[dict[str, Any]]:
        """A row per run folder with a readable manifest: its index row where its key holds, else the manifest's."""
        indexed = self._index_rows()
        rows = []
        for run_id, run_dir in self._run_dir_paths().items():
            manifest_path = os.path.join(run_dir, MANIFEST)
            try:
                st = os.stat(manifest_path)
                row = indexed.get(run_id)
                if row is None or row["row_key"] != _row_key(row, _stat_key(st)):
                    row = _manifest_row(run_id, manifest_path, hashed=False)
            except _UNREADABLE:
                continue
            rows.append(row)
        return rows

    def _index_rows(self) -> dict[str, dict[str, Any]]:
        """Every index row that reads, by run id; {} when the index is missing, of another version or damaged.

        Never creates, migrates or repairs the index (listing writes nothing); every row is still checked against
        its manifest's file by :meth:`_listed_rows` before it is shown."""
        if not self.index_path.is_file():
            return {}
        try:
            con = sqlite3.connect(f"{self.index_path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_SECONDS)
        except sqlite3.Error:
            return {}
        try:
            con.row_factory = sqlite3.Row
            if con.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                return {}
            return {r["run_id"]: dict(r) for r in con.execute(f"SELECT {_QUOTED} FROM runs")}
        except sqlite3.Error as exc:
            if _damage(exc):
                return {}
            raise
        finally:
            con.close()

    def _manifest_rows(self) -> dict[str, dict[str, Any]]:
        """The index row each readable manifest gives, by run id, its ``manifest_sha256`` from the bytes read."""
        rows = {}
        for run_id, run_dir in self._run_dir_paths().items():
            try:
                rows[run_id] = _manifest_row(run_id, os.path.join(run_dir, MANIFEST), hashed=True)
            except _UNREADABLE:
                continue
        return rows

    def _check_rows(self, report: VerifyReport) -> None:
        """Report each index row that says other than its run's (unaltered) manifest: the index was changed."""
        truth = self._manifest_rows()  # each manifest read once, its hash from the same bytes
        with self._connect() as con:
            rows = [dict(r) for r in con.execute(f"SELECT {_QUOTED} FROM runs ORDER BY run_id")]
        for row in rows:
            fresh = truth.get(row["run_id"])
            if fresh is None or fresh["manifest_sha256"] != row["manifest_sha256"]:
                continue  # a missing, unreadable or altered manifest: reported by _check_indexed
            changed = [c for c in _TRUSTED_COLUMNS if row[c] != fresh[c]]
            if changed:
                report.add(
                    self._rel(self.index_path),
                    f"row {row['run_id']} says {', '.join(f'{c}={row[c]!r}' for c in changed)} but its manifest "
                    f"says {', '.join(f'{c}={fresh[c]!r}' for c in changed)}: the index is derived from the run "
                    "records, rebuild it with `millpond verify --repair` (or `millpond runs reindex`).",
                )


_TRUSTED_COLUMNS = ("stage", "use_case", "window", "status", "started_at", "finished_at", "error", "skip_reason")
