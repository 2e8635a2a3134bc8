"""Batch scoring: predictions for a window with the model version that made them.

:func:`score_batches` reads Arrow record batches, checks each against the model's
input contract, scores it with the champion (and a challenger in shadow or split
mode) and appends predictions and captures to staged files published at the end,
so peak memory stays flat as rows grow and no half-written file is ever visible.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from millpond.config.params import UseCase, validate_use_case
from millpond.errors import ScoringError, did_you_mean
from millpond.models.store import ModelStore
from millpond.models.training import metrics_from_scores
from millpond.scoring.capture import CaptureStore, StagedWriter, run_tag
from millpond.scoring.input_contract import InputContract

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
class Scorer:
    """A loaded model version, its use case and input contract, and the role it plays in this run."""

    name: str
    version: str
    model: Any
    use_case: UseCase
    contract: InputContract
    role: str = "champion"
    metadata: dict[str, Any] = field(default_factory=dict)
    store_root: Path | None = None  # the model store it was loaded from (Dask workers load it from there too)

    @classmethod
    def load(
        cls, store: ModelStore, name: str, ref: str, *, role: str = "champion", use_case: UseCase | None = None
    ) -> Scorer:
        """Load through the store (sha256 checked before skops loads); the use case defaults to the one it was trained with."""
        model, version = store.load(name, ref)
        uc = use_case or validate_use_case(version.metadata.params, source=f"metadata of {name}@{version.version}")
        return cls(
            name,
            version.version,
            model,
            uc,
            InputContract.for_model(version.metadata.to_dict(), model),
            role,
            version.metadata.to_dict(),
            store.root,
        )


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


def _score(scorer: Scorer, features: pd.DataFrame, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(scores, predictions): probability and class, or the regression prediction twice."""
    return predict_frame(
        scorer.model, scorer.use_case.task, features, threshold, label=f"{scorer.name}@{scorer.version}"
    )


def predict_frame(
    model: Any, task: str, features: pd.DataFrame, threshold: float, *, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, predictions) of ``model`` on ``features``: the one predict step, in this process or on a Dask worker."""
    if task == "classification":
        scores = np.asarray(model.predict_proba(features)[:, 1], dtype="float64")
        predictions = (scores >= threshold).astype("int64")
    else:
        scores = np.asarray(model.predict(features), dtype="float64")
        predictions = scores
    if not np.isfinite(scores).all():
        raise ScoringError(f"Model {label} produced non-finite scores; check the input for infinities.")
    return scores, predictions


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


def score_batches(
    batches: Iterable[pa.RecordBatch],
    champion: Scorer,
    *,
    challenger: Scorer | None = None,
    captures: CaptureStore | None = None,
    window: str = "adhoc",
    output: Path | None = None,
    run_id: str | None = None,
    source: str = "scoring input",
    on_progress: ProgressCallback | None = None,
    total_rows: int | None = None,
) -> ScoreResult:
    """Score record batches with the champion (and a challenger in shadow or split mode), writing incrementally.

    Each batch is checked against every model's input contract before it is scored. Captures (one part per
    model version) and the output file go to hidden staging files and are published only when every batch
    succeeded: a failure leaves nothing visible. Labels in the input (the target column) give KPIs per version.
    ``on_progress(rows scored so far, total_rows)`` is called after each batch.
    """
    uc = champion.use_case
    spec = uc.scoring
    scorers = [champion] + ([challenger] if challenger is not None else [])
    run_id = run_id or run_tag(None)
    tag = run_tag(run_id)
    scored_at = datetime.now(UTC)
    split = challenger is not None and spec.challenger_mode == "split"
    features = list(dict.fromkeys(c for s in scorers for c in (s.contract.columns or uc.feature_columns)))
    inputs = [uc.key, *features]
    writers: dict[str, StagedWriter] = {}
    out_writer: StagedWriter | None = None
    labels: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {s.version: ([], []) for s in scorers}
    scored = {s.version: 0 for s in scorers}
    result = ScoreResult(run_id=run_id, scored_at=scored_at.isoformat(), rows=0, served={s.version: 0 for s in scorers})
    stack = ExitStack()
    client = None
    try:
        if spec.dask_scheduler:  # connect first: an unreachable scheduler fails before any staging file exists
            from millpond.scoring.cluster import connect

            client = connect(spec.dask_scheduler, timeout=spec.dask_timeout_seconds)
            stack.callback(client.close)
        if captures is not None:
            for s in scorers:
                writers[s.version] = captures.open(window, s.version, tag)
        if output is not None:
            out_writer = StagedWriter(output, replace=True, read_only=False)
        io_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="millpond-score-io")
        pending: list[Future[None]] = []  # the previous batch's writes: at most one batch in flight
        stack.callback(io_pool.shutdown, wait=True, cancel_futures=True)
        with threadpool_limits(limits=uc.model.threads):
            prepared = _prepared(_prefetched(batches, io_pool), scorers, features, split=split, source=source)
            if client is not None:  # predict on the cluster's workers; results come back in input order
                from millpond.scoring.cluster import scored_on_cluster

                stream: Iterator[tuple[_Prepared, list[tuple[np.ndarray, np.ndarray]]]] = scored_on_cluster(
                    client, prepared, threshold=spec.threshold, threads=uc.model.threads
                )
            else:
                stream = ((p, [_score(s, f, spec.threshold) for s, _, f in p.jobs]) for p in prepared)
            stack.callback(stream.close)
            for part, outcomes in stream:
                batch = part.batch
                names = batch.schema.names
                served_pred = served_score = None
                writes: list[tuple[StagedWriter, pa.Table]] = []
                model_version = None
                target = batch.column(uc.target).to_numpy(zero_copy_only=False) if uc.target in names else None
                for (s, mask, _), (scores, predictions) in zip(part.jobs, outcomes):
                    scored[s.version] += len(scores)
                    serves = s.role == "champion" or split
                    if target is not None:
                        y = target if mask is None else target[mask]
                        if not pd.isna(y).any():
                            labels[s.version][0].append(np.asarray(y, dtype="float64"))
                            labels[s.version][1].append(scores)
                    if s.version in writers:
                        rows = batch if mask is None else batch.filter(pa.array(mask))
                        table = pa.table(
                            {
                                **{c: rows.column(c) for c in inputs if c in names},
                                **_prediction_columns(s, scores, predictions, run_id, scored_at),
                                "role": _constant(s.role, len(scores), pa.string()),
                                "served": _constant(serves, len(scores), pa.bool_()),
                            }
                        )
                        writes.append((writers[s.version], table))
                    if serves:
                        result.served[s.version] += len(scores)
                        if mask is None:
                            served_score, served_pred, model_version = (
                                scores,
                                predictions,
                                np.full(len(scores), s.version, dtype=object),
                            )
                        else:
                            if served_score is None:
                                served_score = np.empty(batch.num_rows)
                                served_pred = np.empty(batch.num_rows, dtype=predictions.dtype)
                                model_version = np.empty(batch.num_rows, dtype=object)
                            served_score[mask], served_pred[mask], model_version[mask] = scores, predictions, s.version  # type: ignore[index]
                if out_writer is not None or len(result.sample) == 0:
                    cols = _prediction_columns(champion, served_score, served_pred, run_id, scored_at)  # type: ignore[arg-type]
                    if split:
                        cols["model_version"] = pa.array(model_version, type=pa.string())
                    table = pa.table({uc.key: batch.column(uc.key), **cols})
                    if out_writer is not None:
                        writes.append((out_writer, table))
                    if len(result.sample) == 0:
                        result.sample = table.slice(0, 5).to_pandas()
                result.rows += batch.num_rows
                if on_progress is not None:
                    on_progress(result.rows, total_rows)
                for future in pending:  # Parquet encoding and disk writes overlap the next batch's scoring
                    future.result()
                pending = [io_pool.submit(writer.write, table) for writer, table in writes]
            for future in pending:
                future.result()
        if result.rows == 0:
            raise ScoringError(f"{source} has no rows to score.")
        for version, (ys, ss) in labels.items():
            if ys and sum(len(y) for y in ys) == scored[version]:  # KPIs only when every row it scored is labelled
                result.metrics[version] = metrics_from_scores(
                    np.concatenate(ys), np.concatenate(ss), uc, threshold=spec.threshold
                )
        for version, writer in writers.items():
            if writer.rows == 0:  # a split share that got no rows: no empty part
                writer.abort()
                continue
            result.captures[version] = writer.commit()
        if out_writer is not None:
            result.output = out_writer.commit()
    except BaseException:
        stack.close()  # no write still running when the staging files are removed
        for writer in writers.values():
            writer.abort()
        if out_writer is not None:
            out_writer.abort()
        raise
    finally:
        stack.close()
    return result


@dataclass
class _Prepared:
    """One record batch checked against every input contract, with each model's share of its feature rows."""

    batch: pa.RecordBatch
    jobs: list[tuple[Scorer, np.ndarray | None, pd.DataFrame]]  # (scorer, its row mask or None, its feature rows)


def _prepared(
    batches: Iterable[pa.RecordBatch], scorers: list[Scorer], features: list[str], *, split: bool, source: str
) -> Iterator[_Prepared]:
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
        yield _Prepared(batch, jobs)


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
    return score_batches(
        read_batches(path, champion.use_case, extra_columns=challenger.contract.columns if challenger else ()),
        champion,
        challenger=challenger,
        captures=captures,
        window=window,
        output=output,
        run_id=run_id,
        source=f"scoring input {path}",
        on_progress=on_progress,
        total_rows=input_rows(path) if on_progress is not None else None,
    )
