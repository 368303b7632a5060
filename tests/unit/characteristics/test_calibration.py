from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss, mean_squared_error
from sklearn.preprocessing import label_binarize
from torchmetrics.functional.classification import multiclass_calibration_error

from trusteq.characteristics.calibration import (
    brier_score,
    confidence_bins,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    negative_log_likelihood_from_logits,
    reliability_table,
)


def _torchmetrics_ce(probs: np.ndarray, targets: np.ndarray, n_bins: int, norm: str) -> float:
    return float(
        multiclass_calibration_error(
            torch.from_numpy(probs.astype(np.float64)),
            torch.from_numpy(targets),
            num_classes=probs.shape[1],
            n_bins=n_bins,
            norm=norm,
        )
    )


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_equal_width_ece_and_mce_match_torchmetrics(pair, n_bins):
    probs, targets = pair[0]["probs"], pair[0]["targets"]
    assert probs.max() < 1.0  # torchmetrics puts exactly 1.0 in an extra bin
    assert expected_calibration_error(probs, targets, n_bins) == pytest.approx(
        _torchmetrics_ce(probs, targets, n_bins, "l1"), abs=1e-6
    )
    assert maximum_calibration_error(probs, targets, n_bins) == pytest.approx(
        _torchmetrics_ce(probs, targets, n_bins, "max"), abs=1e-6
    )


def test_equal_mass_ece_hand_computed():
    # Confidences (max prob) 0.55, 0.6, 0.65, 0.7 | 0.8, 0.85, 0.9, 0.95; two bins of four.
    confidences = np.array([0.95, 0.55, 0.8, 0.6, 0.9, 0.65, 0.85, 0.7])
    probs = np.stack([confidences, 1.0 - confidences], axis=1)
    # Correct: low bin {0.55, 0.7} -> acc 0.5; high bin {0.95, 0.8, 0.9} -> acc 0.75.
    targets = np.array([0, 0, 0, 1, 0, 1, 1, 0])
    low_gap = abs(0.5 - (0.55 + 0.6 + 0.65 + 0.7) / 4)  # 0.125
    high_gap = abs(0.75 - (0.8 + 0.85 + 0.9 + 0.95) / 4)  # 0.125
    expected = 0.5 * 0.125 + 0.5 * 0.125
    assert low_gap == pytest.approx(0.125) and high_gap == pytest.approx(0.125)
    assert expected_calibration_error(probs, targets, 2, "equal_mass") == pytest.approx(expected)
    assert maximum_calibration_error(probs, targets, 2, "equal_mass") == pytest.approx(0.125)
    table = reliability_table(probs, targets, 2, "equal_mass")
    assert table["count"].tolist() == [4, 4]
    assert table["lower"].tolist() == [0.55, 0.8] and table["upper"].tolist() == [0.7, 0.95]


def test_equal_mass_bins_have_equal_counts_without_ties():
    confidences = np.random.default_rng(0).uniform(0.3, 1.0, 103)
    counts = np.bincount(confidence_bins(confidences, 10, "equal_mass"), minlength=10)
    assert set(counts.tolist()) <= {10, 11} and counts.sum() == 103
    order = np.argsort(confidences)
    bins_sorted = confidence_bins(confidences, 10, "equal_mass")[order]
    assert np.all(np.diff(bins_sorted) >= 0)


def test_equal_mass_bins_keep_ties_together_and_ignore_order():
    confidences = np.array([1.0] * 6 + [0.5, 0.6, 0.7, 0.8])
    bins = confidence_bins(confidences, 5, "equal_mass")
    assert len(set(bins[:6].tolist())) == 1
    permutation = np.random.default_rng(1).permutation(10)
    assert np.array_equal(
        confidence_bins(confidences[permutation], 5, "equal_mass"), bins[permutation]
    )


def test_equal_width_bin_edges():
    bins = confidence_bins(np.array([0.0, 0.099, 0.1, 0.5, 0.999, 1.0]), 10, "equal_width")
    assert bins.tolist() == [0, 0, 1, 5, 9, 9]


def test_reliability_table_interval_and_empty_bins(pair):
    probs, targets = pair[0]["probs"], pair[0]["targets"]
    table = reliability_table(probs, targets, 10)
    assert table["count"].sum() == len(targets)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == targets
    for b in range(10):
        members = (confidence >= b / 10) & (confidence < (b + 1) / 10)
        n_b = int(members.sum())
        assert table["count"][b] == n_b
        if n_b == 0:
            assert np.isnan(table["accuracy"][b]) and np.isnan(table["confidence"][b])
            continue
        acc = correct[members].mean()
        half = 1.96 * np.sqrt(acc * (1 - acc) / n_b)
        assert table["accuracy"][b] == pytest.approx(acc)
        assert table["confidence"][b] == pytest.approx(confidence[members].mean())
        assert table["ci_low"][b] == pytest.approx(max(0.0, acc - half))
        assert table["ci_high"][b] == pytest.approx(min(1.0, acc + half))
    assert table["count"][:3].sum() == 0  # max prob of 3 classes is >= 1/3


def test_brier_matches_sklearn_one_hot(pair):
    probs, targets = pair[0]["probs"], pair[0]["targets"]
    onehot = label_binarize(targets, classes=[0, 1, 2])
    reference = mean_squared_error(onehot, probs, multioutput="raw_values").sum()
    assert brier_score(probs, targets) == pytest.approx(reference, rel=1e-6)


def test_brier_range():
    assert brier_score(np.array([[0.0, 1.0]]), np.array([0])) == 2.0
    assert brier_score(np.array([[1.0, 0.0]]), np.array([0])) == 0.0


def test_nll_matches_sklearn_log_loss(pair):
    outputs = pair[0]
    probs = outputs["probs"].astype(np.float64)
    reference = log_loss(outputs["targets"], probs / probs.sum(1, keepdims=True), labels=[0, 1, 2])
    assert negative_log_likelihood(outputs["probs"], outputs["targets"]) == pytest.approx(
        reference, rel=1e-5
    )
    assert negative_log_likelihood_from_logits(
        outputs["logits"], outputs["targets"]
    ) == pytest.approx(reference, rel=1e-4)


@pytest.mark.parametrize(
    ("probs", "targets", "message"),
    [
        (np.full((3, 2), 0.5), np.array([0, 1]), "disagree on N"),
        (np.array([[0.5, np.nan]]), np.array([0]), "NaN"),
        (np.full((2, 2), 0.5), np.array([0, 2]), r"\[0, 2\)"),
        (np.full((2, 2), 0.5), np.array([-1, 0]), r"\[0, 2\)"),
        (np.full(2, 0.5), np.array([0, 1]), r"shape \(N, C\)"),
        (np.full((2, 2), 0.5), np.array([0.0, 1.0]), "integers"),
        (np.zeros((0, 2)), np.zeros(0, dtype=np.int64), "N >= 1"),
    ],
)
def test_invalid_inputs_raise(probs, targets, message):
    for function in (expected_calibration_error, brier_score, negative_log_likelihood):
        with pytest.raises(ValueError, match=message):
            function(probs, targets)


@pytest.mark.parametrize("n_bins", [0, -3])
def test_bad_n_bins_raises(n_bins):
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(np.full((2, 2), 0.5), np.array([0, 1]), n_bins)


def test_bad_binning_raises():
    with pytest.raises(ValueError, match="binning"):
        confidence_bins(np.array([0.5]), 10, "quantile")  # type: ignore[arg-type]
