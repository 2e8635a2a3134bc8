"""Locks that name their holder: the cycle lock, and the holder lock every store waits on.

Both write a *holder note* into the lock file while they hold it: JSON with the PID,
host, start time and command of the holder (:func:`holder_note`), so whoever is
refused can be told who holds it (:func:`describe_holder`). A clean release empties
the file, so a note found in a file just locked was left by a holder that was killed.

``logs/locks/<use_case>.lock`` (:class:`CycleLock`) is locked with ``fcntl.flock``
(exclusive, non-blocking). The kernel releases a flock when the process holding it
dies, however it dies (SIGKILL, power loss), so a lock is never "stuck": a killed
holder only leaves its note behind; the new holder says so and takes over. The
descriptor is not inherited by child processes (Jupyter kernels), so only this
process holds the lock. flock is local to one machine: keep the workspace on a
local disk, not NFS.

:class:`HolderLock` waits up to a timeout instead (a model store's ``<name>/.lock``:
saves and alias switches are short) and is re-entrant within one instance.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import filelock

from millpond.errors import CycleLockedError, LockedError
from millpond.store.files import storage_error
from millpond.workspace import Workspace


def lock_path(ws: Workspace, use_case: str) -> Path:
    """Where the lock file of ``use_case`` lives."""
    return ws.logs / "locks" / f"{use_case}.lock"


# --- holder notes ------------------------------------------------------------------------------------------------
def holder_note(command: str = "", **fields: Any) -> dict[str, Any]:
    """Who this process is, as a lock file records its holder: PID, host, start time, command (and ``fields``)."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        **fields,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command or " ".join(sys.argv),
    }


def encode_note(note: dict[str, Any]) -> bytes:
    """A holder note's bytes in the lock file (key-sorted JSON)."""
    return json.dumps(note, sort_keys=True).encode("utf-8")


def parse_note(data: bytes) -> dict[str, Any]:
    """A holder note read back: ``{}`` for an empty file, ``{"unreadable": …}`` for bytes that are not a note."""
    try:
        holder = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return {"unreadable": data[:200].decode("utf-8", "replace")}
    return holder if isinstance(holder, dict) else {}


def _read_holder(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return parse_note(data)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and waits to be reaped (Linux /proc; elsewhere: False)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]  # the state follows the command name in parentheses


def read_holder(ws: Workspace, use_case: str) -> dict[str, Any] | None:
    """Who holds the lock of ``use_case`` right now, or None when nobody does.

    Reads the holder's note without touching the lock (probing it could make a cycle
    starting at that instant see it taken); a note whose process is gone means free.
    """
    path = lock_path(ws, use_case)
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        holder = _read_holder(fd)
    finally:
        os.close(fd)
    if not holder.get("pid"):
        return None
    if holder.get("host") == socket.gethostname() and not process_alive(int(holder["pid"])):
        return None
    return holder


def describe_holder(holder: dict[str, Any]) -> str:
    """``PID 123 on host h since 2025-… running `millpond cycle …``` (what a waiting user needs to know)."""
    if not holder.get("pid"):
        return "another process (it has not written its PID yet)"
    text = f"PID {holder['pid']} on host {holder.get('host', '?')} since {holder.get('started_at', '?')}"
    return text + (f" running `{holder['command']}`" if holder.get("command") else "")


# --- the cycle lock ----------------------------------------------------------------------------------------------
@dataclass
class CycleLock:
    """Exclusive lock of one use case in one workspace; use as a context manager."""

    ws: Workspace
    use_case: str
    command: str = ""
    stale_holder: dict[str, Any] | None = field(
        default=None, init=False
    )  # set when a killed holder's lock was taken over
    _fd: int | None = field(default=None, init=False, repr=False)

    @property
    def path(self) -> Path:
        return lock_path(self.ws, self.use_case)

    def acquire(self) -> CycleLock:
        """Take the lock at once or raise :class:`CycleLockedError` naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inheritable (PEP 446)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise CycleLockedError(
                f"Use case {self.use_case!r} in {self.ws.root} is locked by {describe_holder(holder)}: another cycle "
                f"or stage run of this use case is running, this one exits without doing anything. Wait for it to "
                f"finish and start this one again (lock file {self.ws.relative(self.path)}; `millpond status` shows it)."
            ) from None
        previous = _read_holder(fd)
        self.stale_holder = previous or None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, encode_note(holder_note(self.command, use_case=self.use_case)))
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the lock file (a clean end) and unlock it."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> CycleLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


# --- the holder lock ---------------------------------------------------------------------------------------------
class HolderLock:
    """A file lock that waits up to ``timeout`` seconds, then raises ``error`` naming the holder.

    ``what`` names the locked thing in that message (``"Model 'churn'"``) and ``hint``
    says what to do about it. Re-entrant within one instance (and one thread): only the
    outermost acquire writes the holder note and only the outermost release empties it.
    """

    def __init__(
        self,
        path: Path,
        *,
        timeout: float,
        what: str,
        hint: str = "wait for it to finish or stop it, then retry.",
        error: type[LockedError] = LockedError,
    ) -> None:
        self.path = Path(path)
        self.what, self.hint, self.error = what, hint, error
        self._lock = filelock.FileLock(self.path, timeout=timeout)

    @property
    def depth(self) -> int:
        """How many times this thread holds the lock (0: not held)."""
        return int(self._lock.lock_counter)

    def holder(self) -> str:
        """Who the lock file names as its holder (a note from an older millpond is shown as written)."""
        try:
            note = parse_note(self.path.read_bytes())
        except OSError:
            note = {}
        if "unreadable" in note:
            return str(note["unreadable"]).strip() or describe_holder({})
        return describe_holder(note)

    def acquire(self) -> HolderLock:
        """Take the lock, waiting up to the timeout; raise ``error`` naming the holder when it does not come free."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except filelock.Timeout as exc:
            raise self.error(f"{self.what} is locked by {self.holder()} (lock file {self.path}); {self.hint}") from exc
        except OSError as exc:  # a read-only or full disk: name the lock file, not a bare errno
            raise storage_error(self.path, f"take the lock for {self.what}", exc) from exc
        self._note_holder()
        return self

    def _note_holder(self) -> None:
        """Write this process into the lock file as its holder (only at the outermost acquire)."""
        if self.depth == 1:
            try:
                self.path.write_bytes(encode_note(holder_note()))
            except OSError as exc:
                self._lock.release()
                raise storage_error(self.path, f"take the lock for {self.what}", exc) from exc
            except BaseException:
                self._lock.release()
                raise

    def release(self) -> None:
        """Let go once; the outermost release empties the note (a clean end) before unlocking."""
        if self.depth == 0:
            return
        try:
            if self.depth == 1:
                self.path.write_bytes(b"")
        finally:
            self._lock.release()

    def __enter__(self) -> HolderLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
