"""Label and probability loyalty (Xu et al. 2021) against independent references."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import softmax

import trusteq.characteristics.loyalty as loyalty_module
from trusteq.characteristics.loyalty import (
    LabelLoyalty,
    ProbabilityLoyalty,
    jensen_shannon_distance,
)
from trusteq.characteristics.prediction_agreement import PredictionAgreement


def _probs(seed: int, n: int = 300, classes: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return softmax(rng.normal(size=(n, classes)) * 2.0, axis=1).astype(np.float32)


def test_label_loyalty_is_prediction_agreement_and_hand_count():
    rng = np.random.default_rng(0)
    a = {"preds": rng.integers(0, 3, 500)}
    b = {"preds": np.where(rng.random(500) < 0.2, rng.integers(0, 3, 500), a["preds"])}
    expected = float(np.mean(a["preds"] == b["preds"]))
    assert LabelLoyalty()(a, b) == pytest.approx(expected)
    assert LabelLoyalty()(a, b) == PredictionAgreement()(a, b)
    assert LabelLoyalty().name == "label_loyalty"


def test_jensen_shannon_distance_matches_scipy():
    p, q = _probs(1), _probs(2)
    expected = jensenshannon(p.astype(np.float64), q.astype(np.float64), base=2, axis=1)
    np.testing.assert_allclose(jensen_shannon_distance(p, q), expected, atol=1e-7)


def test_probability_loyalty_matches_scipy_mean():
    p, q = _probs(3), _probs(4)
    expected = 1.0 - float(np.mean(jensenshannon(p, q, base=2, axis=1)))
    assert ProbabilityLoyalty()({"probs": p}, {"probs": q}) == pytest.approx(expected, abs=1e-7)


def test_probability_loyalty_extremes_and_zeros():
    one_hot = np.eye(3)
    assert ProbabilityLoyalty()({"probs": one_hot}, {"probs": one_hot}) == pytest.approx(1.0)
    disjoint = np.roll(one_hot, 1, axis=1)
    assert ProbabilityLoyalty()({"probs": one_hot}, {"probs": disjoint}) == pytest.approx(0.0)


def test_jensen_shannon_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        jensen_shannon_distance(np.ones((2, 3)), np.ones((2, 2)))


def test_doctests():
    assert doctest.testmod(loyalty_module).failed == 0
