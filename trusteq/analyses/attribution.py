"""Interpretability alignment: do two models base their predictions on the same words?

Reads the cached word attributions of every variant (producers `conf/explainer/*.yaml`, one entry
per explainer seed) and compares every pair of variants with the characteristics of
:mod:`trusteq.characteristics.attribution_agreement`: top-K Jaccard (Paper B, Rai et al. 2025,
arXiv 2508.13533) and
Krishna et al. 2022 (arXiv 2202.01602) feature / rank / sign / signed-rank agreement and rank
correlation, each with a paired bootstrap interval over examples from the shared matrix runner.

Two matrices per explainer and metric:

- `attribution_<explainer>_<metric>` (Paper B's protocol): model a under explainer seed s against
  model b under the same seed s, averaged over seeds; the table adds the mean and variance over
  seeds (variance with ddof = 0). The same seed means the same perturbation samples for both
  models, which removes part of the explainer noise from the comparison.
- `attribution_<explainer>_<metric>_cross_seed` (with two or more seeds): model a's seed s against
  model b's seed t ≠ s. Its diagonal is each model's **explainer noise floor** (the same model
  explained under another seed), and its off-diagonal values carry the same, independent,
  explainer noise, so they are compared with the floor: a LIME Jaccard of 0.5 between two models
  means little if two LIME runs on one model also agree at 0.5. `below_floor` in the table marks
  pairs whose whole cross-seed interval lies below the reference's floor.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from trusteq.analyses.base import Analysis, AnalysisContext, AnalysisResult
from trusteq.characteristics.attribution_agreement import CrossSeed, attribution_family
from trusteq.characteristics.matrix import PairwiseResult, pairwise_matrices
from trusteq.producers.explain.figures import jaccard_vs_k_figure, top_words_figure

log = logging.getLogger(__name__)


class AnalysisConfigError(ValueError):
    """The attribution analysis config does not match the study; the message names the fix."""


def _expand(result: PairwiseResult, variants: list[str], name: str) -> PairwiseResult:
    """The matrix over all `variants`, NaN for those left out (e.g. a skipped explainer)."""
    full = {key: np.full((len(variants), len(variants)), np.nan) for key in ("v", "lo", "hi")}
    index = [variants.index(v) for v in result.variants]
    for key, matrix in zip(full, (result.value, result.ci_low, result.ci_high), strict=True):
        full[key][np.ix_(index, index)] = matrix
    return PairwiseResult(
        name, list(variants), full["v"], full["lo"], full["hi"], dict(result.metadata)
    )


class AttributionAgreement(Analysis):
    """Pairwise agreement of word attributions, per explainer, with explainer-seed noise floors.

    Args:
        explainers: explainer label → names of `producers.<name>` entries that differ only in the
            explainer seed (one name = no noise floor), e.g. `{lime: [lime, lime_seed1]}`.
        k_values: K of the top-K Jaccard matrices.
        agreement_k: k of Krishna et al.'s agreement matrices.
        summary_k: K of the Jaccard shown in the summary table (must be in `k_values`).
        figure_examples: examples in the top-words figure.
        figure_top_k: words boxed per model in that figure.
        name: analysis name (MLflow prefix, artifact folder).

    Raises:
        AnalysisConfigError: empty `explainers`, a K < 1, or `summary_k` not in `k_values`.
    """

    def __init__(
        self,
        explainers: Mapping[str, Sequence[str] | str],
        k_values: Sequence[int] = (1, 3, 5, 10, 20),
        agreement_k: Sequence[int] = (10,),
        summary_k: int = 10,
        figure_examples: int = 4,
        figure_top_k: int = 5,
        name: str = "attribution",
    ) -> None:
        where = "analyses.attribution (conf/analysis/attribution.yaml)"
        self.explainers = {  # a label set to null (or []) is dropped, e.g. by an experiment
            str(label): [names] if isinstance(names, str) else [str(n) for n in names]
            for label, names in (explainers or {}).items()
            if names
        }
        if not self.explainers:
            raise AnalysisConfigError(
                f"{where}: `explainers` must map each explainer label to producer names, e.g. "
                "{lime: [lime, lime_seed1]}; got " + repr(explainers)
            )
        self.k_values = [int(k) for k in k_values]
        self.agreement_k = [int(k) for k in agreement_k]
        if min(self.k_values + self.agreement_k, default=0) < 1:
            raise AnalysisConfigError(f"{where}: every K must be >= 1.")
        if int(summary_k) not in self.k_values:
            raise AnalysisConfigError(
                f"{where}: summary_k={summary_k} is not in k_values={self.k_values}."
            )
        self.summary_k = int(summary_k)
        self.figure_examples = int(figure_examples)
        self.figure_top_k = int(figure_top_k)
        self.name = str(name)

    def required_producers(self) -> list[str]:
        names = [name for group in self.explainers.values() for name in group]
        return list(dict.fromkeys(names))

    # ------------------------------------------------------------------ loading
    def _distinct(self, context: AnalysisContext, label: str, names: list[str]) -> list[str]:
        """`names` less those whose entries are the very same outputs as an earlier name's.

        An explainer that ignores its seed (SHAP Partition, Integrated Gradients: see
        `AttributionProducer.seeded`) gives its seed replicates one cache key. They are one
        explanation, not several: comparing them would make a noise floor of 1 by construction.
        """
        seen: dict[tuple[str, ...], str] = {}
        kept = []
        for name in names:
            if name not in context.producers:
                kept.append(name)  # `_load` names the undeclared producer
                continue
            keys = tuple(context.produced_key(variant, name) for variant in context.variants)
            if keys in seen:
                log.info(
                    "%s: %s: producer %r made the same entries as %r (the explainer ignores its "
                    "seed): one explanation, no explainer-seed floor",
                    self.name,
                    label,
                    name,
                    seen[keys],
                )
                continue
            seen[keys] = name
            kept.append(name)
        return kept

    def _load(
        self, context: AnalysisContext, label: str, names: list[str]
    ) -> tuple[dict[str, np.ndarray], tuple[dict[str, np.ndarray], dict[str, Any]], dict]:
        """Variant → attributions `(N, S, W_max)`; the first entry; variant → seconds spent."""
        declared = set(context.producers)
        missing = [name for name in names if name not in declared]
        if missing:
            raise AnalysisConfigError(
                f"analyses.{self.name}.explainers.{label} names producers {missing} that the "
                f"study does not declare (declared: {sorted(declared)}). Fix: add e.g. "
                "`- /explainer@producers.<name>: lime` to the experiment's defaults."
            )
        stacked, seconds, first, index = {}, {}, None, None
        for variant in context.variants:
            entries = [context.produced(variant, name) for name in names]
            for (arrays, _), name in zip(entries, names, strict=True):
                if index is None:
                    index = arrays["example_index"]
                elif not np.array_equal(arrays["example_index"], index):
                    raise AnalysisConfigError(
                        f"analyses.{self.name}: producer {name!r} of {variant!r} explained other "
                        "examples than the first entry; give every producer of the analysis the "
                        "same split, n_examples and subset_seed."
                    )
            stacked[variant] = np.stack([arrays["attributions"] for arrays, _ in entries], axis=1)
            seconds[variant] = float(sum(meta.get("seconds", 0.0) for _, meta in entries))
            first = first or entries[0]
        return stacked, first, seconds

    # ------------------------------------------------------------------ the analysis
    def run(self, context: AnalysisContext) -> AnalysisResult:
        compare = context.compare
        bootstrap = {
            "n_resamples": int(compare.n_resamples),
            "confidence": float(compare.confidence),
            "seed": int(compare.bootstrap_seed),
        }
        result = AnalysisResult()
        rows: list[dict[str, Any]] = []
        variants, reference = context.variants, context.reference
        for label, declared in self.explainers.items():
            names = self._distinct(context, label, declared)
            stacked, first, seconds = self._load(context, label, names)
            valid = [v for v in variants if np.isfinite(stacked[v]).any()]
            for variant in set(variants) - set(valid):
                log.warning("%s: no %s attributions for %s (skipped)", self.name, label, variant)
            family = list(attribution_family(self.k_values, self.agreement_k))
            outputs = {v: {"attributions": stacked[v]} for v in valid}
            n_seeds = stacked[reference].shape[1]
            same = pairwise_matrices(family, outputs, **bootstrap) if valid else []
            cross = (
                pairwise_matrices([CrossSeed(m, n_seeds) for m in family], outputs, **bootstrap)
                if valid and n_seeds >= 2
                else [None] * len(family)
            )
            for char, paired, crossed in zip(family, same, cross, strict=True):
                for matrix in (paired, crossed):
                    if matrix is not None:
                        full = _expand(matrix, variants, f"attribution_{label}_{matrix.name}")
                        full.metadata["explainer_producers"] = names
                        result.matrices[full.name] = full
                rows += self._rows(label, char, result, stacked, reference)
            self._metrics(result, label, rows, seconds, stacked, reference)
            result.figures[f"top_words_{label}.png"] = self._top_words(label, stacked, first)
            if reference in valid:
                result.figures[f"jaccard_vs_k_{label}.png"] = self._jaccard_vs_k(
                    label, result, reference
                )
        result.tables["agreement.csv"] = pd.DataFrame(rows)
        return result

    def _rows(
        self,
        label: str,
        char: Any,
        result: AnalysisResult,
        stacked: dict[str, np.ndarray],
        reference: str,
    ) -> list[dict[str, Any]]:
        """One row per unordered pair (and per variant with itself) of the V variants."""
        paired = result.matrices[f"attribution_{label}_{char.name}"]
        crossed = result.matrices.get(f"attribution_{label}_{char.name}_cross_seed")
        variants = paired.variants
        nan = np.full((len(variants), len(variants)), np.nan)
        x_value, x_low, x_high = (
            (crossed.value, crossed.ci_low, crossed.ci_high) if crossed else (nan, nan, nan)
        )
        r = variants.index(reference)
        rows = []
        for i, j in itertools.combinations_with_replacement(range(len(variants)), 2):
            a, b = variants[i], variants[j]
            per_seed = [
                char({"attributions": stacked[a][:, s]}, {"attributions": stacked[b][:, s]})
                if np.isfinite(paired.value[i, j])
                else np.nan
                for s in range(stacked[a].shape[1])
            ]
            rows.append(
                {
                    "explainer": label,
                    "metric": char.name,
                    "a": a,
                    "b": b,
                    "value": paired.value[i, j],
                    "ci_low": paired.ci_low[i, j],
                    "ci_high": paired.ci_high[i, j],
                    "seed_mean": float(np.mean(per_seed)),
                    "seed_var": float(np.var(per_seed)),
                    "n_seeds": stacked[a].shape[1],
                    "cross_seed": x_value[i, j],
                    "cross_seed_ci_low": x_low[i, j],
                    "cross_seed_ci_high": x_high[i, j],
                    "floor_a": x_value[i, i],
                    "floor_b": x_value[j, j],
                    "reference_floor": x_value[r, r],
                    "reference_floor_ci_low": x_low[r, r],
                    "reference_floor_ci_high": x_high[r, r],
                    "below_floor": bool(i != j and x_high[i, j] < x_value[r, r]),
                }
            )
        return rows

    def _metrics(
        self,
        result: AnalysisResult,
        label: str,
        rows: list[dict[str, Any]],
        seconds: dict[str, float],
        stacked: dict[str, np.ndarray],
        reference: str,
    ) -> None:
        for row in rows:
            if row["explainer"] != label or reference not in (row["a"], row["b"]):
                continue
            variant = row["b"] if row["a"] == reference else row["a"]
            metrics = result.variant_metrics.setdefault(variant, {})
            key = f"{label}.{row['metric']}"
            if variant != reference:
                metrics[key] = row["value"]
                metrics[f"{key}.ci_low"], metrics[f"{key}.ci_high"] = row["ci_low"], row["ci_high"]
                if row["n_seeds"] >= 2:  # one seed: a variance of 0 and no cross-seed value
                    metrics[f"{key}.seed_var"] = row["seed_var"]
                    metrics[f"{key}.cross_seed"] = row["cross_seed"]
            else:
                for suffix, column in (("", ""), (".ci_low", "_ci_low"), (".ci_high", "_ci_high")):
                    value = row[f"reference_floor{column}"]
                    if np.isfinite(value):  # no floor with a single explainer seed
                        result.study_metrics[f"{key}.noise_floor{suffix}"] = value
            if row["n_seeds"] >= 2:
                metrics[f"{key}.seed_floor"] = row[
                    "floor_b" if row["a"] == reference else "floor_a"
                ]
            if row["metric"] == f"jaccard_k{self.summary_k}":
                column = f"{label}_j{self.summary_k}"
                summary = result.summary.setdefault(variant, {})
                summary[column] = row["value"]
                if row["n_seeds"] >= 2:
                    summary[f"{column}_xseed"] = row["cross_seed"]
                    summary[f"{column}_floor"] = row["reference_floor"]
        for variant, spent in seconds.items():
            n_examples = max(1, stacked[variant].shape[0])
            result.variant_metrics.setdefault(variant, {})[f"{label}.seconds_per_example"] = (
                spent / n_examples / stacked[variant].shape[1]
            )

    def _top_words(
        self,
        label: str,
        stacked: dict[str, np.ndarray],
        first: tuple[dict[str, np.ndarray], dict[str, Any]],
    ) -> Any:
        arrays, meta = first
        records = meta.get("records", {})
        examples = list(records.get("examples", []))
        names = list(records.get("label_names", []))
        order = sorted(range(len(examples)), key=lambda i: (len(examples[i]["words"]) > 30, i))
        chosen = order[: self.figure_examples]
        shown = []
        for i in chosen:
            gold, explained = int(arrays["labels"][i]), int(arrays["explained_class"][i])
            caption = f"{examples[i]['id']}: gold {names[gold] if names else gold}"
            caption += f", explained {names[explained] if names else explained}"
            shown.append({**examples[i], "label": caption})
        attributions = {v: values[chosen, 0] for v, values in stacked.items()}
        return top_words_figure(
            shown, attributions, self.figure_top_k, f"{label}: top-{self.figure_top_k} words"
        )

    def _jaccard_vs_k(self, label: str, result: AnalysisResult, reference: str) -> Any:
        """Jaccard with the reference against K: cross-seed values and the floor when S >= 2."""
        ks = self.k_values
        suffix = (
            "_cross_seed"
            if f"attribution_{label}_jaccard_k{ks[0]}_cross_seed" in (result.matrices)
            else ""
        )
        matrices = [result.matrices[f"attribution_{label}_jaccard_k{k}{suffix}"] for k in ks]
        ref = matrices[0].variants.index(reference)
        values = {
            variant: [float(m.value[ref, v]) for m in matrices]
            for v, variant in enumerate(matrices[0].variants)
            if v != ref
        }
        floor = [float(m.value[ref, ref]) for m in matrices] if suffix else None
        how = "different explainer seeds" if suffix else "same explainer seed"
        return jaccard_vs_k_figure(
            ks, values, floor, f"{label}: agreement with {reference} ({how})"
        )
