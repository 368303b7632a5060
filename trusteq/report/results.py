"""What the compare stage hands to reports, figures and tracking (one result object)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trusteq.characteristics.matrix import PairwiseResult


@dataclass
class ComparisonResult:
    """Everything the compare stage produced.

    Attributes:
        unary: variant → unary metrics (keys of `trusteq.characteristics.unary.UNARY_KEYS`).
        pairwise: characteristic name → V×V result with bootstrap intervals.
        summary: one row per variant (see `summary_table`).
        meta: variant → the compared split's outputs `meta.json`.
        analyses: analysis name → its result (its matrices are also in `pairwise`).
        header: the study header from the manifest (variants, reference, seeds...).
        split: the compared split.
        verdicts: the seed-population verdicts (`trusteq.stats.VerdictResult`), or None when
            the study declares fewer than two seeds.
        parent_run_id: the MLflow parent run, when logging is on.
    """

    unary: dict[str, dict[str, float]]
    pairwise: dict[str, PairwiseResult]
    summary: pd.DataFrame
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    analyses: dict[str, Any] = field(default_factory=dict)
    header: Any = None
    split: str = "test"
    verdicts: Any = None
    parent_run_id: str | None = None
