"""TOST, one-sided bootstrap p-values, Holm and the examples-needed rule vs references."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy.stats import norm
from statsmodels.stats.weightstats import ztost

import trusteq.stats.inference as inference
from trusteq.stats.inference import examples_needed, holm, p_greater, p_less, tost


def test_tost_matches_statsmodels_ztost():
    rng = np.random.default_rng(0)
    for shift in (0.0, 0.05, -0.12, 0.3):
        sample = rng.normal(shift, 1.0, size=400)
        se = sample.std(ddof=1) / np.sqrt(sample.size)
        expected, lower, upper = ztost(sample, -0.2, 0.2)
        got = tost(float(sample.mean()), float(se), 0.2)
        assert got[0] == pytest.approx(expected, rel=1e-9)
        assert got[1] == pytest.approx(lower[1], rel=1e-9)
        assert got[2] == pytest.approx(upper[1], rel=1e-9)


def test_one_sided_normal_by_hand():
    assert p_less(-1.96, 1.0, None, 0.0) == pytest.approx(0.025, abs=1e-4)
    assert p_greater(0.5, 0.25, None, 0.0) == pytest.approx(norm.sf(2.0))
    assert p_less(0.0, 0.0, None, 0.1) == 0.0  # zero SE: a certain decision


def test_percentile_p_values_count_resamples():
    boot = np.array([-0.3, -0.2, -0.1, 0.05, 0.2])
    # H0 g >= 0: two resamples at or above 0 -> (1 + 2) / (5 + 1)
    assert p_less(-0.1, np.nan, boot, 0.0, "percentile") == pytest.approx(3 / 6)
    assert p_greater(-0.1, np.nan, boot, -0.25, "percentile") == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="method"):
        p_less(0.0, 1.0, boot, 0.0, "exact")


def test_tost_percentile_and_margin_check():
    boot = np.random.default_rng(1).normal(0.0, 0.01, 2000)
    p_tost, _, _ = tost(0.0, 0.01, 0.05, boot, "percentile")
    assert p_tost == pytest.approx(1 / 2001)
    with pytest.raises(ValueError, match="margin"):
        tost(0.0, 1.0, 0.0)


def test_holm_by_hand_and_with_nan():
    p_values = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    reject, adjusted = holm(p_values, alpha=0.05)
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4·0.005, 3·0.01, 2·0.03, max(1·0.04, 0.06)
    np.testing.assert_allclose(adjusted[:4], [0.03, 0.06, 0.06, 0.02])
    assert reject.tolist() == [True, False, False, True, False]
    assert np.isnan(adjusted[4])


def test_examples_needed_scales_with_variance():
    # se 0.02 at N = 500, distance 0.02, z 1.96 -> 500 · 1.96² = 1920.8 -> 1921
    assert examples_needed(500, 0.02, 0.02, 1.96) == 1921.0
    assert examples_needed(500, 0.02, -0.01, 1.96) == np.inf


def test_doctests():
    assert doctest.testmod(inference).failed == 0
