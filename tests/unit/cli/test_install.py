"""The install: integrations are extras named by a clear error, the lock pins every range, uv gets pip's indexes,
and the JupyterLab settings the Makefile writes turn off the build check and the news prompt."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from millpond.errors import EXIT_BAD_INPUT, MissingExtraError, exit_code_of, require_extra

REPO = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = (REPO / "requirements.lock").read_text(encoding="utf-8")


def _script(name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)(?:\s*;\s*(.*?))?\s*\\?$", line)
        if match and (match[3] is None or "3.12" not in match[3]):
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


def test_require_extra_names_the_pip_line() -> None:
    with pytest.raises(MissingExtraError) as caught:
        require_extra("dask", "millpond_no_such_module", feature="'scoring.dask_scheduler'")
    message = str(caught.value)
    assert "pip install 'millpond[dask]'" in message and "'scoring.dask_scheduler' needs" in message
    assert exit_code_of(caught.value) == EXIT_BAD_INPUT and isinstance(caught.value, ImportError)
    assert require_extra("dask", "json") is json


def test_scoring_on_a_cluster_without_the_dask_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from millpond.scoring.cluster import connect

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask.distributed were not installed
    with pytest.raises(MissingExtraError, match=r"millpond\[dask\]"):
        connect("tcp://127.0.0.1:8786", timeout=1)


def test_integrations_are_extras_and_the_design_packages_are_base() -> None:
    base = {Requirement(r).name for r in PYPROJECT["project"]["dependencies"]}
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"papermill", "nbformat", "jupyterlab", "pandas", "scikit-learn", "dtale", "sweetviz", "scrapbook"} <= base
    assert not base & {"dask", "distributed", "psycopg", "sqlalchemy"}
    assert {Requirement(r).name for r in extras["dask"]} == {"dask"}
    assert {Requirement(r).name for r in extras["postgres"]} == {"sqlalchemy", "psycopg"}


def _make_extras() -> set[str]:
    """The extras the Makefile's ``EXTRAS`` line has ``make lock`` pin."""
    found = re.search(r"^EXTRAS\s*:=\s*(.+)$", (REPO / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    assert found, "the Makefile has no EXTRAS := line"
    return set(found.group(1).split())


def test_the_lock_pins_every_requirement_within_its_range() -> None:
    pins = _pins()
    project = PYPROJECT["project"]
    locked = _make_extras()  # the extras make demo / make test install; the others (onnx, mlflow) are the user's pick
    groups = project["optional-dependencies"]
    assert locked <= set(groups), f"the Makefile locks extras pyproject.toml does not define: {locked - set(groups)}"
    wanted = [*project["dependencies"], *(r for name in sorted(locked) for r in groups[name])]
    outside = []
    for text in wanted:
        requirement = Requirement(text)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if name not in pins or not requirement.specifier.contains(pins[name], prereleases=True):
            outside.append(f"{text} (locked: {pins.get(name)})")
    assert outside == []
    assert LOCK.count("--hash=sha256:") >= len(pins)


def test_uv_gets_the_indexes_pip_is_configured_with() -> None:
    module = _script("pip_index_args")
    listing = (
        ":env:.find-links='/opt/wheels'\n"
        "global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'\n"
        "global.index-url='https://mirror.example/simple'\n"
        "global.find-links='/elsewhere'\n"
        "global.cert='/etc/ssl/certs/ca.crt'\n"
    )
    settings = module.pip_settings(listing)  # type: ignore[attr-defined]
    assert settings["find-links"] == ["/opt/wheels"]  # the environment wins over the file
    args = module.uv_args(settings)  # type: ignore[attr-defined]
    assert args[args.index("--index-url") + 1] == "https://mirror.example/simple"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--extra-index-url"] == [
        "file:///opt/a/simple",
        "file:///opt/b/simple",
    ]
    assert args[-2:] == ["--index-strategy", "unsafe-best-match"]
    assert module.uv_args(module.pip_settings("global.cert='/x'\n")) == []  # type: ignore[attr-defined]


def test_lab_settings_turn_off_the_build_check_and_news_and_keep_other_keys(tmp_path: Path) -> None:
    module = _script("lab_settings")
    page_config = tmp_path / "etc" / "jupyter" / "labconfig" / "page_config.json"
    page_config.parent.mkdir(parents=True)
    page_config.write_text(json.dumps({"disabledExtensions": {"x": True}}), encoding="utf-8")
    written = module.write_lab_settings(tmp_path)  # type: ignore[attr-defined]
    module.write_lab_settings(tmp_path)  # type: ignore[attr-defined]  (idempotent)
    config = json.loads(written[0].read_text(encoding="utf-8"))
    assert config == {"disabledExtensions": {"x": True}, "buildCheck": False, "buildAvailable": False}
    overrides = json.loads(written[1].read_text(encoding="utf-8"))
    assert overrides["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}
    assert written[1] == tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
