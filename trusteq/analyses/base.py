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
    from trusteq.study import Study


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
        study: the study whose cache is read.
    """

    def __init__(self, study: Study) -> None:
        self.study = study
        self._outputs: dict[tuple[str, str], tuple[dict[str, np.ndarray], dict[str, Any]]] = {}

    @property
    def variants(self) -> list[str]:
        """Variant names, reference first."""
        return list(self.study.variants)

    @property
    def reference(self) -> str:
        return self.study.reference

    @property
    def noise_floor(self) -> str | None:
        return self.study.cfg.study.get("noise_floor")

    def _entry(self, variant: str, split: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if (variant, split) not in self._outputs:
            self._outputs[variant, split] = self.study.load_outputs(variant, split)
        return self._outputs[variant, split]

    def outputs(self, variant: str, split: str) -> dict[str, np.ndarray]:
        """Cached arrays of `variant` on `split` (see `Study.load_outputs`).

        Raises:
            CacheError: the entry does not exist; the message says how to make it.
        """
        return self._entry(variant, split)[0]

    def meta(self, variant: str, split: str) -> dict[str, Any]:
        """The entry's `meta.json` (ids, compression stats, timings, config)."""
        return self._entry(variant, split)[1]

    def produced(self, variant: str, producer: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """A producer's cached entry for `variant` (see `Study.load_produced`)."""
        return self.study.load_produced(variant, producer)


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

    @abc.abstractmethod
    def run(self, context: AnalysisContext) -> AnalysisResult:
        """Compute the analysis from the cache."""
