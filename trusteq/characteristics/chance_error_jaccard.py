"""Chance error Jaccard: the error overlap expected if two models erred independently."""

from __future__ import annotations

import numpy as np

from trusteq.characteristics.base import Outputs, PairwiseCharacteristic
from trusteq.characteristics.error_jaccard import error_indicators


class ChanceErrorJaccard(PairwiseCharacteristic):
    r"""Error Jaccard expected if the two models erred independently at their own error rates.

    .. math:: J_\mathrm{chance}(a, b) = \frac{p_a p_b}{p_a + p_b - p_a p_b}

    with ``p`` the error rate of each model: the ratio of the expected intersection
    ``N p_a p_b`` to the expected union ``N (p_a + p_b - p_a p_b)`` of independent error sets.
    Undefined (NaN) when neither model errs, like
    :class:`~trusteq.characteristics.error_jaccard.ErrorJaccard`. It is the floor against which
    an observed error Jaccard is read: two models with 30% error each share errors by chance
    (0.3² / (0.6 − 0.09) ≈ 0.18). Compare Geirhos et al. 2020, arXiv 2006.16736, whose expected
    consistency applies the same independence model to agreement.

    Per-example statistics: ``[wrong_a, wrong_b, 1]``. Inputs: ``preds`` and ``targets``, each
    shape `(N,)`, int64. Value in [0, 1] or NaN; symmetric; on identical inputs it is
    ``p / (2 − p)``, not a constant, so ``identity_value`` is None.

    Examples:
        >>> targets = np.array([0, 0, 0, 0])
        >>> a = {"preds": np.array([1, 1, 0, 0]), "targets": targets}
        >>> b = {"preds": np.array([1, 0, 1, 0]), "targets": targets}
        >>> round(ChanceErrorJaccard()(a, b), 4)
        0.3333
    """

    name = "chance_error_jaccard"
    requires = ("preds", "targets")
    summary_column = "chance_jaccard"
    against_floor = False  # a chance level: read beside error_jaccard, not against the floor
    symmetric = True
    identity_value = None
    higher_is_better = True
    bounds = (0.0, 1.0)

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[wrong_a, wrong_b, 1]``, shape `(N, 3)`."""
        errors_a, errors_b = error_indicators(a), error_indicators(b)
        return np.stack([errors_a, errors_b, np.ones_like(errors_a)], axis=1).astype(np.float64)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Chance Jaccard from totals `(..., 3)`."""
        p_a = totals[..., 0] / totals[..., 2]
        p_b = totals[..., 1] / totals[..., 2]
        union = p_a + p_b - p_a * p_b
        return np.where(union > 0, p_a * p_b / np.where(union > 0, union, 1.0), np.nan)

    def undefined_reason(self, totals: np.ndarray) -> str | None:
        """Why the value on totals `(3,)` is NaN, or None when it is defined."""
        if totals[..., 0] + totals[..., 1] > 0:
            return None
        return "neither model errs on any example (no error rate to compare)"
