"""Prediction agreement: how often two models predict the same class."""

from __future__ import annotations

import numpy as np

from trusteq.characteristics.base import Outputs, PairwiseCharacteristic


class PredictionAgreement(PairwiseCharacteristic):
    r"""Fraction of examples on which the two models predict the same class.

    .. math:: \mathrm{agree}(a, b) = \frac{1}{N} \sum_i [\hat y^a_i = \hat y^b_i]

    Also called label loyalty (Xu et al. 2021, "Beyond Preserved Accuracy: Evaluating Loyalty and
    Robustness of BERT Compression", arXiv 2109.03228, Sec. 3.1).

    Per-example statistics: ``[agree_i, 1]``. Inputs: ``preds`` of shape `(N,)`, int64.
    Value in [0, 1]; higher means more alike; 1 on identical inputs.

    Examples:
        >>> a = {"preds": np.array([0, 1, 2, 2])}
        >>> b = {"preds": np.array([0, 1, 1, 2])}
        >>> PredictionAgreement()(a, b)
        0.75
    """

    name = "prediction_agreement"
    requires = ("preds",)
    summary_column = "agreement"
    symmetric = True
    identity_value = 1.0
    higher_is_better = True
    bounds = (0.0, 1.0)

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[agree, 1]``, shape `(N, 2)`."""
        agree = np.asarray(a["preds"]) == np.asarray(b["preds"])
        return np.stack([agree, np.ones_like(agree)], axis=1).astype(np.float64)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Agreement ``agree / N`` from totals `(..., 2)`."""
        return totals[..., 0] / totals[..., 1]
