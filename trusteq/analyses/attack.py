"""Adversarial vulnerability: does the same attack break the same inputs, and does it transfer?

Reads, from the cache only, every variant's attack entry (:class:`~trusteq.producers.attack.
AttackProducer`, the same stratified rows for every variant) and, optionally, transfer entries
(:class:`~trusteq.producers.attack.AttackTransferProducer`: variant B on variant A's adversarial
texts). Produces:

- per variant (Paper A, Rai et al. 2024, arXiv 2407.13174): accuracy on the attacked subset before
  and under attack, attack success rate (of the correctly classified), mean queries, mean % of
  words perturbed, seconds per attacked example; the success rate and accuracy under attack with
  percentile bootstrap intervals;
- V×V matrices with paired-bootstrap intervals (:mod:`trusteq.characteristics.attack_agreement`):
  vulnerable-set Jaccard, its chance level, Cohen's κ, and, from the transfer entries, the
  transfer rate and b's accuracy on a's adversarial texts (rows = source a, columns = target b);
- the noise floor: every value against the reference vs its seed replicate (``study.noise_floor``);
- a figure of a few attacked sentences side by side across variants (changed words highlighted),
  because success rates overstate vulnerability when a swap flips the true sentiment.

Over 400 lines: per-variant attack metrics, the V×V vulnerable-set and transfer matrices with their
bootstrap, and the side-by-side figure read the same entries; one analysis, one module.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trusteq.analyses.base import Analysis, AnalysisContext, AnalysisResult
from trusteq.characteristics.attack_agreement import (
    FAILED,
    SKIPPED,
    SUCCESS,
    transfer_family,
    vulnerable_family,
)
from trusteq.characteristics.bootstrap import percentile_interval, resample_counts
from trusteq.characteristics.matrix import pairwise_matrices

log = logging.getLogger(__name__)


class AttackAnalysisError(ValueError):
    """The attack analysis config does not match the study; the message names the fix."""


def unary_attack_metrics(arrays: dict[str, np.ndarray]) -> dict[str, float]:
    """Paper A's per-model attack numbers from one attack entry.

    Args:
        arrays: an attack entry: ``status``, ``queries``, ``words_changed``, ``word_count``,
            ``seconds``, each `(N,)`.

    Returns:
        ``clean_accuracy`` (attacked / N), ``accuracy_under_attack`` (failed / N),
        ``attack_success_rate`` (successes / attacked; NaN if none attacked), ``mean_queries``
        (over attacked), ``mean_words_perturbed_pct`` (over successes, % of words),
        ``seconds_per_example`` (over attacked), ``n_examples``, ``n_attacked``,
        ``n_successes``.
    """
    status = np.asarray(arrays["status"])
    attacked, success = status != SKIPPED, status == SUCCESS
    n, n_attacked, n_success = len(status), int(attacked.sum()), int(success.sum())
    words = np.maximum(np.asarray(arrays["word_count"], dtype=np.float64), 1.0)
    pct = 100.0 * np.asarray(arrays["words_changed"], dtype=np.float64) / words

    def mean(values: np.ndarray, mask: np.ndarray) -> float:
        return float(np.asarray(values, dtype=np.float64)[mask].mean()) if mask.any() else np.nan

    return {
        "clean_accuracy": n_attacked / n if n else np.nan,
        "accuracy_under_attack": float((status == FAILED).sum()) / n if n else np.nan,
        "attack_success_rate": n_success / n_attacked if n_attacked else np.nan,
        "mean_queries": mean(arrays["queries"], attacked),
        "mean_words_perturbed_pct": mean(pct, success),
        "seconds_per_example": mean(arrays["seconds"], attacked),
        "n_examples": float(n),
        "n_attacked": float(n_attacked),
        "n_successes": float(n_success),
    }


def _rate_interval(
    numerator: np.ndarray, denominator: np.ndarray, counts: np.ndarray | None, confidence: float
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``sum(numerator) / sum(denominator)`` over examples."""
    if counts is None:
        return np.nan, np.nan
    top, bottom = counts @ numerator, counts @ denominator
    values = np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)
    return (
        percentile_interval(values[np.isfinite(values)], confidence)
        if np.isfinite(values).any()
        else (np.nan, np.nan)
    )


class AttackAnalysis(Analysis):
    """Attack characteristics per variant and between variants (see the module docstring).

    Args:
        attack: the attack's name under ``producers.<name>``.
        transfer: names of ``producers.<name>`` transfer entries (each replays one source
            variant's adversarial texts on every variant); [] = no transfer matrices.
        figure_examples: attacked sentences in the side-by-side figure.
        figure_context: words shown either side of the changed words in that figure.
        name: analysis name (MLflow prefix, artifact folder).

    Raises:
        AttackAnalysisError: `attack` empty or `figure_examples` < 0.
    """

    def __init__(
        self,
        attack: str = "attack",
        transfer: Sequence[str] | None = (),
        figure_examples: int = 4,
        figure_context: int = 8,
        name: str = "attack",
    ) -> None:
        if not attack:
            raise AttackAnalysisError(
                "analyses.attack.attack (conf/analysis/attack.yaml) must name the attack producer"
            )
        if int(figure_examples) < 0:
            raise AttackAnalysisError("analyses.attack.figure_examples must be >= 0")
        self.attack = str(attack)
        self.transfer = [str(t) for t in (transfer or []) if t]
        self.figure_examples = int(figure_examples)
        self.figure_context = int(figure_context)
        self.name = str(name)

    requires_kinds = ("text_inputs", "class_distribution")

    def required_producers(self) -> list[str]:
        return [self.attack, *self.transfer]

    # ------------------------------------------------------------------ loading
    def _check_declared(self, context: AnalysisContext) -> None:
        declared = set(context.producers)
        missing = [n for n in self.required_producers() if n not in declared]
        if missing:
            raise AttackAnalysisError(
                f"analyses.{self.name} reads producers {missing} that the study does not declare "
                f"(declared: {sorted(declared)}). Fix: add e.g. `- /attack@producers.attack: "
                "wordnet_constrained` to the experiment's defaults."
            )

    def load(
        self, context: AnalysisContext
    ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, Any]], dict]:
        """Attack arrays and meta per variant, and transfer arrays per (source, target)."""
        self._check_declared(context)
        arrays, metas, index = {}, {}, None
        for variant in context.variants:
            entry, meta = context.produced(variant, self.attack)
            if index is None:
                index = entry["example_index"]
            elif not np.array_equal(entry["example_index"], index):
                raise AttackAnalysisError(
                    f"analyses.{self.name}: {variant!r} was attacked on other examples than "
                    f"{context.variants[0]!r}; every variant must use the same split, n_examples "
                    "and subset_seed (they do unless the entry is stale: rerun infer)."
                )
            arrays[variant], metas[variant] = entry, meta
        transfers: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        for producer in self.transfer:
            for variant in context.variants:
                entry, meta = context.produced(variant, producer)
                source = (meta.get("records") or {}).get("source_variant")
                if source not in arrays:
                    log.warning(
                        "%s: transfer source %r is not a variant (skipped)", producer, source
                    )
                    continue
                if not np.array_equal(entry["example_index"], index):
                    raise AttackAnalysisError(
                        f"analyses.{self.name}: transfer entry {producer!r} of {variant!r} "
                        "covers other examples than the attack entries."
                    )
                transfers[source, variant] = entry
        return arrays, metas, transfers

    @staticmethod
    def outputs(
        variants: list[str],
        arrays: dict[str, dict[str, np.ndarray]],
        transfers: dict[tuple[str, str], dict[str, np.ndarray]],
    ) -> dict[str, dict[str, np.ndarray]]:
        """Per variant the inputs of the attack characteristics (see their docstrings).

        ``transfer_correct[:, j]`` is whether the variant is right on variant j's adversarial
        texts: from a transfer entry, and on the diagonal from the variant's own attack (0 on
        every success, by construction).
        """
        n_variants = len(variants)
        result = {}
        for v, variant in enumerate(variants):
            entry = arrays[variant]
            n = len(entry["status"])
            correct = np.full((n, n_variants), np.nan)
            for s, source in enumerate(variants):
                source_status = arrays[source]["status"]
                if source == variant:
                    own = (entry["perturbed_label"] == entry["labels"]).astype(np.float64)
                    correct[:, s] = np.where(source_status == SUCCESS, own, np.nan)
                elif (source, variant) in transfers:
                    replay = transfers[source, variant]
                    right = (replay["adversarial_label"] == replay["labels"]).astype(np.float64)
                    correct[:, s] = np.where(replay["source_status"] == SUCCESS, right, np.nan)
            result[variant] = {
                "attack_status": np.asarray(entry["status"], dtype=np.int64),
                "variant_index": np.full(n, v, dtype=np.int64),
                "transfer_correct": correct,
                "clean_correct": np.asarray(entry["original_label"] == entry["labels"]),
            }
        return result

    # ------------------------------------------------------------------ the analysis
    def run(self, context: AnalysisContext) -> AnalysisResult:
        compare = context.compare
        bootstrap = {
            "n_resamples": int(compare.n_resamples),
            "confidence": float(compare.confidence),
            "seed": int(compare.bootstrap_seed),
        }
        variants, reference, floor = context.variants, context.reference, context.noise_floor
        arrays, metas, transfers = self.load(context)
        outputs = self.outputs(variants, arrays, transfers)
        result = AnalysisResult()
        family = vulnerable_family() + (transfer_family() if transfers else [])
        described = next(iter(metas.values())).get("records", {}).get("attack", {})
        for matrix in pairwise_matrices(family, outputs, **bootstrap):
            matrix.metadata["attack"] = described
            result.matrices[f"attack_{matrix.name}"] = matrix
        n = len(next(iter(arrays.values()))["status"])
        counts = (
            resample_counts(n, bootstrap["n_resamples"], bootstrap["seed"])
            if bootstrap["n_resamples"] > 0
            else None
        )
        unary_rows = []
        for variant in variants:
            metrics = unary_attack_metrics(arrays[variant])
            status = arrays[variant]["status"]
            attacked = (status != SKIPPED).astype(np.float64)
            ones = np.ones(n)
            success = (status == SUCCESS).astype(np.float64)
            failed = (status == FAILED).astype(np.float64)
            confidence = bootstrap["confidence"]
            metrics["attack_success_rate.ci_low"], metrics["attack_success_rate.ci_high"] = (
                _rate_interval(success, attacked, counts, confidence)
            )
            metrics["accuracy_under_attack.ci_low"], metrics["accuracy_under_attack.ci_high"] = (
                _rate_interval(failed, ones, counts, confidence)
            )
            result.variant_metrics[variant] = dict(metrics)
            unary_rows.append({"variant": variant, **metrics, **_attack_columns(described)})
        result.tables["attack_per_variant.csv"] = pd.DataFrame(unary_rows)
        rows = self._pair_rows(result, variants, reference, floor)
        result.tables["attack_pairs.csv"] = pd.DataFrame(rows)
        self._summarise(result, variants, reference, floor)
        if self.figure_examples:
            figure = attacked_sentences_figure(
                variants, arrays, metas, self.figure_examples, self.figure_context, described
            )
            if figure is not None:
                result.figures["attacked_sentences.png"] = figure
        return result

    def _pair_rows(
        self, result: AnalysisResult, variants: list[str], reference: str, floor: str | None
    ) -> list[dict[str, Any]]:
        r = variants.index(reference)
        f = variants.index(floor) if floor in variants else None
        rows = []
        for name, matrix in result.matrices.items():
            ordered = (
                itertools.combinations_with_replacement(range(len(variants)), 2)
                if matrix.metadata.get("symmetric", True)
                else itertools.product(range(len(variants)), repeat=2)
            )
            floor_value = matrix.value[r, f] if f is not None else np.nan
            higher = bool(matrix.metadata.get("higher_is_better", True))
            for i, j in ordered:
                low, high = matrix.ci_low[i, j], matrix.ci_high[i, j]
                beyond = bool(
                    i != j
                    and np.isfinite(floor_value)
                    and ((high < floor_value) if higher else (low > floor_value))
                )
                rows.append(
                    {
                        "metric": name,
                        "a": variants[i],
                        "b": variants[j],
                        "value": matrix.value[i, j],
                        "ci_low": low,
                        "ci_high": high,
                        "reference_floor": floor_value,
                        "beyond_floor": beyond,
                    }
                )
        return rows

    def _summarise(
        self, result: AnalysisResult, variants: list[str], reference: str, floor: str | None
    ) -> None:
        r = variants.index(reference)
        for v, variant in enumerate(variants):
            metrics = result.variant_metrics[variant]
            summary = result.summary.setdefault(variant, {})
            summary["attack_success"] = metrics["attack_success_rate"]
            summary["acc_under_attack"] = metrics["accuracy_under_attack"]
            for key, column in (
                ("attack_vulnerable_jaccard", "vuln_j"),
                ("attack_vulnerable_kappa", "vuln_kappa"),
                ("attack_attack_transfer_rate", "transfer_from_ref"),
            ):
                matrix = result.matrices.get(key)
                if matrix is None:
                    continue
                metrics[f"{key.removeprefix('attack_')}.vs_reference"] = float(matrix.value[r, v])
                if variant != reference:
                    summary[column] = float(matrix.value[r, v])
        if floor in variants:
            f = variants.index(floor)
            for key, matrix in result.matrices.items():
                result.study_metrics[f"{key}.noise_floor"] = float(matrix.value[r, f])
                result.study_metrics[f"{key}.noise_floor.ci_low"] = float(matrix.ci_low[r, f])
                result.study_metrics[f"{key}.noise_floor.ci_high"] = float(matrix.ci_high[r, f])


def _attack_columns(described: dict[str, Any]) -> dict[str, Any]:
    """What every result row says about the attack (recipe, masked LM, encoder)."""
    return {
        "recipe": described.get("recipe"),
        "mlm": described.get("mlm"),
        "sentence_encoder": described.get("sentence_encoder"),
        "fidelity": described.get("fidelity"),
    }


# ---------------------------------------------------------------------- the side-by-side figure
_STYLES = {
    "plain": {"color": "black"},
    "head": {"color": "black", "fontweight": "bold"},
    "note": {"color": "#555555", "fontstyle": "italic"},
    "dim": {"color": "#999999"},
    "changed": {
        "color": "black",
        "bbox": {"facecolor": "#ffe08a", "edgecolor": "none", "pad": 0.6},
    },
    "new": {
        "color": "#b00000",
        "fontweight": "bold",
        "bbox": {"facecolor": "#ffd4d4", "edgecolor": "none", "pad": 0.6},
    },
}


def _windows(changed: set[int], n_words: int, context: int) -> list[tuple[int, int]]:
    """Merged word ranges ``[start, stop)`` around the changed words (the whole text if short)."""
    if n_words <= 2 * context + 12 or not changed:
        return [(0, n_words)]
    spans: list[list[int]] = []
    for i in sorted(changed):
        start, stop = max(0, i - context), min(n_words, i + context + 1)
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], stop)
        else:
            spans.append([start, stop])
    return [(a, b) for a, b in spans]


def _tokens(words: list[str], windows: list[tuple[int, int]], styles: dict[int, str], base: str):
    tokens: list[tuple[str, str]] = []
    for k, (start, stop) in enumerate(windows):
        if k or start > 0:
            tokens.append(("…", "dim"))
        tokens += [(words[i], styles.get(i, base)) for i in range(start, stop)]
    if windows and windows[-1][1] < len(words):
        tokens.append(("…", "dim"))
    return tokens


def attacked_sentences_figure(
    variants: list[str],
    arrays: dict[str, dict[str, np.ndarray]],
    metas: dict[str, dict[str, Any]],
    n_examples: int = 4,
    context: int = 8,
    described: dict[str, Any] | None = None,
    line_chars: int = 130,
) -> Any:
    """A few attacked inputs, the original and each variant's adversarial version, one per line.

    Examples broken for the most variants come first (short ones preferred). Words any variant
    changed are shaded in the original; each variant's substitutions are red; long texts show
    `context` words around the changes. Returns None when no variant was ever broken.

    Args:
        variants: V variant names, in row order.
        arrays: variant → attack entry arrays.
        metas: variant → entry meta (``records.examples``: words and changes of each success).
        n_examples: examples shown.
        context: words shown either side of a change in long texts.
        described: the attack's description (title: recipe, masked LM, encoder).
        line_chars: characters per line before wrapping.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = {
        v: {int(e["index"]): e for e in (metas[v].get("records") or {}).get("examples", [])}
        for v in variants
    }
    first = variants[0]
    index = arrays[first]["example_index"]
    names = list((metas[first].get("records") or {}).get("label_names") or [])

    def label(k: int) -> str:
        return names[k] if 0 <= k < len(names) else str(k)

    candidates = []
    for row, example in enumerate(index):
        broken = [v for v in variants if arrays[v]["status"][row] == SUCCESS]
        if broken and records[broken[0]].get(int(example), {}).get("words"):
            n_words = len(records[broken[0]][int(example)]["words"])
            candidates.append((-len(broken), n_words > 40, n_words, row))
    chosen = [row for *_, row in sorted(candidates)[:n_examples]]
    if not chosen:
        return None
    lines: list[list[tuple[str, str]]] = []
    name_width = max(len(v) for v in [*variants, "original"]) + 1
    note_width = 18
    for row in chosen:
        example = int(index[row])
        broken = [v for v in variants if arrays[v]["status"][row] == SUCCESS]
        words = list(records[broken[0]][example]["words"])
        changes = {
            v: {int(i): new for i, _, new in records[v][example].get("changes", [])} for v in broken
        }
        union = set().union(*(set(c) for c in changes.values()))
        windows = _windows(union, len(words), context)
        gold = int(arrays[first]["labels"][row])
        record = records[broken[0]][example]
        lines.append([(f"{record.get('id', example)} (gold {label(gold)})", "head")])
        lines.append(
            [("original:".ljust(name_width), "head"), ("".ljust(note_width), "note")]
            + _tokens(words, windows, dict.fromkeys(union, "changed"), "plain")
        )
        for variant in variants:
            status = int(arrays[variant]["status"][row])
            queries = int(arrays[variant]["queries"][row])
            if status == SUCCESS:
                shown = list(words)
                for i, new in changes[variant].items():
                    if i < len(shown):
                        shown[i] = new
                after = label(int(arrays[variant]["perturbed_label"][row]))
                head = [
                    (f"{variant}:".ljust(name_width), "head"),
                    (f"→ {after}, {queries} q".ljust(note_width), "note"),
                ]
                tokens = _tokens(shown, windows, dict.fromkeys(changes[variant], "new"), "plain")
            elif status == FAILED:
                head = [
                    (f"{variant}:".ljust(name_width), "head"),
                    (f"failed, {queries} q", "note"),
                ]
                tokens = []
            else:
                head = [
                    (f"{variant}:".ljust(name_width), "head"),
                    ("skipped (misclassified)", "note"),
                ]
                tokens = []
            lines.append(head + tokens)
        lines.append([])
    wrapped: list[list[tuple[str, str]]] = []
    for line in lines:
        current: list[tuple[str, str]] = []
        width = 0
        for token in line:
            if current and width + len(token[0]) + 1 > line_chars:
                wrapped.append(current)
                indent = " " * (name_width + note_width + 1)
                current, width = [(indent, "plain")], len(indent)
            current.append(token)
            width += len(token[0]) + 1
        wrapped.append(current)
    char_inches, line_inches = 0.0735, 0.2
    fig_width = line_chars * char_inches + 0.6
    fig = plt.figure(figsize=(fig_width, line_inches * (len(wrapped) + 2)))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, fig_width)
    ax.set_ylim(line_inches * (len(wrapped) + 2), 0)
    what = described or {}
    title = f"attacked inputs: {what.get('recipe', 'attack')}"
    title += "".join(
        f", {key} {what[key]}" for key in ("mlm", "sentence_encoder", "fidelity") if what.get(key)
    )
    ax.text(0.3, line_inches, title, fontsize=9, fontweight="bold", va="center")
    for number, line in enumerate(wrapped, start=2):
        x = 0.3
        for text, style in line:
            ax.text(x, number * line_inches, text, fontsize=8, family="monospace", va="center",
                    **_STYLES[style])  # fmt: skip
            x += (len(text) + 1) * char_inches
    return fig
