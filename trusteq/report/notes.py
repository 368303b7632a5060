"""What the verdict must be honest about: lines shown under the report's verdict table.

- machine-dependent results (CPU-only quantized or ONNX Runtime kernels);
- an explainer whose own noise floor is too low for its attributions to be read as a verdict;
- a near-constant predictor: a model that gives one class to almost every input has not learned
  the task, and every label-level characteristic (agreement, error sets, κ, label loyalty)
  then compares constants.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from trusteq.report.results import ComparisonResult

log = logging.getLogger(__name__)

#: A model whose most frequent predicted class takes at least this share of the compared inputs
#: is called a near-constant predictor.
CONSTANT_SHARE = 0.95
#: An explainer whose reference-against-itself top-10 Jaccard is below this is called noisy.
EXPLAINER_FLOOR = 0.9


def constant_predictor_notes(
    arrays: Mapping[str, Mapping[str, np.ndarray]],
    label_names: list[str] | None = None,
    share: float = CONSTANT_SHARE,
) -> list[str]:
    """One line per variant whose predictions are (nearly) one class.

    Args:
        arrays: variant → outputs on the compared split (the classification task's view):
            `probs` or `logits` `(N, C)`, optionally `preds` and `targets` `(N,)`.
        label_names: class names (`C`), for the message; class ids when None.
        share: the modal class's share of the N predictions, in (0, 1], at or above which a
            variant is flagged.

    Returns:
        Lines naming the variant, the class, its share of the predictions and of the gold
        labels (what a constant predictor's accuracy is).
    """
    notes = []
    for name, outputs in arrays.items():
        scores = outputs.get("probs", outputs.get("logits"))
        if scores is None or np.ndim(scores) != 2 or len(scores) == 0:
            continue  # not a classifier's outputs (e.g. extractive QA)
        preds = outputs.get("preds")
        predicted = np.asarray(scores).argmax(axis=1) if preds is None else np.asarray(preds)
        counts = np.bincount(predicted, minlength=np.shape(scores)[1])
        modal = int(counts.argmax())
        modal_share = counts[modal] / len(predicted)
        if modal_share < share:
            continue
        label = label_names[modal] if label_names and modal < len(label_names) else str(modal)
        gold = outputs.get("targets", outputs.get("labels"))
        prior = (
            f" (the gold share of that class: {np.mean(np.asarray(gold) == modal):.1%})"
            if gold is not None
            else ""
        )
        line = (
            f"{name}: predicts {label!r} for {modal_share:.1%} of the {len(predicted)} compared "
            f"inputs{prior}: a near-constant predictor that has not learned the task; its "
            "label-level characteristics (agreement, error sets, κ, label loyalty) compare "
            "constants. Train longer or on more data before reading its verdict."
        )
        log.warning(line)
        notes.append(line)
    return notes


def report_notes(
    result: ComparisonResult, arrays: Mapping[str, Mapping[str, np.ndarray]] | None = None
) -> list[str]:
    """Every note for the study report: machines, noisy explainers, near-constant predictors.

    Args:
        result: the comparison (its outputs' `meta` and pairwise matrices are read).
        arrays: variant → outputs on the compared split (`trusteq.compare.CacheView.split_outputs`);
            without them no predictor is checked.
    """
    notes = []
    for name, meta in result.meta.items():
        if meta.get("machine_dependent"):
            machine = meta.get("machine") or {}
            notes.append(
                f"{name}: machine-dependent (CPU-only quantized or ONNX Runtime kernels): computed "
                f"on {machine.get('cpu', '?')} with {machine.get('torch_cpu_capability', '?')} "
                f"kernels, quantized engine {machine.get('quantized_engine', '?')}; another CPU "
                "can give slightly different predictions."
            )
    reference = result.header.reference
    for key, matrix in result.pairwise.items():
        if key.endswith("jaccard_k10_cross_seed") and reference in matrix.variants:
            i = matrix.variants.index(reference)
            floor = float(matrix.value[i, i])
            if np.isfinite(floor) and floor < EXPLAINER_FLOOR:
                explainer = key.removeprefix("attribution_").split("_")[0]
                notes.append(
                    f"{explainer}: the explainer's own floor (the reference's top-10 Jaccard with "
                    f"itself under another explainer seed) is {floor:.2f} < {EXPLAINER_FLOOR}, so "
                    "attribution differences between models of that size may be explainer noise; "
                    "do not read them as a verdict (raise its sample budget)."
                )
    if arrays:
        label_names = next(
            (list(m["label_names"]) for m in result.meta.values() if m.get("label_names")), None
        )
        notes += constant_predictor_notes(arrays, label_names)
    return notes
