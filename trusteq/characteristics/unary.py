"""Unary characteristics: one number per model (accuracy, calibration) for MLflow.

:func:`compute_unary` returns these keys, the documented MLflow metric key set:

- ``accuracy``: fraction of ``preds == targets``, in [0, 1].
- ``macro_f1``: unweighted mean over classes of the per-class F1, in [0, 1].
- ``error_rate``: ``1 − accuracy``, in [0, 1].
- ``ece_equal_width``, ``ece_equal_mass``: expected calibration error with B equal-width /
  equal-mass bins (Guo et al. 2017; Nixon et al. 2019; Paper B uses equal-mass), in [0, 1].
- ``mce_equal_width``, ``mce_equal_mass``: maximum calibration error, in [0, 1].
- ``brier``: multiclass Brier score (Brier 1950), in [0, 2].
- ``nll``: mean negative log-likelihood in nats (from logits when cached, else probabilities).
- ``n_examples``: N.

Accuracy, macro-F1 and the error rate use the cached ``preds``; the calibration metrics use the
arg-max of ``probs`` (the two agree unless a model's decision rule is not the arg-max).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from trusteq.characteristics.calibration import (
    brier_score,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    negative_log_likelihood_from_logits,
    validate_probs_targets,
)

UNARY_KEYS: tuple[str, ...] = (
    "accuracy",
    "macro_f1",
    "ece_equal_width",
    "ece_equal_mass",
    "mce_equal_width",
    "mce_equal_mass",
    "brier",
    "nll",
    "error_rate",
    "n_examples",
)


def macro_f1(preds: np.ndarray, targets: np.ndarray, n_classes: int) -> float:
    r"""Macro-averaged F1 score.

    .. math:: F_1^\mathrm{macro} = \frac{1}{|C'|} \sum_{c \in C'}
        \frac{2\,\mathrm{TP}_c}{2\,\mathrm{TP}_c + \mathrm{FP}_c + \mathrm{FN}_c}

    over the classes C' that occur as a target or a prediction (a class absent from both has an
    undefined F1 and is left out, as in torchmetrics; scikit-learn would count it as 0).

    Args:
        preds: shape `(N,)`, int, predicted labels in ``[0, C)``.
        targets: shape `(N,)`, int, true labels in ``[0, C)``.
        n_classes: C.

    Returns:
        Macro-F1 in [0, 1].

    Examples:
        >>> macro_f1(np.array([0, 1, 1]), np.array([0, 1, 0]), n_classes=3)
        0.6666666666666666
    """
    confusion = np.bincount(targets * n_classes + preds, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )
    true_positive = np.diag(confusion).astype(np.float64)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
    present = denominator > 0
    return float(np.mean(2.0 * true_positive[present] / denominator[present]))


def compute_unary(outputs: Mapping[str, np.ndarray], n_bins: int = 10) -> dict[str, float]:
    """All unary characteristics of one model on one dataset split.

    Args:
        outputs: cached outputs with ``probs`` `(N, C)`, ``preds`` `(N,)`, ``targets`` `(N,)`
            and optionally ``logits`` `(N, C)` (used for a stable NLL).
        n_bins: number of calibration bins B >= 1.

    Returns:
        ``{key: value}`` for every key of :data:`UNARY_KEYS` (see the module docstring).

    Raises:
        KeyError: a required output is missing.
        ValueError: see :func:`~trusteq.characteristics.calibration.validate_probs_targets`, or
            ``preds`` do not match ``targets`` in shape or lie outside ``[0, C)``.

    Examples:
        >>> outputs = {
        ...     "probs": np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]),
        ...     "preds": np.array([0, 0, 1]),
        ...     "targets": np.array([0, 1, 1]),
        ... }
        >>> metrics = compute_unary(outputs, n_bins=2)
        >>> round(metrics["accuracy"], 4), round(metrics["ece_equal_width"], 4)
        (0.6667, 0.1333)
    """
    missing = [key for key in ("probs", "preds", "targets") if key not in outputs]
    if missing:
        raise KeyError(f"compute_unary needs outputs {missing}; got keys {sorted(outputs)}")
    probs, targets = validate_probs_targets(outputs["probs"], outputs["targets"])
    preds = np.asarray(outputs["preds"]).astype(np.int64)
    if preds.shape != targets.shape:
        raise ValueError(f"preds {preds.shape} and targets {targets.shape} differ in shape")
    n_classes = probs.shape[1]
    if preds.min() < 0 or preds.max() >= n_classes:
        raise ValueError(
            f"preds must lie in [0, {n_classes}), got range [{preds.min()}, {preds.max()}]"
        )
    accuracy = float(np.mean(preds == targets))
    if "logits" in outputs:
        nll = negative_log_likelihood_from_logits(outputs["logits"], targets)
    else:
        nll = negative_log_likelihood(probs, targets)
    metrics = {
        "accuracy": accuracy,
        "macro_f1": macro_f1(preds, targets, n_classes),
        "ece_equal_width": expected_calibration_error(probs, targets, n_bins, "equal_width"),
        "ece_equal_mass": expected_calibration_error(probs, targets, n_bins, "equal_mass"),
        "mce_equal_width": maximum_calibration_error(probs, targets, n_bins, "equal_width"),
        "mce_equal_mass": maximum_calibration_error(probs, targets, n_bins, "equal_mass"),
        "brier": brier_score(probs, targets),
        "nll": nll,
        "error_rate": 1.0 - accuracy,
        "n_examples": float(targets.shape[0]),
    }
    return {key: metrics[key] for key in UNARY_KEYS}
