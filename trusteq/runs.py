"""What each entry point does, below the command line: the stages in order, then the results.

`trusteq.cli` composes the config with Hydra and calls these; tests and notebooks call them
directly. This is the only module that joins compare to MLflow logging and result files, so that
compare itself imports nothing below it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from trusteq.compare import CacheView, ComparisonResult, open_view, reliability_tables
from trusteq.compare import run_compare as _run_compare
from trusteq.compare import write_results


def compare_and_log(
    cfg: DictConfig, view: CacheView | None = None, out_dir: Path | None = None
) -> ComparisonResult:
    """Compare from the cache, write the result files to `out_dir`, log to MLflow when enabled.

    Args:
        cfg: the composed config.
        view: the cache view (default: the manifest of the study `cfg` describes).
        out_dir: where `summary.csv`, `summary.md` and the matrices go (None: not written).

    Returns:
        The comparison, with `parent_run_id` set when logged.
    """
    view = view or open_view(cfg)
    result = _run_compare(cfg, view)
    if out_dir is not None:
        write_results(result, out_dir)
    if cfg.logger.enabled:
        from trusteq.tracking.study_logging import log_comparison

        arrays = view.split_outputs(result.split)
        tables = reliability_tables(arrays, int(cfg.compare.n_bins))
        result.parent_run_id = log_comparison(cfg, result, arrays, tables, write_results)
    return result


def run_study(cfg: DictConfig, out_dir: Path | None = None) -> tuple[Any, ComparisonResult]:
    """train → infer → compare (and log) for every variant; returns the study and the result."""
    from trusteq.pipeline.study import Study

    study = Study(cfg)
    study.train(force=bool(cfg.force_train))
    study.infer(force=bool(cfg.force))
    return study, compare_and_log(cfg, out_dir=out_dir)
