from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from millpond.store import staging


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_publish_dir_never_replaces_a_published_version(tmp_path: Path) -> None:
    first = staging.scratch_dir(tmp_path, "v1")
    (first / "data").write_text("one")
    assert staging.publish_dir(first, tmp_path / "v1") is True
    second = staging.scratch_dir(tmp_path, "v1")
    (second / "data").write_text("two")
    assert staging.publish_dir(second, tmp_path / "v1") is False
    assert (tmp_path / "v1" / "data").read_text() == "one" and not second.exists()


def test_publish_file_refuses_to_clobber_unless_asked(tmp_path: Path) -> None:
    target = tmp_path / "part.parquet"
    a = staging.scratch_file(tmp_path, "part")
    a.write_text("a")
    assert staging.publish_file(a, target) is True
    b = staging.scratch_file(tmp_path, "part")
    b.write_text("b")
    assert staging.publish_file(b, target) is False and target.read_text() == "a" and not b.exists()
    c = staging.scratch_file(tmp_path, "part")
    c.write_text("c")
    assert staging.publish_file(c, target, replace=True) is True and target.read_text() == "c"


def test_sweep_removes_scratch_entries_of_dead_processes_only(tmp_path: Path) -> None:
    mine = staging.scratch_dir(tmp_path, "2025-01-abc")
    dead = _dead_pid()
    abandoned_dir = tmp_path / f".staging-2025-02-p{dead}-x1y2z3"
    abandoned_dir.mkdir()
    abandoned_file = tmp_path / f".staging-part-p{dead}-q9w8e7.parquet"
    abandoned_file.write_text("half")
    work = tmp_path / f".work-2025-03-p{dead}-k2j3h4"
    work.mkdir()
    version = tmp_path / "2025-04-p123-abc"  # a published version whose name only looks like scratch
    version.mkdir()
    removed = staging.sweep(tmp_path)
    assert sorted(removed) == sorted([abandoned_dir.name, abandoned_file.name, work.name])
    assert mine.exists() and version.exists() and staging.owner_pid(mine) == os.getpid()


def test_staged_dir_leaves_nothing_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), staging.staged_dir(tmp_path, "v") as folder:
        (folder / "half").write_text("x")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_seal_tree_makes_every_file_read_only(tmp_path: Path) -> None:
    folder = staging.scratch_dir(tmp_path, "v")
    (folder / "sub").mkdir()
    (folder / "sub" / "a").write_text("a")
    staging.seal_tree(folder)
    assert not os.access(folder / "sub" / "a", os.W_OK) or os.geteuid() == 0
    assert (folder / "sub" / "a").stat().st_mode & 0o222 == 0
