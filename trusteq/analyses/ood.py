"""Out-of-distribution agreement (Paper A's "data distribution"): do models flag the same inputs?

For each variant and scorer (``conf/ood/``), from the cache only:

1. score the calibration split (in-distribution validation), the in-distribution test split and
   every OOD split (higher = more OOD); deep kNN also reads the variant's training split;
2. AUROC, AUPR (OOD positive) and FPR at ``tpr`` (95%) TPR of in-distribution test vs each OOD
   split (:mod:`trusteq.ood.metrics`);
3. the threshold that keeps ``tpr`` of the validation inputs; the inputs of test ∪ OOD splits
   above it are *flagged*. Every model is at its own threshold (matched operating points);
4. flag-set Jaccard, its chance expectation and kappa between every pair of variants, on the
   union of test and all OOD splits (V×V matrices), per OOD split (table), and for deep kNN
   against its k (Rai et al. 2024, arXiv 2407.13174, Fig. 1 c; figure and table).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from trusteq.analyses.base import Analysis, AnalysisContext, AnalysisResult
from trusteq.characteristics.ood_flag_agreement import flag_agreement
from trusteq.ood.metrics import aupr, auroc, flag_ood, fpr_at_tpr, threshold_at_tpr
from trusteq.ood.plots import auroc_bars, flag_agreement_vs_k
from trusteq.ood.scorers import DeepKNN, OODScorer

log = logging.getLogger(__name__)

Scores = dict[str, dict[str, np.ndarray]]  # variant → split → scores (N_split,)


def _config_error(field: str, message: str) -> ValueError:
    return ValueError(f"conf/analysis/ood.yaml (analyses.<name>.{field}): {message}")


class OODAnalysis(Analysis):
    """OOD detection quality per variant and agreement of the flagged sets across variants.

    Args:
        scorers: name → scorer (``conf/ood/*.yaml``); names appear in keys and columns.
        in_split: in-distribution test split.
        calibration_split: in-distribution split that sets each model's threshold.
        ood_splits: the OOD splits (``ood_*``), at least one.
        train_split: training split for scorers with ``uses_train`` (deep kNN).
        tpr: in-distribution keep rate of the thresholds and of FPR@TPR, in (0, 1).
        ks: k values of the deep-kNN agreement-vs-k curve; empty = no curve.
        curve_scorer: name of the :class:`~trusteq.ood.scorers.DeepKNN` scorer whose k is
            varied; None = the first one, if any.
        n_resamples: bootstrap resamples; None = ``compare.n_resamples``.
        confidence: interval coverage; None = ``compare.confidence``.
        bootstrap_seed: None = ``compare.bootstrap_seed``.

    Raises:
        ValueError: a malformed field, naming it.
    """

    name = "ood"

    def __init__(
        self,
        scorers: Mapping[str, OODScorer],
        *,
        ood_splits: Sequence[str],  # no default here: conf/analysis/ood.yaml is the one list
        in_split: str = "test",
        calibration_split: str = "validation",
        train_split: str = "train",
        tpr: float = 0.95,
        ks: Iterable[int] = (1, 5, 10, 20, 50),
        curve_scorer: str | None = None,
        n_resamples: int | None = None,
        confidence: float | None = None,
        bootstrap_seed: int | None = None,
    ) -> None:
        self.scorers = {str(name): scorer for name, scorer in (scorers or {}).items()}
        if not self.scorers or not all(isinstance(s, OODScorer) for s in self.scorers.values()):
            raise _config_error("scorers", f"need name → OOD scorer (conf/ood), got {scorers!r}")
        self.in_split, self.calibration_split = str(in_split), str(calibration_split)
        self.train_split = str(train_split)
        self.ood_splits = [str(split) for split in ood_splits]
        if not self.ood_splits or len(set(self.ood_splits)) != len(self.ood_splits):
            raise _config_error("ood_splits", f"need distinct split names, got {ood_splits!r}")
        clash = {self.in_split, self.calibration_split} & set(self.ood_splits)
        if clash or self.in_split == self.calibration_split:
            raise _config_error(
                "ood_splits", f"in_split, calibration_split and ood_splits overlap: {clash}"
            )
        if not 0.0 < float(tpr) < 1.0:
            raise _config_error("tpr", f"must lie in (0, 1), got {tpr!r}")
        self.tpr = float(tpr)
        self.ks = sorted({int(k) for k in ks})
        if self.ks and self.ks[0] < 1:
            raise _config_error("ks", f"every k must be >= 1, got {list(ks)}")
        knn_names = [n for n, s in self.scorers.items() if isinstance(s, DeepKNN)]
        if curve_scorer is not None and curve_scorer not in knn_names:
            raise _config_error(
                "curve_scorer", f"{curve_scorer!r} is not a DeepKNN scorer; those are {knn_names}"
            )
        self.curve_scorer = curve_scorer or (knn_names[0] if knn_names and self.ks else None)
        self.n_resamples, self.confidence = n_resamples, confidence
        self.bootstrap_seed = bootstrap_seed

    @property
    def eval_splits(self) -> list[str]:
        """In-distribution test split, then the OOD splits: the inputs that are flagged."""
        return [self.in_split, *self.ood_splits]

    def required_splits(self) -> list[str]:
        uses_train = any(scorer.uses_train for scorer in self.scorers.values())
        return [self.calibration_split, *self.eval_splits] + ([self.train_split] * uses_train)

    # ------------------------------------------------------------------ scores
    def _scores(self, context: AnalysisContext) -> tuple[dict[str, Scores], Scores]:
        """Scorer → variant → split → scores, and variant → split → deep-kNN distances at ks.

        Each scorer runs once per variant on the calibration, test and OOD splits stacked (one
        faiss search per variant for deep kNN, at its own k and every k of the curve).
        """
        splits = [self.calibration_split, *self.eval_splits]
        uses_train = any(scorer.uses_train for scorer in self.scorers.values())
        scores: dict[str, Scores] = {name: {} for name in self.scorers}
        curve: Scores = {}
        for variant in context.variants:
            log.info("ood: scoring %s on %s", variant, ", ".join(splits))
            parts = [context.outputs(variant, split) for split in splits]
            bounds = np.cumsum([0] + [len(part["targets"]) for part in parts])
            train = context.outputs(variant, self.train_split) if uses_train else None
            for name, scorer in self.scorers.items():
                joined = {k: np.concatenate([p[k] for p in parts]) for k in scorer.requires}
                if isinstance(scorer, DeepKNN):
                    ks = sorted({scorer.k, *(self.ks if name == self.curve_scorer else [])})
                    n_train = len(train[scorer.embedding])
                    if ks[-1] > n_train:
                        raise _config_error(
                            f"ks / scorers.{name}.k",
                            f"k = {ks[-1]} exceeds the {n_train} examples of split "
                            f"{self.train_split!r}; use smaller k values",
                        )
                    columns = scorer.distances(joined, train, ks)
                    values = columns[:, ks.index(scorer.k)]
                    if name == self.curve_scorer:
                        at_ks = columns[:, [ks.index(k) for k in self.ks]]
                        curve[variant] = _by_split(at_ks, bounds, splits)
                else:
                    values = scorer.score(joined, train)
                scores[name][variant] = _by_split(values, bounds, splits)
        return scores, curve

    def _check_alignment(self, context: AnalysisContext) -> None:
        for split in self.required_splits():
            ids = context.meta(context.reference, split)["ids"]
            for variant in context.variants:
                if context.meta(variant, split)["ids"] != ids:
                    raise ValueError(
                        f"ood analysis: outputs of {variant!r} and {context.reference!r} on "
                        f"{split!r} cover different examples; rerun `trusteq-infer force=true`."
                    )

    # ------------------------------------------------------------------ run
    def run(self, context: AnalysisContext) -> AnalysisResult:
        """Compute the metrics, matrices, tables and figures from the cache."""
        compare = context.compare
        bootstrap = {
            "n_resamples": int(_default(self.n_resamples, compare.n_resamples)),
            "confidence": float(_default(self.confidence, compare.confidence)),
            "seed": int(_default(self.bootstrap_seed, compare.bootstrap_seed)),
        }
        self._check_alignment(context)
        scores, curve = self._scores(context)
        result = AnalysisResult()
        rows, agreement_rows = [], []
        fpr_key = f"fpr{round(self.tpr * 100)}"
        for name, by_variant in scores.items():
            flags = {}
            for variant, by_split in by_variant.items():
                threshold = threshold_at_tpr(by_split[self.calibration_split], self.tpr)
                flags[variant] = {s: flag_ood(by_split[s], threshold) for s in self.eval_splits}
                metrics = result.variant_metrics.setdefault(variant, {})
                metrics[f"threshold.{name}"] = threshold
                metrics[f"flag_rate.{name}.{self.in_split}"] = flags[variant][self.in_split].mean()
                for split in self.ood_splits:
                    row = {
                        "variant": variant,
                        "scorer": name,
                        "split": split,
                        "auroc": auroc(by_split[self.in_split], by_split[split]),
                        "aupr": aupr(by_split[self.in_split], by_split[split]),
                        fpr_key: fpr_at_tpr(by_split[self.in_split], by_split[split], self.tpr),
                        "threshold": threshold,
                        "flag_rate_in": float(flags[variant][self.in_split].mean()),
                        "flag_rate_ood": float(flags[variant][split].mean()),
                    }
                    rows.append(row)
                    for key in ("auroc", "aupr", fpr_key):
                        metrics[f"{key}.{name}.{split}"] = row[key]
                    metrics[f"flag_rate.{name}.{split}"] = row["flag_rate_ood"]
            union = {v: np.concatenate([f[s] for s in self.eval_splits]) for v, f in flags.items()}
            matrices = flag_agreement(union, suffix=f".{name}", **bootstrap)
            result.matrices.update({m.name: m for m in matrices.values()})
            agreement_rows += _reference_rows(context, matrices, scorer=name, split="all")
            for split in self.ood_splits:
                subset = {v: np.concatenate([f[self.in_split], f[split]]) for v, f in flags.items()}
                agreement_rows += _reference_rows(
                    context, flag_agreement(subset, **bootstrap), scorer=name, split=split
                )
        metrics_table = pd.DataFrame(rows)
        self._summarise(context, result, metrics_table, agreement_rows)
        result.tables["metrics.csv"] = metrics_table
        result.tables["flag_agreement.csv"] = pd.DataFrame(agreement_rows)
        result.figures["auroc.png"] = auroc_bars(metrics_table)
        if self.curve_scorer and curve:
            curve_table = self._curve(context, curve, bootstrap)
            result.tables["flag_agreement_vs_k.csv"] = curve_table
            result.figures["flag_agreement_vs_k.png"] = flag_agreement_vs_k(
                curve_table, context.reference, context.noise_floor
            )
        for split in [self.calibration_split, *self.eval_splits]:
            first = scores[next(iter(scores))][context.reference][split]
            result.study_metrics[f"n.{split}"] = float(len(first))
        return result

    def _curve(
        self, context: AnalysisContext, curve: Scores, bootstrap: dict[str, Any]
    ) -> pd.DataFrame:
        """Flag agreement with the reference against the deep-kNN k (Paper A, Fig. 1 c)."""
        rows = []
        for column, k in enumerate(self.ks):
            flags = {}
            for variant, by_split in curve.items():
                threshold = threshold_at_tpr(by_split[self.calibration_split][:, column], self.tpr)
                flags[variant] = np.concatenate(
                    [flag_ood(by_split[s][:, column], threshold) for s in self.eval_splits]
                )
            rows += [
                {"k": k, **row}
                for row in _reference_rows(
                    context, flag_agreement(flags, **bootstrap), self.curve_scorer, "all"
                )
            ]
        return pd.DataFrame(rows)

    def _summarise(
        self,
        context: AnalysisContext,
        result: AnalysisResult,
        metrics_table: pd.DataFrame,
        agreement_rows: list[dict[str, Any]],
    ) -> None:
        means = metrics_table.groupby(["variant", "scorer"])["auroc"].mean()
        for variant in context.variants:
            summary = result.summary.setdefault(variant, {})
            for name in self.scorers:
                summary[f"auroc_{name}"] = float(means[variant, name])
                result.variant_metrics[variant][f"auroc.{name}.mean"] = float(means[variant, name])
        for row in agreement_rows:
            if row["split"] == "all":
                result.summary[row["variant"]][f"ood_jaccard_{row['scorer']}"] = row["jaccard"]


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _by_split(array: np.ndarray, bounds: np.ndarray, splits: list[str]) -> dict[str, np.ndarray]:
    """Cut rows stacked split after split back into ``{split: rows}``."""
    return {split: array[bounds[i] : bounds[i + 1]] for i, split in enumerate(splits)}


def _reference_rows(
    context: AnalysisContext, matrices: Mapping[str, Any], scorer: str, split: str
) -> list[dict[str, Any]]:
    """One row per variant: its flag agreement with the reference, with intervals."""
    rows = []
    for variant in context.variants:
        row: dict[str, Any] = {"scorer": scorer, "split": split, "variant": variant}
        for kind, matrix in matrices.items():
            i = matrix.variants.index(context.reference)
            j = matrix.variants.index(variant)
            row[kind] = float(matrix.value[i, j])
            row[f"{kind}_lo"] = float(matrix.ci_low[i, j])
            row[f"{kind}_hi"] = float(matrix.ci_high[i, j])
        row["noise_floor"] = variant == context.noise_floor
        rows.append(row)
    return rows
