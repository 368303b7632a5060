r"""Label loyalty and probability loyalty of a compressed model to its original (Xu et al. 2021).

Xu, Zhou, Ge, Xu, McAuley & Wei 2021, "Beyond Preserved Accuracy: Evaluating Loyalty and
Robustness of BERT Compression", EMNLP, arXiv 2109.03228, Sec. 3:

* **label loyalty**: the fraction of examples on which the two models predict the same label.
  That is exactly :class:`~trusteq.characteristics.prediction_agreement.PredictionAgreement`, so
  :class:`LabelLoyalty` reuses it unchanged and only carries the paper's name. A study should
  list one of ``prediction_agreement`` and ``label_loyalty``, not both: they are the same number.
* **probability loyalty**: ``1 − D_JS(p, q)^{1/2}`` with ``D_JS`` the Jensen–Shannon divergence
  in base 2, i.e. one minus the Jensen–Shannon *distance*, averaged over examples. Base 2 keeps
  the distance in [0, 1], hence the loyalty too.
"""

from __future__ import annotations

import numpy as np
from scipy.special import rel_entr

from trusteq.characteristics.base import Outputs, PairwiseCharacteristic
from trusteq.characteristics.prediction_agreement import PredictionAgreement


class LabelLoyalty(PredictionAgreement):
    r"""Label loyalty: fraction of examples with the same predicted label (Xu et al. 2021).

    .. math:: \mathrm{LL}(a, b) = \frac{1}{N} \sum_i [\hat y^a_i = \hat y^b_i]

    Identical to :class:`~trusteq.characteristics.prediction_agreement.PredictionAgreement`
    (same statistics, same value); only the name differs. Inputs: ``preds`` shape `(N,)`, int64.
    Value in [0, 1]; higher means more alike; 1 on identical inputs.

    Examples:
        >>> a, b = {"preds": np.array([0, 1, 2, 2])}, {"preds": np.array([0, 1, 1, 2])}
        >>> LabelLoyalty()(a, b) == PredictionAgreement()(a, b) == 0.75
        True
    """

    name = "label_loyalty"


def jensen_shannon_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    r"""Row-wise Jensen–Shannon distance in base 2.

    .. math:: d_\mathrm{JS}(p, q) = \sqrt{\tfrac12 \mathrm{KL}(p \,\|\, m)
        + \tfrac12 \mathrm{KL}(q \,\|\, m)}, \qquad m = \tfrac12 (p + q), \ \log_2

    Rows are normalised to sum to 1 first, as :func:`scipy.spatial.distance.jensenshannon`
    does (float32 softmax rows are off by ~1e-7).

    Args:
        p: shape `(N, C)`, non-negative.
        q: shape `(N, C)`, non-negative.

    Returns:
        shape `(N,)`, float64, in [0, 1].

    Raises:
        ValueError: shapes differ or a row sums to 0.

    Examples:
        >>> float(jensen_shannon_distance(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))[0])
        1.0
    """
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 2:
        raise ValueError(f"probs must both have shape (N, C), got {p.shape} and {q.shape}")
    p_sum, q_sum = p.sum(axis=1, keepdims=True), q.sum(axis=1, keepdims=True)
    if (p_sum <= 0).any() or (q_sum <= 0).any():
        raise ValueError("every row of probs must have a positive sum")
    p, q = p / p_sum, q / q_sum
    mixture = (p + q) / 2.0
    divergence = (rel_entr(p, mixture).sum(axis=1) + rel_entr(q, mixture).sum(axis=1)) / 2.0
    return np.sqrt(np.clip(divergence / np.log(2.0), 0.0, 1.0))


class ProbabilityLoyalty(PairwiseCharacteristic):
    r"""Probability loyalty: one minus the mean Jensen–Shannon distance (base 2) of the probs.

    .. math:: \mathrm{PL}(a, b) = \frac{1}{N} \sum_i \big(1 - d_\mathrm{JS}(p^a_i, p^b_i)\big)

    Xu et al. 2021, arXiv 2109.03228, Sec. 3 (their Eq. for probability loyalty, with
    ``D_JS^{1/2}`` and base-2 logarithms). Per-example statistics: ``[1 − d_i, 1]``. Inputs:
    ``probs`` shape `(N, C)`. Value in [0, 1]; higher means more alike; 1 on identical inputs;
    symmetric.

    Examples:
        >>> a = {"probs": np.array([[1.0, 0.0], [0.5, 0.5]])}
        >>> b = {"probs": np.array([[0.0, 1.0], [0.5, 0.5]])}
        >>> ProbabilityLoyalty()(a, b)
        0.5
    """

    name = "probability_loyalty"
    requires = ("probs",)
    symmetric = True
    identity_value = 1.0
    higher_is_better = True
    bounds = (0.0, 1.0)

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[1 − d_JS, 1]``, shape `(N, 2)`."""
        loyalty = 1.0 - jensen_shannon_distance(a["probs"], b["probs"])
        return np.stack([loyalty, np.ones_like(loyalty)], axis=1)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Mean loyalty ``Σ(1 − d) / N`` from totals `(..., 2)`."""
        return totals[..., 0] / totals[..., 1]
