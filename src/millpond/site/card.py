"""The model card of one version: intended use, training data, metrics, importance, limitations, approvals, lineage.

:func:`model_card` gathers it (a typed :class:`ModelCard`); :func:`card_markdown` writes it as Markdown (the site
keeps one beside each card page, under ``cards/``) and :func:`card_body` as the card page's HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from millpond.drift.slices import SliceReport
from millpond.errors import MillpondError
from millpond.site.data import Decision, ModelData, VersionRow
from millpond.site.layout import esc, fmt, href, model_file, table
from millpond.views.lineage import trace_lineage
from millpond.workspace import Workspace

APPROVAL_ACTIONS = ("awaiting_approval", "approval", "rejection", "promotion", "rollback", "smoke_test")


@dataclass(frozen=True)
class ModelCard:
    """What a person needs to decide whether to trust one model version."""

    name: str
    version: str
    aliases: list[str]
    description: str
    task: str
    target: str
    metric: str
    family: str
    windows: list[str]
    train_rows: int | None
    holdout_rows: int | None
    target_rate: float | None
    metrics: dict[str, float]
    importance: list[tuple[str, float]]
    limitations: list[str]
    decisions: list[Decision]
    lineage: dict[str, Any] = field(default_factory=dict)
    slices: SliceReport | None = None  # the metric per slice on the holdout (None: no `slices:` when trained)


def _limitations(v: VersionRow) -> list[str]:
    out = [
        f"Trained on windows {', '.join(v.train_windows) or '-'} only: behaviour on populations unlike them is unknown; "
        "watch the drift page of the use case.",
    ]
    if v.metrics.get("n") is not None:
        out.append(
            f"Holdout metrics come from {int(v.metrics['n'])} rows of the training windows, not from a later window."
        )
    if v.categories:
        seen = "; ".join(f"{column}: {', '.join(values)}" for column, values in sorted(v.categories.items()))
        out.append(
            f"Categorical inputs know only the categories seen in training ({seen}); another is scored as unseen."
        )
    if v.code.get("dirty"):
        out.append("Trained from a working tree with uncommitted changes (code.dirty): the code is not reproducible.")
    if not v.slice_metrics:
        out.append("No slice metrics were recorded for this version (it was trained without `slices:` in the params).")
    else:
        report = SliceReport.from_dict(v.slice_metrics)
        small = [s.label for s in report.slices if s.status != "ok"]
        if small:
            out.append(
                f"Slices {', '.join(small)} had too few held-out rows (< {report.min_rows}) or an undefined "
                f"{report.metric}: the model's behaviour there is not measured."
            )
    return out


def model_card(ws: Workspace, model: ModelData, v: VersionRow) -> ModelCard:
    p = v.params
    try:
        lineage = trace_lineage(ws, model.name, v.version)
    except (MillpondError, OSError) as exc:
        lineage = {"error": str(exc)}
    return ModelCard(
        name=model.name,
        version=v.version,
        aliases=v.aliases,
        description=str(p.get("params.description") or ""),
        task=str(v.task or p.get("params.task") or "-"),
        target=str(p.get("params.target") or "-"),
        metric=str(p.get("params.promotion.metric") or "-"),
        family=str(v.family or "-"),
        windows=v.train_windows,
        train_rows=v.train_rows,
        holdout_rows=v.holdout_rows,
        target_rate=v.metrics.get("positive_rate"),
        metrics={k: x for k, x in v.metrics.items() if k not in ("n", "positive_rate")},
        importance=sorted(v.importance.items(), key=lambda kv: -kv[1]),
        limitations=_limitations(v),
        decisions=[d for d in model.decisions if d.version == v.version and d.action in APPROVAL_ACTIONS],
        lineage=lineage,
        slices=SliceReport.from_dict(v.slice_metrics) if v.slice_metrics else None,
    )


def _slice_markdown(card: ModelCard) -> list[str]:
    if card.slices is None:
        return ["No slices were set when this version was trained (`slices: [column, ...]` in the params)."]
    report = card.slices
    return [
        f"{report.metric} per slice value on the held-out rows, {report.confidence:.0%} bootstrap interval; "
        f"slices with fewer than {report.min_rows} rows are not judged.",
        "",
        f"| slice | rows | {report.metric} | status |",
        "| --- | --- | --- | --- |",
        *(f"| {label} | {rows} | {shown} | {status} |" for label, rows, shown, status in report.cells()),
    ]


def card_markdown(card: ModelCard) -> str:
    """The card as Markdown."""
    lines = [
        f"# Model card: {card.name} @ {card.version}",
        "",
        f"Aliases now: {', '.join(card.aliases) or 'none'}",
        "",
        "## Intended use",
        "",
        f"{card.description or 'No description in the params.'}",
        "",
        f"- task: {card.task}; target: `{card.target}`; promotion metric: {card.metric}; family: {card.family}",
        "",
        "## Training data",
        "",
        f"- windows: {', '.join(card.windows) or '-'}",
        f"- rows: {fmt(card.train_rows)} for training, {fmt(card.holdout_rows)} held out",
        f"- target rate (holdout): {fmt(card.target_rate)}",
        "",
        "## Metrics (holdout)",
        "",
        "| metric | value |",
        "| --- | --- |",
        *(f"| {k} | {v:.4f} |" for k, v in card.metrics.items()),
        "",
        "## Metrics per slice (holdout)",
        "",
        *_slice_markdown(card),
        "",
        "## Feature importance (permutation, normalised)",
        "",
        "| feature | importance |",
        "| --- | --- |",
        *(f"| {k} | {v:.4f} |" for k, v in card.importance),
        "",
        "## Limitations",
        "",
        *(f"- {item}" for item in card.limitations),
        "",
        "## Approvals and decisions",
        "",
        *(f"- {d.time[:19]} {d.action} by {d.actor}: {d.reason}" for d in card.decisions),
    ]
    if not card.decisions:
        lines.append("- none recorded")
    return "\n".join(lines) + "\n"


def _run_cell(out: Path, run: dict[str, Any] | None, run_links: dict[str, Path]) -> str:
    if not run:
        return "(none recorded)"
    report = run_links.get(str(run.get("run_id")))
    label = esc(run.get("run_id"))
    if report is not None:
        label = f'<a href="{href(out, report)}">{label}</a>'
    status = f" {esc(run.get('status'))}" if run.get("found") else f" ({esc(run.get('note'))})"
    return label + status


def lineage_html(ws: Workspace, card: ModelCard, out: Path, run_links: dict[str, Path]) -> str:
    """Training run → mart versions → ingest runs → raw files, each linked where a file exists."""
    lin = card.lineage
    if "error" in lin:
        return f'<p class="mp-bad">lineage cannot be traced: {esc(lin["error"])}</p>'
    code = lin.get("code") or {}
    items = [
        f"<li>code commit <code>{esc(code.get('commit') or 'unknown')}</code>{' (dirty)' if code.get('dirty') else ''}</li>",
        f"<li>training run {_run_cell(out, lin.get('training_run'), run_links)}<ul>",
    ]
    for mart in lin.get("marts", []):
        if not mart.get("found"):
            items.append(f"<li>mart {esc(mart['mart'])}@{esc(mart['version'])}: MISSING ({esc(mart.get('note'))})</li>")
            continue
        intact = (
            '<span class="mp-ok">sha256 ok</span>'
            if mart["data_intact"]
            else '<span class="mp-bad">sha256 MISMATCH</span>'
        )
        mart_dir = ws.resolve(mart["path"])
        source = mart.get("source") or {}
        where = source.get("path") or source.get("query") or source.get("url") or "unknown"
        raw = ws.resolve(str(where)) if source.get("path") else None
        raw_link = f'<a href="{href(out, raw)}">{esc(where)}</a>' if raw is not None and raw.exists() else esc(where)
        items.append(
            f'<li>mart <a href="{href(out, mart_dir)}">{esc(mart["mart"])}@{esc(mart["version"])}</a> window '
            f"{esc(mart['window'])}, {esc(mart['rows'])} rows, {intact}<ul><li>ingest run "
            f"{_run_cell(out, mart.get('ingest_run'), run_links)}<ul><li>raw source {raw_link}</li></ul></li></ul></li>"
        )
    items.append("</ul></li>")
    return f'<ul id="mp-lineage">{"".join(items)}</ul>'


def card_body(ws: Workspace, card: ModelCard, out: Path, run_links: dict[str, Path]) -> str:
    from millpond.site.layout import card_markdown_file

    metrics = table(("metric", "value"), [(k, f"{v:.4f}") for k, v in card.metrics.items()], table_id="mp-card-metrics")
    importance = table(("feature", "importance"), [(k, f"{v:.4f}") for k, v in card.importance])
    decisions = table(
        ("time (UTC)", "action", "who", "why"),
        [(d.time[:19].replace("T", " "), d.action, d.actor, d.reason) for d in card.decisions],
        table_id="mp-card-decisions",
    )
    limits = "".join(f"<li>{esc(item)}</li>" for item in card.limitations)
    if card.slices is None:
        slices = '<p class="mp-note">No slices were set when this version was trained.</p>'
    else:
        slices = (
            f'<p class="mp-note">{esc(card.slices.metric)} per slice value on the held-out rows, '
            f"{card.slices.confidence:.0%} bootstrap interval; fewer than {card.slices.min_rows} rows: not judged.</p>"
            + table(("slice", "rows", card.slices.metric, "status"), card.slices.cells(), table_id="mp-card-slices")
        )
    return (
        f'<p class="mp-note"><a href="{model_file(card.name)}">← {esc(card.name)} registry</a> · aliases now: '
        f"{esc(', '.join(card.aliases) or 'none')} · "
        f'<a href="{card_markdown_file(card.name, card.version)}">this card as Markdown</a></p>'
        f"<h2>Intended use</h2><p>{esc(card.description or 'No description in the params.')}</p>"
        f"<p>Task <b>{esc(card.task)}</b>, target <code>{esc(card.target)}</code>, promotion metric "
        f"<b>{esc(card.metric)}</b>, family <b>{esc(card.family)}</b>.</p>"
        f"<h2>Training data</h2><p>Windows {esc(', '.join(card.windows) or '-')}; {esc(fmt(card.train_rows))} rows "
        f"for training, {esc(fmt(card.holdout_rows))} held out; target rate (holdout) {esc(fmt(card.target_rate))}.</p>"
        f"<h2>Metrics (holdout)</h2>{metrics}<h2>Metrics per slice (holdout)</h2>{slices}"
        f"<h2>Feature importance</h2>{importance}"
        f"<h2>Limitations</h2><ul>{limits}</ul><h2>Approvals and decisions</h2>{decisions}"
        f"<h2>Lineage</h2>{lineage_html(ws, card, out, run_links)}"
    )
