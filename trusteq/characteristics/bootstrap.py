"""Paired bootstrap confidence intervals for any pairwise characteristic.

The examples are resampled with replacement, the same resampled examples for both models (the
pair is the unit, so the dependence between the two models is kept). A resample is represented by
how often each example was drawn, so with per-example statistics `(N, S)` all R resamples cost
one matrix product ``counts (R, N) @ statistics (N, S)`` and one vectorised ``from_totals``.
The interval is the percentile interval (Efron & Tibshirani 1993, "An Introduction to the
Bootstrap", Sec. 13.3).

For characteristics with ``chunkable = False`` (kNN agreement) the per-example statistics are held
fixed, so the interval is conditional on the neighbour sets found on the full data: it measures
the sampling noise of the average over examples, not of the neighbour search.
"""

from __future__ import annotations

import numpy as np

from trusteq.characteristics.base import Outputs, PairwiseCharacteristic

#: Upper bound on the number of entries of one block of the (R, N) count matrix held at once.
_MAX_BLOCK_ENTRIES = 1 << 24


def resample_counts(n_examples: int, n_resamples: int = 200, seed: int = 0) -> np.ndarray:
    """Multinomial bootstrap counts: how often each example is drawn in each resample.

    Args:
        n_examples: N >= 1.
        n_resamples: R >= 1.
        seed: seed of a :class:`numpy.random.Generator` (PCG64).

    Returns:
        shape `(R, N)`, int64; each row sums to N.

    Raises:
        ValueError: ``n_examples < 1`` or ``n_resamples < 1``.

    Examples:
        >>> resample_counts(5, n_resamples=3, seed=0).sum(axis=1).tolist()
        [5, 5, 5]
    """
    if n_examples < 1 or n_resamples < 1:
        raise ValueError(
            f"need n_examples >= 1 and n_resamples >= 1, got {n_examples} and {n_resamples}"
        )
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_examples, np.full(n_examples, 1.0 / n_examples), size=n_resamples)


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Equal-tailed percentile interval of bootstrap values.

    Args:
        values: shape `(R,)`, the statistic on each resample; NaN resamples are ignored.
        confidence: coverage in (0, 1).

    Returns:
        ``(low, high)``; NaN when every value is NaN.

    Raises:
        ValueError: ``confidence`` outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    values = np.asarray(values, dtype=np.float64)
    if np.isnan(values).all():
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    low, high = np.nanquantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def bootstrap_values(
    char: PairwiseCharacteristic, statistics: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """The characteristic on every resample, from per-example statistics and resample counts.

    Args:
        char: the characteristic that produced ``statistics``.
        statistics: shape `(N, S)`, from ``char.statistics(a, b)``.
        counts: shape `(R, N)`, from :func:`resample_counts`.

    Returns:
        shape `(R,)`, float64.

    Raises:
        ValueError: ``counts`` and ``statistics`` disagree on N.
    """
    if counts.shape[1] != statistics.shape[0]:
        raise ValueError(
            f"counts cover {counts.shape[1]} examples but statistics {statistics.shape[0]}"
        )
    statistics = np.asarray(statistics, dtype=np.float64)
    # Blocks of resamples bound memory for large N; the float cast of a block is the big array.
    block = max(1, _MAX_BLOCK_ENTRIES // max(1, counts.shape[1]))
    values = [
        char.from_totals(counts[start : start + block].astype(np.float64) @ statistics)
        for start in range(0, counts.shape[0], block)
    ]
    return np.concatenate(values)


def bootstrap_interval(
    char: PairwiseCharacteristic,
    a: Outputs,
    b: Outputs,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Paired percentile bootstrap interval of a pairwise characteristic.

    Args:
        char: the characteristic.
        a: outputs of the first model, N examples.
        b: outputs of the second model, paired with ``a`` by row.
        n_resamples: R, number of bootstrap resamples.
        confidence: coverage in (0, 1), e.g. 0.95.
        seed: seed of the resampling; the same seed gives the same resamples for every pair of
            models with the same N.

    Returns:
        ``(low, high)`` in the characteristic's bounds.

    Raises:
        ValueError: bad ``n_resamples`` or ``confidence``; see also
            :meth:`PairwiseCharacteristic.check_pair`.

    Examples:
        >>> from trusteq.characteristics.prediction_agreement import PredictionAgreement
        >>> a = {"preds": np.array([0, 1, 1, 0])}
        >>> bootstrap_interval(PredictionAgreement(), a, a, n_resamples=50)
        (1.0, 1.0)
    """
    a, b = char.prepare(a), char.prepare(b)
    n_examples = char.check_pair(a, b)
    statistics = char.statistics(a, b)
    counts = resample_counts(n_examples, n_resamples, seed)
    return percentile_interval(bootstrap_values(char, statistics, counts), confidence)
