"""The tests behind the verdict: one-sided, equivalence (TOST) and Holm, from a bootstrap.

Every test here reads a *gap* ``g`` (a difference of two characteristic values, signed so that
negative means "less alike than the seed population") and the bootstrap distribution of ``g``.
Two ways to turn that into p-values:

* ``"normal"`` (default): a Wald z-test with the bootstrap standard error, ``z = (g − g0) / se``.
  p-values are continuous, so a Holm correction over a large family can still reject (the
  percentile p-values of R resamples cannot go below ``1 / (R + 1)``).
* ``"percentile"``: the p-value that inverts the percentile interval, e.g. for H0: ``g ≥ g0``,
  ``p = (1 + #{g*_r ≥ g0}) / (R + 1)`` (Davison & Hinkley 1997, "Bootstrap Methods and their
  Application", Ch. 4, for the ``(1 + count) / (R + 1)`` form).

Equivalence is Schuirmann's two one-sided tests (Schuirmann 1987, "A comparison of the two
one-sided tests procedure and the power approach for assessing the equivalence of average
bioavailability", J. Pharmacokinet. Biopharm. 15(6)): equivalence within ``(−δ, δ)`` is shown at
level α when both H0: ``g ≤ −δ`` and H0: ``g ≥ δ`` are rejected at level α, i.e.
``p_TOST = max(p_lower, p_upper)``. The same arithmetic as
:func:`statsmodels.stats.weightstats.ztost` (checked in the tests).

Holm's step-down correction (Holm 1979, "A simple sequentially rejective multiple test
procedure", Scand. J. Statist. 6(2)) is statsmodels'
:func:`statsmodels.stats.multitest.multipletests` with ``method="holm"``.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy.stats import norm
from statsmodels.stats.multitest import multipletests

PMethod = Literal["normal", "percentile"]
P_METHODS: tuple[str, ...] = ("normal", "percentile")


def _check_method(method: str) -> None:
    if method not in P_METHODS:
        raise ValueError(f"p-value method must be one of {P_METHODS}, got {method!r}")


def p_less(
    estimate: float, se: float, boot: np.ndarray | None, null: float, method: PMethod = "normal"
) -> float:
    """One-sided p-value of H0: ``g ≥ null`` against H1: ``g < null``.

    Args:
        estimate: the point estimate of ``g``.
        se: its bootstrap standard error (> 0; used by ``"normal"``).
        boot: shape `(R,)`, bootstrap values of ``g`` (used by ``"percentile"``; NaN ignored).
        null: the boundary ``g0``.
        method: ``"normal"`` or ``"percentile"`` (see the module docstring).

    Returns:
        p in (0, 1]; NaN when the standard error is NaN (or no finite resample).

    Raises:
        ValueError: unknown ``method``.
    """
    _check_method(method)
    if method == "normal":
        if not math.isfinite(se) or not math.isfinite(estimate):
            return math.nan
        if se <= 0.0:
            return 0.0 if estimate < null else 1.0
        return float(norm.cdf((estimate - null) / se))
    finite = _finite(boot)
    if finite.size == 0:
        return math.nan
    return float((1 + np.count_nonzero(finite >= null)) / (finite.size + 1))


def p_greater(
    estimate: float, se: float, boot: np.ndarray | None, null: float, method: PMethod = "normal"
) -> float:
    """One-sided p-value of H0: ``g ≤ null`` against H1: ``g > null``; see :func:`p_less`."""
    _check_method(method)
    if method == "normal":
        if not math.isfinite(se) or not math.isfinite(estimate):
            return math.nan
        if se <= 0.0:
            return 0.0 if estimate > null else 1.0
        return float(norm.sf((estimate - null) / se))
    finite = _finite(boot)
    if finite.size == 0:
        return math.nan
    return float((1 + np.count_nonzero(finite <= null)) / (finite.size + 1))


def tost(
    estimate: float,
    se: float,
    margin: float,
    boot: np.ndarray | None = None,
    method: PMethod = "normal",
) -> tuple[float, float, float]:
    """Two one-sided tests of equivalence of ``g`` to 0 within ``(−margin, margin)``.

    Args:
        estimate: the point estimate of ``g``.
        se: its bootstrap standard error.
        margin: δ > 0, the equivalence margin.
        boot: shape `(R,)`, bootstrap values of ``g`` (``"percentile"`` only).
        method: ``"normal"`` or ``"percentile"``.

    Returns:
        ``(p_tost, p_lower, p_upper)``: p_lower tests H0 ``g ≤ −δ``, p_upper tests H0 ``g ≥ δ``,
        ``p_tost = max(p_lower, p_upper)``.

    Raises:
        ValueError: ``margin`` not positive, or unknown ``method``.

    Examples:
        >>> [round(p, 4) for p in tost(0.0, 1.0, 1.645)]
        [0.05, 0.05, 0.05]
    """
    if not margin > 0.0:
        raise ValueError(f"the equivalence margin must be > 0, got {margin}")
    p_lower = p_greater(estimate, se, boot, -margin, method)
    p_upper = p_less(estimate, se, boot, margin, method)
    return max(p_lower, p_upper), p_lower, p_upper


def holm(p_values: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm step-down adjustment of a family of p-values (NaN entries left out of the family).

    Args:
        p_values: shape `(M,)`, raw p-values in [0, 1] or NaN.
        alpha: family-wise error rate in (0, 1).

    Returns:
        ``(reject, p_adjusted)``, each shape `(M,)`; NaN entries give ``False`` and NaN.

    Raises:
        ValueError: ``alpha`` outside (0, 1).

    Examples:
        >>> reject, adjusted = holm(np.array([0.01, 0.04, 0.03]))
        >>> reject.tolist(), [round(float(p), 2) for p in adjusted]
        ([True, False, False], [0.03, 0.06, 0.06])
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    p_values = np.asarray(p_values, dtype=np.float64)
    reject = np.zeros(p_values.shape, dtype=bool)
    adjusted = np.full(p_values.shape, np.nan)
    valid = np.isfinite(p_values)
    if valid.any():
        reject[valid], adjusted[valid], _, _ = multipletests(
            p_values[valid], alpha=alpha, method="holm"
        )
    return reject, adjusted


def examples_needed(n_examples: int, se: float, distance: float, z_critical: float) -> float:
    """Examples needed for a z-test to decide, if the estimate stayed where it is.

    The bootstrap variance of a mean over examples scales as ``1 / N``, so with ``N'`` examples
    ``se' = se · sqrt(N / N')``, and the test rejects once ``distance / se' ≥ z``:
    ``N' = N · (z · se / distance)²``.

    Args:
        n_examples: N, the current number of examples.
        se: the bootstrap standard error at N.
        distance: how far the estimate lies from the null boundary, on the side the test would
            decide (> 0; otherwise no N suffices).
        z_critical: the critical z of the test (e.g. ``norm.ppf(1 − α / M)``).

    Returns:
        N' (rounded up), or ``inf`` when ``distance <= 0`` or the standard error is not finite.

    Examples:
        >>> examples_needed(100, 0.1, 0.098, 1.96)
        400.0
    """
    if not (distance > 0.0 and math.isfinite(se)):
        return math.inf
    return float(math.ceil(n_examples * (z_critical * se / distance) ** 2 - 1e-9))


def _finite(boot: np.ndarray | None) -> np.ndarray:
    if boot is None:
        raise ValueError("the percentile method needs the bootstrap values")
    boot = np.asarray(boot, dtype=np.float64)
    return boot[np.isfinite(boot)]
