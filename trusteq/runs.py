"""What each entry point does, below the command line: the stages in order, then the results.

`trusteq.cli` composes the config with Hydra and calls these; tests and notebooks call them
directly. This is the only module that joins compare to MLflow logging and result files, so that
compare itself imports nothing below it.
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from trusteq.compare import (
    CacheView,
    ComparisonResult,
    open_view,
    reliability_tables,
    write_results,
)
from trusteq.compare import run_compare as _run_compare

log = logging.getLogger(__name__)
REPORT_FILE = "report.html"


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
    from trusteq.compare import memo

    view = view or open_view(cfg)
    key = memo.comparison_key(cfg, view)
    cached = memo.load(view, key, out_dir)
    if cached is not None:
        if not cfg.logger.enabled:
            return cached
        from trusteq.tracking.study_logging import find_logged_comparison

        cached.parent_run_id = find_logged_comparison(cfg, key)
        if cached.parent_run_id:  # identical inputs were logged already: reuse that run
            log.info("MLflow parent run of this comparison reused: %s", cached.parent_run_id)
            return cached
    result = _run_compare(cfg, view)
    arrays = view.split_outputs(result.split)
    tables = reliability_tables(arrays, int(cfg.compare.n_bins))
    report = None
    if out_dir is not None:
        write_results(result, out_dir)
        report = write_study_report(cfg, result, tables, out_dir / REPORT_FILE, arrays)
    if cfg.logger.enabled:
        from trusteq.tracking.study_logging import log_comparison

        result.parent_run_id = log_comparison(
            cfg, result, arrays, tables, write_results, report=report, comparison_key=key
        )
    memo.save(view, key, result, out_dir)
    return result


def write_study_report(
    cfg: DictConfig,
    result: ComparisonResult,
    tables: dict[str, Any],
    path: Path,
    arrays: dict[str, dict[str, np.ndarray]] | None = None,
) -> Path | None:
    """The self-contained HTML study report (`trusteq.report.write_report`), or None.

    None when there is no verdict (fewer than two seeds): the report is built around it.
    """
    if result.verdicts is None:
        log.info("no study report: the study declares fewer than two seeds (study.seeds)")
        return None
    import matplotlib.pyplot as plt

    from trusteq.report import write_report
    from trusteq.report.notes import report_notes
    from trusteq.viz.plots import reliability_grid
    from trusteq.viz.tradeoff import tradeoff_figure

    header = result.header
    figures = {
        f"trade-off: {x}": tradeoff_figure(result, header.reference, header.noise_floor, x=x)
        for x in ("size_mb", "ms_per_example")
    }
    reliability = {
        f"reliability ({binning} bins, {result.split})": reliability_grid(
            {name: tables[name][binning] for name in header.variants},
            f"reliability diagrams ({binning} bins, split {result.split})",
        )
        for binning in ("equal_mass", "equal_width")
    }
    by_kind: dict[str, dict[str, Any]] = {"ood": {}, "attribution": {}}
    for name, analysis in result.analyses.items():
        kind = "ood" if "ood" in name else "attribution" if "attribution" in name else None
        if kind:
            by_kind[kind].update({f"{name}: {k}": fig for k, fig in analysis.figures.items()})
    examples = {
        f"{name}: {k}": table
        for name, analysis in result.analyses.items()
        for k, table in analysis.tables.items()
        if "example" in k
    }
    try:
        written = write_report(
            path,
            study_name=header.name,
            verdicts=result.verdicts,
            summary=result.summary,
            pairwise=result.pairwise,
            figures=figures,
            reliability=reliability,
            ood=by_kind["ood"],
            attribution=by_kind["attribution"],
            examples=examples,
            notes=report_notes(result, arrays),
            reference=header.reference,
            command=" ".join(shlex.quote(a) for a in sys.argv),
            config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
        )
    finally:
        for fig in [*figures.values(), *reliability.values()]:
            plt.close(fig)
    return written


def run_study(cfg: DictConfig, out_dir: Path | None = None) -> tuple[Any, ComparisonResult]:
    """Train → infer → compare (and log) for every variant; returns the study and the result."""
    from trusteq.pipeline.study import Study

    study = Study(cfg)
    study.train(force=bool(cfg.force_train))
    study.infer(force=bool(cfg.force))
    return study, compare_and_log(cfg, out_dir=out_dir)
