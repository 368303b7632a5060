"""OOD metrics against sklearn and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from trusteq.ood.metrics import aupr, auroc, flag_ood, fpr_at_tpr, threshold_at_tpr


def _labels_scores(scores_in, scores_out):
    labels = np.r_[np.zeros(len(scores_in)), np.ones(len(scores_out))]
    return labels, np.r_[scores_in, scores_out]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rounded", [False, True])  # rounding makes many ties
def test_auroc_and_aupr_match_sklearn(seed, rounded):
    rng = np.random.default_rng(seed)
    scores_in = rng.normal(size=150)
    scores_out = rng.normal(0.8, 1.2, size=70)
    if rounded:
        scores_in, scores_out = np.round(scores_in, 1), np.round(scores_out, 1)
    labels, scores = _labels_scores(scores_in, scores_out)
    assert auroc(scores_in, scores_out) == pytest.approx(roc_auc_score(labels, scores))
    assert aupr(scores_in, scores_out) == pytest.approx(average_precision_score(labels, scores))


def test_perfect_and_reversed_separation():
    assert auroc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    assert auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 0.0
    assert aupr(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    assert auroc(np.ones(3), np.ones(4)) == 0.5


def test_fpr_at_95_tpr_hand_computed():
    # 20 in-distribution scores 1..20: keeping 95% (19 of 20) needs the threshold 19.
    scores_in = np.arange(1.0, 21.0)
    assert threshold_at_tpr(scores_in, 0.95) == 19.0
    # OOD inputs at or below 19 are kept (false positives): 3.0, 19.0 and 10.0 -> 3 of 5.
    scores_out = np.array([3.0, 19.0, 19.5, 10.0, 40.0])
    assert fpr_at_tpr(scores_in, scores_out, 0.95) == pytest.approx(3 / 5)
    # 10 in-distribution scores: ceil(9.5) = 10 must be kept, the threshold is the maximum.
    assert threshold_at_tpr(np.arange(10.0), 0.95) == 9.0
    assert flag_ood(np.array([8.0, 9.0, 9.5]), 9.0).tolist() == [False, False, True]


def test_fpr_at_tpr_matches_the_roc_curve_read_at_95_tpr():
    """sklearn's ROC with in-distribution as positive and the score negated (= "keep" score)."""
    rng = np.random.default_rng(3)
    scores_in, scores_out = rng.normal(size=400), rng.normal(1.0, 1.0, size=300)
    labels = np.r_[np.ones(400), np.zeros(300)]  # positive = in-distribution (kept)
    fpr, tpr, _ = roc_curve(labels, -np.r_[scores_in, scores_out])
    expected = fpr[np.searchsorted(tpr, 0.95, side="left")]
    assert fpr_at_tpr(scores_in, scores_out, 0.95) == pytest.approx(expected)


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-empty"):
        auroc(np.array([]), np.array([1.0]))
    with pytest.raises(ValueError, match="NaN"):
        aupr(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(ValueError, match="tpr"):
        threshold_at_tpr(np.array([1.0]), 0.0)
