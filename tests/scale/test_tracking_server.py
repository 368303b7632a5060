"""The PostgreSQL-backed MLflow tracking server under concurrent writers.

`trusteq.tracking.server.start` builds a PostgreSQL cluster in a temporary folder, starts it and
`mlflow server` on free loopback ports; four processes then log at the same time through
trusteq's own tracking code (`logger.tracking_uri=http://…`): one parent run and three child runs
each, with metrics, parameters and an artifact. Every run must arrive, FINISHED, with its values.

Two layouts: four jobs of one machine (one `mlruns/` folder, so `ensure_experiment`'s file lock
serialises the experiment's creation) and four "machines" (one `mlruns/` folder each, no common
lock). The second is expected to fail today: `ensure_experiment` checks then creates the
experiment, so two machines starting together race (`RESOURCE_ALREADY_EXISTS`), and it gives the
experiment a `file://` artifact location on the creating machine instead of the server's proxy.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from trusteq.tracking import server

pytestmark = [
    pytest.mark.scale,
    pytest.mark.skipif(
        importlib.util.find_spec("psycopg2") is None, reason="needs the server extra (psycopg2)"
    ),
]

WORKER = r"""
import json, sys
import mlflow
from trusteq.testing.tiny import compose
from trusteq.tracking.mlflow_tracking import ensure_experiment

uri, root, worker, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
cfg = compose([f"paths.root_dir={root}", f"logger.tracking_uri={uri}",
               f"logger.experiment_name={name}"])
experiment_id = ensure_experiment(cfg)
assert mlflow.get_tracking_uri() == uri
ids = []
with mlflow.start_run(experiment_id=experiment_id, run_name=f"parent-{worker}") as parent:
    mlflow.log_param("worker", worker)
    ids.append(parent.info.run_id)
    for child in range(3):
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"child-{worker}-{child}",
                              nested=True) as run:
            mlflow.log_params({"worker": worker, "child": child})
            for step in range(5):
                mlflow.log_metric("value", worker * 100 + child * 10 + step, step=step)
            mlflow.log_dict({"worker": worker, "child": child}, "result.json")
            ids.append(run.info.run_id)
print(json.dumps(ids))
"""


def _postgres_available() -> bool:
    try:
        server.postgres_bin()
    except server.ServerError:
        return False
    return True


@pytest.fixture(scope="module")
def tracking_server():
    if not _postgres_available():
        pytest.skip("needs PostgreSQL's server binaries (apt-get install -y postgresql)")
    # Not pytest's tmp_path: its 0700 parents would keep the `postgres` user out when run as root.
    folder = Path(tempfile.mkdtemp(prefix="trusteq-tracking-", dir="/tmp"))
    folder.chmod(0o711)  # traversable, not listable
    try:
        state = server.start(folder / "server", port=server.free_port(), timeout=180)
        yield state
    finally:
        server.stop(folder / "server")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize(
    "layout",
    [
        "one_machine",
        "four_machines",
    ],
)
def test_four_concurrent_writers_lose_nothing(tracking_server, tmp_path, layout):
    from mlflow.tracking import MlflowClient

    uri = tracking_server.tracking_uri
    assert server.status(tracking_server.dir) == {
        "mlflow": True,
        "postgres": True,
        "tracking_uri": uri,
    }
    name = f"concurrent-{layout}"
    roots = [
        tmp_path / (f"machine{i}" if layout == "four_machines" else "machine") for i in range(4)
    ]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, uri, str(roots[i]), str(i), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    logged = []
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
        logged += json.loads(out.strip().splitlines()[-1])
    assert len(logged) == len(set(logged)) == 16

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    assert sorted(run.info.run_id for run in runs) == sorted(logged)  # none lost, none extra
    assert {run.info.status for run in runs} == {"FINISHED"}  # none left RUNNING
    names = {run.info.run_name: run for run in runs}
    assert len(names) == 16
    for i in range(4):
        parent = names[f"parent-{i}"]
        assert parent.data.params["worker"] == str(i)
        for child in range(3):
            run = names[f"child-{i}-{child}"]
            assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
            history = client.get_metric_history(run.info.run_id, "value")
            assert [m.value for m in sorted(history, key=lambda m: m.step)] == [
                i * 100 + child * 10 + step for step in range(5)
            ]
            assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["result.json"]
    if layout == "four_machines":  # artifacts must be on the server, not on one job's disk
        assert experiment.artifact_location.startswith("mlflow-artifacts:")
    # The store really is PostgreSQL: the runs are rows of the server's `runs` table.
    rows = subprocess.run(
        [str(server.postgres_bin() / "psql"), "-h", "127.0.0.1", "-p",
         str(tracking_server.pg_port), "-U", server.DB_USER, "-d", server.DB_NAME, "-tAc",
         "SELECT count(*) FROM runs JOIN experiments USING (experiment_id) "
         f"WHERE runs.status = 'FINISHED' AND experiments.name = '{name}'"],
        env={"PGPASSWORD": tracking_server.password},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert int(rows.stdout.strip()) == 16


def test_restart_keeps_runs(tracking_server):  # last: it restarts the module's server
    import mlflow

    mlflow.set_tracking_uri(tracking_server.tracking_uri)
    experiment_id = mlflow.create_experiment("restart")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_metric("m", 3.0)
    folder = tracking_server.dir
    assert server.stop(folder)
    assert server.status(folder)["postgres"] is False
    again = server.start(folder, port=server.free_port(), timeout=180)
    try:
        mlflow.set_tracking_uri(again.tracking_uri)
        assert mlflow.get_run(run.info.run_id).data.metrics == {"m": 3.0}
        assert again.pg_port == tracking_server.pg_port
        assert again.password == tracking_server.password
    finally:
        server.stop(folder)
