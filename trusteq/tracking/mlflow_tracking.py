"""MLflow tracking: one experiment, one parent run per study, one child run per variant.

Always an explicit tracking URI (`sqlite:///<abs>/mlruns/mlflow.db`) and an explicit artifact
location under `mlruns/`: recent MLflow refuses the bare `./mlruns` file store, and artifacts would
otherwise land relative to the working directory.

Metric keys (stable):
    child run of a variant: the unary keys of `trusteq.characteristics.unary`, the compression keys
        `params`, `nonzero_params`, `sparsity`, `size_mb`, `bits_per_weight`,
        `examples_per_second`, and for each pairwise characteristic `vs_reference.<name>` with
        `vs_reference.<name>.ci_low` / `.ci_high`.
    parent run: `noise_floor.<name>` (reference vs its seed replicate) with its interval.
Artifacts: `reliability_<binning>.png` (child); `matrices/<name>.{csv,json,png}`,
    `knn_agreement_vs_k.png`, `summary.csv`, `summary.md` (parent).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

log = logging.getLogger(__name__)


def _mlflow():
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    return mlflow


def tracking_uri(cfg: DictConfig) -> str:
    """`sqlite:///<absolute mlruns dir>/mlflow.db` (the folder is created)."""
    folder = Path(cfg.paths.mlruns_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def ensure_experiment(cfg: DictConfig) -> str:
    """Set the tracking URI and return the id of `cfg.logger.experiment_name` (created if new)."""
    mlflow = _mlflow()
    mlflow.set_tracking_uri(tracking_uri(cfg))
    name = str(cfg.logger.experiment_name)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifacts = Path(cfg.paths.mlruns_dir).resolve() / "artifacts"
    return mlflow.create_experiment(name, artifact_location=artifacts.as_uri())


def lightning_logger(cfg: DictConfig, run_name: str, tags: Mapping[str, str]) -> Any:
    """A Lightning `MLFlowLogger` into the study's experiment, or False when logging is off."""
    if not cfg.logger.enabled:
        return False
    from lightning.pytorch.loggers import MLFlowLogger

    ensure_experiment(cfg)
    return MLFlowLogger(
        experiment_name=str(cfg.logger.experiment_name),
        run_name=run_name,
        tracking_uri=tracking_uri(cfg),
        tags=dict(tags),
        artifact_location=(Path(cfg.paths.mlruns_dir).resolve() / "artifacts").as_uri(),
    )


def ui_command(cfg: DictConfig) -> str:
    """The shell command that opens the MLflow UI on this store."""
    return (
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false .venv/bin/mlflow ui --workers 1 "
        f"--backend-store-uri {tracking_uri(cfg)} --port 5000"
    )
