from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, cohen_kappa_score
from torchmetrics.functional.classification import multiclass_calibration_error

from trusteq.characteristics.calibration_similarity import CalibrationSimilarity
from trusteq.characteristics.chance_error_jaccard import ChanceErrorJaccard
from trusteq.characteristics.error_consistency import ErrorConsistency
from trusteq.characteristics.error_jaccard import ErrorJaccard
from trusteq.characteristics.prediction_agreement import PredictionAgreement


def _error_ids(outputs) -> set[int]:
    pairs = zip(outputs["preds"].tolist(), outputs["targets"].tolist(), strict=True)
    return {i for i, (pred, target) in enumerate(pairs) if pred != target}


def test_prediction_agreement_matches_sklearn(pair):
    a, b = pair
    assert PredictionAgreement()(a, b) == pytest.approx(accuracy_score(a["preds"], b["preds"]))


def test_error_jaccard_matches_python_sets(pair):
    a, b = pair
    errors_a, errors_b = _error_ids(a), _error_ids(b)
    expected = len(errors_a & errors_b) / len(errors_a | errors_b)
    assert ErrorJaccard()(a, b) == pytest.approx(expected)


def test_error_jaccard_is_undefined_without_errors():
    # Issue 10: no errors on either side is not agreement; NaN with a reason, not 1.0.
    perfect = {"preds": np.array([0, 1, 2]), "targets": np.array([0, 1, 2])}
    assert np.isnan(ErrorJaccard()(perfect, perfect))
    assert "neither model errs" in ErrorJaccard().undefined_reason(np.array([0.0, 0.0]))


def test_error_jaccard_disjoint_errors_is_zero():
    targets = np.zeros(4, dtype=np.int64)
    a = {"preds": np.array([1, 0, 0, 0]), "targets": targets}
    b = {"preds": np.array([0, 1, 0, 0]), "targets": targets}
    assert ErrorJaccard()(a, b) == 0.0


def test_chance_error_jaccard_from_error_counts(pair):
    a, b = pair
    n = len(a["targets"])
    p_a, p_b = len(_error_ids(a)) / n, len(_error_ids(b)) / n
    expected_intersection, expected_union = n * p_a * p_b, n * (1 - (1 - p_a) * (1 - p_b))
    assert ChanceErrorJaccard()(a, b) == pytest.approx(expected_intersection / expected_union)


def test_chance_error_jaccard_matches_simulated_independent_errors():
    rng = np.random.default_rng(0)
    n, p_a, p_b = 200_000, 0.3, 0.1
    errors_a, errors_b = rng.random(n) < p_a, rng.random(n) < p_b
    observed = (errors_a & errors_b).sum() / (errors_a | errors_b).sum()
    targets = np.zeros(n, dtype=np.int64)
    a = {"preds": errors_a.astype(np.int64), "targets": targets}
    b = {"preds": errors_b.astype(np.int64), "targets": targets}
    assert ChanceErrorJaccard()(a, b) == pytest.approx(observed, abs=0.005)
    assert ChanceErrorJaccard()(a, b) == pytest.approx(0.03 / 0.37, abs=0.005)


def test_error_consistency_matches_cohen_kappa(pair):
    a, b = pair
    correct_a = a["preds"] == a["targets"]
    correct_b = b["preds"] == b["targets"]
    assert ErrorConsistency()(a, b) == pytest.approx(cohen_kappa_score(correct_a, correct_b))


def test_error_consistency_degenerate_is_undefined():
    # Issue 10: kappa is 0/0 when both models are right (or wrong) everywhere: NaN, not 1.0.
    perfect = {"preds": np.array([0, 1, 2]), "targets": np.array([0, 1, 2])}
    assert np.isnan(ErrorConsistency()(perfect, perfect))
    wrong = {"preds": np.array([1, 2, 0]), "targets": np.array([0, 1, 2])}
    assert np.isnan(ErrorConsistency()(wrong, wrong))


def test_calibration_similarity_matches_torchmetrics_ece_difference(pair):
    a, b = pair

    def ece(outputs):
        return float(
            multiclass_calibration_error(
                torch.from_numpy(outputs["probs"].astype(np.float64)),
                torch.from_numpy(outputs["targets"]),
                num_classes=3,
                n_bins=15,
            )
        )

    assert CalibrationSimilarity(n_bins=15)(a, b) == pytest.approx(abs(ece(a) - ece(b)), abs=1e-6)


def test_calibration_similarity_rejects_bad_n_bins():
    with pytest.raises(ValueError, match="n_bins"):
        CalibrationSimilarity(n_bins=0)


def test_pairing_is_checked(pair):
    a, b = pair
    with pytest.raises(KeyError, match="preds"):
        ErrorJaccard()({"targets": a["targets"]}, b)
    short = {key: value[:-1] for key, value in b.items()}
    with pytest.raises(ValueError, match="not paired"):
        ErrorJaccard()(a, short)
    shuffled = {**b, "targets": b["targets"][::-1]}
    with pytest.raises(ValueError, match="different targets"):
        ErrorJaccard()(a, shuffled)


def test_compute_before_update_raises():
    with pytest.raises(RuntimeError, match="before any update"):
        ErrorJaccard().compute()
