"""The matrix runner: one V×V matrix of a pairwise characteristic, with bootstrap intervals.

Per-model context (:meth:`PairwiseCharacteristic.prepare`, e.g. kNN neighbour lists) is computed
once per variant, and for symmetric characteristics only the pairs i <= j are computed and then
mirrored, so a matrix costs V preparations and V(V + 1)/2 pair evaluations. All pairs share the
same bootstrap resamples (one seed), so the intervals of different pairs come from the same
resampled datasets.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from trusteq.characteristics.base import (
    CharacteristicContractError,
    CharacteristicFamily,
    Outputs,
    PairwiseCharacteristic,
    as_characteristics,
)
from trusteq.characteristics.bootstrap import bootstrap_values, percentile_interval, resample_counts

log = logging.getLogger(__name__)

#: Reasons of NaN values met while building the current matrix, by characteristic name.
_UNDEFINED: dict[str, list[str]] = {}


@dataclasses.dataclass
class PairwiseResult:
    """One characteristic over all pairs of variants.

    Attributes:
        name: the characteristic's name.
        variants: the V variant names, in matrix order.
        value: shape `(V, V)`, ``value[i, j]`` = characteristic(variant i, variant j).
        ci_low: shape `(V, V)`, lower end of the bootstrap interval.
        ci_high: shape `(V, V)`, upper end of the bootstrap interval.
        metadata: the characteristic's contract and parameters, plus the bootstrap settings and N.
    """

    name: str
    variants: list[str]
    value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Long format, one row per ordered pair: columns ``a, b, value, ci_low, ci_high``."""
        rows = [
            {
                "a": variant_a,
                "b": variant_b,
                "value": float(self.value[i, j]),
                "ci_low": float(self.ci_low[i, j]),
                "ci_high": float(self.ci_high[i, j]),
            }
            for i, variant_a in enumerate(self.variants)
            for j, variant_b in enumerate(self.variants)
        ]
        return pd.DataFrame(rows, columns=["a", "b", "value", "ci_low", "ci_high"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary; matrices as nested lists with NaN written as None."""

        def nested(matrix: np.ndarray) -> list[list[float | None]]:
            return [[None if math.isnan(x) else float(x) for x in row] for row in matrix]

        return {
            "name": self.name,
            "variants": list(self.variants),
            "value": nested(self.value),
            "ci_low": nested(self.ci_low),
            "ci_high": nested(self.ci_high),
            "metadata": self.metadata,
        }


def _pair_value_interval(
    char: PairwiseCharacteristic,
    a: Outputs,
    b: Outputs,
    counts: np.ndarray | None,
    confidence: float,
) -> tuple[float, float, float]:
    char.check_pair(a, b)
    statistics = char.statistics(a, b)
    totals = statistics.sum(axis=0)
    value = float(char.from_totals(totals))
    if math.isnan(value) and hasattr(char, "undefined_reason"):
        # Undefined (e.g. error Jaccard when neither model errs): NaN, never a made-up 1.0.
        reason = char.undefined_reason(totals) or "undefined on these inputs"
        _UNDEFINED.setdefault(char.name, []).append(reason)
    if counts is None:
        return value, math.nan, math.nan
    if counts.shape[1] != statistics.shape[0]:
        raise ValueError(
            f"{char.name}: variants have different numbers of examples "
            f"({counts.shape[1]} vs {statistics.shape[0]})"
        )
    low, high = percentile_interval(bootstrap_values(char, statistics, counts), confidence)
    return value, low, high


def pairwise_matrices(
    chars: PairwiseCharacteristic | CharacteristicFamily | Iterable[PairwiseCharacteristic],
    outputs_by_variant: Mapping[str, Outputs],
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[PairwiseResult]:
    """One V×V matrix per characteristic; members of a family share per-model preparation.

    Args:
        chars: a characteristic, a family (e.g. kNN agreement at several K) or a list of them.
        outputs_by_variant: ``{variant: outputs}``, every variant on the same N examples in the
            same order; the matrix order is the mapping's order.
        n_resamples: R bootstrap resamples; 0 skips the intervals (NaN).
        confidence: coverage of the intervals in (0, 1).
        seed: seed of the bootstrap resampling.

    Returns:
        One :class:`PairwiseResult` per characteristic, in order.

    Raises:
        CharacteristicContractError: a diagonal entry differs from the declared identity value.
        ValueError: no variants, or variants with different N; see also
            :meth:`PairwiseCharacteristic.check_pair`.
    """
    members = as_characteristics(chars)
    variants = list(outputs_by_variant)
    if not variants:
        raise ValueError("outputs_by_variant is empty; need at least one variant")
    prepared: dict[str, Outputs] = dict(outputs_by_variant)
    results = []
    for char in members:
        prepared = {variant: char.prepare(outputs) for variant, outputs in prepared.items()}
        results.append(_matrix(char, variants, prepared, n_resamples, confidence, seed))
    return results


def pairwise_matrix(
    char: PairwiseCharacteristic,
    outputs_by_variant: Mapping[str, Outputs],
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairwiseResult:
    """The V×V matrix of one characteristic with paired bootstrap intervals.

    Symmetric characteristics are computed for i <= j and mirrored. The diagonal is checked
    against ``char.identity_value`` with :func:`numpy.isclose` unless that is None.

    Args:
        char: the characteristic.
        outputs_by_variant: ``{variant: outputs}``, every variant on the same N examples in the
            same order; the matrix order is the mapping's order.
        n_resamples: R bootstrap resamples; 0 skips the intervals (NaN).
        confidence: coverage of the intervals in (0, 1).
        seed: seed of the bootstrap resampling.

    Returns:
        The matrix, its intervals and metadata.

    Raises:
        CharacteristicContractError: a diagonal entry differs from the declared identity value.
        ValueError: no variants, or variants with different N; see also
            :meth:`PairwiseCharacteristic.check_pair`.

    Examples:
        >>> from trusteq.characteristics.prediction_agreement import PredictionAgreement
        >>> outputs = {"ref": {"preds": np.array([0, 1, 1, 0])},
        ...            "small": {"preds": np.array([0, 1, 0, 0])}}
        >>> pairwise_matrix(PredictionAgreement(), outputs, n_resamples=0).value.tolist()
        [[1.0, 0.75], [0.75, 1.0]]
    """
    return pairwise_matrices([char], outputs_by_variant, n_resamples, confidence, seed)[0]


def _matrix(
    char: PairwiseCharacteristic,
    variants: list[str],
    prepared: Mapping[str, Outputs],
    n_resamples: int,
    confidence: float,
    seed: int,
) -> PairwiseResult:
    n_variants = len(variants)
    _UNDEFINED.pop(char.name, None)
    value = np.full((n_variants, n_variants), np.nan)
    ci_low, ci_high = value.copy(), value.copy()
    first = prepared[variants[0]]
    n_examples = char.check_pair(first, first)
    counts = resample_counts(n_examples, n_resamples, seed) if n_resamples > 0 else None
    for i, variant_a in enumerate(variants):
        for j, variant_b in enumerate(variants):
            if char.symmetric and j < i:
                value[i, j], ci_low[i, j], ci_high[i, j] = value[j, i], ci_low[j, i], ci_high[j, i]
                continue
            value[i, j], ci_low[i, j], ci_high[i, j] = _pair_value_interval(
                char, prepared[variant_a], prepared[variant_b], counts, confidence
            )
        log.debug("%s: row %s done", char.name, variant_a)
    if char.identity_value is not None:
        diagonal = np.diag(value)
        # NaN on the diagonal is allowed where the characteristic says why (undefined_reason).
        allowed_nan = np.isnan(diagonal) & hasattr(char, "undefined_reason")
        off = ~np.isclose(diagonal, char.identity_value) & ~allowed_nan
        if off.any():
            bad = {variants[i]: float(diagonal[i]) for i in np.flatnonzero(off)}
            raise CharacteristicContractError(
                f"{char.name}: value on identical inputs should be {char.identity_value}, got {bad}"
            )
    metadata = {
        **char.metadata(),
        "n_examples": n_examples,
        "n_resamples": n_resamples,
        "confidence": confidence,
        "seed": seed,
    }
    if char.name in _UNDEFINED:
        reasons = _UNDEFINED.pop(char.name)
        metadata["undefined_reasons"] = sorted(set(reasons))
        log.warning(
            "%s is undefined (NaN) for %d pair(s) of variants: %s",
            char.name,
            len(reasons),
            "; ".join(metadata["undefined_reasons"]),
        )
    return PairwiseResult(char.name, list(variants), value, ci_low, ci_high, metadata)
