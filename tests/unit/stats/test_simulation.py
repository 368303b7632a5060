"""The decision rule by simulation: seed replicates are not called divergent more often than
the nominal rate, and a variant with injected extra disagreement is called divergent."""

from __future__ import annotations

import gc

import numpy as np

from trusteq.characteristics.error_consistency import ErrorConsistency
from trusteq.characteristics.loyalty import ProbabilityLoyalty
from trusteq.characteristics.prediction_agreement import PredictionAgreement
from trusteq.stats import DIVERGES, WITHIN_NOISE, seed_verdicts, simulate_population

N_SIMULATIONS, N_EXAMPLES, ALPHA = 30, 800, 0.05
CHARS = [PredictionAgreement(), ErrorConsistency(), ProbabilityLoyalty()]


def _run(margins=None, n_simulations=N_SIMULATIONS):
    # statsmodels' Holm (multipletests) calls gc.collect() on every call; with the test
    # session's heap frozen those 3 calls per simulation stay cheap.
    gc.freeze()
    try:
        return _simulate(margins, n_simulations)
    finally:
        gc.unfreeze()


def _simulate(margins, n_simulations):
    tables = []
    for sim in range(n_simulations):
        outputs = simulate_population(
            ["ref", "s1", "s2", "replicate", "worse"],
            n_examples=N_EXAMPLES,
            extra_noise={"worse": 4.0},
            seed=1000 + sim,
        )
        result = seed_verdicts(
            CHARS,
            outputs,
            "ref",
            ["s1", "s2"],
            n_resamples=1000,
            seed=sim,
            alpha=ALPHA,
            margins=margins,
        )
        tables.append(result.table)
    return tables


def test_replicates_are_not_divergent_and_worse_is():
    tables = _run()
    replicate = np.concatenate([t.query("variant == 'replicate'")["outcome"] for t in tables])
    worse = np.concatenate([t.query("variant == 'worse'")["outcome"] for t in tables])
    raw_p = np.concatenate([t.query("variant == 'replicate'")["p_diverge"] for t in tables])
    gaps = np.concatenate([t.query("variant == 'replicate'")["gap"] for t in tables])
    n_tests = replicate.size  # 30 simulations × 3 characteristics
    # Family-wise: at most α of the replicate tests may be called divergent (2 binomial SEs).
    slack = 2.0 * np.sqrt(ALPHA * (1 - ALPHA) / n_tests)
    assert np.mean(replicate == DIVERGES) <= ALPHA + slack
    # The uncorrected one-sided test (g < −δ) rejects at most about α of the replicates.
    assert np.mean(raw_p < ALPHA) <= ALPHA + slack
    assert 0.3 <= np.mean(gaps < 0) <= 0.7  # the null gap is centred on 0
    # Injected disagreement well beyond the seed spread (4x the noise) is found on every
    # characteristic in nearly every simulation.
    assert np.mean(worse == DIVERGES) >= 0.9


def test_replicates_are_within_noise_with_a_practical_margin():
    margins = {"prediction_agreement": 0.06, "error_consistency": 0.12, "probability_loyalty": 0.06}
    tables = _run(margins, n_simulations=20)
    replicate = np.concatenate([t.query("variant == 'replicate'")["outcome"] for t in tables])
    worse = np.concatenate([t.query("variant == 'worse'")["outcome"] for t in tables])
    assert np.mean(replicate == WITHIN_NOISE) >= 0.8
    assert np.mean(worse == WITHIN_NOISE) <= 0.05
