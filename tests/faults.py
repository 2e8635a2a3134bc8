"""Faults for tests (issue 14): a small tmpfs mounted over a folder, filled up, or remounted read-only (mounting
needs root and a kernel that lets this container mount; elsewhere the tests skip with the reason), and an SMTP
server that hangs (:class:`HangingSMTP`)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@contextmanager
def tmpfs(path: Path, size: str = "2m") -> Iterator[Path]:
    """Mount a ``size`` tmpfs on ``path`` (created) for the block; skip visibly where mounting is not allowed."""
    if os.geteuid() != 0:
        pytest.skip("disk-fault test: mounting a tmpfs needs root (run the suite as root, e.g. in the CI container)")
    if shutil.which("mount") is None:
        pytest.skip("disk-fault test: no mount command on this machine")
    path.mkdir(parents=True, exist_ok=True)
    done = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    if done.returncode:
        pytest.skip(f"disk-fault test: cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def fill(folder: Path, *, leave: int = 0) -> Path:
    """Fill the file system holding ``folder`` (a tmpfs) with one file, leaving about ``leave`` bytes free."""
    filler = folder / "filler.bin"
    chunk = b"\0" * 4096
    with open(filler, "wb") as handle:
        try:
            while shutil.disk_usage(folder).free > leave + len(chunk):
                handle.write(chunk)
                handle.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Remount the tmpfs on ``path`` read-only for the block (root cannot write there either)."""
    done = _mount("-o", "remount,ro", str(path))
    if done.returncode:
        pytest.skip(f"disk-fault test: cannot remount {path} read-only ({done.stderr.strip()})")
    try:
        yield
    finally:
        _mount("-o", "remount,rw", str(path))


class HangingSMTP:
    """A loopback socket that accepts connections and never sends a byte (no greeting, no reply)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)  # held open, never answered

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def email_spec(server: HangingSMTP, timeout: float = 1.0) -> dict[str, object]:
    """``notify.email`` for ``server``, with a login whose password comes from ``$SMTP_HANG_PW``."""
    return {
        "host": "127.0.0.1",
        "port": server.port,
        "from": "millpond@example.org",
        "to": ["team@example.org"],
        "username": "millpond",
        "password": "${SMTP_HANG_PW}",
        "timeout_seconds": timeout,
    }
