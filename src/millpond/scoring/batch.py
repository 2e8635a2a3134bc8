"""Batch scoring: predictions for a window with the model version that made them.

:func:`score_batches` reads Arrow record batches, checks each against the model's
input contract, scores it with the champion (and a challenger in shadow or split
mode) and appends predictions and captures to staged files published at the end,
so peak memory stays flat as rows grow and no half-written file is ever visible.
The predict step itself (:class:`Scorer`, :func:`predict_frame`) lives in
``scoring.predict``, shared with Dask scoring (``scoring.cluster``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from millpond.config.params import UseCase
from millpond.errors import ScoringError, did_you_mean
from millpond.models.engine import engine_client
from millpond.models.training import metrics_from_scores
from millpond.scoring.capture import CaptureStore, StagedWriter, run_tag
from millpond.scoring.cluster import connect, scored_on_cluster
from millpond.scoring.predict import Prepared, Scorer, predict_frame
from millpond.store.checkpoint import checkpoint

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "SCORING_COLUMNS",
    "ScoreOptions",
    "ScoreResult",
    "Scorer",
    "input_columns",
    "input_rows",
    "parse_model_ref",
    "predict_frame",
    "read_batches",
    "score_batches",
    "score_file",
    "split_mask",
]

SCORING_COLUMNS = ("prediction", "probability", "model", "model_version", "run_id", "scored_at")
_ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}
_SPLIT_BUCKETS = 10_000
_SPLIT_HASH_KEY = "millpond-split01"  # 16 bytes; differs from the holdout hash so the two shares are independent


def parse_model_ref(ref: str) -> tuple[str, str]:
    """Split ``NAME@REF`` (REF: champion, challenger, previous, latest or a version); a bare NAME means the champion."""
    name, sep, version = str(ref).partition("@")
    if not name or (sep and not version):
        raise ScoringError(
            f"Model reference {ref!r} must look like NAME@champion, NAME@challenger or NAME@<version>, e.g. 'churn@champion'."
        )
    return name, version or "champion"


@dataclass
class ScoreResult:
    """What one scoring run read, wrote and measured."""

    run_id: str
    scored_at: str
    rows: int
    served: dict[str, int] = field(default_factory=dict)  # model version -> rows it served
    captures: dict[str, Path] = field(default_factory=dict)  # model version -> capture part
    output: Path | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # model version -> KPIs (labels in the input)
    sample: pd.DataFrame = field(default_factory=pd.DataFrame)


# called after each scored batch with (rows scored so far, rows in the input or None when unknown)
ProgressCallback = Callable[[int, "int | None"], None]


def input_rows(path: str | Path) -> int | None:
    """Rows in a Parquet file from its footer (no rows read); None for CSV or an unreadable file."""
    path = Path(path)
    if _is_csv(path) or not path.is_file():
        return None
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (pa.ArrowInvalid, OSError):
        return None


def input_columns(path: Path) -> list[str]:
    """Column names of a Parquet or CSV file (without reading its rows)."""
    if _is_csv(path):
        with open(path, encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), None)
        return [] if header is None else header
    return list(pq.ParquetFile(path).schema_arrow.names)


def _is_csv(path: Path) -> bool:
    return Path(path).suffix.lower() in (".csv", ".txt")


def read_batches(
    path: str | Path, use_case: UseCase, *, batch_rows: int | None = None, extra_columns: Iterable[str] = ()
) -> Iterator[pa.RecordBatch]:
    """Arrow record batches of a Parquet or CSV file: the key, the features and (when present) the target.

    Declared column types are enforced while reading CSV, so every batch has the same schema.
    """
    path = Path(path)
    if not path.is_file():
        hint = did_you_mean(path.name, [p.name for p in path.parent.glob("*")]) if path.parent.is_dir() else ""
        raise ScoringError(f"Scoring input {path} does not exist.{hint}")
    rows = batch_rows or use_case.scoring.batch_rows
    wanted = [use_case.key, *use_case.feature_columns, *extra_columns, use_case.target]
    try:
        present = input_columns(path)
        columns = [c for c in dict.fromkeys(wanted) if c in present]
        if _is_csv(path):
            if not present:
                raise ScoringError(f"Scoring input {path} is empty (no header, no rows).")
            types = {c: _ARROW_TYPES[use_case.columns[c]] for c in columns if use_case.columns.get(c) in _ARROW_TYPES}
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=max(1 << 20, rows * 96)),
                convert_options=pacsv.ConvertOptions(
                    column_types=types, include_columns=columns, strings_can_be_null=True
                ),
            )
            for batch in reader:
                for start in range(0, batch.num_rows, rows):
                    yield batch.slice(start, rows)
        else:
            yield from pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=rows, columns=columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
        raise ScoringError(
            f"Cannot read scoring input {path}: {exc}. Check its columns against the declared dtypes in 'columns'."
        ) from exc


def split_mask(keys: pd.Series, fraction: float) -> np.ndarray:
    """Rows the challenger serves in split mode: a stable hash of the key (same keys every run)."""
    hashed = pd.util.hash_pandas_object(keys.astype("str"), index=False, hash_key=_SPLIT_HASH_KEY).to_numpy()
    return (hashed % _SPLIT_BUCKETS) < int(round(fraction * _SPLIT_BUCKETS))


def _constant(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    return pa.repeat(pa.scalar(value, type=type_), n)


def _prediction_columns(
    scorer: Scorer, scores: np.ndarray, predictions: np.ndarray, run_id: str, scored_at: datetime
) -> dict[str, pa.Array]:
    n = len(scores)
    cols: dict[str, pa.Array] = {"prediction": pa.array(predictions)}
    if scorer.use_case.task == "classification":
        cols["probability"] = pa.array(scores)
    cols["model"] = _constant(scorer.name, n, pa.string())
    cols["model_version"] = _constant(scorer.version, n, pa.string())
    cols["run_id"] = _constant(run_id, n, pa.string())
    cols["scored_at"] = _constant(scored_at, n, pa.timestamp("us", tz="UTC"))
    return cols


@dataclass(frozen=True)
class ScoreOptions:
    """The settings of one scoring run (:func:`score_batches`): the challenger, where its rows go, what it is called."""

    challenger: Scorer | None = None  # scored in shadow or split mode (``scoring.challenger_mode``)
    captures: CaptureStore | None = None  # one capture part per model version when given
    window: str = "adhoc"  # the capture window
    output: Path | None = None  # the served predictions (Parquet or CSV), replaced atomically
    run_id: str | None = None  # written into every row (default: a fresh ad-hoc tag)
    source: str = "scoring input"  # how messages name the input
    on_progress: ProgressCallback | None = None  # called after each batch with (rows so far, total_rows)
    total_rows: int | None = None


def score_batches(
    batches: Iterable[pa.RecordBatch], champion: Scorer, options: ScoreOptions | None = None
) -> ScoreResult:
    """Score record batches with the champion (and a challenger in shadow or split mode), writing incrementally.

    Each batch is checked against every model's input contract before it is scored. Captures (one part per
    model version) and the output file go to hidden staging files and are published only when every batch
    succeeded: a failure leaves nothing visible. Labels in the input (the target column) give KPIs per version.
    ``options.on_progress(rows scored so far, options.total_rows)`` is called after each batch.
    """
    return _ScoringRun(champion, options or ScoreOptions()).score(batches)


Outcomes = list[tuple[np.ndarray, np.ndarray]]  # (scores, predictions) of each job of a prepared batch


class _Served:
    """The served score, prediction and model version of every row of one batch (in split mode two models share it)."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.scores: np.ndarray | None = None
        self.predictions: np.ndarray | None = None
        self.versions: np.ndarray | None = None

    def add(self, version: str, mask: np.ndarray | None, scores: np.ndarray, predictions: np.ndarray) -> None:
        if mask is None:
            self.scores, self.predictions = scores, predictions
            self.versions = np.full(len(scores), version, dtype=object)
            return
        if self.scores is None or self.predictions is None or self.versions is None:
            self.scores = np.empty(self.rows)
            self.predictions = np.empty(self.rows, dtype=predictions.dtype)
            self.versions = np.empty(self.rows, dtype=object)
        self.scores[mask], self.predictions[mask], self.versions[mask] = scores, predictions, version


class _ScoringRun:
    """One :func:`score_batches` call: its writers, running counts and result."""

    def __init__(self, champion: Scorer, options: ScoreOptions) -> None:
        self.champion, self.options = champion, options
        self.uc, self.spec = champion.use_case, champion.use_case.scoring
        self.scorers = [champion] + ([options.challenger] if options.challenger is not None else [])
        self.run_id = options.run_id or run_tag(None)
        self.scored_at = datetime.now(UTC)
        self.split = options.challenger is not None and self.spec.challenger_mode == "split"
        self.features = list(
            dict.fromkeys(c for s in self.scorers for c in (s.contract.columns or self.uc.feature_columns))
        )
        self.writers: dict[str, StagedWriter] = {}  # model version -> its capture part
        self.out_writer: StagedWriter | None = None
        self.labels: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {s.version: ([], []) for s in self.scorers}
        self.scored = {s.version: 0 for s in self.scorers}
        self.result = ScoreResult(
            run_id=self.run_id,
            scored_at=self.scored_at.isoformat(),
            rows=0,
            served={s.version: 0 for s in self.scorers},
        )
        self.stack = ExitStack()

    def score(self, batches: Iterable[pa.RecordBatch]) -> ScoreResult:
        try:
            client = self._client()  # first: an unreachable scheduler fails before any staging file exists
            self._open_writers()
            self._score_all(batches, client)
            self._finish()
        except BaseException:
            self.stack.close()  # no write still running when the staging files are removed
            for writer in [*self.writers.values(), *([self.out_writer] if self.out_writer is not None else [])]:
                writer.abort()
            raise
        finally:
            self.stack.close()
        return self.result

    def _client(self) -> Client | None:
        """The Dask client to score on: ``scoring.dask_scheduler`` (also set by ``engine.scheduler``), else a
        LocalCluster for ``engine: {kind: dask}`` without an address, else None (in this process)."""
        if self.spec.dask_scheduler:
            client = connect(self.spec.dask_scheduler, timeout=self.spec.dask_timeout_seconds)
            self.stack.callback(client.close)
            return client
        if self.uc.engine.kind == "dask":
            return self.stack.enter_context(engine_client(self.uc.engine))
        return None

    def _open_writers(self) -> None:
        if self.options.captures is not None:
            tag = run_tag(self.run_id)
            for s in self.scorers:
                self.writers[s.version] = self.options.captures.open(self.options.window, s.version, tag)
        if self.options.output is not None:
            self.out_writer = StagedWriter(self.options.output, replace=True, read_only=False)

    def _score_all(self, batches: Iterable[pa.RecordBatch], client: Any) -> None:
        """Score batch after batch; each batch's writes run in a thread while the next batch is scored."""
        io_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="millpond-score-io")
        pending: list[Future[None]] = []  # the previous batch's writes: at most one batch in flight
        self.stack.callback(io_pool.shutdown, wait=True, cancel_futures=True)
        with threadpool_limits(limits=self.uc.model.threads):
            for part, outcomes in self._scored(batches, io_pool, client):
                writes = self._take(part, outcomes)
                for future in pending:  # Parquet encoding and disk writes overlap the next batch's scoring
                    future.result()
                pending = [io_pool.submit(writer.write, table) for writer, table in writes]
                checkpoint("score-batch-written")
            for future in pending:
                future.result()

    def _scored(
        self, batches: Iterable[pa.RecordBatch], io_pool: ThreadPoolExecutor, client: Any
    ) -> Generator[tuple[Prepared, Outcomes], None, None]:
        """Each prepared batch with its (scores, predictions) per job: on the cluster's workers, or here."""
        prepared = _prepared(
            _prefetched(batches, io_pool), self.scorers, self.features, split=self.split, source=self.options.source
        )
        threshold = self.spec.threshold
        if client is not None:  # results come back in input order
            stream = scored_on_cluster(client, prepared, threshold=threshold, threads=self.uc.model.threads)
        else:
            stream = ((p, [s.predict(f, threshold) for s, _, f in p.jobs]) for p in prepared)
        self.stack.callback(stream.close)
        return stream

    def _take(self, part: Prepared, outcomes: Outcomes) -> list[tuple[StagedWriter, pa.Table]]:
        """Count, label and capture one scored batch; return the tables to write."""
        batch, uc = part.batch, self.uc
        names = batch.schema.names
        target = batch.column(uc.target).to_numpy(zero_copy_only=False) if uc.target in names else None
        served = _Served(batch.num_rows)
        writes: list[tuple[StagedWriter, pa.Table]] = []
        for (s, mask, _), (scores, predictions) in zip(part.jobs, outcomes):
            self.scored[s.version] += len(scores)
            serves = s.role == "champion" or self.split
            if target is not None:
                self._keep_labels(s.version, target if mask is None else target[mask], scores)
            if s.version in self.writers:
                rows = batch if mask is None else batch.filter(pa.array(mask))
                writes.append((self.writers[s.version], self._capture_table(rows, s, scores, predictions, serves)))
            if serves:
                self.result.served[s.version] += len(scores)
                served.add(s.version, mask, scores, predictions)
        writes += self._prediction_writes(batch, served)
        self.result.rows += batch.num_rows
        if self.options.on_progress is not None:
            self.options.on_progress(self.result.rows, self.options.total_rows)
        return writes

    def _keep_labels(self, version: str, y: np.ndarray, scores: np.ndarray) -> None:
        if not pd.isna(y).any():  # class labels as one byte each (the KPIs of 20M rows keep 180 MB, not 320 MB)
            labels = np.asarray(y, dtype="float64")
            if self.uc.task == "classification" and np.isin(labels, (0.0, 1.0)).all():
                labels = labels.astype(np.int8)
            self.labels[version][0].append(labels)
            self.labels[version][1].append(scores)

    def _capture_table(
        self, rows: pa.RecordBatch, s: Scorer, scores: np.ndarray, predictions: np.ndarray, serves: bool
    ) -> pa.Table:
        """A capture part's rows: the key and inputs, the model's predictions, its role and whether it served."""
        names = rows.schema.names
        return pa.table(
            {
                **{c: rows.column(c) for c in [self.uc.key, *self.features] if c in names},
                **_prediction_columns(s, scores, predictions, self.run_id, self.scored_at),
                "role": _constant(s.role, len(scores), pa.string()),
                "served": _constant(serves, len(scores), pa.bool_()),
            }
        )

    def _prediction_writes(self, batch: pa.RecordBatch, served: _Served) -> list[tuple[StagedWriter, pa.Table]]:
        """The served predictions of the batch, for the output file (and the result's sample)."""
        if self.out_writer is None and len(self.result.sample) != 0:
            return []
        assert served.scores is not None and served.predictions is not None
        cols = _prediction_columns(self.champion, served.scores, served.predictions, self.run_id, self.scored_at)
        if self.split:
            cols["model_version"] = pa.array(served.versions, type=pa.string())
        table = pa.table({self.uc.key: batch.column(self.uc.key), **cols})
        if len(self.result.sample) == 0:
            self.result.sample = table.slice(0, 5).to_pandas()
        return [(self.out_writer, table)] if self.out_writer is not None else []

    def _finish(self) -> None:
        """KPIs per version, then every capture part and the output published."""
        if self.result.rows == 0:
            raise ScoringError(f"{self.options.source} has no rows to score.")
        for version, (ys, ss) in self.labels.items():
            if ys and sum(len(y) for y in ys) == self.scored[version]:  # KPIs only when every row it scored is labelled
                y, scores = _joined(ys), _joined(ss)
                self.result.metrics[version] = metrics_from_scores(y, scores, self.uc, threshold=self.spec.threshold)
        for version, writer in self.writers.items():
            if writer.rows == 0:  # a split share that got no rows: no empty part
                writer.abort()
                continue
            self.result.captures[version] = writer.commit()
        if self.out_writer is not None:
            self.result.output = self.out_writer.commit()


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The parts as one array, each part released as soon as it is copied (one copy of the data at a time)."""
    if len(parts) == 1:
        return parts.pop()
    out = np.empty(sum(len(p) for p in parts), dtype=np.result_type(*parts))
    start = 0
    while parts:
        part = parts.pop(0)
        out[start : start + len(part)] = part
        start += len(part)
    return out


def _prepared(
    batches: Iterable[pa.RecordBatch], scorers: list[Scorer], features: list[str], *, split: bool, source: str
) -> Iterator[Prepared]:
    """Check each non-empty batch against every model's contract and cut the rows each model scores, in order."""
    uc, spec = scorers[0].use_case, scorers[0].use_case.scoring
    seen = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        names = batch.schema.names
        frame = batch.select([c for c in features if c in names]).to_pandas()
        where = f"{source} (rows {seen + 1}-{seen + batch.num_rows})"
        for s in scorers:
            s.contract.validate(frame, nullable=spec.nullable, where=where)
        if uc.key not in names:
            raise ScoringError(f"{where} lacks the key column '{uc.key}'.{did_you_mean(uc.key, names)}")
        if split:
            to_challenger = split_mask(batch.column(uc.key).to_pandas(), spec.split_fraction)
            shares: dict[str, np.ndarray | None] = {
                scorers[0].version: ~to_challenger,
                scorers[1].version: to_challenger,
            }
        else:
            shares = {s.version: None for s in scorers}
        jobs = []
        for s in scorers:
            mask = shares[s.version]
            own = list(s.contract.columns) or uc.feature_columns
            sub_frame = frame if own == list(frame.columns) else frame[own]
            sub_frame = sub_frame if mask is None else sub_frame[mask]
            if len(sub_frame):
                jobs.append((s, mask, sub_frame))
        seen += batch.num_rows
        yield Prepared(batch, jobs)


def _prefetched(batches: Iterable[pa.RecordBatch], pool: ThreadPoolExecutor) -> Iterator[pa.RecordBatch]:
    """Yield ``batches`` while the next one is read and decoded in ``pool`` (one batch ahead, so memory stays flat)."""
    iterator = iter(batches)
    upcoming = pool.submit(next, iterator, None)
    while True:
        batch = upcoming.result()
        if batch is None:
            return
        upcoming = pool.submit(next, iterator, None)
        yield batch


def score_file(
    path: str | Path,
    champion: Scorer,
    *,
    challenger: Scorer | None = None,
    captures: CaptureStore | None = None,
    window: str = "adhoc",
    output: Path | None = None,
    run_id: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> ScoreResult:
    """Score a Parquet or CSV file in record batches (see :func:`score_batches`); Parquet inputs report their total rows."""
    options = ScoreOptions(
        challenger=challenger,
        captures=captures,
        window=window,
        output=output,
        run_id=run_id,
        source=f"scoring input {path}",
        on_progress=on_progress,
        total_rows=input_rows(path) if on_progress is not None else None,
    )
    extra = challenger.contract.columns if challenger else ()
    return score_batches(read_batches(path, champion.use_case, extra_columns=extra), champion, options)
