"""Statistics of the compare stage: the seed-population verdict rule and its tests.

:func:`seed_verdicts` is the entry point: cached outputs of every variant, the reference and its
seed replicates in, a :class:`VerdictResult` (per-test table, per-variant verdicts, the floor's
pairs) out. See :mod:`trusteq.stats.verdict` for the rule.
"""

from __future__ import annotations

from trusteq.stats.inference import examples_needed, holm, p_greater, p_less, tost
from trusteq.stats.simulation import simulate_population
from trusteq.stats.verdict import (
    DIVERGES,
    INCONCLUSIVE,
    MORE_ALIKE,
    OUTCOMES,
    TRUST_EQUIVALENT,
    WITHIN_NOISE,
    VerdictResult,
    decide,
    gap_tests,
    matrix_gap_tests,
    overall_verdicts,
    seed_pairs,
    seed_verdicts,
)

__all__ = [
    "DIVERGES",
    "INCONCLUSIVE",
    "MORE_ALIKE",
    "OUTCOMES",
    "TRUST_EQUIVALENT",
    "WITHIN_NOISE",
    "VerdictResult",
    "decide",
    "examples_needed",
    "gap_tests",
    "holm",
    "matrix_gap_tests",
    "overall_verdicts",
    "p_greater",
    "p_less",
    "seed_pairs",
    "seed_verdicts",
    "simulate_population",
    "tost",
]
