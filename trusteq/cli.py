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


#: The printed summary: model facts, then divergence from the reference (intervals in brackets).
_FACTS = (
    "params_M",
    "nonzero_M",
    "size_MB",
    "ms_per_ex",
    "accuracy",
    "macro_f1",
    "ece_eq_mass",
    "ece_eq_width",
    "brier",
)


def _cell(row, column: str) -> str:
    value = row[column]
    if not isinstance(value, float):
        return str(value)
    if value != value:  # NaN
        return "-"
    text = f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    low, high = row.get(f"{column}_lo"), row.get(f"{column}_hi")
    if isinstance(low, float) and low == low and isinstance(high, float) and high == high:
        text += f" [{low:.2f}, {high:.2f}]"
    return text


def _print_summary(cfg: DictConfig, result, seconds: float, out_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from trusteq.tracking.mlflow_tracking import ui_command

    console = Console(width=200)
    frame = result.summary
    header = result.header
    # Divergence columns come from what each pairwise characteristic declares.
    divergence = tuple(
        dict.fromkeys(
            m.metadata["summary_column"]
            for m in result.pairwise.values()
            if m.metadata.get("summary_column")
        )
    )
    core = (
        *_FACTS,
        *divergence,
        "beyond_noise",
        "description",
        "bits_per_weight",
        "linear_sparsity",
        "ex_per_s",
    )
    extra = tuple(c for c in frame.columns if c not in core and not c.endswith(("_lo", "_hi")))
    titles = (
        f"'{header.name}': the variants on split '{result.split}'",
        f"'{header.name}': divergence from reference '{header.reference}' "
        f"[95% paired-bootstrap CI]; the noise floor is row '{header.noise_floor}'",
        f"'{header.name}': analyses (OOD detection and flag agreement, attribution agreement)",
    )
    for title, columns in zip(titles, (_FACTS, (*divergence, "beyond_noise"), extra), strict=True):
        if not columns:
            continue
        table = Table(title=title, title_justify="left")
        shown = [c for c in columns if c in frame.columns]
        table.add_column("variant", no_wrap=True)
        for column in shown:
            table.add_column(column, justify="right")
        for name, row in frame.iterrows():
            table.add_row(str(name), *(_cell(row, c) for c in shown))
        console.print(table)
    console.print(f"finished in {seconds:.1f} s; tables and matrices also in {out_dir}")
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

        console.print(
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
