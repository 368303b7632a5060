"""The analysis plug-in seam of the compare stage.

An analysis is a Hydra-instantiated object under `analyses.<name>` (configs in `conf/analysis/`).
It declares the splits it needs (the infer stage makes sure every variant has outputs on them) and
computes, from the cache only, any of: V×V matrices (logged like every other matrix), per-variant
metrics (logged into each variant's child run as `<analysis>.<metric>`), study-level metrics,
figures and tables (logged into the parent run under `analyses/<name>/`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from trusteq.characteristics.matrix import PairwiseResult


@dataclass
class AnalysisResult:
    """What an analysis hands back to the compare stage.

    Attributes:
        matrices: name → V×V result; names must not clash with the characteristics'.
        variant_metrics: variant → metric name → value.
        study_metrics: metric name → value (parent run).
        figures: artifact file name (`.png`) → figure.
        tables: artifact file name (`.csv`) → table.
        summary: variant → column → value, added to the study's summary table (keep it to the
            few numbers a user reads first).
    """

    matrices: dict[str, PairwiseResult] = field(default_factory=dict)
    variant_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    study_metrics: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict[str, dict[str, float]] = field(default_factory=dict)


class AnalysisContext:
    """Read-only, memoised access to a study's cache for analyses (never runs a model).

    Args:
        view: the study's cache view: the manifest and its entries (a
            `trusteq.compare.view.CacheView`; typed loosely so that analyses, which compare
            runs, do not import compare).
        compare: the `compare` config (bootstrap resamples, confidence, seed, split).
    """

    def __init__(self, view: Any, compare: Any) -> None:
        self.view = view
        self.compare = compare

    @property
    def variants(self) -> list[str]:
        """Variant names, reference first."""
        return self.view.variants

    @property
    def reference(self) -> str:
        return self.view.reference

    @property
    def noise_floor(self) -> str | None:
        return self.view.noise_floor

    @property
    def seeds(self) -> list[str]:
        """The seed population (reference first)."""
        return self.view.seeds

    @property
    def producers(self) -> dict[str, str]:
        """Declared producer name → its split."""
        return self.view.producers

    def outputs(self, variant: str, split: str) -> dict[str, np.ndarray]:
        """Cached arrays of `variant` on `split`, through the task's view.

        Raises:
            CacheError: the entry does not exist; the message says how to make it.
        """
        return self.view.outputs(variant, split)

    def meta(self, variant: str, split: str) -> dict[str, Any]:
        """The entry's `meta.json` (ids, compression stats, timings, config)."""
        return self.view.meta(variant, split)

    def produced(self, variant: str, producer: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """A producer's cached entry for `variant`: `(arrays, meta)`."""
        return self.view.produced(variant, producer)

    def produced_key(self, variant: str, producer: str) -> str:
        """The cache key of that entry: producers with equal keys made the very same outputs."""
        return self.view.produced_key(variant, producer)


class Analysis(abc.ABC):
    """Base class of analyses.

    Attributes:
        name: stable identifier (MLflow key prefix and artifact folder).
    """

    name: str = "analysis"

    def required_splits(self) -> list[str]:
        """Splits every variant needs outputs on (the infer stage makes them)."""
        return []

    def required_producers(self) -> list[str]:
        """Names of `producers.<name>` whose entries this analysis reads."""
        return []

    #: Output kinds of the task it needs (see `trusteq.tasks.base`); checked by the plan.
    requires_kinds: tuple[str, ...] = ()

    @abc.abstractmethod
    def run(self, context: AnalysisContext) -> AnalysisResult:
        """Compute the analysis from the cache."""
