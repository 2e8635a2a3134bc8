"""``build_site``: write the control room (home, use cases, registry, model cards, runs) as static files.

The pages are plain HTML with inline CSS, SVG and JavaScript, side by side in one folder (``<workspace>/site`` by
default), so they open from ``file://`` with no server, and nothing is fetched from anywhere. Each page is written
atomically; the build only reads the stores.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from millpond.errors import MillpondError
from millpond.runs.store import RunStore
from millpond.site import overview, registry
from millpond.site.card import card_body, card_markdown, model_card
from millpond.site.data import ModelData, Sources, UseCaseData, model_data, run_rows, sources, use_case_data
from millpond.site.layout import (
    HOME,
    RUNS,
    card_file,
    card_markdown_file,
    model_file,
    page,
    use_case_file,
)
from millpond.site.runs_page import RUNS_JS, runs_body
from millpond.store.files import atomic_write_text
from millpond.workspace import Workspace

SITE_FOLDER = "site"
log = logging.getLogger(__name__)


def _nav(use_cases: list[UseCaseData], models: list[str]) -> list[tuple[str, str]]:
    nav = [("runs", RUNS)]
    nav += [(f"use case {uc.name}", use_case_file(uc.name)) for uc in use_cases]
    nav += [(f"registry {name}", model_file(name)) for name in models]
    return nav


def _report_links(ws: Workspace) -> dict[str, Path]:
    """run id -> its report.html, for the runs that have one."""
    links = {}
    for record in RunStore(ws.runs).list():
        report = Path(record.path) / "report.html"
        if report.is_file():
            links[record.run_id] = report
    return links


def _write_model(ws: Workspace, out: Path, model: ModelData, info: tuple[Sources, list[tuple[str, str]]]) -> None:
    src, nav = info
    links = _report_links(ws)
    body = registry.model_body(model, ws, out, links)
    atomic_write_text(
        out / model_file(model.name),
        page(f"Registry: {model.name}", body, sources=src, nav=nav, script=registry.model_script(model)),
    )
    for version in model.versions:
        card = model_card(ws, model, version)
        atomic_write_text(out / card_markdown_file(model.name, version.version), card_markdown(card))
        atomic_write_text(
            out / card_file(model.name, version.version),
            page(
                f"Model card: {model.name} @ {version.version}",
                card_body(ws, card, out, links),
                sources=src,
                nav=nav,
            ),
        )


def build_site(ws: Workspace, out: str | os.PathLike[str] | None = None) -> Path:
    """Write every page of the control room into ``out`` (default ``<workspace>/site``); return the home page."""
    target = Path(out) if out is not None else ws.root / SITE_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    (target / "cards").mkdir(exist_ok=True)
    use_cases = use_case_data(ws)
    from millpond.models.store import ModelStore

    names = ModelStore(ws.model_store).names()
    src = sources(ws, [uc.name for uc in use_cases])
    nav = _nav(use_cases, names)
    home = target / HOME
    atomic_write_text(home, page("Use cases", overview.home_body(use_cases, target), sources=src, nav=nav))
    for uc in use_cases:
        atomic_write_text(
            target / use_case_file(uc.name),
            page(
                f"Use case: {uc.name}", overview.use_case_body(uc), sources=src, nav=nav, script=overview.DECISIONS_JS
            ),
        )
    for name in names:
        _write_model(ws, target, model_data(ws, name), (src, nav))
    rows = run_rows(ws)
    atomic_write_text(target / RUNS, page("Runs", runs_body(rows, target), sources=src, nav=nav, script=RUNS_JS))
    return home


def refresh_site(ws: Workspace) -> Path | None:
    """:func:`build_site` for the end of a cycle: a site that cannot be built is a warning, never a failed cycle."""
    try:
        return build_site(ws)
    except (MillpondError, OSError, ValueError) as exc:
        log.warning("the control room (site/) was not refreshed: %s; run `millpond site` to see why", exc)
        return None
