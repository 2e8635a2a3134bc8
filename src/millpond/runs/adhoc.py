"""Ad-hoc scoring runs: ``millpond score`` kept as an immutable run record like every stage.

:func:`score_adhoc` scores a Parquet or CSV file with a model version (captured like every scoring run)
and records the run as ``runs/<cycle_id>/01-score/``: no notebook (``kind: cli``), but the same manifest
as a stage's (params, inputs and outputs as sha256-pinned artifacts, timings, status, error) and a ``report.html``,
so ``runs list/show/verify``, the runs index, ``status`` and ``gc`` read it like any other run. A failure
(unreadable file, unknown model, tampered model, bad params) is recorded as a failed run and re-raised
unchanged, with nothing stored changed: captures and the output are staged and only published on success.

The run folder is created when the scoring has ended, not before: a cycle that starts meanwhile records
run folders without a manifest as interrupted, and must not take a live ad-hoc run for a dead one.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from millpond.errors import MillpondError, ModelVersionNotFoundError, did_you_mean
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.store import ADHOC_KIND, RunRecord, RunStore, new_cycle_id
from millpond.store.artifacts import Ledger, as_manifest, note_read, note_written, recording
from millpond.store.files import sha256_file
from millpond.workspace import Workspace

if TYPE_CHECKING:
    from millpond.scoring.batch import ProgressCallback, Scorer, ScoreResult

STAGE = "score"
ORDER = 1  # the only run of its own cycle id
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
log = logging.getLogger(__name__)


@dataclass
class AdhocScore:
    """What an ad-hoc score produced and where it is recorded."""

    result: Any  # millpond.scoring.batch.ScoreResult
    record: RunRecord


class AdhocOptions(TypedDict, total=False):
    """The settings of :func:`score_adhoc` besides the model and the files (``millpond score``'s other options)."""

    params_path: str | Path | None  # validate the input with these params instead of the model's own
    window: str  # the window the captures are filed under (default 'adhoc')
    run_id: str | None  # the scoring run id in predictions and captures (default: the record's run id)
    on_progress: ProgressCallback | None
    command: str  # the command line, for the record


@dataclass(frozen=True)
class AdhocRequest:
    """One ad-hoc score: which model scores which file into which output, and the :class:`AdhocOptions`."""

    model_ref: str
    input_path: str | Path
    output_path: str | Path
    params_path: str | Path | None = None
    window: str = "adhoc"
    run_id: str | None = None
    on_progress: ProgressCallback | None = None
    command: str = ""


@dataclass
class _Draft:
    """The run record as far as the scoring got: a failure records what is known by then."""

    name: str  # the use case the run is filed under
    window: str
    source: Path
    output: Path
    started: datetime
    clock: float  # perf_counter at the start
    ledger: Ledger  # what the score read (file, model) and wrote (captures, predictions), noted as it happens
    summary: dict[str, Any]
    extra: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    cycle_id: str = ""

    @property
    def record_id(self) -> str:
        return f"{self.cycle_id}/{ORDER:02d}-{STAGE}"


def _record_name(model_ref: str, raw_params: dict[str, Any]) -> str:
    """The use case to file a run under before a model is loaded: the params' use_case, else the model name."""
    for candidate in (raw_params.get("use_case"), str(model_ref).partition("@")[0]):
        if isinstance(candidate, str) and _SAFE_NAME.match(candidate):
            return candidate
    return "adhoc"


def score_adhoc(
    ws: Workspace,
    model_ref: str,
    input_path: str | Path,
    output_path: str | Path,
    **options: Unpack[AdhocOptions],
) -> AdhocScore:
    """Score ``input_path`` with ``model_ref`` into ``output_path``, capture it under ``window``, and record the run.

    ``run_id`` is the scoring run id written into the predictions and captures (default: the record's run id).
    Raises the scoring error after recording it as a failed run; the error gets a note naming that run.
    A malformed ``window`` (it names the run folder), a ``params_path`` that does not exist (it names no use
    case) and, without params, a model name the store does not hold (``chrun@champion``: did you mean 'churn'?) are
    refused before anything is recorded; a params file that exists but does not validate is recorded as
    a failed run marked ``extra.bad_params``.
    """
    from millpond.config.params import check_window, params_file

    request = AdhocRequest(model_ref, input_path, output_path, **options)
    if request.params_path is not None:
        params_file(ws, request.params_path)
    window = check_window(request.window)
    if request.params_path is None:  # with params, the run is filed under their use case (a real one) either way
        check_model_name(ws, request.model_ref)
    with recording(ws.root) as ledger:
        draft = _start(ws, request, window, ledger)
        try:
            scorer = _load_scorer(ws, request, draft)
            result, scoring_seconds = _score(ws, request, draft, scorer)
        except BaseException as exc:  # a failure is a record too, then the same error goes on to the caller
            _record_failure(ws, draft, exc)
            raise
        return AdhocScore(result, _record_success(ws, draft, scorer, result, scoring_seconds))


def check_model_name(ws: Workspace, model_ref: str) -> str:
    """The model name of ``model_ref`` when the model store holds it; else :class:`ModelVersionNotFoundError` (exit 2)
    naming the closest stored model, so a typo records no run under a phantom name."""
    from millpond.models.store import ModelStore
    from millpond.scoring.batch import parse_model_ref

    name, _ = parse_model_ref(model_ref)
    known = ModelStore(ws.model_store).names()
    if name not in known:
        raise ModelVersionNotFoundError(
            f"No model named '{name}' in {ws.model_store} (from --model {model_ref}).{did_you_mean(name, known)} "
            f"Models: {', '.join(known) or 'none'}. Nothing was recorded."
        )
    return name


def _start(ws: Workspace, request: AdhocRequest, window: str, ledger: Ledger) -> _Draft:
    started, clock = datetime.now(UTC), time.perf_counter()
    source, output = ws.resolve(request.input_path), ws.resolve(request.output_path)
    return _Draft(
        name=_record_name(request.model_ref, {}),
        window=window,
        source=source,
        output=output,
        started=started,
        clock=clock,
        ledger=ledger,
        summary={"model_ref": request.model_ref, "input": ws.relative(source), "output": ws.relative(output)},
        extra={"kind": ADHOC_KIND, "command": request.command or "millpond score", "model_ref": request.model_ref},
    )


def _load_scorer(ws: Workspace, request: AdhocRequest, draft: _Draft) -> Scorer:
    """The params (given, else the model's own), the model version and its role; noted in the draft as they load."""
    from millpond.config.params import read_yaml, validate_use_case
    from millpond.models.store import ModelStore
    from millpond.scoring.batch import Scorer, parse_model_ref

    use_case = None
    if request.params_path is not None:
        draft.extra["params_source"] = str(request.params_path)
        draft.extra["bad_params"] = True  # until they validate
        draft.params = read_yaml(ws.resolve(request.params_path))
        draft.name = _record_name(request.model_ref, draft.params)
        use_case = validate_use_case(draft.params, source=str(request.params_path))
        del draft.extra["bad_params"]
    model_name, ref = parse_model_ref(request.model_ref)
    store = ModelStore(ws.model_store)
    version = store.get(model_name, ref)
    if use_case is None:
        draft.params = dict(version.metadata.params or {})
        draft.extra["params_source"] = f"metadata of {model_name}@{version.version}"
    aliases = store.aliases(model_name)
    role = next((a for a in ("champion", "challenger") if aliases.get(a) == version.version), "adhoc")
    draft.summary.update(
        model=model_name,
        model_version=version.version,
        role=role,
        champion=version.version if role == "champion" else None,
    )
    scorer = Scorer.load(store, model_name, version.version, role=role, use_case=use_case)
    draft.name = scorer.use_case.use_case
    return scorer


def _score(ws: Workspace, request: AdhocRequest, draft: _Draft, scorer: Scorer) -> tuple[ScoreResult, float]:
    """Score the file (captures and output staged, published on success); the result and the scoring seconds."""
    from millpond.scoring.batch import score_file
    from millpond.scoring.capture import CaptureStore

    draft.cycle_id = new_cycle_id(draft.name, draft.window)
    draft.summary["scoring_run_id"] = request.run_id or draft.record_id
    if draft.source.is_file():
        note_read("input_file", draft.source, sha256_file(draft.source))
    clock = time.perf_counter()
    result = score_file(
        draft.source,
        scorer,
        captures=CaptureStore(ws.model_store, scorer.name),
        window=draft.window,
        output=draft.output,
        run_id=request.run_id or draft.record_id,
        on_progress=request.on_progress,
    )
    return result, time.perf_counter() - clock


def _record_failure(ws: Workspace, draft: _Draft, exc: BaseException) -> None:
    """Record the failed run with what the draft holds (outputs: only what was published, normally nothing);
    note on ``exc`` which run that is."""
    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    try:
        failed = replace(
            draft,
            cycle_id=draft.cycle_id or new_cycle_id(draft.name, draft.window),
            extra={**draft.extra, "timings": {"wall_seconds": time.perf_counter() - draft.clock}},
        )
        record = _record(ws, failed, "failed", error=error)
    except (MillpondError, OSError) as record_error:  # never hide the scoring error behind a recording one
        exc.add_note(f"The failed run could not be recorded: {record_error}")
    else:
        exc.add_note(f"Recorded as failed run {record.run_id} (millpond runs show {record.run_id}).")


def _record_success(
    ws: Workspace, draft: _Draft, scorer: Scorer, result: ScoreResult, scoring_seconds: float
) -> RunRecord:
    """Add what the scoring produced (rows, KPI, outputs with their sha256, timings) and record the run."""
    summary = draft.summary
    summary.update(
        rows=result.rows,
        served=result.served,
        scored_at=result.scored_at,
        captures={v: ws.relative(p) for v, p in result.captures.items()},
    )
    metric = scorer.use_case.promotion.metric
    if scorer.version in result.metrics:
        summary["kpi"] = {metric: result.metrics[scorer.version].get(metric)}
    if result.output is not None:  # the capture parts were noted as they were published
        note_written("predictions", result.output, sha256_file(result.output))
    wall = time.perf_counter() - draft.clock
    draft.extra.update(
        reason=f"ad hoc: {draft.source.name} scored with {summary['model']}@{scorer.version} ({summary['role']})",
        timings={
            "wall_seconds": wall,
            "scoring_seconds": scoring_seconds,
            "rows_per_second": result.rows / scoring_seconds if scoring_seconds > 0 else None,
        },
    )
    return _record(ws, draft, "succeeded", sample=result.sample)


def _record(ws: Workspace, draft: _Draft, status: str, *, error: str | None = None, sample: Any = None) -> RunRecord:
    """Create the run folder, write its report.html, and record it once."""
    runs = RunStore(ws.runs)
    run_dir = runs.prepare(
        draft.cycle_id, ORDER, STAGE, claim={"use_case": draft.name, "window": draft.window, "kind": ADHOC_KIND}
    )
    _write_report(run_dir, draft, status, error, sample)
    scraps = {
        "kind": ADHOC_KIND,
        "stage": STAGE,
        "status": status,
        "summary": draft.summary,
        "reason": draft.extra.get("reason", ""),
    }
    manifest = RunManifest(
        use_case=draft.name,
        window=draft.window,
        stage=STAGE,
        status=status,
        timings=RunTimings.between(draft.started, datetime.now(UTC)),
        params=draft.params,
        error=error,
        inputs=as_manifest(draft.ledger.inputs),
        outputs=as_manifest(draft.ledger.outputs),
        scraps=scraps,
        extra=draft.extra,
    )
    return runs.record(run_dir, manifest, repo_dir=ws.root)


def _write_report(run_dir: Path, draft: _Draft, status: str, error: str | None, sample: Any) -> None:
    """The run's report.html: the facts of the score and a sample of the predictions (a failure only warns)."""
    from millpond.runs.report import write_summary_report

    facts: dict[str, Any] = {
        "kind": f"{ADHOC_KIND} (millpond score, no notebook)",
        **{f"read {a.kind} {a.ref}": f"sha256 {a.sha256}" for a in draft.ledger.inputs},
        **{f"wrote {a.kind} {a.ref}": f"sha256 {a.sha256}" for a in draft.ledger.outputs},
        **{k: draft.summary[k] for k in ("role", "rows", "scoring_run_id") if k in draft.summary},
        "command": draft.extra.get("command"),
    }
    write_summary_report(
        run_dir,
        title=f"{draft.name} · ad-hoc score · {draft.window}",
        status=status,
        meta=f"run {draft.cycle_id}/{run_dir.name}",
        error=error,
        facts=facts,
        sample=sample,
    )
