"""Log one comparison to MLflow: a parent run for the study, a child run per variant.

Keys and artifact names are documented in `trusteq.tracking.mlflow_tracking`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from omegaconf import DictConfig, OmegaConf

from trusteq.tracking.mlflow_tracking import _mlflow, ensure_experiment
from trusteq.viz.plots import (
    agreement_vs_k,
    matrix_heatmap,
    reliability_diagram,
    reliability_grid,
)

if TYPE_CHECKING:
    from trusteq.report.results import ComparisonResult

log = logging.getLogger(__name__)


def _flat_params(prefix: str, value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, sub in value.items():
            out.update(_flat_params(f"{prefix}.{key}" if prefix else str(key), sub))
        return out
    return {prefix: str(value)[:500]}


def _log_figure(mlflow: Any, fig: Any, name: str) -> None:
    mlflow.log_figure(fig, name)
    plt.close(fig)


COMPARISON_TAG = "trusteq.comparison_key"


def find_logged_comparison(cfg: DictConfig, comparison_key: str) -> str | None:
    """The id of a FINISHED parent run that logged this exact comparison, or None."""
    from mlflow.tracking import MlflowClient

    experiment_id = ensure_experiment(cfg)
    client = MlflowClient()
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{COMPARISON_TAG}` = '{comparison_key}' and "
        "attributes.status = 'FINISHED'",
        max_results=50,
    )
    # Child runs carry the study's tags too; the comparison is the parent (no parent of its own).
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    return parents[0].info.run_id if parents else None


def scratch_dir() -> tempfile.TemporaryDirectory:
    """A temporary folder for artifacts before they are logged."""
    return tempfile.TemporaryDirectory(prefix="trusteq-artifacts-")


def log_comparison(
    cfg: DictConfig,
    result: ComparisonResult,
    arrays: dict[str, dict[str, np.ndarray]],
    tables: dict[str, dict[str, Any]],
    write_results: Any,
    report: Path | None = None,
    comparison_key: str | None = None,
) -> str:
    """Log `result` under a new parent run; returns the parent run id.

    Args:
        cfg: the composed config (logger, compare settings).
        result: the compare stage's result (its `header` names the variants).
        arrays: variant → the compared split's outputs (the task's view).
        tables: variant → binning → reliability table.
        write_results: writes the result files into a folder (logged as artifacts).
        report: the HTML study report, logged as `report.html` on the parent run.
        comparison_key: the comparison's cache key (tag `trusteq.comparison_key`), so that an
            identical rerun finds this run instead of logging a copy.
    """
    from trusteq.outputs.provenance import git_sha
    from trusteq.tracking.keys import (
        SHARED_VIEW_TAG_PREFIX,
        VERDICT_TAG,
        study_params,
        study_verdict,
        variant_metrics_and_tags,
        verdict_view_key,
        verdict_view_state,
    )

    study = result.header
    mlflow = _mlflow()
    experiment_id = ensure_experiment(cfg)
    tags = {
        "trusteq.study": study.name,
        "trusteq.dataset": str(cfg.dataset.get("dataset_name", "")),
        "trusteq.split": str(cfg.compare.split),
        "trusteq.reference": study.reference,
        "trusteq.git_sha": git_sha() or "unknown",
        **({COMPARISON_TAG: comparison_key} if comparison_key else {}),
    }
    try:
        from hydra.core.hydra_config import HydraConfig

        tags["trusteq.overrides"] = " ".join(HydraConfig.get().overrides.task)[:5000]
    except ValueError:  # not inside a Hydra app (tests, notebooks)
        pass
    floor = study.noise_floor
    with mlflow.start_run(experiment_id=experiment_id, run_name=study.name, tags=tags) as parent:
        mlflow.log_params(
            _flat_params(
                "",
                {
                    "study": study.name,
                    "reference": study.reference,
                    "noise_floor": floor,
                    "variants": ",".join(study.variants),
                    "train": OmegaConf.to_container(cfg.train),
                    "compare": OmegaConf.to_container(cfg.compare),
                },
            )
        )
        mlflow.log_dict(OmegaConf.to_container(cfg, resolve=True), "config.json")
        verdict_keys: dict[str, tuple[dict[str, float], dict[str, str]]] = {}
        if result.verdicts is not None:
            mlflow.log_params(study_params(result.verdicts.settings))
            verdict_keys = variant_metrics_and_tags(result.verdicts.table, result.verdicts.overall)
            mlflow.set_tag(VERDICT_TAG, study_verdict(result.verdicts.overall))
            # The client call: fluent `set_experiment_tag` tags the *active* experiment, which
            # `start_run(experiment_id=...)` does not set.
            client = mlflow.tracking.MlflowClient()
            for run_id in (None, parent.info.run_id):  # every study's, and this comparison's
                client.set_experiment_tag(
                    experiment_id,
                    SHARED_VIEW_TAG_PREFIX + verdict_view_key(run_id),
                    json.dumps(verdict_view_state(run_id)),
                )
        if report is not None and Path(report).is_file():
            mlflow.log_artifact(str(report))
        for name, matrix in result.pairwise.items():
            _log_figure(
                mlflow,
                matrix_heatmap(
                    matrix.value,
                    matrix.variants,
                    f"{name} ({cfg.compare.split})",
                    *matrix.metadata.get("bounds", (None, None)),
                ),
                f"matrices/{name}.png",
            )
            if floor:
                i, j = matrix.variants.index(study.reference), matrix.variants.index(floor)
                mlflow.log_metrics(
                    {
                        f"noise_floor.{name}": float(matrix.value[i, j]),
                        f"noise_floor.{name}.ci_low": float(matrix.ci_low[i, j]),
                        f"noise_floor.{name}.ci_high": float(matrix.ci_high[i, j]),
                    }
                )
        knn = sorted(
            (int(name.rsplit("_k", 1)[1]), m)
            for name, m in result.pairwise.items()
            if name.startswith("knn_agreement_k")
        )
        if knn:
            ks = [k for k, _ in knn]
            ref = study.reference
            curves = {}
            for variant in study.variants:
                if variant == ref:
                    continue
                idx = [(m.variants.index(ref), m.variants.index(variant)) for _, m in knn]
                label = f"{variant} (noise floor)" if variant == floor else variant
                curves[label] = tuple(
                    np.array(
                        [getattr(m, attr)[i, j] for (_, m), (i, j) in zip(knn, idx, strict=True)]
                    )
                    for attr in ("value", "ci_low", "ci_high")
                )
            _log_figure(
                mlflow,
                agreement_vs_k(ks, curves, f"kNN agreement with {ref}"),
                "knn_agreement_vs_k.png",
            )
        from trusteq.viz.tradeoff import tradeoff_figure

        for x, file_name in (
            ("size_mb", "tradeoff_size.png"),
            ("ms_per_example", "tradeoff_latency.png"),
        ):
            _log_figure(mlflow, tradeoff_figure(result, study.reference, floor, x=x), file_name)
        for binning in ("equal_mass", "equal_width"):
            _log_figure(
                mlflow,
                reliability_grid(
                    {name: tables[name][binning] for name in study.variants},
                    f"reliability diagrams ({binning} bins, split {cfg.compare.split})",
                ),
                f"reliability_{binning}.png",
            )
        with scratch_dir() as tmp:
            write_results(result, Path(tmp))
            mlflow.log_artifacts(tmp, "matrices")
            mlflow.log_artifact(str(Path(tmp) / "summary.csv"))
            mlflow.log_artifact(str(Path(tmp) / "summary.md"))
        for analysis_name, analysis in result.analyses.items():
            if analysis.study_metrics:
                mlflow.log_metrics(
                    {f"{analysis_name}.{k}": float(v) for k, v in analysis.study_metrics.items()}
                )
            for file_name, fig in analysis.figures.items():
                _log_figure(mlflow, fig, f"analyses/{analysis_name}/{file_name}")
            for file_name, table in analysis.tables.items():
                mlflow.log_text(table.to_csv(index=False), f"analyses/{analysis_name}/{file_name}")
        for name in study.variants:
            _log_variant(
                mlflow,
                experiment_id,
                parent.info.run_id,
                name,
                result,
                tables[name],
                tags,
                verdict_keys.get(name, ({}, {})),
            )
        nest_training_runs(
            experiment_id,
            parent.info.run_id,
            study.name,
            {str(result.meta[name].get("model_key", "")) for name in study.variants},
        )
        return parent.info.run_id


def nest_training_runs(
    experiment_id: str, parent_id: str, study: str, checkpoint_keys: set[str]
) -> list[str]:
    """Put the study's training runs under its parent run (tag `mlflow.parentRunId`).

    Training runs are made before the comparison's parent run exists (by `trusteq-train` or the
    study's train stage, possibly on other machines); here each run tagged
    `trusteq.stage=train`, `trusteq.study=<study>` whose `trusteq.cache_key` is the checkpoint of
    one of the compared variants (every attempt, killed ones included) is nested under the
    parent, so the runs table shows one expandable row per study. Runs already nested under
    another comparison of the same checkpoint move to this one (the latest). Returns their ids.
    A tracking error is logged as a warning: the comparison itself is already recorded.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    try:
        runs = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`trusteq.stage` = 'train' and tags.`trusteq.study` = '{study}'",
            max_results=5000,
        )
        nested = []
        for run in runs:
            if run.data.tags.get("trusteq.cache_key") in checkpoint_keys:
                client.set_tag(run.info.run_id, "mlflow.parentRunId", parent_id)
                nested.append(run.info.run_id)
        return nested
    except MlflowException as error:
        log.warning("training runs of %s not nested under %s: %s", study, parent_id, error)
        return []


def _log_variant(
    mlflow: Any,
    experiment_id: str,
    parent_id: str,
    name: str,
    result: ComparisonResult,
    tables: dict[str, Any],
    tags: dict[str, str],
    verdict: tuple[dict[str, float], dict[str, str]] = ({}, {}),
) -> None:
    study = result.header
    meta = result.meta[name]
    stats = meta["compression_stats"]
    from trusteq.tracking.keys import run_name

    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name(study.name, name, verdict),
        nested=True,
        parent_run_id=parent_id,
        tags={**tags, "trusteq.variant": name, "trusteq.seed": str(meta.get("seed"))},
    ):
        latency = meta.get("latency") or {}
        mlflow.log_params(
            {
                "variant": name,
                "parent": meta.get("parent") or "",
                "seed": meta.get("seed"),
                "backbone": json.dumps(meta.get("backbone"))[:500],
                "steps": json.dumps(meta.get("steps"))[:500],
                "description": study.descriptions.get(name, ""),
                "model_key": meta.get("model_key", ""),
                "teacher": meta.get("teacher") or "",
                "latency_device": latency.get("device", ""),
            }
        )
        metrics = {k: float(v) for k, v in result.unary[name].items()}
        metrics.update(
            {
                "params": stats["parameters"],
                "nonzero_params": stats["nonzero_parameters"],
                "sparsity": stats["sparsity"],
                "size_mb": stats["size_mb"],
                "bits_per_weight": stats["bits_per_weight"],
                "examples_per_second": meta["timings"]["examples_per_second"],
                "linear_sparsity": stats.get("linear_sparsity", float("nan")),
                "latency_ms_per_example": latency.get("ms_per_example", float("nan")),
                "latency_examples_per_second": latency.get("examples_per_second", float("nan")),
            }
        )
        from trusteq.tracking.keys import metric_key

        for char_name, matrix in result.pairwise.items():
            if metric_key(char_name, "vs_reference") in verdict[0] or name not in matrix.variants:
                continue  # the verdict rows already carry value and interval: one key each
            i, j = matrix.variants.index(study.reference), matrix.variants.index(name)
            metrics[metric_key(char_name, "vs_reference")] = float(matrix.value[i, j])
            metrics[metric_key(char_name, "ci_low")] = float(matrix.ci_low[i, j])
            metrics[metric_key(char_name, "ci_high")] = float(matrix.ci_high[i, j])
        for analysis_name, analysis in result.analyses.items():
            for key, value in analysis.variant_metrics.get(name, {}).items():
                metrics[f"{analysis_name}.{key}"] = float(value)
        metrics.update(verdict[0])
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        if verdict[1]:
            mlflow.set_tags(verdict[1])
        for binning, table in tables.items():
            _log_figure(
                mlflow,
                reliability_diagram(table, f"{name}: reliability ({binning})"),
                f"reliability_{binning}.png",
            )
            mlflow.log_dict(
                {k: np.asarray(v).tolist() for k, v in table.items()}, f"reliability_{binning}.json"
            )
