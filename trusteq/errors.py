"""How a trusteq command ends: signals, Ctrl-C and trusteq errors, for the CLI entry points.

`cli_entry` wraps a console entry point (put it *under* `@hydra.main`, so that it sees the task
function's exceptions before Hydra prints them):

- SIGTERM (`docker stop`, a scheduler's time limit, `kill`) raises `Terminated` in the main thread,
  so `finally` blocks and context managers run (temporary folders are removed, MLflow runs end as
  FAILED), then still-active MLflow runs are ended as KILLED, one line is printed and the process
  exits 143 (128 + 15), never 0.
- Ctrl-C (SIGINT) raises `Interrupted` the same way; one line "interrupted ...", exit 130.
- A trusteq error (any exception class defined in a `trusteq.*` module, e.g. `ConfigError`,
  `CacheError`, `BackboneError`, `StudyConfigError`, `DataConfigError`) prints ONE line
  `error: <message>` without a traceback, exit 2; with `TRUSTEQ_VERBOSE=1` or `verbose=true` in
  the config the traceback is printed too. Any other exception is a bug and propagates (Hydra
  prints it, exit 1).

A signal that arrives while the main thread is inside a database call (a `sqlalchemy`, `sqlite3`
or `mlflow.store` frame on the stack: an MLflow write half-way through its transaction) is not
raised there: an exception thrown into the middle of a sqlite commit leaves that connection holding
the write lock, and the cleanup that follows (`end_run`, ending the runs KILLED) then waits on it
for MLflow's 20 s busy timeout and fails with "database is locked", masking the signal (exit 1
and a RUNNING run). The signal is re-sent to the process every 50 ms until the call has returned,
for at most `DEFER_AT_MOST_S` (a hung tracking server is interrupted anyway). Should cleanup still
fail during a termination, the exit code stays the signal's (`signal_in_chain`).

Why `BaseException` subclasses and not `KeyboardInterrupt`: Lightning's `Trainer.fit` catches
`KeyboardInterrupt` and calls `sys.exit(1)` (and its SIGTERM handling raises a `SystemExit` with
status 0, which is how a SIGTERM'd training used to "succeed"); other `BaseException`s it re-raises
after finalising its loggers as FAILED, which is what is wanted here. `except Exception` in library
code does not swallow them either.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

log = logging.getLogger(__name__)

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM

F = TypeVar("F", bound=Callable[..., Any])


class Terminated(BaseException):
    """The process received SIGTERM; raised in the main thread so cleanup code runs."""


class Interrupted(BaseException):
    """The user pressed Ctrl-C (SIGINT); raised in the main thread so cleanup code runs."""


def is_trusteq_error(error: BaseException) -> bool:
    """Whether `error` is one of trusteq's user-facing errors (a class from a `trusteq.*` module).

    Contract violations (`AssertionError` subclasses such as `CharacteristicContractError`) are
    bugs, not user errors, and keep their traceback.
    """
    if isinstance(error, AssertionError) or not isinstance(error, Exception):
        return False
    return any(
        cls.__module__.split(".")[0] == "trusteq" and cls.__name__.endswith("Error")
        for cls in type(error).__mro__
    )


#: Module prefixes of database code that must not be interrupted half-way (see the module doc).
DATABASE_MODULES = ("sqlalchemy", "sqlite3", "mlflow.store")
RESEND_AFTER_S = 0.05
#: A database call still running this long after the signal (a hung tracking server) is
#: interrupted anyway: the signal is never deferred for longer.
DEFER_AT_MOST_S = 10.0
_deferred_since: dict[int, float] = {}


def in_database_call(frame: Any) -> bool:
    """Whether `frame` or any caller of it runs code of a `DATABASE_MODULES` module."""
    while frame is not None:
        name = frame.f_globals.get("__name__", "") or ""
        if name.startswith(DATABASE_MODULES):
            return True
        frame = frame.f_back
    return False


def _defer(signum: int, frame: Any) -> bool:
    """Whether to defer `signum` now (re-sending it later); see `DEFER_AT_MOST_S`."""
    import time

    if not in_database_call(frame):
        _deferred_since.pop(signum, None)
        return False
    first = _deferred_since.setdefault(signum, time.monotonic())
    if time.monotonic() - first > DEFER_AT_MOST_S:
        _deferred_since.pop(signum, None)
        return False
    _resend_later(signum)
    return True


def _resend_later(signum: int) -> None:
    import threading

    timer = threading.Timer(RESEND_AFTER_S, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


def _raise_terminated(signum: int, frame: Any) -> None:
    if _defer(signum, frame):
        return
    raise Terminated(f"signal {signum}")


def _raise_interrupted(signum: int, frame: Any) -> None:
    if _defer(signum, frame):
        return
    raise Interrupted(f"signal {signum}")


def signal_in_chain(error: BaseException) -> type[BaseException] | None:
    """`Terminated` or `Interrupted` if `error` was raised while handling one, else None.

    Cleanup code that fails during a termination (an exception whose `__context__` chain holds
    the `Terminated`) must not turn exit 143 into a crash.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, (Terminated, Interrupted)):
            return type(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` and SIGINT raises `Interrupted`.

    Only installs handlers from the main thread (Python allows no other); restores the previous
    handlers on exit.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated),
        signal.SIGINT: signal.signal(signal.SIGINT, _raise_interrupted),
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def verbose_requested(cfg: Any = None) -> bool:
    """`TRUSTEQ_VERBOSE=1` in the environment or `verbose=true` in the config."""
    if os.environ.get("TRUSTEQ_VERBOSE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        return bool(cfg.get("verbose", False)) if cfg is not None else False
    except Exception:  # noqa: BLE001 - a config without the key, or not a mapping
        return False


def _end_mlflow_runs(status: str) -> None:
    """End every MLflow run still active in this process with `status` (no-op without MLflow)."""
    if "mlflow" not in sys.modules:
        return
    from trusteq.tracking.mlflow_tracking import end_active_runs

    with contextlib.suppress(Exception):
        end_active_runs(status)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split("\n")).strip()
    return text or type(error).__name__


@contextlib.contextmanager
def handled_exit(cfg: Any = None) -> Iterator[None]:
    """Run the block with signals as exceptions; turn its end into one line and an exit code.

    Args:
        cfg: the composed config (read for `verbose`), or None.

    Raises:
        SystemExit: 143 after SIGTERM, 130 after Ctrl-C, 2 after a trusteq error; other
            exceptions propagate unchanged.
    """
    try:
        with signals_as_exceptions():
            yield
    except Terminated:
        _end_mlflow_runs("KILLED")
        print(
            "terminated (SIGTERM): finished cache entries are kept; rerun the same command to "
            "resume",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(EXIT_TERMINATED) from None
    except (Interrupted, KeyboardInterrupt):
        _end_mlflow_runs("KILLED")
        print(
            "interrupted (Ctrl-C): finished cache entries are kept; rerun the same command to "
            "resume",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(EXIT_INTERRUPTED) from None
    except SystemExit as exit_:
        # Lightning's own SIGTERM path ends in SIGTERMException(SystemExit) with status None (0).
        if type(exit_).__name__ == "SIGTERMException":
            _end_mlflow_runs("KILLED")
            print("terminated (SIGTERM)", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_TERMINATED) from None
        raise
    except Exception as error:
        masked = signal_in_chain(error)
        if masked is not None:
            log.warning("cleanup failed during %s: %s", masked.__name__, _one_line(error))
            _end_mlflow_runs("KILLED")
            code, what = (
                (EXIT_TERMINATED, "terminated (SIGTERM)")
                if masked is Terminated
                else (EXIT_INTERRUPTED, "interrupted (Ctrl-C)")
            )
            print(
                f"{what}: finished cache entries are kept; rerun the same command to resume",
                file=sys.stderr,
                flush=True,
            )
            raise SystemExit(code) from None
        if not is_trusteq_error(error):
            raise
        _end_mlflow_runs("FAILED")
        verbose = verbose_requested(cfg)
        if verbose:
            traceback.print_exc()
        hint = "" if verbose else " [TRUSTEQ_VERBOSE=1 shows the traceback]"
        print(f"error: {_one_line(error)}{hint}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_ERROR) from None


def cli_entry(func: F) -> F:
    """Decorator for a console entry point (under `@hydra.main`); see the module docstring.

    Examples:
        >>> @cli_entry
        ... def job(cfg=None):
        ...     return 3
        >>> job()
        3
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cfg = args[0] if args else kwargs.get("cfg")
        with handled_exit(cfg):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
