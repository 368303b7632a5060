"""Do two models flag the same inputs as out-of-distribution? Flag-set Jaccard, chance and kappa.

The math is the error-set math of Paper A and Geirhos et al. 2020, applied to "flagged OOD"
instead of "wrong": each model's flags become pseudo outputs whose ``preds != targets`` exactly
where the input is flagged (``preds = flagged``, ``targets = 0``), and the existing
characteristics compute the matrices with their paired bootstrap intervals:

- :class:`~trusteq.characteristics.error_jaccard.ErrorJaccard` → Jaccard of the flagged sets
  (Rai et al. 2024, arXiv 2407.13174, Fig. 1 c);
- :class:`~trusteq.characteristics.chance_error_jaccard.ChanceErrorJaccard` → the Jaccard
  expected if the two models flagged independently at their own flag rates;
- :class:`~trusteq.characteristics.error_consistency.ErrorConsistency` → Cohen's kappa of the
  two flag vectors.

The thresholds are held fixed (each model's own, from in-distribution validation data), so the
intervals cover the sampling of the flagged inputs, not of the thresholds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from trusteq.characteristics.chance_error_jaccard import ChanceErrorJaccard
from trusteq.characteristics.error_consistency import ErrorConsistency
from trusteq.characteristics.error_jaccard import ErrorJaccard
from trusteq.characteristics.matrix import PairwiseResult, pairwise_matrices

#: Matrix kind → the characteristic computing it on flag pseudo outputs.
FLAG_AGREEMENT = {
    "jaccard": ErrorJaccard,
    "chance_jaccard": ChanceErrorJaccard,
    "kappa": ErrorConsistency,
}


def flags_as_outputs(flags: np.ndarray) -> dict[str, np.ndarray]:
    """Pseudo outputs whose error set is the flagged set.

    Args:
        flags: shape `(N,)`, bool, True = flagged OOD.

    Returns:
        ``{"preds": flags as int64, "targets": zeros}``, each shape `(N,)`.
    """
    flags = np.asarray(flags, dtype=bool)
    return {"preds": flags.astype(np.int64), "targets": np.zeros(len(flags), dtype=np.int64)}


def flag_agreement(
    flags_by_variant: Mapping[str, np.ndarray],
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    prefix: str = "ood_flag_",
    suffix: str = "",
) -> dict[str, PairwiseResult]:
    """V×V matrices of flag-set Jaccard, its chance expectation and kappa, with intervals.

    Args:
        flags_by_variant: ``{variant: flags}``, each shape `(N,)`, bool, the same N inputs in the
            same order; matrix order = mapping order.
        n_resamples: R paired bootstrap resamples of the inputs; 0 skips the intervals.
        confidence: interval coverage in (0, 1).
        seed: bootstrap seed.
        prefix: matrix name prefix.
        suffix: matrix name suffix (e.g. ``".knn"``).

    Returns:
        ``{"jaccard" | "chance_jaccard" | "kappa": result}``, each named
        ``f"{prefix}{kind}{suffix}"``; Jaccard in [0, 1] (1 when neither flags anything), kappa
        in [−1, 1].

    Raises:
        ValueError: the flag vectors differ in length.

    Examples:
        >>> flags = {"ref": np.array([1, 1, 0, 0], bool), "small": np.array([1, 0, 1, 0], bool)}
        >>> result = flag_agreement(flags, n_resamples=0)
        >>> round(float(result["jaccard"].value[0, 1]), 4), float(result["kappa"].value[0, 1])
        (0.3333, 0.0)
    """
    pseudo = {variant: flags_as_outputs(flags) for variant, flags in flags_by_variant.items()}
    results = pairwise_matrices(
        [char() for char in FLAG_AGREEMENT.values()], pseudo, n_resamples, confidence, seed
    )
    named = {}
    for kind, result in zip(FLAG_AGREEMENT, results, strict=True):
        metadata = {**result.metadata, "inputs": "OOD flags (preds = flagged, targets = 0)"}
        named[kind] = dataclasses.replace(result, name=f"{prefix}{kind}{suffix}", metadata=metadata)
    return named
