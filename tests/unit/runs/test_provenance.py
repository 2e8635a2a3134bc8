"""Provenance: secrets hidden from params, git code version, package versions."""

from __future__ import annotations

import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from millpond.config.secrets import redact, redact_url
from millpond.runs.provenance import DEFAULT_PACKAGES, code_version, package_versions


def test_redact_masks_secret_keys_at_any_depth_case_insensitively() -> None:
    params = {
        "use_case": "churn",
        "source": {"kind": "sql", "DB_Password": "hunter22", "options": [{"apiKey": "abc123"}, {"port": 5432}]},
        "notify": {
            "slack_token": "xoxb-1",
            "smtp": {"passwd": "pw1", "user": "ops"},
            "credentials": {"user": "a", "key": "b"},
        },
        "Private_Key": "-----BEGIN",
        "client_secret": 7,
    }
    assert redact(params) == {
        "use_case": "churn",
        "source": {"kind": "sql", "DB_Password": "***", "options": [{"apiKey": "***"}, {"port": 5432}]},
        "notify": {"slack_token": "***", "smtp": {"passwd": "***", "user": "ops"}, "credentials": "***"},
        "Private_Key": "***",
        "client_secret": "***",
    }


def test_redact_returns_a_deep_copy_and_leaves_the_input_alone() -> None:
    params = {"source": {"password": "hunter22", "tags": ["a"]}}
    clean = redact(params)
    clean["source"]["tags"].append("b")
    assert params == {"source": {"password": "hunter22", "tags": ["a"]}}


def test_redact_hides_url_passwords_but_keeps_the_rest_of_the_url() -> None:
    params = {
        "source": {"url": "postgresql+psycopg2://alice:s3cr3t@db.local:5432/churn"},
        "query_note": "reads from mysql://bob:pa@ss@host/db nightly",
        "bare_url": "postgresql://alice@db.local/churn",
        "no_user": "redis://:redispw@cache:6379/0",
        "plain": "https://example.org/a:b",
    }
    assert redact(params) == {
        "source": {"url": "postgresql+psycopg2://alice:***@db.local:5432/churn"},
        "query_note": "reads from mysql://bob:***@host/db nightly",
        "bare_url": "postgresql://alice@db.local/churn",
        "no_user": "redis://:***@cache:6379/0",
        "plain": "https://example.org/a:b",
    }
    assert redact_url("sqlite:///data/churn.db") == "sqlite:///data/churn.db"


def test_redact_keeps_env_references_and_empty_values() -> None:
    params = {"password": "${DB_PASSWORD}", "token": None, "api_key": "", "url": "postgresql://u:${DB_PW}@h/db"}
    assert redact(params) == {
        "password": "${DB_PASSWORD}",
        "token": None,
        "api_key": "",
        "url": "postgresql://u:***@h/db",
    }
    assert redact({"password": "${DB_PASSWORD}x"}) == {"password": "***"}  # not a bare reference


def test_redact_passes_scalars_through() -> None:
    assert redact(3) == 3
    assert redact(None) is None
    assert redact(("a", {"token": "t"})) == ["a", {"token": "***"}]


def test_package_versions_match_importlib_metadata() -> None:
    versions = package_versions()
    assert list(versions) == list(DEFAULT_PACKAGES)
    assert versions["python"] == platform.python_version()
    assert versions["pandas"] == metadata.version("pandas")
    assert versions["pandas"].split(".")[0] == "3"
    assert versions["millpond"] == metadata.version("millpond")
    assert package_versions(["no-such-distribution-xyz", "numpy"]) == {
        "no-such-distribution-xyz": None,
        "numpy": metadata.version("numpy"),
    }


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@x",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@x",
            "HOME": str(repo),
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        },
    )
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_code_version_in_a_git_repo_clean_then_dirty(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "trunk")
    assert code_version(repo) == {"commit": None, "dirty": False, "branch": "trunk"}  # no commit yet
    (repo / "a.py").write_text("x = 1\n")
    _git(repo, "add", "a.py")
    _git(repo, "commit", "-q", "-m", "first")
    sha = _git(repo, "rev-parse", "HEAD")
    assert len(sha) == 40
    assert code_version(repo) == {"commit": sha, "dirty": False, "branch": "trunk"}
    assert code_version(repo / ".") == code_version(str(repo))

    (repo / "a.py").write_text("x = 2\n")
    assert code_version(repo) == {"commit": sha, "dirty": True, "branch": "trunk"}
    _git(repo, "checkout", "-q", "a.py")
    (repo / "new.py").write_text("")  # untracked code counts as dirty too
    assert code_version(repo)["dirty"] is True
    (repo / "new.py").unlink()

    _git(repo, "checkout", "-q", "--detach")
    assert code_version(repo) == {"commit": sha, "dirty": False, "branch": None}


def test_code_version_outside_a_repo_is_all_none(tmp_path: Path) -> None:
    assert code_version(tmp_path) == {"commit": None, "dirty": None, "branch": None}
    assert code_version(tmp_path / "does-not-exist") == {"commit": None, "dirty": None, "branch": None}


def test_code_version_without_git_is_all_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on PATH
    assert code_version(tmp_path) == {"commit": None, "dirty": None, "branch": None}
