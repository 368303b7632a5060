"""Out-of-distribution detection metrics, with OOD as the positive class (higher score = more OOD).

Written from their definitions (rank statistics and sorting), not from sklearn, so that tests can
check them against sklearn. Conventions follow Hendrycks & Gimpel 2017 (arXiv 1610.02136, Sec. 2)
and Sun et al. 2022 (arXiv 2204.06507, Sec. 4): AUROC, AUPR with OOD as positive, and FPR at 95%
TPR, where TPR is measured on in-distribution data.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata


def _check_scores(scores: np.ndarray, label: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"{label} must be a non-empty 1-D array, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError(f"{label} contain NaN or infinite values")
    return scores


def auroc(scores_in: np.ndarray, scores_out: np.ndarray) -> float:
    """Area under the ROC curve for telling OOD (positive) from in-distribution inputs.

    The Mann–Whitney form: the probability that a random OOD input scores higher than a random
    in-distribution input, ties counting one half (midranks).

    Args:
        scores_in: shape `(N_in,)`, scores of in-distribution inputs.
        scores_out: shape `(N_out,)`, scores of OOD inputs.

    Returns:
        AUROC in [0, 1]; 0.5 is chance, 1 separates perfectly.

    Raises:
        ValueError: an empty, non-1-D or non-finite score array.

    Examples:
        >>> auroc(np.array([0.1, 0.4]), np.array([0.35, 0.8]))
        0.75
    """
    scores_in = _check_scores(scores_in, "scores_in")
    scores_out = _check_scores(scores_out, "scores_out")
    ranks = rankdata(np.concatenate([scores_in, scores_out]))  # midranks for ties
    n_in, n_out = len(scores_in), len(scores_out)
    u_statistic = ranks[n_in:].sum() - n_out * (n_out + 1) / 2.0
    return float(u_statistic / (n_in * n_out))


def aupr(scores_in: np.ndarray, scores_out: np.ndarray) -> float:
    r"""Area under the precision–recall curve with OOD as the positive class (average precision).

    .. math:: \mathrm{AP} = \sum_t (R_t - R_{t-1})\, P_t

    over the distinct score values t in decreasing order, with precision P_t and recall R_t of
    flagging every input scoring >= t (inputs with equal scores enter together). This is the
    step-wise average precision (no interpolation).

    Args:
        scores_in: shape `(N_in,)`, scores of in-distribution inputs.
        scores_out: shape `(N_out,)`, scores of OOD inputs.

    Returns:
        AUPR in [0, 1]; chance level is ``N_out / (N_in + N_out)``.

    Raises:
        ValueError: an empty, non-1-D or non-finite score array.

    Examples:
        >>> round(aupr(np.array([0.1, 0.4]), np.array([0.35, 0.8])), 4)
        0.8333
    """
    scores_in = _check_scores(scores_in, "scores_in")
    scores_out = _check_scores(scores_out, "scores_out")
    scores = np.concatenate([scores_in, scores_out])
    is_out = np.concatenate([np.zeros(len(scores_in)), np.ones(len(scores_out))])
    order = np.argsort(-scores, kind="stable")
    scores, is_out = scores[order], is_out[order]
    # The last position of each run of equal scores: where a threshold admits the whole run.
    last = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
    true_positives = np.cumsum(is_out)[last]
    flagged = last + 1.0
    precision = true_positives / flagged
    recall = true_positives / len(scores_out)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def threshold_at_tpr(scores_in: np.ndarray, tpr: float = 0.95) -> float:
    """The score threshold that keeps a fraction ``tpr`` of in-distribution inputs.

    An input is kept (treated as in-distribution) when its score is <= the threshold and flagged
    OOD when it is above. The threshold is the ``ceil(tpr · N_in)``-th smallest in-distribution
    score, so at least ``tpr`` of ``scores_in`` are kept (exactly ``ceil(tpr·N_in) / N_in``
    without ties).

    Args:
        scores_in: shape `(N_in,)`, in-distribution scores (validation data for a deployed
            threshold, test data for FPR@TPR).
        tpr: the in-distribution keep rate, in (0, 1].

    Returns:
        The threshold, in score units.

    Raises:
        ValueError: bad scores or ``tpr`` outside (0, 1].

    Examples:
        >>> threshold_at_tpr(np.arange(1.0, 21.0), tpr=0.95)
        19.0
    """
    scores_in = _check_scores(scores_in, "scores_in")
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr must lie in (0, 1], got {tpr}")
    rank = max(1, math.ceil(tpr * len(scores_in) - 1e-9))  # 1e-9: 0.95 · 20 is 19, not 19.0…01
    return float(np.sort(scores_in)[rank - 1])


def fpr_at_tpr(scores_in: np.ndarray, scores_out: np.ndarray, tpr: float = 0.95) -> float:
    """False-positive rate at a given true-positive rate (FPR@95TPR for ``tpr = 0.95``).

    The standard OOD definition (Liang et al. 2018, arXiv 1706.02690; Sun et al. 2022): the
    in-distribution inputs are the positives of a "keep" decision, TPR is the fraction of
    in-distribution test inputs kept, and FPR is the fraction of OOD inputs that are kept too
    (missed) at the threshold of :func:`threshold_at_tpr` on ``scores_in``. OOD inputs that tie
    with the threshold count as kept.

    Args:
        scores_in: shape `(N_in,)`, in-distribution test scores.
        scores_out: shape `(N_out,)`, OOD scores.
        tpr: the in-distribution keep rate, in (0, 1].

    Returns:
        FPR in [0, 1]; lower is better.

    Raises:
        ValueError: bad scores or ``tpr``.

    Examples:
        >>> fpr_at_tpr(np.arange(1.0, 21.0), np.array([5.0, 19.0, 19.5, 30.0]))
        0.5
    """
    threshold = threshold_at_tpr(scores_in, tpr)
    scores_out = _check_scores(scores_out, "scores_out")
    return float(np.mean(scores_out <= threshold))


def flag_ood(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Which inputs are flagged OOD at ``threshold`` (score strictly above it).

    Args:
        scores: shape `(N,)`.
        threshold: from :func:`threshold_at_tpr` on in-distribution validation scores.

    Returns:
        shape `(N,)`, bool.
    """
    return np.asarray(scores) > threshold
