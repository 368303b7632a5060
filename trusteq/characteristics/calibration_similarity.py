"""Calibration similarity: how far apart two models' expected calibration errors are."""

from __future__ import annotations

import numpy as np

from trusteq.characteristics.base import Outputs, PairwiseCharacteristic
from trusteq.characteristics.calibration import confidence_bins, validate_probs_targets


class CalibrationSimilarity(PairwiseCharacteristic):
    r"""Absolute difference of the two models' equal-width ECE.

    .. math:: d(a, b) = \left| \mathrm{ECE}_a - \mathrm{ECE}_b \right|, \qquad
        \mathrm{ECE} = \sum_b \frac{n_b}{N} |\mathrm{acc}_b - \mathrm{conf}_b|
        = \frac{1}{N} \sum_b \Big| \sum_{i \in b} (\mathrm{correct}_i - \mathrm{conf}_i) \Big|

    ECE as in Guo et al. 2017, arXiv 1706.04599, Sec. 2 (see
    :func:`~trusteq.characteristics.calibration.expected_calibration_error`); Paper B
    (arXiv 2508.13533) compares models by their ECE. Both models are binned on the same fixed
    equal-width edges, which makes the per-example statistics additive (equal-mass edges depend
    on the whole dataset, so they would break chunking and the bootstrap).

    Per-example statistics, shape `(N, 2·B·3)`: for each model the one-hot bin of the example
    times ``[confidence, correct, 1]``. Inputs: ``probs`` `(N, C)` and ``targets`` `(N,)`.
    Value in [0, 1]; lower means more alike (``higher_is_better = False``); 0 on identical
    inputs.

    Args:
        n_bins: number of equal-width bins B >= 1.

    Raises:
        ValueError: ``n_bins < 1``; see also
            :func:`~trusteq.characteristics.calibration.validate_probs_targets`.

    Examples:
        >>> targets = np.array([0, 1])
        >>> a = {"probs": np.array([[0.9, 0.1], [0.3, 0.7]]), "targets": targets}
        >>> b = {"probs": np.array([[0.6, 0.4], [0.3, 0.7]]), "targets": targets}
        >>> round(CalibrationSimilarity(n_bins=10)(a, b), 4)
        0.15
    """

    name = "calibration_similarity"
    requires = ("probs", "targets")
    summary_column = "abs_delta_ece"
    symmetric = True
    identity_value = 0.0
    higher_is_better = False
    bounds = (0.0, 1.0)

    def __init__(self, n_bins: int = 10) -> None:
        super().__init__()
        if not isinstance(n_bins, int) or n_bins < 1:
            raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
        self.n_bins = n_bins

    def _model_statistics(self, outputs: Outputs) -> np.ndarray:
        probs, targets = validate_probs_targets(outputs["probs"], outputs["targets"])
        confidence = probs.max(axis=1)
        correct = (probs.argmax(axis=1) == targets).astype(np.float64)
        bins = confidence_bins(confidence, self.n_bins, "equal_width")
        per_example = np.stack([confidence, correct, np.ones_like(confidence)], axis=1)
        statistics = np.zeros((probs.shape[0], self.n_bins, 3))
        statistics[np.arange(probs.shape[0]), bins] = per_example
        return statistics.reshape(probs.shape[0], -1)

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example binned ``[confidence, correct, 1]`` of both models, shape `(N, 6B)`."""
        return np.concatenate([self._model_statistics(a), self._model_statistics(b)], axis=1)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """``|ECE_a − ECE_b|`` from totals `(..., 6B)`."""
        per_bin = totals.reshape(*totals.shape[:-1], 2, self.n_bins, 3)
        n = per_bin[..., 0, :, 2].sum(axis=-1)
        gaps = np.abs(per_bin[..., 1] - per_bin[..., 0]).sum(axis=-1)
        ece = gaps / n[..., None]
        return np.abs(ece[..., 0] - ece[..., 1])
