"""Error consistency: Cohen's kappa on which examples each model gets right."""

from __future__ import annotations

import numpy as np

from trusteq.characteristics.base import Outputs, PairwiseCharacteristic
from trusteq.characteristics.error_jaccard import error_indicators

#: Below this, ``1 − c_exp`` is treated as 0 (both models right everywhere or wrong everywhere).
_DEGENERATE = 1e-12


class ErrorConsistency(PairwiseCharacteristic):
    r"""Error consistency: Cohen's kappa of the two models' correct/incorrect decisions.

    .. math:: \kappa = \frac{c_\mathrm{obs} - c_\mathrm{exp}}{1 - c_\mathrm{exp}}, \qquad
        c_\mathrm{exp} = p_a p_b + (1 - p_a)(1 - p_b)

    with ``c_obs`` the fraction of examples both models get right or both get wrong and ``p`` each
    model's accuracy. Geirhos et al. 2020, "Beyond accuracy: quantifying trial-by-trial behaviour
    of CNNs and humans by measuring error consistency", arXiv 2006.16736, Sec. 2. When
    ``c_exp = 1`` both models are right everywhere (neither errs) or wrong everywhere, so
    κ = 0/0 is undefined: NaN, with the reason from :meth:`undefined_reason` (not 1, which would
    read as agreement beyond chance that was never measured).

    Per-example statistics: ``[wrong_a, wrong_b, same correctness, 1]``. Inputs: ``preds`` and
    ``targets``, each shape `(N,)`, int64. Value in [−1, 1] or NaN; 0 is chance level; higher means
    more alike; 1 on identical inputs with both right and wrong examples.

    Examples:
        >>> targets = np.array([0, 0, 0, 0])
        >>> a = {"preds": np.array([1, 1, 0, 0]), "targets": targets}
        >>> b = {"preds": np.array([1, 0, 1, 0]), "targets": targets}
        >>> ErrorConsistency()(a, b)
        0.0
    """

    name = "error_consistency"
    requires = ("preds", "targets")
    summary_column = "kappa"
    symmetric = True
    identity_value = 1.0
    higher_is_better = True
    bounds = (-1.0, 1.0)

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[wrong_a, wrong_b, same correctness, 1]``, shape `(N, 4)`."""
        errors_a, errors_b = error_indicators(a), error_indicators(b)
        same = errors_a == errors_b
        return np.stack([errors_a, errors_b, same, np.ones_like(same)], axis=1).astype(np.float64)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Kappa from totals `(..., 4)`."""
        n = totals[..., 3]
        accuracy_a = 1.0 - totals[..., 0] / n
        accuracy_b = 1.0 - totals[..., 1] / n
        c_obs = totals[..., 2] / n
        c_exp = accuracy_a * accuracy_b + (1.0 - accuracy_a) * (1.0 - accuracy_b)
        denominator = 1.0 - c_exp
        degenerate = denominator < _DEGENERATE
        kappa = (c_obs - c_exp) / np.where(degenerate, 1.0, denominator)
        return np.where(degenerate, np.nan, kappa)

    def undefined_reason(self, totals: np.ndarray) -> str | None:
        """Why the value on totals `(4,)` is NaN, or None when it is defined."""
        wrong_a, wrong_b, n = totals[..., 0], totals[..., 1], totals[..., 3]
        if wrong_a == 0 and wrong_b == 0:
            return "neither model errs on any example (kappa is 0/0)"
        if wrong_a == n and wrong_b == n:
            return "both models err on every example (kappa is 0/0)"
        return None
