"""Error Jaccard: overlap of the two models' error sets (Paper A)."""

from __future__ import annotations

import numpy as np

from trusteq.characteristics.base import Outputs, PairwiseCharacteristic


def error_indicators(outputs: Outputs) -> np.ndarray:
    """Which examples a model gets wrong.

    Args:
        outputs: a model's outputs with ``preds`` and ``targets``, each shape `(N,)`.

    Returns:
        shape `(N,)`, bool; True where ``preds != targets``.
    """
    return np.asarray(outputs["preds"]) != np.asarray(outputs["targets"])


class ErrorJaccard(PairwiseCharacteristic):
    r"""Jaccard coefficient of the two models' error sets.

    .. math:: J(a, b) = \frac{|E_a \cap E_b|}{|E_a \cup E_b|},
        \qquad E = \{i : \hat y_i \ne y_i\}

    undefined (NaN, with the reason from :meth:`undefined_reason`) when both error sets are
    empty: two perfect models share no errors to compare, and showing 1.0 there would read as
    agreement that was never observed. Rai et al. 2024, "Compressed
    models are NOT miniature versions of large models", arXiv 2407.13174, Sec. 3 (Paper A).
    Not corrected for chance: two independent models with 30% error each score about 0.18,
    see :class:`~trusteq.characteristics.chance_error_jaccard.ChanceErrorJaccard`.

    Per-example statistics: ``[both wrong, either wrong]``. Inputs: ``preds`` and ``targets``,
    each shape `(N,)`, int64. Value in [0, 1] or NaN; higher means more alike; 1 on identical
    inputs that contain an error.

    Examples:
        >>> targets = np.array([0, 0, 0, 0])
        >>> a = {"preds": np.array([1, 1, 0, 0]), "targets": targets}
        >>> b = {"preds": np.array([1, 0, 1, 0]), "targets": targets}
        >>> round(ErrorJaccard()(a, b), 4)
        0.3333
    """

    name = "error_jaccard"
    requires = ("preds", "targets")
    summary_column = "error_jaccard"
    symmetric = True
    identity_value = 1.0
    higher_is_better = True
    bounds = (0.0, 1.0)

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[both wrong, either wrong]``, shape `(N, 2)`."""
        errors_a, errors_b = error_indicators(a), error_indicators(b)
        return np.stack([errors_a & errors_b, errors_a | errors_b], axis=1).astype(np.float64)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Jaccard ``|both| / |either|`` (NaN when ``|either| = 0``) from totals `(..., 2)`."""
        both, either = totals[..., 0], totals[..., 1]
        return np.where(either > 0, both / np.where(either > 0, either, 1.0), np.nan)

    def undefined_reason(self, totals: np.ndarray) -> str | None:
        """Why the value on totals `(2,)` is NaN, or None when it is defined."""
        if totals[..., 1] > 0:
            return None
        return "neither model errs on any example (empty union of error sets)"
