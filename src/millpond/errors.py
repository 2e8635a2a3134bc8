"""One exception family for millpond.

Every error says what failed, on which object, and how to fix it. Each class
also inherits the builtin exception users already catch (``ValueError``,
``FileNotFoundError``, ``KeyError``…), as scikit-learn does, and carries the
exit code the command line returns for it (``exit_code``; :func:`exit_code_of`
is the one mapping): 2 bad input (the default), 1 a stage failed, 3 a stored
byte failed verification, 4 nothing due, 5 locked by another process.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable
from types import ModuleType

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTEGRITY, EXIT_NOTHING_DUE, EXIT_LOCKED = 0, 1, 2, 3, 4, 5


class MillpondError(Exception):
    """Root of every error millpond raises on purpose."""

    exit_code = EXIT_BAD_INPUT


class IntegrityError(MillpondError, RuntimeError):
    """A stored byte does not match what was recorded for it (tampering, or a disk that lost data)."""

    exit_code = EXIT_INTEGRITY


class LockedError(MillpondError, RuntimeError):
    """Another process holds the lock this command needs; the message names the holder."""

    exit_code = EXIT_LOCKED


class NothingDueError(MillpondError, LookupError):
    """There is nothing to do: every window with data has completed."""

    exit_code = EXIT_NOTHING_DUE


def exit_code_of(exc: BaseException) -> int:
    """The command-line exit code for an exception: its ``exit_code``, 1 for anything millpond did not raise."""
    return int(getattr(exc, "exit_code", EXIT_FAILED)) if isinstance(exc, MillpondError) else EXIT_FAILED


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""``."""
    matches = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""


class MissingExtraError(MillpondError, ImportError):
    """A feature needs an optional dependency group (a pip "extra") that is not installed; names the install line."""


def require_extra(extra: str, module: str, *, feature: str = "") -> ModuleType:
    """Import ``module`` of the optional ``extra`` or raise :class:`MissingExtraError` naming ``pip install``.

    ``require_extra("dask", "distributed", feature="scoring.dask_scheduler")`` returns the module when the
    ``millpond[dask]`` extra is installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f"{feature} needs" if feature else "This feature needs"
        raise MissingExtraError(
            f"{what} the optional package {module!r}, which is not installed ({exc}). "
            f"Install millpond's {extra!r} extra: pip install 'millpond[{extra}]'."
        ) from None


# --- parameters and workspace -------------------------------------------------
class ParamsError(MillpondError, ValueError):
    """A parameter set is malformed, misspelt or inconsistent."""


class WorkspaceError(MillpondError, FileNotFoundError):
    """The millpond workspace (its root or a folder in it) cannot be found."""


class StorageError(MillpondError, OSError):
    """A write to disk failed (full disk, read-only or unwritable folder, I/O error); the message names the path."""


# --- feature marts ------------------------------------------------------------
class MartError(MillpondError, ValueError):
    """Ingesting or reading a feature mart failed."""


class SourceNotFoundError(MartError, FileNotFoundError):
    """A raw source file or database for a window does not exist."""


class SchemaError(MartError):
    """Raw data does not match the columns and dtypes the use case declares."""


class SourceQueryError(MartError):
    """A source database answered, but the source's query failed."""


class TransformError(MartError):
    """A mart's DuckDB transform (.sql) failed; the message names the file and line."""


class ContractViolationError(SchemaError):
    """A window breaks its mart's data contract; offending rows go to a quarantine file."""


class MartVersionNotFoundError(MartError, KeyError):
    """No mart version exists for the requested window or id."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


# --- models -------------------------------------------------------------------
class ModelStoreError(MillpondError, ValueError):
    """Saving, loading or aliasing a model version failed."""


class ModelStoreLockedError(ModelStoreError, LockedError):
    """Another process kept a model's store lock for longer than the store waits."""


class MartIntegrityError(MartError, IntegrityError):
    """A stored mart version (data or manifest) does not match the hashes recorded for it."""


class LogIntegrityError(IntegrityError):
    """An append-only log has an unreadable line before its end, or its hash chain is broken."""


class ModelVersionNotFoundError(ModelStoreError, KeyError):
    """A model name, version or alias does not exist in the store."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ModelIntegrityError(ModelStoreError, IntegrityError):
    """A model file on disk does not match the hash the store recorded, or holds untrusted types."""


class TrainingError(MillpondError, ValueError):
    """Fitting a model failed (too few rows, one class only, bad search space…)."""


class ScoringError(MillpondError, ValueError):
    """Scoring input does not fit the model's input schema."""


class InputContractError(ScoringError):
    """Scoring rows break the model's input contract (missing column, wrong type, unseen category, forbidden NaN)."""


class CaptureError(MillpondError, ValueError):
    """Writing or reading the data-capture store failed."""


class LabelsError(MillpondError, ValueError):
    """A late-labels file cannot be joined to the captured predictions (unknown or duplicate keys, missing column)."""


class SmokeTestError(MillpondError, RuntimeError):
    """A deployed model failed its smoke test."""


# --- drift and promotion ------------------------------------------------------
class DriftError(MillpondError, ValueError):
    """Drift statistics cannot be computed for the given data."""


class PromotionError(MillpondError, ValueError):
    """A candidate cannot be compared or promoted."""


class ApprovalError(PromotionError):
    """An approval or rejection names a version with no open approval."""


class NotAnApproverError(ApprovalError):
    """The OS user running approve, reject or rollback is not in ``promotion.approvers`` (exit 2; nothing moved)."""


# --- governance ---------------------------------------------------------------
class AuditIntegrityError(IntegrityError):
    """The hash chain of an audit log is broken: a line was edited or deleted."""


class NotificationError(MillpondError, ConnectionError):
    """A notification channel (SMTP, webhook) failed; logged, never fails a cycle."""


# --- runs ---------------------------------------------------------------------
class RunError(MillpondError, RuntimeError):
    """Executing or recording a run failed."""


class StageFailedError(RunError):
    """A stage notebook raised; its executed notebook is kept in the run record."""

    exit_code = EXIT_FAILED


class RunNotFoundError(RunError, KeyError):
    """A run id does not exist in the runs index."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RunIntegrityError(RunError, IntegrityError):
    """A run record on disk was altered after it was written."""


class ReadOnlyRunError(RunError, PermissionError):
    """A read-only execution (a stage notebook run interactively with ``commit=False``) tried to write a store."""


# --- unattended operation -----------------------------------------------------
class TransientError(MillpondError, ConnectionError):
    """A failure worth retrying: a database or share that does not answer right now.

    Sources raise a subclass; the scheduler retries the stage with back-off
    (``schedule.retries`` and ``schedule.backoff_seconds`` in the params).
    """


class SourceUnavailableError(MartError, TransientError):
    """A raw source (database, network share) did not answer; it may answer later, so the scheduler retries it."""


class ClusterUnavailableError(TransientError):
    """The Dask scheduler named in the params does not answer, or has no workers; it may answer later."""


class CycleLockedError(RunError, LockedError):
    """Another cycle of the same use case holds the workspace lock."""


class ScheduleError(MillpondError, ValueError):
    """A schedule (cron expression, crontab entry, window calendar) is invalid."""


# --- reports and views --------------------------------------------------------
class ReportError(MillpondError, RuntimeError):
    """An HTML report, the runs index or a comparison report cannot be written."""


class ViewError(MillpondError, RuntimeError):
    """An interactive view (a dtale session) cannot be started for the requested run."""


class PortInUseError(ViewError, OSError):
    """The port asked for an interactive view is already taken on 127.0.0.1."""
