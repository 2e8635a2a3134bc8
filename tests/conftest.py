"""Shared fixtures: throw-away workspaces with the real notebooks, params and small demo data."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from millpond.config.params import UseCase
from millpond.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
WINDOWS = ("2025-01", "2025-02", "2025-03", "2025-04", "2025-05")
MakeUseCase = Callable[..., UseCase]  # the type of the make_use_case fixture


@pytest.fixture(scope="session")
def small_demo_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five monthly windows of 3,000 rows: covariate shift from 2025-03, concept drift from 2025-04."""
    from millpond.demo.data import generate_churn

    out = tmp_path_factory.mktemp("raw") / "churn"
    generate_churn(
        out, windows=len(WINDOWS), rows_per_window=3000, covariate_shift_from="2025-03", concept_drift_from="2025-04"
    )
    return out


@pytest.fixture(scope="session")
def two_cycled_windows(tmp_path_factory: pytest.TempPathFactory, small_demo_raw: Path, worker_id: str) -> Path:
    """A workspace, built once per ``make test`` and shared by every worker: read-only, copy it before use.

    It holds the small demo data, the cycle of 2025-01 (ingest, train, promote: the first champion) and of 2025-02
    (ingest, score, drift), all recorded. Under pytest-xdist the first worker to get here builds it in the run's
    shared temp folder while the others wait on a file lock (pytest-xdist's documented recipe for session data).
    """
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    template = shared / "two-cycled-windows"
    with FileLock(str(template) + ".lock"):
        if not (template / "done").exists():
            _build_two_cycled_windows(template, small_demo_raw)
    return template


def _build_two_cycled_windows(root: Path, raw: Path) -> None:
    from millpond.runs.runner import run_cycle

    shutil.rmtree(root, ignore_errors=True)  # a worker that died half way
    root.mkdir()
    (root / "pyproject.toml").write_text("[tool.millpond]\n", encoding="utf-8")
    for folder in ("notebooks", "params"):
        shutil.copytree(REPO / folder, root / folder)
    ws = Workspace.find(root)
    shutil.copytree(raw, ws.raw / "churn")
    for window, stages in (("2025-01", ("ingest", "train", "promote")), ("2025-02", ("ingest", "score", "drift"))):
        result = run_cycle(ws, "params/churn.yaml", window, stages=stages)
        assert result.ok, result.error
    (root / "done").write_text("built\n", encoding="utf-8")


def run_millpond(ws: Workspace, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m millpond --workspace WS ARGS`` in a fresh process, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "millpond", "--workspace", str(ws.root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def copy_workspace(template: Path, root: Path) -> Workspace:
    """A private copy of a template workspace (``two_cycled_windows``) at ``root``, which must not exist yet."""
    shutil.copytree(template, root, ignore=shutil.ignore_patterns("done"))
    return Workspace.find(root)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An empty workspace holding copies of the repo's notebooks and params."""
    (tmp_path / "pyproject.toml").write_text("[tool.millpond]\n", encoding="utf-8")
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    shutil.copytree(REPO / "params", tmp_path / "params")
    return Workspace.find(tmp_path)


@pytest.fixture
def demo_workspace(workspace: Workspace, small_demo_raw: Path) -> Workspace:
    """A workspace with the small demo data in feature_marts/raw/churn."""
    shutil.copytree(small_demo_raw, workspace.raw / "churn")
    return workspace


@pytest.fixture
def churn_params(workspace: Workspace) -> Path:
    return workspace.params / "churn.yaml"


@pytest.fixture(scope="session")
def make_use_case() -> MakeUseCase:
    """A factory for the demo churn use case with some sections changed, validated like a user's params file.

    ``make_use_case(ws=None, *, search=None, name="use_case", **sections)`` starts from params/churn.yaml (the
    workspace's copy when ``ws`` is given, else the repo's). Each keyword in ``sections`` replaces that top-level
    section whole, as editing the YAML would: ``model={"family": "logistic_regression"}`` drops the demo's model
    params and ``source={"url": ..., "query": ...}`` drops its ``path`` (no deep merge, so nothing stale is left
    behind). ``search`` is set as ``model.search``, after ``sections`` are applied.

    With ``ws`` and some change, the result is written to ``ws.params/<name>.yaml`` and loaded from there (errors
    name that file); with ``ws`` and no change, ``params/churn.yaml`` itself is loaded. Without ``ws`` the mapping is
    checked with :func:`millpond.config.params.validate_use_case`. Invalid changes raise its ``ParamsError``.
    """
    import copy

    import yaml

    from millpond.config.params import load_use_case, read_yaml, validate_use_case

    def make(
        ws: Workspace | None = None,
        *,
        search: dict[str, Any] | None = None,
        name: str = "use_case",
        **sections: Any,
    ) -> UseCase:
        base = (ws.params if ws is not None else REPO / "params") / "churn.yaml"
        if ws is not None and search is None and not sections:
            return load_use_case(base)
        data = read_yaml(base)
        data.update(copy.deepcopy(sections))  # the caller's constants stay untouched
        if search is not None:
            data["model"] = {**data["model"], "search": search}
        if ws is None:
            return validate_use_case(data)
        path = ws.params / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return load_use_case(path)

    return make


@pytest.fixture(params=["one_shot", "streamed"])
def ingest_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a mart test twice: as small inputs ingest (whole), and forced through the streaming path in 1,000-row batches.

    Both must give the same versions and the same error messages.
    """
    if request.param == "streamed":
        from millpond.marts import store as marts
        from millpond.marts import stream as mart_stream

        monkeypatch.setattr(marts, "_streams", lambda *args, **kwargs: True)
        monkeypatch.setattr(mart_stream, "BATCH_ROWS", 1000)
    return str(request.param)


def write_yaml(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def tree_snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (to prove nothing stored changed)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def scoring_template(tmp_path_factory: pytest.TempPathFactory, small_demo_raw: Path) -> Path:
    """A workspace with marts 2025-01..03, a champion trained on 2025-01 and a challenger trained on 2025-02 (built once)."""
    from millpond.config.params import load_use_case
    from millpond.models.store import ModelStore
    from millpond.runs import stages

    root = tmp_path_factory.mktemp("scoring-template")
    (root / "pyproject.toml").write_text("[tool.millpond]\n", encoding="utf-8")
    shutil.copytree(REPO / "params", root / "params")
    shutil.copytree(small_demo_raw, root / "feature_marts" / "raw" / "churn")
    ws = Workspace.find(root)
    uc = load_use_case(ws.params / "churn.yaml")
    for window in ("2025-01", "2025-02", "2025-03"):
        stages.run_ingest(stages.StageContext(ws, uc, window, run_id=f"template/{window}"))
    first = stages.StageContext(ws, uc, "2025-01", run_id="template/2025-01")
    stages.run_train(first)
    stages.run_promote(first)
    every = uc.model_copy(update={"retrain": uc.retrain.model_copy(update={"every_n_windows": 1})})
    trained = stages.run_train(stages.StageContext(ws, every, "2025-02", run_id="template/2025-02"))
    ModelStore(ws.model_store).set_alias(
        "churn", "challenger", trained.summary["candidate"], actor="test", reason="challenger for tests"
    )
    return root


@pytest.fixture
def scoring_workspace(scoring_template: Path, tmp_path: Path) -> Workspace:
    """A fresh copy of :func:`scoring_template` for one test."""
    target = tmp_path / "ws"
    shutil.copytree(scoring_template, target)
    return Workspace.find(target)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration/ (real notebooks, servers, the browser) carries the ``integration`` marker."""
    integration = REPO / "tests" / "integration"
    for item in items:
        if integration in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


# --- the reliability report (issue 14): one line at the end of the suite, computed from the tests that ran ---
# A test carries ``@pytest.mark.reliability("<kind>")``; each of its runs (a parametrised case counts once) is
# one case of that kind. The line says how many cases of each kind passed, out of those that ran.
RELIABILITY_KINDS = {
    "kill": "kill points {passed}/{ran} survived",
    "hostile": "hostile inputs {passed}/{ran} refused cleanly",
    "tamper": "tamper cases {passed}/{ran} detected",
    "code": "code executed from params {failed}",
    "secret": "secrets leaked {failed}",
    "socket": "sockets beyond loopback {failed}",
}
_reliability: dict[str, dict[str, int]] = {kind: {"passed": 0, "failed": 0} for kind in RELIABILITY_KINDS}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "reliability(kind): counts in the suite's reliability line; kind is one of " + ", ".join(RELIABILITY_KINDS),
    )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count each reliability case once: by its call phase, or its setup phase when that failed."""
    if report.when != "call" and not (report.when == "setup" and report.failed):
        return
    kinds = getattr(report, "reliability_kinds", ())
    for kind in kinds:
        _reliability[kind]["passed" if report.passed else "failed"] += 1


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    kinds = [str(mark.args[0]) for mark in item.iter_markers("reliability") if mark.args]
    unknown = [kind for kind in kinds if kind not in RELIABILITY_KINDS]
    if unknown:
        raise pytest.UsageError(f"unknown reliability kind(s) {unknown}; use one of {', '.join(RELIABILITY_KINDS)}")
    report.reliability_kinds = tuple(kinds) if not (call.excinfo and call.excinfo.typename == "Skipped") else ()


def reliability_line() -> str | None:
    """'reliability: kill points 34/34 survived, ...' for the kinds that ran; None when none ran."""
    parts = []
    for kind, template in RELIABILITY_KINDS.items():
        counts = _reliability[kind]
        ran = counts["passed"] + counts["failed"]
        if ran:
            parts.append(template.format(passed=counts["passed"], failed=counts["failed"], ran=ran))
    return "reliability: " + ", ".join(parts) if parts else None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    line = reliability_line()
    if line:
        terminalreporter.write_line(line)
