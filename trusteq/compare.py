"""Stage 3, compare: cached outputs → characteristics → MLflow.

Reads every variant's cached outputs, computes unary characteristics and one V×V matrix per pairwise
characteristic, builds the summary table, and logs it all to MLflow.

No model runs here: a missing cache entry is an error that names the command that makes it.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig

from trusteq.analyses.base import AnalysisContext, AnalysisResult
from trusteq.characteristics.base import CharacteristicFamily, PairwiseCharacteristic
from trusteq.characteristics.calibration import reliability_table
from trusteq.characteristics.matrix import PairwiseResult, pairwise_matrices
from trusteq.characteristics.unary import UNARY_KEYS, compute_unary
from trusteq.study import Study

log = logging.getLogger(__name__)

#: Summary-table columns taken from the pairwise matrices (row = variant vs the reference).
SUMMARY_PAIRWISE = {
    "prediction_agreement": "agreement",
    "error_jaccard": "error_jaccard",
    "chance_error_jaccard": "chance_jaccard",
    "error_consistency": "kappa",
    "calibration_similarity": "abs_delta_ece",
    "knn_agreement_k10": "knn_k10",
}


class AlignmentError(ValueError):
    """Cached outputs of two variants do not cover the same examples in the same order."""


@dataclass
class ComparisonResult:
    """Everything the compare stage produced.

    Attributes:
        unary: variant → unary metrics (keys of `trusteq.characteristics.unary.UNARY_KEYS`).
        pairwise: characteristic name → V×V result with bootstrap intervals.
        summary: one row per variant (see `summary_table`).
        meta: variant → the outputs entry's `meta.json`.
        analyses: analysis name → its result (its matrices are also in `pairwise`).
        parent_run_id: the MLflow parent run, when logging is on.
    """

    unary: dict[str, dict[str, float]]
    pairwise: dict[str, PairwiseResult]
    summary: pd.DataFrame
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    analyses: dict[str, AnalysisResult] = field(default_factory=dict)
    parent_run_id: str | None = None


def load_study_outputs(
    study: Study, split: str
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, Any]]]:
    """Every variant's cached outputs on `split`, checked to be row-aligned.

    Raises:
        CacheError: a variant has no outputs entry yet.
        AlignmentError: two variants' entries hold different example ids.
    """
    arrays, metas = {}, {}
    for name in study.variants:
        arrays[name], metas[name] = study.load_outputs(name, split)
    reference_ids = metas[study.reference]["ids"]
    for name, meta in metas.items():
        if meta["ids"] != reference_ids:
            raise AlignmentError(
                f"outputs of {name!r} and {study.reference!r} on {split!r} cover different "
                "examples; rerun `trusteq-infer force=true` for both."
            )
    return arrays, metas


def build_characteristics(cfg: DictConfig) -> list[PairwiseCharacteristic | CharacteristicFamily]:
    """Instantiate every entry of `cfg.characteristics` (a family stays one item)."""
    return [instantiate(char_cfg) for char_cfg in (cfg.characteristics or {}).values()]


def summary_table(
    study: Study,
    unary: dict[str, dict[str, float]],
    pairwise: dict[str, PairwiseResult],
    metas: dict[str, dict[str, Any]],
) -> pd.DataFrame:
    """One row per variant: size, speed, unary metrics, and divergence from the reference.

    Pairwise columns hold the value vs the reference, with `<col>_lo` / `<col>_hi` the bootstrap
    interval. `beyond_noise` lists the characteristics whose whole interval lies on the
    less-alike side of the noise floor (the reference vs its seed replicate), when one is declared.
    """
    floor_name = study.cfg.study.noise_floor
    rows = []
    for name, variant in study.variants.items():
        stats = metas[name]["compression_stats"]
        row: dict[str, Any] = {
            "variant": name,
            "params_M": stats["parameters"] / 1e6,
            "nonzero_M": stats["nonzero_parameters"] / 1e6,
            "size_MB": stats["size_mb"],
            "bits_per_weight": stats["bits_per_weight"],
            "linear_sparsity": stats.get("linear_sparsity", float("nan")),
            "ms_per_ex": (metas[name].get("latency") or {}).get("ms_per_example", float("nan")),
            "ex_per_s": metas[name]["timings"]["examples_per_second"],
            "accuracy": unary[name]["accuracy"],
            "macro_f1": unary[name]["macro_f1"],
            "ece_eq_mass": unary[name]["ece_equal_mass"],
            "ece_eq_width": unary[name]["ece_equal_width"],
            "brier": unary[name]["brier"],
        }
        beyond = []
        for char_name, column in SUMMARY_PAIRWISE.items():
            result = pairwise.get(char_name)
            if result is None:
                continue
            i, j = result.variants.index(study.reference), result.variants.index(name)
            row[column] = result.value[i, j]
            row[f"{column}_lo"] = result.ci_low[i, j]
            row[f"{column}_hi"] = result.ci_high[i, j]
            if (
                floor_name
                and name not in (study.reference, floor_name)
                and char_name
                in (
                    "prediction_agreement",
                    "error_jaccard",
                    "error_consistency",
                    "knn_agreement_k10",
                )
            ):
                floor = result.value[i, result.variants.index(floor_name)]
                if result.ci_high[i, j] < floor:
                    beyond.append(column)
        row["beyond_noise"] = ",".join(beyond) if floor_name else ""
        row["description"] = variant.description
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def run_compare(cfg: DictConfig, study: Study | None = None) -> ComparisonResult:
    """The compare stage: cached outputs → characteristics → MLflow; returns the results."""
    study = study or Study(cfg)
    split = str(cfg.compare.split)
    arrays, metas = load_study_outputs(study, split)
    n_bins = int(cfg.compare.n_bins)
    unary_of = study.task.unary if study.task else compute_unary  # QA: exact match, F1, ECE
    unary = {name: unary_of(arrays[name], n_bins=n_bins) for name in study.variants}
    pairwise: dict[str, PairwiseResult] = {}
    for chars in build_characteristics(cfg):
        log.info("pairwise %s over %d variants", getattr(chars, "name", chars), len(arrays))
        for matrix in pairwise_matrices(
            chars,
            arrays,
            n_resamples=int(cfg.compare.n_resamples),
            confidence=float(cfg.compare.confidence),
            seed=int(cfg.compare.bootstrap_seed),
        ):
            pairwise[matrix.name] = matrix
    context = AnalysisContext(study)
    analyses: dict[str, AnalysisResult] = {}
    for name, analysis in study.analyses.items():
        log.info("analysis %s", name)
        analyses[name] = analysis.run(context)
        clash = set(analyses[name].matrices) & set(pairwise)
        if clash:
            raise ValueError(f"analyses.{name}: matrix names {sorted(clash)} are already taken.")
        pairwise.update(analyses[name].matrices)
    summary = summary_table(study, unary, pairwise, metas)
    for name, metrics in unary.items():  # a task's own unary metrics (QA: f1, has/no-answer EM)
        for key in [k for k in metrics if k not in UNARY_KEYS]:
            summary.loc[name, key] = metrics[key]
    for analysis_result in analyses.values():
        for variant, columns in analysis_result.summary.items():
            for column, value in columns.items():
                summary.loc[variant, column] = value
    result = ComparisonResult(
        unary=unary, pairwise=pairwise, summary=summary, meta=metas, analyses=analyses
    )
    if cfg.logger.enabled:
        from trusteq.tracking.study_logging import log_comparison

        result.parent_run_id = log_comparison(cfg, study, result, arrays)
    return result


def write_results(result: ComparisonResult, folder: Path) -> None:
    """Write the summary (CSV, Markdown) and every matrix (CSV, JSON) to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    result.summary.to_csv(folder / "summary.csv", float_format="%.4f")
    (folder / "summary.md").write_text(result.summary.to_markdown(floatfmt=".3f"))
    for name, matrix in result.pairwise.items():
        matrix.to_frame().to_csv(folder / f"{name}.csv", index=False, float_format="%.6f")
        (folder / f"{name}.json").write_text(json.dumps(matrix.to_dict(), indent=1))


def reliability_tables(
    arrays: dict[str, dict[str, np.ndarray]], n_bins: int
) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Variant → binning → reliability table (equal-width and equal-mass)."""
    return {
        name: {
            binning: reliability_table(a["probs"], a["targets"], n_bins=n_bins, binning=binning)
            for binning in ("equal_width", "equal_mass")
        }
        for name, a in arrays.items()
    }


def scratch_dir() -> tempfile.TemporaryDirectory:
    """A temporary folder for artifacts before they are logged."""
    return tempfile.TemporaryDirectory(prefix="trusteq-artifacts-")
