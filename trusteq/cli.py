"""Console entry points. Thin: compose the config with Hydra, call the stage, print a summary.

trusteq-study    train → infer → compare for every variant (the common case)
trusteq-train    fine-tune `variant=` (default: all); sweep with `-m variant=a,b`
trusteq-infer    one outputs entry per variant and split
trusteq-compare  read the cache, compute every matrix, log to MLflow
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

# Offline by default: a hub lookup on a machine without network retries for ~46 s per call.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import warnings  # noqa: E402

import hydra  # noqa: E402
import lightning.pytorch  # noqa: E402, F401  (imported first so its logger levels can be lowered)
from omegaconf import DictConfig  # noqa: E402

from trusteq.errors import cli_entry  # noqa: E402
from trusteq.validation import check_config  # noqa: E402

# Library chatter that says nothing about the user's run.
for _name in ("lightning.pytorch", "lightning.fabric", "faiss.loader", "faiss"):
    logging.getLogger(_name).setLevel(logging.WARNING)
for _pattern in (
    ".*LeafSpec.*",
    ".*in eval mode.*",
    ".*log_every_n_steps.*",
    ".*does not have many workers.*",
    ".*torch.ao.quantization is deprecated.*",
    ".*quantize_per_tensor.*",
):
    warnings.filterwarnings("ignore", message=_pattern)

CONFIG_PATH = str(Path(__file__).resolve().parents[1] / "conf")
log = logging.getLogger("trusteq")


def _print_summary(cfg: DictConfig, result, seconds: float, out_dir: Path) -> None:
    from trusteq.report.console import print_summary
    from trusteq.runs import REPORT_FILE
    from trusteq.tracking.mlflow_tracking import ui_command

    print_summary(result, seconds, out_dir, out_dir / REPORT_FILE)
    if result.parent_run_id:
        from trusteq.tracking.keys import verdict_view_key
        from trusteq.tracking.mlflow_tracking import ensure_experiment

        # `workflowType=machine_learning`: MLflow 3's UI otherwise opens its GenAI view;
        # `viewStateShareKey`: the verdict views `log_comparison` stores on the experiment.
        experiment_id = ensure_experiment(cfg)

        def runs_table(run_id: str | None) -> str:
            return (
                f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs"
                f"?viewStateShareKey={verdict_view_key(run_id)}&workflowType=machine_learning"
            )

        print(
            f"MLflow parent run: {result.parent_run_id}\nOpen the UI: {ui_command(cfg)}\n"
            f"then this study's verdicts: {runs_table(result.parent_run_id)}\n"
            f"(every study's verdicts: {runs_table(None)})"
        )


def _out_dir() -> Path:
    return Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="study")
@cli_entry
def study(cfg: DictConfig) -> None:
    """Run a whole study: train → infer → compare."""
    from trusteq.runs import run_study

    started = time.perf_counter()
    check_config(cfg, "study")
    _, result = run_study(cfg, out_dir=_out_dir())
    _print_summary(cfg, result, time.perf_counter() - started, _out_dir())


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="study")
@cli_entry
def train(cfg: DictConfig) -> None:
    """Fine-tune `variant=` (or every variant); `force_train=true` retrains it."""
    from trusteq.pipeline.study import Study

    check_config(cfg, "train")
    Study(cfg).train(cfg.variant, force=bool(cfg.force_train))


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="study")
@cli_entry
def infer(cfg: DictConfig) -> None:
    """Write the outputs entries of `variant=` (or every variant); `force=true` recomputes."""
    from trusteq.pipeline.study import Study

    check_config(cfg, "infer")
    keys = Study(cfg).infer(cfg.variant, force=bool(cfg.force))
    for name, key in keys.items():
        log.info("%s -> %s", name, key)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="study")
@cli_entry
def compare(cfg: DictConfig) -> None:
    """Compare every variant from the cache only (or prediction files: `predictions=<folder>`)."""
    from trusteq.runs import compare_and_log

    started = time.perf_counter()
    check_config(cfg, "compare")
    view = None
    if cfg.get("predictions"):
        from trusteq.compare.imports import import_predictions

        view = import_predictions(str(cfg.predictions), str(cfg.paths.cache_dir))
    result = compare_and_log(cfg, view, out_dir=_out_dir())
    _print_summary(cfg, result, time.perf_counter() - started, _out_dir())
