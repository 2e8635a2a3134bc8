"""Disk faults at the lock and the run folder: a clear StorageError naming the path, never a bare OSError."""

from __future__ import annotations

from pathlib import Path

import pytest

from millpond.errors import StorageError
from millpond.runs.store import RunStore
from millpond.store.lock import HolderLock
from tests.faults import fill, read_only, tmpfs


@pytest.mark.reliability("hostile")
def test_a_lock_on_a_read_only_disk_names_the_lock_file(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk, read_only(disk):
        lock = HolderLock(disk / "locks" / "churn.lock", timeout=1, what="use case 'churn'")
        with pytest.raises(StorageError, match=r"churn\.lock") as caught:
            lock.acquire()
        assert "read-only" in str(caught.value).lower()
        assert not (disk / "locks").exists()


@pytest.mark.reliability("hostile")
def test_a_run_folder_on_a_full_or_read_only_disk_names_the_folder(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        store = RunStore(disk / "runs")
        (disk / "runs").mkdir()
        fill(disk)
        before = sorted(p.name for p in (disk / "runs").iterdir())
        with read_only(disk), pytest.raises(StorageError, match=r"20261202T000000Z-churn") as caught:
            store.prepare("20261202T000000Z-churn-2025-03-abc123", 1, "ingest")
        assert "run folder" in str(caught.value)
        assert sorted(p.name for p in (disk / "runs").iterdir()) == before
