"""build_site over a small workspace: the pages hold the stores' numbers, every link resolves, nothing leaves."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from millpond.cli.app import main
from millpond.models.store import ModelStore
from millpond.site import build_site
from millpond.site.check import broken_links, external_urls
from millpond.site.layout import card_file, card_markdown_file, model_file, use_case_file
from millpond.workspace import Workspace


@pytest.fixture(scope="module")
def built(scoring_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Path]:
    """One copy of the scoring template and its site, shared by the tests that only read them."""
    root = tmp_path_factory.mktemp("site-build") / "ws"
    shutil.copytree(scoring_template, root)
    ws = Workspace.find(root)
    return ws, build_site(ws, root / "site").parent


@pytest.fixture
def site(built: tuple[Workspace, Path]) -> Path:
    return built[1]


@pytest.fixture
def built_ws(built: tuple[Workspace, Path]) -> Workspace:
    return built[0]


def test_the_home_card_names_the_champion_and_links_its_use_case(built_ws: Workspace, site: Path) -> None:
    champion = ModelStore(built_ws.model_store).aliases("churn")["champion"]
    home = (site / "index.html").read_text(encoding="utf-8")
    card = re.search(r'<div class="mp-card" data-use-case="churn">.*?</div>', home, re.S)
    assert card is not None
    assert f">{champion}</a>" in card.group(0)
    assert f'href="{use_case_file("churn")}"' in card.group(0)
    assert 'id="mp-built"' in home and "model versions" in home


def test_the_registry_lists_every_version_with_its_metrics_and_aliases(built_ws: Workspace, site: Path) -> None:
    store = ModelStore(built_ws.model_store)
    page = (site / model_file("churn")).read_text(encoding="utf-8")
    for version in store.versions("churn"):
        assert f'id="v-{version.version}"' in page
        assert f"{version.metadata.metrics['roc_auc']:.4f}" in page
        assert (site / card_file("churn", version.version)).is_file()
    aliases = store.aliases("churn")
    assert f'<span class="mp-badge challenger">challenger</span> {aliases["challenger"]}' in page
    assert 'id="mp-compare-data"' in page  # two versions: the compare panel is there


def test_each_model_card_has_its_metrics_importance_and_lineage(built_ws: Workspace, site: Path) -> None:
    champion = ModelStore(built_ws.model_store).get("churn", "champion")
    markdown = (site / card_markdown_file("churn", champion.version)).read_text(encoding="utf-8")
    assert f"| roc_auc | {champion.metadata.metrics['roc_auc']:.4f} |" in markdown
    top = max(champion.metadata.importance.items(), key=lambda kv: kv[1])[0]
    assert f"| {top} |" in markdown
    assert "Aliases now: champion" in markdown
    contract = champion.metadata.input_contract or {}
    region = contract["region"]["categories"]
    assert f"region: {', '.join(region)}" in markdown  # the limitations name the categories seen in training
    page = (site / card_file("churn", champion.version)).read_text(encoding="utf-8")
    for mart in champion.metadata.training_marts:
        assert f"churn@{mart['version']}" in page
    assert "sha256 ok" in page


def test_every_link_resolves_and_no_page_refers_to_another_machine(site: Path) -> None:
    assert broken_links(site) == []
    assert external_urls(site) == []


def test_the_checks_find_a_broken_link_and_an_outside_url(scoring_workspace: Workspace, tmp_path: Path) -> None:
    site = build_site(scoring_workspace, tmp_path / "site").parent
    page = site / "index.html"
    page.write_text(
        page.read_text(encoding="utf-8").replace(
            "</main>", '<a href="nowhere.html">x</a><script src="https://cdn.example.com/x.js"></script></main>'
        ),
        encoding="utf-8",
    )
    assert [(p.link, p.page) for p in broken_links(site)] == [
        ("nowhere.html", "index.html"),
        ("https://cdn.example.com/x.js", "index.html"),
    ]
    assert external_urls(site) == [("index.html", "https://cdn.example.com/x.js")]


@pytest.mark.reliability("secret")
def test_a_secret_in_a_versions_params_never_reaches_a_page(scoring_workspace: Workspace, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    params = {"source": {"url": "postgresql://app:hunter2-pw@db.internal/x", "password": "s3cret-value"}}
    ModelStore(scoring_workspace.model_store).save("churn", model, {"params": params, "use_case": "churn"})
    out = build_site(scoring_workspace, tmp_path / "site").parent
    text = "".join(p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file())
    assert "hunter2-pw" not in text and "s3cret-value" not in text
    assert "postgresql://app:***@db.internal/x" in text  # the user's own URL is shown, its password masked


def test_millpond_site_writes_into_the_workspace_unless_told_elsewhere(
    scoring_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(scoring_workspace.root)
    assert main(["--workspace", root, "site"]) == 0
    assert capsys.readouterr().out.strip() == str(scoring_workspace.root / "site" / "index.html")
    out = tmp_path / "elsewhere"
    assert main(["--workspace", root, "site", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "index.html")
    assert {p.name for p in out.glob("*.html")} == {p.name for p in (scoring_workspace.root / "site").glob("*.html")}


def test_refresh_site_warns_instead_of_failing_the_cycle(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from millpond.errors import RunError
    from millpond.site import build as site_build

    def broken(ws: Workspace) -> Path:
        raise RunError("runs/index.sqlite is damaged")

    assert site_build.refresh_site(workspace) == workspace.root / "site" / "index.html"
    monkeypatch.setattr(site_build, "build_site", broken)
    assert site_build.refresh_site(workspace) is None
    assert "runs/index.sqlite is damaged" in caplog.text


def test_the_demo_summary_points_at_the_control_room(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    from millpond.views.console import print_run_summary

    print_run_summary(workspace, [], 1.0)
    assert "control room" not in capsys.readouterr().out  # not built yet: not mentioned
    build_site(workspace)
    print_run_summary(workspace, [], 1.0)
    assert "control room: site/index.html" in capsys.readouterr().out


def test_a_workspace_of_the_old_layout_builds_too(tmp_path: Path) -> None:
    from millpond.models.monitoring import MonitoringLog
    from tests.conftest import REPO

    root = shutil.copytree(REPO / "tests" / "fixtures" / "workspace-v1", tmp_path / "v1")
    ws = Workspace.find(root)
    site = build_site(ws, tmp_path / "site").parent
    assert broken_links(site) == [] and external_urls(site) == []
    page = (site / use_case_file("churn")).read_text(encoding="utf-8")
    for entry in MonitoringLog(ws.model_store, "churn").entries("drift"):
        assert f"<td>{entry.window}</td><td>{entry.fields['kpi']:.3f} [" in page


def test_a_params_file_that_does_not_load_gets_a_card_saying_so(workspace: Workspace) -> None:
    (workspace.params / "broken.yaml").write_text(
        "use_case: broken\nsource: {path: x.csv}\ntarget: y\n", encoding="utf-8"
    )
    site = build_site(workspace).parent
    home = (site / "index.html").read_text(encoding="utf-8")
    card = re.search(r'<div class="mp-card" data-use-case="params/broken.yaml">.*?</div>', home, re.S)
    assert card is not None and "cannot be read" in card.group(0)
    assert 'data-use-case="churn"' in home  # the other use case still has its card
    assert broken_links(site) == []
    assert (site / "use-case-params_broken.yaml.html").is_file()  # one file, no folder from the path's slash
