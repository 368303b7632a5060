"""MLflow store: concurrent first runs, stale RUNNING runs, the UI's experiment kind (issue 10).

Trial: two `trusteq-study` processes on a fresh `mlruns/` crashed in MLflow's schema migration in
7 of 7 tries and left `mlflow.db` half-migrated for good; a `kill -9`'d run stayed RUNNING forever.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest
from omegaconf import OmegaConf

from trusteq.tracking import mlflow_tracking
from trusteq.tracking.mlflow_tracking import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    HOST_TAG,
    PID_TAG,
    ensure_experiment,
    mark_stale_runs,
)


def _cfg(mlruns):
    return OmegaConf.create(
        {"paths": {"mlruns_dir": str(mlruns)}, "logger": {"experiment_name": "t", "enabled": True}}
    )


@pytest.fixture(scope="module")
def _migrated_db(tmp_path_factory):
    """A freshly created and migrated store, made once (migrating takes seconds)."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path_factory.mktemp("template") / "mlruns"
    folder.mkdir()
    MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
    return folder / "mlflow.db"


@pytest.fixture
def mlruns(tmp_path, _migrated_db):
    import shutil

    folder = tmp_path / "mlruns"
    folder.mkdir()
    shutil.copy(_migrated_db, folder / "mlflow.db")
    return folder


@pytest.fixture(autouse=True)
def _fresh_process_state(monkeypatch):
    monkeypatch.setattr(mlflow_tracking, "_READY", set())
    monkeypatch.setattr(mlflow_tracking, "_SWEPT", set())
    monkeypatch.delenv("MLFLOW_RUN_CONTEXT", raising=False)


WORKER = textwrap.dedent(
    """
    import sys
    from omegaconf import OmegaConf
    from trusteq.tracking.mlflow_tracking import ensure_experiment, _mlflow
    import mlflow.store.tracking.sqlalchemy_store  # imports done before the start signal
    cfg = OmegaConf.create({{"paths": {{"mlruns_dir": {mlruns!r}}},
                             "logger": {{"experiment_name": "t", "enabled": True}}}})
    print("ready", flush=True)
    sys.stdin.readline()
    mlflow = _mlflow()
    with mlflow.start_run(experiment_id=ensure_experiment(cfg)):
        mlflow.log_metric("x", 1.0)
    print("done", flush=True)
    """
)


@pytest.mark.slow  # four fresh interpreters importing MLflow: about a minute on 2 busy cores
def test_four_first_runs_at_once_on_a_fresh_store(tmp_path):
    """Without the lock, this failed in 3 of 3 tries here (3 or 4 of the 4 processes crashed)."""
    from mlflow.tracking import MlflowClient

    mlruns = tmp_path / "mlruns"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER.format(mlruns=str(mlruns))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:  # as close to simultaneous as a test can make it
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = [worker.communicate(timeout=180) for worker in workers]
    for worker, (out, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err[-3000:]
        assert out.strip().endswith("done")
    client = MlflowClient(tracking_uri=f"sqlite:///{mlruns}/mlflow.db")
    experiments = [e for e in client.search_experiments() if e.name == "t"]
    assert len(experiments) == 1
    runs = client.search_runs([experiments[0].experiment_id])
    assert len(runs) == 4 and {run.info.status for run in runs} == {"FINISHED"}
    assert len({run.data.tags[PID_TAG] for run in runs}) == 4
    assert experiments[0].tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND


def test_experiment_kind_is_set_on_old_experiments_too(mlruns):
    import mlflow

    uri = f"sqlite:///{mlruns / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.create_experiment("t")  # made by an older trusteq: no kind tag
    experiment_id = ensure_experiment(_cfg(mlruns))
    tags = mlflow.MlflowClient(uri).get_experiment(experiment_id).tags
    assert tags[EXPERIMENT_KIND_TAG] == "custom_model_development"


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_running_runs_of_dead_processes_are_marked_killed(mlruns):
    from mlflow.tracking import MlflowClient

    cfg = _cfg(mlruns)
    experiment_id = ensure_experiment(cfg)
    uri = mlflow_tracking.tracking_uri(cfg)
    client = MlflowClient(tracking_uri=uri)
    host = socket.gethostname()
    dead = client.create_run(experiment_id, tags={HOST_TAG: host, PID_TAG: str(_dead_pid())})
    alive = client.create_run(experiment_id, tags={HOST_TAG: host, PID_TAG: "1"})
    elsewhere = client.create_run(experiment_id, tags={HOST_TAG: "other", PID_TAG: "999999"})
    untagged = client.create_run(experiment_id)
    assert mark_stale_runs(uri, experiment_id) == [dead.info.run_id]
    status = {run.info.run_id: run.info.status for run in client.search_runs([experiment_id])}
    assert status[dead.info.run_id] == "KILLED"
    for run in (alive, elsewhere, untagged):
        assert status[run.info.run_id] == "RUNNING"


def test_runs_of_this_process_carry_host_and_pid(mlruns):
    import os

    import mlflow

    experiment_id = ensure_experiment(_cfg(mlruns))
    with mlflow.start_run(experiment_id=experiment_id) as run:
        pass
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags[PID_TAG] == str(os.getpid()) and tags[HOST_TAG] == socket.gethostname()


def test_half_migrated_store_is_repaired(mlruns):
    """A leftover `_alembic_tmp_*` table (the crash's residue) is dropped under the lock."""
    import sqlite3

    cfg = _cfg(mlruns)
    ensure_experiment(cfg)
    db = mlruns / "mlflow.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE _alembic_tmp_latest_metrics (x INTEGER)")
    assert mlflow_tracking._drop_half_migration(db) == ["_alembic_tmp_latest_metrics"]
    mlflow_tracking._READY.clear()
    ensure_experiment(cfg)
