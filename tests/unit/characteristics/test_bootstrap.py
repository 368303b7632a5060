from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import bootstrap

import trusteq.characteristics.bootstrap as bootstrap_module
from trusteq.characteristics.bootstrap import (
    bootstrap_interval,
    bootstrap_values,
    percentile_interval,
    resample_counts,
)
from trusteq.characteristics.error_jaccard import ErrorJaccard
from trusteq.characteristics.prediction_agreement import PredictionAgreement


def test_agreement_interval_matches_scipy_paired_percentile_bootstrap(pair):
    a, b = pair
    low, high = bootstrap_interval(PredictionAgreement(), a, b, n_resamples=4000, seed=0)
    reference = bootstrap(
        (a["preds"], b["preds"]),
        lambda x, y, axis: np.mean(x == y, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=4000,
        confidence_level=0.95,
        method="percentile",
        rng=np.random.default_rng(1),
    ).confidence_interval
    assert low == pytest.approx(reference.low, abs=0.01)
    assert high == pytest.approx(reference.high, abs=0.01)
    assert low < PredictionAgreement()(a, b) < high


def test_error_jaccard_interval_matches_explicit_index_resampling(pair):
    a, b = pair
    errors_a = a["preds"] != a["targets"]
    errors_b = b["preds"] != b["targets"]
    rng = np.random.default_rng(5)
    values = []
    for _ in range(2000):
        rows = rng.integers(0, len(errors_a), len(errors_a))
        values.append(
            (errors_a[rows] & errors_b[rows]).sum() / (errors_a[rows] | errors_b[rows]).sum()
        )
    expected = np.quantile(values, [0.025, 0.975])
    low, high = bootstrap_interval(ErrorJaccard(), a, b, n_resamples=2000, seed=0)
    assert [low, high] == pytest.approx(expected.tolist(), abs=0.015)


def test_identical_inputs_give_a_point_interval(pair):
    a, _ = pair
    assert bootstrap_interval(ErrorJaccard(), a, a) == (1.0, 1.0)


def test_deterministic_given_seed_and_seed_matters(pair):
    a, b = pair
    char = ErrorJaccard()
    assert bootstrap_interval(char, a, b, seed=3) == bootstrap_interval(char, a, b, seed=3)
    assert bootstrap_interval(char, a, b, seed=3) != bootstrap_interval(char, a, b, seed=4)


def test_counts_are_multinomial_resamples():
    counts = resample_counts(50, n_resamples=300, seed=0)
    assert counts.shape == (300, 50) and (counts.sum(axis=1) == 50).all()
    assert counts.mean() == pytest.approx(1.0) and counts.var() == pytest.approx(
        1 - 1 / 50, rel=0.1
    )
    with pytest.raises(ValueError):
        resample_counts(0)


def test_blocking_does_not_change_values(pair, monkeypatch):
    a, b = pair
    char = ErrorJaccard()
    statistics = char.statistics(a, b)
    counts = resample_counts(len(statistics), 37, seed=0)
    whole = bootstrap_values(char, statistics, counts)
    monkeypatch.setattr(bootstrap_module, "_MAX_BLOCK_ENTRIES", 5 * len(statistics))
    assert np.allclose(bootstrap_values(char, statistics, counts), whole)


def test_percentile_interval_validates_confidence():
    with pytest.raises(ValueError, match="confidence"):
        percentile_interval(np.ones(3), confidence=1.0)
    assert np.isnan(percentile_interval(np.full(3, np.nan))).all()
