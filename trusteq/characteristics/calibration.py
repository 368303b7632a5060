"""Calibration of one classifier: confidence bins, reliability tables, ECE, MCE, Brier, NLL.

Pure numpy functions; the unary runner (:mod:`trusteq.characteristics.unary`) and the pairwise
:class:`~trusteq.characteristics.calibration_similarity.CalibrationSimilarity` build on them.

Confidence is the maximum softmax probability and a prediction is correct when the arg-max class
equals the target (Guo et al. 2017, "On Calibration of Modern Neural Networks", arXiv 1706.04599,
Sec. 2). No temperature scaling is applied anywhere here.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.special import log_softmax

Binning = Literal["equal_width", "equal_mass"]

#: Probabilities are clipped below at this value before the log, so that one confident mistake
#: costs at most ``-log(1e-12)`` = 27.6 nats instead of making the mean infinite.
NLL_PROB_FLOOR = 1e-12


def _check_n_bins(n_bins: int) -> None:
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")


def validate_probs_targets(probs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check a probability matrix and its targets and return them as float64 / int64 arrays.

    Args:
        probs: shape `(N, C)`, class probabilities (rows need not sum exactly to 1).
        targets: shape `(N,)`, integer labels in ``[0, C)``.

    Returns:
        ``(probs, targets)`` as float64 `(N, C)` and int64 `(N,)`.

    Raises:
        ValueError: wrong number of dimensions, mismatched N, N == 0, non-finite probabilities,
            non-integer targets, or targets outside ``[0, C)``.
    """
    probs = np.asarray(probs)
    targets = np.asarray(targets)
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape (N, C), got shape {probs.shape}")
    if targets.ndim != 1:
        raise ValueError(f"targets must have shape (N,), got shape {targets.shape}")
    if probs.shape[0] != targets.shape[0]:
        raise ValueError(
            f"probs and targets disagree on N: probs {probs.shape} vs targets {targets.shape}"
        )
    if probs.shape[0] == 0:
        raise ValueError("need at least one example (N >= 1), got N = 0")
    probs = probs.astype(np.float64, copy=False)
    if not np.isfinite(probs).all():
        raise ValueError("probs contains NaN or infinite values")
    if not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"targets must be integers, got dtype {targets.dtype}")
    n_classes = probs.shape[1]
    if targets.min() < 0 or targets.max() >= n_classes:
        raise ValueError(
            f"targets must lie in [0, {n_classes}) for C = {n_classes} classes, "
            f"got range [{targets.min()}, {targets.max()}]"
        )
    return probs, targets.astype(np.int64, copy=False)


def confidence_bins(
    confidences: np.ndarray, n_bins: int = 10, binning: Binning = "equal_width"
) -> np.ndarray:
    """Assign each confidence to a bin.

    ``equal_width``: bin ``b`` is ``[b/B, (b+1)/B)``, the last bin also holding 1.0 (the
    convention of torchmetrics, except that torchmetrics puts exactly 1.0 in an extra bin).

    ``equal_mass`` (adaptive / quantile bins, Nixon et al. 2019, "Measuring Calibration in Deep
    Learning", arXiv 1904.01685): examples are ranked by confidence and rank ``r`` goes to bin
    ``floor(r * B / N)``, so with distinct confidences every bin holds ``floor(N/B)`` or
    ``ceil(N/B)`` examples. Ties are never split: a run of equal confidences goes wholly to the
    bin of its lowest rank. This keeps the binning a function of the values alone (the result
    does not depend on the order of examples), at the price of uneven or empty bins when many
    confidences are equal (e.g. float32 softmax saturating at 1.0).

    Args:
        confidences: shape `(N,)`, in [0, 1].
        n_bins: number of bins B >= 1.
        binning: ``"equal_width"`` or ``"equal_mass"``.

    Returns:
        shape `(N,)`, int64 bin index in ``[0, B)``.

    Raises:
        ValueError: ``n_bins < 1``, unknown ``binning``, a non 1-D input, or NaN confidences.

    Examples:
        >>> confidence_bins(np.array([0.05, 0.5, 0.95, 1.0]), n_bins=2).tolist()
        [0, 1, 1, 1]
        >>> confidence_bins(np.array([0.9, 0.6, 0.6, 0.7]), n_bins=2, binning="equal_mass").tolist()
        [1, 0, 0, 1]
    """
    _check_n_bins(n_bins)
    confidences = np.asarray(confidences, dtype=np.float64)
    if confidences.ndim != 1:
        raise ValueError(f"confidences must have shape (N,), got shape {confidences.shape}")
    if np.isnan(confidences).any():
        raise ValueError("confidences contains NaN")
    if binning == "equal_width":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        bins = np.searchsorted(edges, confidences, side="right") - 1
        return np.clip(bins, 0, n_bins - 1).astype(np.int64)
    if binning == "equal_mass":
        n = confidences.shape[0]
        order = np.argsort(confidences, kind="stable")
        sorted_conf = confidences[order]
        rank_bin = (np.arange(n, dtype=np.int64) * n_bins) // max(n, 1)
        first_rank_of_value = np.searchsorted(sorted_conf, sorted_conf, side="left")
        bins = np.empty(n, dtype=np.int64)
        bins[order] = rank_bin[first_rank_of_value]
        return bins
    raise ValueError(f"binning must be 'equal_width' or 'equal_mass', got {binning!r}")


def _confidence_correct(probs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return probs.max(axis=1), (probs.argmax(axis=1) == targets).astype(np.float64)


def reliability_table(
    probs: np.ndarray, targets: np.ndarray, n_bins: int = 10, binning: Binning = "equal_width"
) -> dict[str, np.ndarray]:
    """Per-bin confidence, accuracy, count and a 95% interval: the data of a reliability diagram.

    The interval is the normal approximation ``acc ± 1.96·sqrt(acc(1 − acc)/n_b)`` clipped to
    [0, 1] (as in Paper B, arXiv 2508.13533); it has zero width when acc is 0 or 1.

    Args:
        probs: shape `(N, C)`, class probabilities.
        targets: shape `(N,)`, labels in ``[0, C)``.
        n_bins: number of bins B >= 1.
        binning: see :func:`confidence_bins`.

    Returns:
        Arrays of shape `(B,)`: ``confidence`` (mean confidence), ``accuracy``, ``count`` (int64),
        ``ci_low``, ``ci_high``, ``lower``, ``upper``. Empty bins have count 0 and NaN
        everywhere else except, for equal-width bins, their fixed edges. ``lower``/``upper`` are
        the fixed edges for equal-width bins and the smallest/largest member confidence for
        equal-mass bins.

    Raises:
        ValueError: see :func:`validate_probs_targets` and :func:`confidence_bins`.

    Examples:
        >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
        >>> table = reliability_table(probs, np.array([0, 1, 1]), n_bins=2)
        >>> table["count"].tolist(), table["accuracy"].tolist()
        ([0, 3], [nan, 0.6666666666666666])
    """
    probs, targets = validate_probs_targets(probs, targets)
    confidence, correct = _confidence_correct(probs, targets)
    bins = confidence_bins(confidence, n_bins, binning)
    count = np.bincount(bins, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(bins, weights=correct, minlength=n_bins) / count
        half_width = 1.96 * np.sqrt(accuracy * (1.0 - accuracy) / count)
    if binning == "equal_width":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        lower, upper = edges[:-1].copy(), edges[1:].copy()
    else:
        lower = np.full(n_bins, np.nan)
        upper = np.full(n_bins, np.nan)
        np.fmin.at(lower, bins, confidence)
        np.fmax.at(upper, bins, confidence)
    return {
        "confidence": mean_conf,
        "accuracy": accuracy,
        "count": count,
        "ci_low": np.clip(accuracy - half_width, 0.0, 1.0),
        "ci_high": np.clip(accuracy + half_width, 0.0, 1.0),
        "lower": lower,
        "upper": upper,
    }


def expected_calibration_error(
    probs: np.ndarray, targets: np.ndarray, n_bins: int = 10, binning: Binning = "equal_width"
) -> float:
    r"""Expected calibration error.

    .. math:: \mathrm{ECE} = \sum_b \frac{n_b}{N} \left| \mathrm{acc}_b - \mathrm{conf}_b \right|

    Guo et al. 2017, "On Calibration of Modern Neural Networks", arXiv 1706.04599, Sec. 2; Paper B
    (arXiv 2508.13533) uses 10 equal-mass bins.

    Args:
        probs: shape `(N, C)`, class probabilities.
        targets: shape `(N,)`, labels in ``[0, C)``.
        n_bins: number of bins B >= 1.
        binning: see :func:`confidence_bins`.

    Returns:
        ECE in [0, 1]; lower is better calibrated.

    Raises:
        ValueError: see :func:`validate_probs_targets` and :func:`confidence_bins`.

    Examples:
        >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
        >>> round(expected_calibration_error(probs, np.array([0, 1, 1]), n_bins=2), 4)
        0.1333
    """
    table = reliability_table(probs, targets, n_bins, binning)
    count = table["count"]
    gap = np.abs(table["accuracy"] - table["confidence"])
    return float(np.sum(count[count > 0] * gap[count > 0]) / count.sum())


def maximum_calibration_error(
    probs: np.ndarray, targets: np.ndarray, n_bins: int = 10, binning: Binning = "equal_width"
) -> float:
    r"""Maximum calibration error over the non-empty bins.

    .. math:: \mathrm{MCE} = \max_{b:\, n_b > 0} \left| \mathrm{acc}_b - \mathrm{conf}_b \right|

    Guo et al. 2017, arXiv 1706.04599, Sec. 2.

    Args:
        probs: shape `(N, C)`, class probabilities.
        targets: shape `(N,)`, labels in ``[0, C)``.
        n_bins: number of bins B >= 1.
        binning: see :func:`confidence_bins`.

    Returns:
        MCE in [0, 1]; lower is better calibrated.

    Raises:
        ValueError: see :func:`validate_probs_targets` and :func:`confidence_bins`.

    Examples:
        >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
        >>> round(maximum_calibration_error(probs, np.array([0, 1, 1]), n_bins=2), 4)
        0.1333
    """
    table = reliability_table(probs, targets, n_bins, binning)
    non_empty = table["count"] > 0
    return float(np.max(np.abs(table["accuracy"] - table["confidence"])[non_empty]))


def brier_score(probs: np.ndarray, targets: np.ndarray) -> float:
    r"""Multiclass Brier score.

    .. math:: \mathrm{BS} = \frac{1}{N} \sum_i \sum_c (p_{ic} - y_{ic})^2

    with ``y`` the one-hot target. Brier 1950, "Verification of Forecasts Expressed in Terms of
    Probability", Monthly Weather Review 78(1). The same definition is used for binary
    tasks (so a binary score is twice the positive-class-only score).

    Args:
        probs: shape `(N, C)`, class probabilities.
        targets: shape `(N,)`, labels in ``[0, C)``.

    Returns:
        Brier score in [0, 2]; lower is better.

    Raises:
        ValueError: see :func:`validate_probs_targets`.

    Examples:
        >>> brier_score(np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([0, 1]))
        0.25
    """
    probs, targets = validate_probs_targets(probs, targets)
    onehot = np.zeros_like(probs)
    onehot[np.arange(probs.shape[0]), targets] = 1.0
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def negative_log_likelihood(probs: np.ndarray, targets: np.ndarray) -> float:
    r"""Mean negative log-likelihood of the targets.

    .. math:: \mathrm{NLL} = -\frac{1}{N} \sum_i \log \max(p_{i, y_i}, 10^{-12})

    Args:
        probs: shape `(N, C)`, class probabilities.
        targets: shape `(N,)`, labels in ``[0, C)``.

    Returns:
        NLL in nats, >= 0; lower is better.

    Raises:
        ValueError: see :func:`validate_probs_targets`.

    Examples:
        >>> probs = np.array([[0.5, 0.5], [0.25, 0.75]])
        >>> round(negative_log_likelihood(probs, np.array([0, 1])), 4)
        0.4904
    """
    probs, targets = validate_probs_targets(probs, targets)
    picked = probs[np.arange(probs.shape[0]), targets]
    return float(-np.mean(np.log(np.maximum(picked, NLL_PROB_FLOOR))))


def negative_log_likelihood_from_logits(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood computed from logits with a stable log-softmax.

    Preferred over :func:`negative_log_likelihood` when logits are at hand: float32 softmax
    probabilities underflow to 0 for confident mistakes, the log-softmax does not.

    Args:
        logits: shape `(N, C)`, unnormalised scores.
        targets: shape `(N,)`, labels in ``[0, C)``.

    Returns:
        NLL in nats, >= 0.

    Raises:
        ValueError: see :func:`validate_probs_targets`.

    Examples:
        >>> round(negative_log_likelihood_from_logits(np.array([[0.0, 0.0]]), np.array([1])), 4)
        0.6931
    """
    logits, targets = validate_probs_targets(logits, targets)
    log_probs = log_softmax(logits, axis=1)
    return float(-np.mean(log_probs[np.arange(logits.shape[0]), targets]))
