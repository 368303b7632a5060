"""Stage 3, compare: the cache (through the study manifest) → characteristics → results.

Reads every variant's cached outputs, computes unary characteristics, one V×V matrix per pairwise
characteristic and every analysis, and builds the summary table from the metadata the
characteristics declare (`summary_column`, `higher_is_better`, `against_floor`). It needs the
manifest and the entries only: no dataset, checkpoint, backbone or model. MLflow logging and the
result files are the caller's (`trusteq.cli`), so compare imports nothing below it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
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
from trusteq.characteristics.unary import UNARY_KEYS
from trusteq.compare.view import AlignmentError, CacheView
from trusteq.outputs.store import OutputStore
from trusteq.pipeline.manifest import Manifest, manifest_dir
from trusteq.pipeline.plan import study_digest
from trusteq.report.results import ComparisonResult

log = logging.getLogger(__name__)

__all__ = [
    "AlignmentError",
    "ComparisonResult",
    "build_characteristics",
    "open_view",
    "reliability_tables",
    "run_compare",
    "summary_table",
    "write_results",
]

#: Unary columns of the summary (column → unary key).
_FACT_COLUMNS = {
    "accuracy": "accuracy",
    "macro_f1": "macro_f1",
    "ece_eq_mass": "ece_equal_mass",
    "ece_eq_width": "ece_equal_width",
    "brier": "brier",
}


def infer_hint(cfg: DictConfig) -> str:
    """The command that writes this study's entries (quoted in errors)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = [
            o
            for o in HydraConfig.get().overrides.task
            if not o.startswith(("variant=", "force", "compare.", "logger"))
        ]
    except ValueError:  # not inside a Hydra app
        overrides = [f"experiment=<the study's experiment> study.name={cfg.study.name}"]
    return "`trusteq-infer " + " ".join(overrides) + "`"


def open_view(cfg: DictConfig, task: Any | None = None) -> CacheView:
    """The cache view of the study `cfg` describes (its manifest under the config's digest).

    Raises:
        ManifestError: no manifest was written for this configuration; names the command.
    """
    store = OutputStore(Path(cfg.paths.cache_dir).resolve())
    hint = infer_hint(cfg)
    if cfg.study.get("name") in (None, "", "???") or not cfg.study.get("variants"):
        from trusteq.pipeline.plan import StudyConfigError

        raise StudyConfigError(
            "no study selected: give the experiment the entries were made with (e.g. "
            "`trusteq-compare experiment=quickstart`), or compare prediction files with "
            "`trusteq-compare predictions=<folder>`."
        )
    folder = manifest_dir(store.root, str(cfg.study.name), study_digest(cfg))
    manifest = Manifest.load(folder, hint)
    return CacheView(store, manifest, task or instantiate(cfg.task), hint)


def build_characteristics(cfg: DictConfig) -> list[PairwiseCharacteristic | CharacteristicFamily]:
    """Instantiate every entry of `cfg.characteristics` (a family stays one item)."""
    return [
        instantiate(char_cfg)
        for char_cfg in (cfg.characteristics or {}).values()
        if char_cfg is not None
    ]


def summary_table(
    view: CacheView,
    unary: dict[str, dict[str, float]],
    pairwise: dict[str, PairwiseResult],
    metas: dict[str, dict[str, Any]],
) -> pd.DataFrame:
    """One row per variant: size, speed, unary metrics, and divergence from the reference.

    Every pairwise characteristic that declares a `summary_column` gets that column (its value
    vs the reference) with `<col>_lo` / `<col>_hi`, its bootstrap interval. `beyond_noise` lists
    the columns (of characteristics read against the floor) whose whole interval lies on the
    less-alike side of the noise floor's value (the reference vs its seed replicate): the
    fallback of a study without a seed population; `run_compare` drops it when verdicts exist.
    """
    floor_name = view.noise_floor
    reference = view.reference
    rows = []
    for name in view.variants:
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
            **{column: unary[name][key] for column, key in _FACT_COLUMNS.items()},
        }
        beyond = []
        for result in pairwise.values():
            column = result.metadata.get("summary_column")
            if not column or reference not in result.variants:
                continue
            i, j = result.variants.index(reference), result.variants.index(name)
            row[column] = result.value[i, j]
            row[f"{column}_lo"] = result.ci_low[i, j]
            row[f"{column}_hi"] = result.ci_high[i, j]
            if (
                floor_name
                and result.metadata.get("against_floor", True)
                and name not in (reference, floor_name)
            ):
                floor = result.value[i, result.variants.index(floor_name)]
                higher = result.metadata.get("higher_is_better", True)
                less_alike = result.ci_high[i, j] < floor if higher else result.ci_low[i, j] > floor
                if less_alike:
                    beyond.append(column)
        row["beyond_noise"] = ",".join(beyond) if floor_name else ""
        row["description"] = view.header.descriptions.get(name, "")
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def run_compare(cfg: DictConfig, view: CacheView | None = None) -> ComparisonResult:
    """The compare stage: cached outputs → characteristics and analyses → results.

    Args:
        cfg: the composed config (characteristics, analyses, compare settings).
        view: the cache view (default: the manifest of the study `cfg` describes).

    Raises:
        ManifestError: an entry is missing; the message names the command that makes it.
        AlignmentError: two variants' entries hold different example ids.
    """
    view = view or open_view(cfg)
    split = str(cfg.compare.split)
    arrays = view.split_outputs(split)
    metas = {name: view.meta(name, split) for name in view.variants}
    n_bins = int(cfg.compare.n_bins)
    unary = {name: view.task.unary(arrays[name], n_bins=n_bins) for name in view.variants}
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
    characteristic_matrices = dict(pairwise)
    context = AnalysisContext(view, cfg.compare)
    analyses: dict[str, AnalysisResult] = {}
    for name, spec in (cfg.get("analyses") or {}).items():
        if spec is None:
            continue
        log.info("analysis %s", name)
        analyses[name] = instantiate(spec).run(context)
        clash = set(analyses[name].matrices) & set(pairwise)
        if clash:
            raise ValueError(f"analyses.{name}: matrix names {sorted(clash)} are already taken.")
        for matrix in analyses[name].matrices.values():
            # An analysis reports its own summary columns (AnalysisResult.summary); matrices it
            # builds from characteristic classes (e.g. error Jaccard of OOD flags) must not
            # claim those characteristics' columns.
            matrix.metadata["summary_column"] = None
        pairwise.update(analyses[name].matrices)
    verdicts = _verdicts(cfg, view, arrays, pairwise, analyses)
    summary = summary_table(view, unary, characteristic_matrices, metas)
    if verdicts is not None:
        overall = verdicts.overall.set_index("variant")["verdict"]
        summary.insert(0, "verdict", [overall.get(name, "reference") for name in summary.index])
        # `beyond_noise` is the one-replicate fallback (interval vs a single floor value); with a
        # seed population the verdict replaces it, and two answers side by side would disagree.
        summary = summary.drop(columns="beyond_noise")
    for name, metrics in unary.items():  # a task's own unary metrics (QA: f1, has/no-answer EM)
        for key in [k for k in metrics if k not in UNARY_KEYS]:
            summary.loc[name, key] = metrics[key]
    for analysis_result in analyses.values():
        for variant, columns in analysis_result.summary.items():
            for column, value in columns.items():
                summary.loc[variant, column] = value
    return ComparisonResult(
        unary=unary,
        pairwise=pairwise,
        summary=summary,
        meta=metas,
        analyses=analyses,
        header=view.header,
        split=split,
        verdicts=verdicts,
    )


def _verdicts(
    cfg: DictConfig,
    view: CacheView,
    arrays: dict[str, dict[str, np.ndarray]],
    pairwise: dict[str, PairwiseResult],
    analyses: dict[str, AnalysisResult],
) -> Any:
    """The seed-population verdict of every variant (`trusteq.stats.seed_verdicts`).

    Every characteristic read against the floor takes part, plus the analysis matrices named in
    `compare.verdict.analysis_matrices` (OOD flags, attributions: tested from their intervals).
    None when the study has fewer than two seeds (no population to read against).
    """
    settings = cfg.compare.get("verdict") or {}
    seeds = view.seeds
    if len(seeds) < 2 or not settings.get("enabled", True):
        if len(seeds) < 2:
            log.info("verdicts skipped: study.seeds has %d seed(s), need >= 2", len(seeds))
        return None
    from trusteq.stats import seed_verdicts

    wanted = list(settings.get("analysis_matrices") or [])
    # Tested under the matrix's key (e.g. `attack_vulnerable_kappa`, not its characteristic's
    # bare `vulnerable_kappa`), the name it has in the summary, the report and MLflow.
    matrices = [
        dataclasses.replace(matrix, name=key)
        for name, result in analyses.items()
        for key, matrix in result.matrices.items()
        if key in wanted and all(v in matrix.variants for v in seeds)
    ]
    variants = [name for name in view.variants if name != view.reference]
    return seed_verdicts(
        build_characteristics(cfg),
        arrays,
        view.reference,
        seeds,
        variants=variants,
        matrices=matrices,
        n_resamples=int(settings.get("n_resamples", 1000)),
        alpha=float(settings.get("alpha", 0.05)),
        confidence=float(cfg.compare.confidence),
        seed=int(cfg.compare.bootstrap_seed),
        margins=dict(settings.get("margins") or {}) or None,
        **(
            {"margin_se_multiplier": float(settings["margin_se_multiplier"])}
            if settings.get("margin_se_multiplier") is not None
            else {}
        ),
    )


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
