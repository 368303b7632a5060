"""Multirun sweeps through real distributed engines (Ray, submitit), each followed by compare.

`trusteq-infer -m hydra/launcher=<launcher> variant=reference,int8` on the tiny two-variant study
(tests/scale/conftest.py), then `trusteq-compare` reads the cache the jobs wrote. The Ray test
starts a private local Ray instance in the sweep's driver process (`address: null`) and stops with
it; the submitit test uses submitit's local executor, the SLURM code path without a cluster.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.scale


def _sweep_then_compare(cli, tmp_path, model_dir, files, launcher: list[str]) -> str:
    study = cli.study(tmp_path, model_dir, files)
    swept = cli.run("trusteq-infer", ["-m", *launcher, "variant=reference,int8", *study], tmp_path)
    log = cli.combined(swept)
    assert swept.returncode == 0, log[-4000:]
    assert "#0 : variant=reference" in log and "#1 : variant=int8" in log
    entries = sorted(p.name for p in (tmp_path / "cache" / "outputs").iterdir())
    assert len(entries) == 2, entries  # one outputs entry per variant (split test)

    compared = cli.run("trusteq-compare", [*study, "logger=mlflow"], tmp_path)
    assert compared.returncode == 0, cli.combined(compared)[-4000:]
    assert "divergence from reference" in compared.stdout
    assert "int8" in compared.stdout
    return log


def _installed(module: str) -> bool:
    """Whether `module` can be imported (False also when its parent package is missing)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.skipif(
    not _installed("hydra_plugins.hydra_submitit_launcher"),
    reason="needs the slurm extra (hydra-submitit-launcher)",
)
def test_submitit_local_sweep_then_compare(cli, tmp_path, tiny_model_dir, tiny_data_files):
    log = _sweep_then_compare(
        cli, tmp_path, tiny_model_dir, tiny_data_files, ["hydra/launcher=submitit_local"]
    )
    assert "Submitit 'local' sweep output dir" in log
    # submitit kept each job's own log folder beside the sweep
    assert list((tmp_path / "multirun").rglob(".submitit/*/*_log.out"))


@pytest.mark.skipif(
    not _installed("hydra_plugins.hydra_ray_launcher"),
    reason="needs the ray extra (hydra-ray-launcher)",
)
def test_ray_local_sweep_then_compare(cli, tmp_path, tiny_model_dir, tiny_data_files):
    # Ray's session files: a short path of our own (AF_UNIX socket paths stop at 107 bytes).
    ray_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    launcher = [
        "hydra/launcher=ray_local",
        f"++hydra.launcher.ray.init._temp_dir={ray_dir}",
        "++hydra.launcher.ray.init.num_cpus=2",
    ]
    try:
        log = _sweep_then_compare(cli, tmp_path, tiny_model_dir, tiny_data_files, launcher)
        assert "Ray Launcher is launching 2 jobs" in log
        assert (ray_dir / "session_latest").exists()
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
