"""Characteristics: unary metrics of one model and pairwise metrics of two, plus the matrix runner.

Pairwise characteristics are built from ``conf/characteristic/*.yaml`` with
``hydra.utils.instantiate``; :func:`pairwise_matrices` turns each into a V×V matrix with paired
bootstrap intervals; :func:`compute_unary` gives the per-model metrics logged to MLflow.
"""

from __future__ import annotations

from trusteq.characteristics.base import (
    CharacteristicContractError,
    CharacteristicFamily,
    PairwiseCharacteristic,
    as_characteristics,
)
from trusteq.characteristics.bootstrap import bootstrap_interval
from trusteq.characteristics.calibration import (
    brier_score,
    confidence_bins,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_table,
)
from trusteq.characteristics.calibration_similarity import CalibrationSimilarity
from trusteq.characteristics.chance_error_jaccard import ChanceErrorJaccard
from trusteq.characteristics.error_consistency import ErrorConsistency
from trusteq.characteristics.error_jaccard import ErrorJaccard
from trusteq.characteristics.knn_agreement import (
    KNNAgreement,
    knn_agreement_curve,
    knn_agreement_family,
    knn_indices,
)
from trusteq.characteristics.matrix import PairwiseResult, pairwise_matrices, pairwise_matrix
from trusteq.characteristics.prediction_agreement import PredictionAgreement
from trusteq.characteristics.unary import UNARY_KEYS, compute_unary

__all__ = [
    "UNARY_KEYS",
    "CalibrationSimilarity",
    "ChanceErrorJaccard",
    "CharacteristicContractError",
    "CharacteristicFamily",
    "ErrorConsistency",
    "ErrorJaccard",
    "KNNAgreement",
    "PairwiseCharacteristic",
    "PairwiseResult",
    "PredictionAgreement",
    "as_characteristics",
    "bootstrap_interval",
    "brier_score",
    "compute_unary",
    "confidence_bins",
    "expected_calibration_error",
    "knn_agreement_curve",
    "knn_agreement_family",
    "knn_indices",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "pairwise_matrices",
    "pairwise_matrix",
    "reliability_table",
]
