"""Out-of-distribution detection from cached outputs: scorers (higher = more OOD) and metrics.

The compare-stage analysis that uses them is :mod:`trusteq.analyses.ood`.
"""

from __future__ import annotations

from trusteq.ood.metrics import aupr, auroc, flag_ood, fpr_at_tpr, threshold_at_tpr
from trusteq.ood.scorers import (
    DeepKNN,
    EnergyScore,
    MaxSoftmaxProbability,
    OODScorer,
    deep_knn_distances,
)

__all__ = [
    "DeepKNN",
    "EnergyScore",
    "MaxSoftmaxProbability",
    "OODScorer",
    "aupr",
    "auroc",
    "deep_knn_distances",
    "flag_ood",
    "fpr_at_tpr",
    "threshold_at_tpr",
]
