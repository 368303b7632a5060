"""How a command ends: SIGTERM 143, Ctrl-C 130, a trusteq error one line and 2 (issue 10, item 6-7).

Trials: SIGTERM during training exited 0 with no output; Ctrl-C printed nothing; a bad config
printed a library traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from trusteq.errors import is_trusteq_error

SCRIPT = textwrap.dedent(
    """
    import sys
    from trusteq.errors import cli_entry

    @cli_entry
    def main(cfg=None):
        try:
            print("ready", flush=True)
            sys.stdin.readline()  # blocks until the test signals us
        finally:
            print("cleanup ran", flush=True)

    main()
    """
)


def _signalled(signum: int) -> subprocess.CompletedProcess:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_sigterm_runs_cleanup_and_exits_143():
    result = _signalled(signal.SIGTERM)
    assert result.returncode == 143
    assert "cleanup ran" in result.stdout
    assert result.stderr.strip().startswith("terminated (SIGTERM)")
    assert "Traceback" not in result.stderr


def test_ctrl_c_prints_one_line_and_exits_130():
    result = _signalled(signal.SIGINT)
    assert result.returncode == 130
    assert "cleanup ran" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted")


ERROR_SCRIPT = textwrap.dedent(
    """
    from trusteq.errors import cli_entry
    from trusteq.validation import ConfigError

    @cli_entry
    def main(cfg=None):
        raise ConfigError("train.epochs=0: must be a positive integer. Fix: train.epochs=3")

    main()
    """
)


def test_trusteq_error_is_one_line_exit_2():
    env = {k: v for k, v in os.environ.items() if k != "TRUSTEQ_VERBOSE"}
    result = subprocess.run(
        [sys.executable, "-c", ERROR_SCRIPT], capture_output=True, text=True, env=env
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: train.epochs=0: must be a positive integer")


def test_verbose_shows_the_traceback():
    env = {**os.environ, "TRUSTEQ_VERBOSE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", ERROR_SCRIPT], capture_output=True, text=True, env=env
    )
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_a_bug_keeps_its_traceback():
    script = "from trusteq.errors import cli_entry\ncli_entry(lambda cfg=None: 1 / 0)()"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 1 and "ZeroDivisionError" in result.stderr


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("trusteq.validation", "ConfigError"),
        ("trusteq.outputs.store", "CacheError"),
        ("trusteq.models.backbone", "BackboneError"),
        ("trusteq.variants", "StudyConfigError"),
        ("trusteq.data.base", "DataConfigError"),
        ("trusteq.data.base", "DataIntegrityError"),
    ],
)
def test_every_trusteq_error_class_counts(module, name):
    import importlib

    error = getattr(importlib.import_module(module), name)("x")
    assert is_trusteq_error(error)


def test_contract_violations_and_library_errors_do_not_count():
    from trusteq.characteristics.base import CharacteristicContractError

    assert not is_trusteq_error(CharacteristicContractError("bug"))
    assert not is_trusteq_error(ValueError("x"))
    assert not is_trusteq_error(KeyboardInterrupt())


# A cli_entry script on a fresh sqlite MLflow store under `{mlruns}` (str.format placeholders).
MLFLOW_PREAMBLE = """
    import sys
    from omegaconf import OmegaConf
    from trusteq.errors import cli_entry
    from trusteq.tracking.mlflow_tracking import ensure_experiment, _mlflow

    cfg = OmegaConf.create({{"paths": {{"mlruns_dir": {mlruns!r}}},
                             "logger": {{"experiment_name": "t", "enabled": True}}}})
"""

MLFLOW_SCRIPT = textwrap.dedent(
    MLFLOW_PREAMBLE
    + """

    @cli_entry
    def main(cfg=None):
        mlflow = _mlflow()
        mlflow.start_run(experiment_id=ensure_experiment(cfg), run_name="parent")
        print("ready", flush=True)
        sys.stdin.readline()

    main(cfg)
    """
)


def test_sigterm_ends_the_open_mlflow_run_as_killed(tmp_path):
    """Trial: SIGTERM during compare left the parent MLflow run RUNNING."""
    from mlflow.tracking import MlflowClient

    mlruns = tmp_path / "mlruns"
    process = subprocess.Popen(
        [sys.executable, "-c", MLFLOW_SCRIPT.format(mlruns=str(mlruns))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 143
    client = MlflowClient(tracking_uri=f"sqlite:///{mlruns}/mlflow.db")
    experiment = client.get_experiment_by_name("t")
    runs = client.search_runs([experiment.experiment_id])
    assert [run.info.status for run in runs] == ["KILLED"]


DEFERRED_SCRIPT = textwrap.dedent(
    """
    import sys
    import time
    from trusteq.errors import cli_entry

    # A function whose module is `sqlalchemy.*`: stands for an MLflow write mid-transaction.
    namespace = {"__name__": "sqlalchemy.engine.stand_in", "sys": sys}
    exec(
        "def commit():\\n"
        "    print('ready', flush=True)\\n"
        "    sys.stdin.readline()\\n"
        "    print('commit done', flush=True)\\n",
        namespace,
    )

    @cli_entry
    def main(cfg=None):
        try:
            namespace["commit"]()
            time.sleep(30)  # the re-sent signal lands here, after the commit
            print("not interrupted", flush=True)
        finally:
            print("cleanup ran", flush=True)

    main()
    """
)


def test_a_signal_inside_a_database_call_waits_for_it_to_return():
    """CI trial: SIGTERM landing inside an MLflow sqlite commit kept the write lock; cleanup then
    failed with "database is locked" and the command exited 1 with its run RUNNING."""
    process = subprocess.Popen(
        [sys.executable, "-c", DEFERRED_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    # The handler has run (and deferred) long before this line reaches the commit.
    process.stdin.write("\n")
    process.stdin.flush()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert out.splitlines() == ["commit done", "cleanup ran"]
    assert err.strip().startswith("terminated (SIGTERM)")


MASKED_SCRIPT = textwrap.dedent(
    """
    import sys
    from trusteq.errors import cli_entry

    @cli_entry
    def main(cfg=None):
        try:
            print("ready", flush=True)
            sys.stdin.readline()
        finally:
            raise RuntimeError("database is locked")  # cleanup that fails during the signal

    main()
    """
)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_cleanup_failing_during_a_signal_keeps_the_signal_exit_code(signum, code):
    process = subprocess.Popen(
        [sys.executable, "-c", MASKED_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err
    assert "database is locked" in err  # the cleanup failure is reported, not hidden


HAMMER_SCRIPT = textwrap.dedent(
    MLFLOW_PREAMBLE
    + """

    @cli_entry
    def main(cfg=None):
        mlflow = _mlflow()
        with mlflow.start_run(experiment_id=ensure_experiment(cfg), run_name="parent"):
            print("ready", flush=True)
            step = 0
            while True:  # nearly all time is spent inside sqlite writes
                mlflow.log_metric("m", step, step=step)
                mlflow.set_tag("t", str(step))
                step += 1

    main(cfg)
    """
)


@pytest.mark.slow
def test_sigterm_while_mlflow_writes_nonstop_exits_143_with_no_run_left_running(tmp_path):
    """SIGTERM at arbitrary points of a stream of sqlite writes: always 143, always KILLED."""
    from mlflow.tracking import MlflowClient

    mlruns = tmp_path / "mlruns"
    for delay in (0.0, 0.13, 0.37, 0.71, 1.1):
        process = subprocess.Popen(
            [sys.executable, "-c", HAMMER_SCRIPT.format(mlruns=str(mlruns))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout.readline().strip() == "ready"
        time.sleep(delay)  # where in the write stream the signal lands, not a timing assertion
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 143, err[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{mlruns}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("t").experiment_id])
    assert len(runs) == 5 and {run.info.status for run in runs} <= {"FAILED", "KILLED"}


HUNG_SCRIPT = textwrap.dedent(
    """
    import sys
    import time
    import trusteq.errors
    from trusteq.errors import cli_entry

    trusteq.errors.DEFER_AT_MOST_S = 0.5
    namespace = {"__name__": "mlflow.store.stand_in", "time": time}
    exec("def hung_request():\\n    time.sleep(60)\\n", namespace)

    @cli_entry
    def main(cfg=None):
        print("ready", flush=True)
        namespace["hung_request"]()
        print("returned", flush=True)

    main()
    """
)


def test_a_hung_database_call_is_interrupted_after_the_deferral_limit():
    process = subprocess.Popen(
        [sys.executable, "-c", HUNG_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)  # far below the 60 s the call would take
    assert process.returncode == 130, err
    assert "returned" not in out
