"""MLflow tracking: one experiment, one parent run per study, one child run per variant.

Always an explicit tracking URI (`sqlite:///<abs>/mlruns/mlflow.db`) and an explicit artifact
location under `mlruns/`: recent MLflow refuses the bare `./mlruns` file store, and artifacts would
otherwise land relative to the working directory.

Metric keys (stable):
    child run of a variant: the unary keys of `trusteq.characteristics.unary`, the compression keys
        `params`, `nonzero_params`, `sparsity`, `size_mb`, `bits_per_weight`,
        `examples_per_second`, and for each pairwise characteristic `<name>.vs_reference` with
        `<name>.ci_low` / `.ci_high` (the key scheme of `trusteq.tracking.keys`).
    parent run: `noise_floor.<name>` (reference vs its seed replicate) with its interval.
Artifacts: `reliability_<binning>.png` (child); `matrices/<name>.{csv,json,png}`,
    `knn_agreement_vs_k.png`, `summary.csv`, `summary.md` (parent).

Reliability (issue 10):
    - The sqlite store is created and migrated, and the experiment created, under an exclusive
      file lock (`mlruns/.mlflow.db.lock`, `fcntl.flock`), so several processes starting at once
      on a fresh `mlruns/` (a joblib sweep) all succeed; a store left half-migrated by an older
      crash (`_alembic_tmp_*` tables) is repaired once under the same lock.
    - Every run made in this process is tagged `trusteq.host`, `trusteq.pid` and
      `trusteq.pid_start` (through MLflow's `MLFLOW_RUN_CONTEXT`); the first `ensure_experiment`
      of a process marks RUNNING runs of dead processes on this host as KILLED
      (`mark_stale_runs`), so a `kill -9`'d job does not stay RUNNING forever.
    - `end_active_runs(status)` ends the runs still open in this process (the CLI calls it with
      KILLED after SIGTERM / Ctrl-C, see `trusteq.errors`).
    - The experiment carries `mlflow.experimentKind=custom_model_development`; the MLflow 3 UI
      still opens on its GenAI pages unless the address says `workflowType=machine_learning`
      (the URL the CLI prints does), and `log_comparison` stores the verdict view
      (`trusteq.tracking.keys.verdict_view_state`) as a shared view of the experiment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

log = logging.getLogger(__name__)

#: Experiment tag read by the MLflow 3 UI to pick its default view (mlflow's JS enum
#: `ExperimentKind.CUSTOM_MODEL_DEVELOPMENT`); without it the UI guesses, often the GenAI view.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
PID_TAG, HOST_TAG, START_TAG = "trusteq.pid", "trusteq.host", "trusteq.pid_start"

_READY: set[str] = set()  # tracking URIs whose store was initialised in this process
_SWEPT: set[tuple[str, str]] = set()  # (uri, experiment id) already swept for stale runs


def _mlflow():
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    return mlflow


def tracking_uri(cfg: DictConfig) -> str:
    """`cfg.logger.tracking_uri` if set, else `sqlite:///<absolute mlruns dir>/mlflow.db`.

    A set URI (e.g. `http://host:5000`, one tracking server for every job of a multi-machine
    sweep: `python -m trusteq.tracking.server start`) is returned as given; the sqlite default's
    folder is created.
    """
    configured = cfg.get("logger", {}).get("tracking_uri")
    if configured:
        return str(configured)
    folder = Path(cfg.paths.mlruns_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def _process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (Linux `/proc/<pid>/stat` field 22), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[19]


def process_tags() -> dict[str, str]:
    """Tags that identify this process: host, pid and the pid's start time."""
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    start = _process_start(os.getpid())
    if start:
        tags[START_TAG] = start
    return tags


def _tag_runs_of_this_process() -> None:
    """Make MLflow add `process_tags()` to every run this process creates (fluent and client)."""
    try:
        context = json.loads(os.environ.get("MLFLOW_RUN_CONTEXT") or "{}")
    except json.JSONDecodeError:
        context = {}
    os.environ["MLFLOW_RUN_CONTEXT"] = json.dumps({**context, **process_tags()})


def _process_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start is None or _process_start(pid) in (None, start)


@contextlib.contextmanager
def store_lock(mlruns_dir: str | Path) -> Iterator[None]:
    """An exclusive lock on `<mlruns_dir>/.mlflow.db.lock` across processes (`fcntl.flock`)."""
    folder = Path(mlruns_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".mlflow.db.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _drop_half_migration(db_path: Path) -> list[str]:
    """Drop `_alembic_tmp_*` tables a crashed migration left behind; returns their names."""
    with contextlib.closing(sqlite3.connect(db_path)) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        names = [row[0] for row in tables if row[0].startswith("_alembic_tmp_")]
        for name in names:
            connection.execute(f'DROP TABLE "{name}"')
        connection.commit()
    return names


def _init_store(uri: str) -> None:
    """Create or migrate the sqlite store (call under `store_lock`), repairing a half migration."""
    from mlflow.tracking import MlflowClient

    db_path = Path(uri.removeprefix("sqlite:///"))
    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        return
    except Exception as error:  # noqa: BLE001 - sqlalchemy/alembic/mlflow errors
        if "_alembic_tmp" not in str(error) and "alembic" not in type(error).__module__:
            raise
        dropped = _drop_half_migration(db_path)
        log.warning("%s: repairing a half-finished MLflow migration (dropped %s)", db_path, dropped)
        from mlflow.store.db.utils import _upgrade_db, create_sqlalchemy_engine_with_retry

        try:
            _upgrade_db(create_sqlalchemy_engine_with_retry(uri))
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        except Exception as second:  # noqa: BLE001
            raise RuntimeError(
                f"{db_path}: the MLflow database is damaged ({second}). Fix: move it aside "
                f"(`mv {db_path} {db_path}.broken`) and rerun; cached results are kept."
            ) from second


def artifact_location(cfg: DictConfig, uri: str) -> str | None:
    """Where a new experiment stores artifacts.

    `mlruns/artifacts` for a local store; None (the server's own `--artifacts-destination`) for
    an http tracking server, so every machine's artifacts go through the server.
    """
    if uri.startswith(("http://", "https://")):
        return None
    return (Path(cfg.paths.mlruns_dir).resolve() / "artifacts").as_uri()


def ensure_experiment(cfg: DictConfig) -> str:
    """Set the tracking URI and return the id of `cfg.logger.experiment_name` (created if new).

    The first call of a process initialises the store under `store_lock` (safe when several
    processes start at once), tags this process's runs with `process_tags()`, sets the
    experiment's `mlflow.experimentKind` tag, and marks RUNNING runs of dead processes KILLED.
    """
    mlflow = _mlflow()
    uri = tracking_uri(cfg)
    mlflow.set_tracking_uri(uri)
    _tag_runs_of_this_process()
    name = str(cfg.logger.experiment_name)
    if uri not in _READY:
        with store_lock(cfg.paths.mlruns_dir):
            _init_store(uri)
            experiment = mlflow.get_experiment_by_name(name)
            if experiment is None:
                try:
                    mlflow.create_experiment(
                        name,
                        artifact_location=artifact_location(cfg, uri),
                        tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND},
                    )
                except mlflow.exceptions.MlflowException as error:
                    # Another machine created it between our lookup and create (a shared
                    # server: the file lock only orders the processes of one machine).
                    if "RESOURCE_ALREADY_EXISTS" not in str(error.error_code):
                        raise
                experiment = mlflow.get_experiment_by_name(name)
            experiment_id = experiment.experiment_id
            if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
                mlflow.MlflowClient(uri).set_experiment_tag(
                    experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
                )
        _READY.add(uri)
    else:
        experiment_id = mlflow.get_experiment_by_name(name).experiment_id
    if (uri, experiment_id) not in _SWEPT:
        _SWEPT.add((uri, experiment_id))
        try:
            mark_stale_runs(uri, experiment_id)
        except Exception as error:  # noqa: BLE001 - housekeeping must never stop a study
            log.warning("could not check for stale MLflow runs: %s", error)
    return experiment_id


def mark_stale_runs(uri: str, experiment_id: str, status: str = "KILLED") -> list[str]:
    """Mark RUNNING runs of dead processes on this host as `status`; returns their ids.

    A run counts as stale when its `trusteq.host` tag is this host and its `trusteq.pid` is not
    alive (or was reused: `trusteq.pid_start` differs). Runs of other hosts, of live processes
    and runs without these tags are left alone.

    Args:
        uri: tracking URI.
        experiment_id: the experiment to sweep.
        status: MLflow run status to set (`KILLED` or `FAILED`).
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    host = socket.gethostname()
    stale = []
    runs = client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=5000
    )
    for run in runs:
        tags = run.data.tags
        if tags.get(HOST_TAG) != host or not str(tags.get(PID_TAG, "")).isdigit():
            continue
        pid = int(tags[PID_TAG])
        if pid == os.getpid() or _process_alive(pid, tags.get(START_TAG)):
            continue
        client.set_terminated(run.info.run_id, status)
        stale.append(run.info.run_id)
    if stale:
        log.warning(
            "marked %d MLflow run(s) of killed processes as %s: %s", len(stale), status, stale
        )
    return stale


def end_active_runs(status: str = "KILLED") -> int:
    """End every MLflow run still active in this process with `status`; returns how many."""
    mlflow = _mlflow()
    ended = 0
    while mlflow.active_run() is not None:
        mlflow.end_run(status)
        ended += 1
    return ended


def lightning_logger(
    cfg: DictConfig,
    run_name: str,
    tags: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
) -> Any:
    """A Lightning `MLFlowLogger` into the study's experiment, or False when logging is off.

    `params` (e.g. the fine-tuning recipe) are logged as the run's parameters.
    """
    if not cfg.logger.enabled:
        return False
    from lightning.pytorch.loggers import MLFlowLogger

    ensure_experiment(cfg)
    logger = MLFlowLogger(
        experiment_name=str(cfg.logger.experiment_name),
        run_name=run_name,
        tracking_uri=tracking_uri(cfg),
        tags={**dict(tags), **process_tags()},
        artifact_location=artifact_location(cfg, tracking_uri(cfg)),
    )
    if params:
        logger.log_hyperparams(dict(params))
    return logger


def ui_command(cfg: DictConfig) -> str:
    """The shell command that opens the MLflow UI on this store."""
    return (
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false .venv/bin/mlflow ui --workers 1 "
        f"--backend-store-uri {tracking_uri(cfg)} --port 5000"
    )
