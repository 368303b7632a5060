"""The seed-population verdict rule: bookkeeping, the bootstrap of the gap, the fallback."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import trusteq.stats.simulation as simulation
import trusteq.stats.verdict as verdict_module
from trusteq.characteristics.calibration_similarity import CalibrationSimilarity
from trusteq.characteristics.matrix import pairwise_matrix
from trusteq.characteristics.prediction_agreement import PredictionAgreement
from trusteq.stats import (
    DIVERGES,
    OUTCOMES,
    TRUST_EQUIVALENT,
    WITHIN_NOISE,
    decide,
    gap_tests,
    matrix_gap_tests,
    seed_pairs,
    seed_verdicts,
    simulate_population,
)
from trusteq.stats.verdict import DECISION_COLUMNS, TEST_COLUMNS

NAMES = ["ref", "s1", "s2", "same", "worse"]


@pytest.fixture(scope="module")
def outputs():
    return simulate_population(NAMES, n_examples=600, extra_noise={"worse": 2.5}, seed=3)


def test_table_columns_floor_and_family(outputs):
    result = seed_verdicts(
        [PredictionAgreement(), CalibrationSimilarity()],
        outputs,
        "ref",
        ["s1", "s2"],
        n_resamples=500,
    )
    assert list(result.table.columns) == [*TEST_COLUMNS, *DECISION_COLUMNS]
    assert set(result.table["outcome"]) <= set(OUTCOMES)
    assert result.settings["family_size"] == 2 * 4  # 4 tested variants (seeds included) × 2
    assert result.settings["n_resamples"] == 500 and result.settings["alpha"] == 0.05
    floor = result.floor[result.floor["characteristic"] == "prediction_agreement"]
    assert [tuple(p) for p in floor[["a", "b"]].to_numpy()] == seed_pairs(["ref", "s1", "s2"])
    agree = PredictionAgreement()
    pair_values = [agree(outputs[a], outputs[b]) for a, b in seed_pairs(["ref", "s1", "s2"])]
    row = result.table.query("variant == 'worse' and characteristic == 'prediction_agreement'")
    assert row["floor_mean"].item() == pytest.approx(np.mean(pair_values))
    assert row["floor_min"].item() == pytest.approx(min(pair_values))
    assert row["value"].item() == pytest.approx(agree(outputs["worse"], outputs["ref"]))
    assert row["gap"].item() == pytest.approx(row["value"].item() - np.mean(pair_values))
    # a seed replicate is read against the pairs that do not contain it
    seed_row = result.table.query("variant == 's1' and characteristic == 'prediction_agreement'")
    assert seed_row["floor_pairs"].item() == "ref|s2"
    assert seed_row["is_seed"].item()


def test_direction_of_lower_is_better(outputs):
    tests, _ = gap_tests(CalibrationSimilarity(), outputs, "ref", ["s1", "s2"], n_resamples=200)
    row = tests.query("variant == 'worse'")
    assert row["gap"].item() == pytest.approx(row["floor_mean"].item() - row["value"].item())
    assert not row["higher_is_better"].item()


def test_gap_bootstrap_matches_resample_and_recompute(outputs):
    """The sufficient-statistics bootstrap of the gap equals an explicit index bootstrap."""
    agree = PredictionAgreement()
    tests, _ = gap_tests(agree, outputs, "ref", ["s1", "s2"], n_resamples=3000, seed=5)
    row = tests.query("variant == 'worse'")
    rng = np.random.default_rng(11)
    pairs = seed_pairs(["ref", "s1", "s2"])
    gaps = []
    for _ in range(3000):
        rows = rng.integers(0, 600, 600)
        sub = {name: {"preds": outputs[name]["preds"][rows]} for name in NAMES}
        floor = np.mean([agree(sub[a], sub[b]) for a, b in pairs])
        gaps.append(agree(sub["worse"], sub["ref"]) - floor)
    assert row["gap_se"].item() == pytest.approx(np.std(gaps, ddof=1), rel=0.08)


def test_identical_variant_is_more_alike_or_within():
    outputs = simulate_population(["ref", "s1", "s2"], n_examples=400, seed=0)
    outputs["copy"] = dict(outputs["ref"])
    result = seed_verdicts(PredictionAgreement(), outputs, "ref", ["s1", "s2"], n_resamples=300)
    assert result.outcome("copy", "prediction_agreement") == "more_alike"
    assert result.verdict("copy") == TRUST_EQUIVALENT


def test_two_seeds_population_leaves_the_replicate_untested():
    outputs = simulate_population(["ref", "s1", "worse"], 300, extra_noise={"worse": 3.0})
    result = seed_verdicts(PredictionAgreement(), outputs, "ref", ["ref", "s1"], n_resamples=300)
    assert result.table["variant"].tolist() == ["worse"]
    assert result.verdict("worse") == "diverges: prediction_agreement"


def test_bad_populations_raise(outputs):
    with pytest.raises(ValueError, match="S >= 2"):
        gap_tests(PredictionAgreement(), outputs, "ref", ["ref"])
    with pytest.raises(ValueError, match="no outputs"):
        gap_tests(PredictionAgreement(), outputs, "ref", ["s1", "s9"])


def test_margin_override_and_non_inferiority(outputs):
    result = seed_verdicts(
        PredictionAgreement(),
        outputs,
        "ref",
        ["s1", "s2"],
        n_resamples=500,
        margins={"prediction_agreement": 0.5},
        equivalence="non_inferiority",
    )
    assert (result.table["margin"] == 0.5).all()
    assert (result.table["outcome"] == WITHIN_NOISE).all()
    assert result.table["p_more_alike"].isna().all()


def test_matrix_fallback_agrees_with_bootstrap_in_direction(outputs):
    matrix = pairwise_matrix(PredictionAgreement(), outputs, n_resamples=500)
    tests, floor = matrix_gap_tests(matrix, "ref", ["s1", "s2"])
    assert tests["source"].str.startswith("matrix_intervals").all()
    boot, _ = gap_tests(PredictionAgreement(), outputs, "ref", ["s1", "s2"], n_resamples=500)
    np.testing.assert_allclose(tests["gap"], boot["gap"])
    # the fallback's SE ignores the positive correlation of paired values: never smaller
    assert (tests["gap_se"].to_numpy() >= boot["gap_se"].to_numpy() * 0.9).all()
    result = decide([boot, tests.assign(characteristic="agreement_matrix")], [floor])
    assert result.settings["family_size"] == 8
    assert result.outcome("worse", "agreement_matrix") == DIVERGES


def test_doctests():
    assert doctest.testmod(verdict_module).failed == 0
    assert doctest.testmod(simulation).failed == 0


def test_percentile_p_values_agree_with_normal_ones(outputs):
    kwargs = {"n_resamples": 1000, "seed": 2}
    normal, _ = gap_tests(PredictionAgreement(), outputs, "ref", ["s1", "s2"], **kwargs)
    percentile, _ = gap_tests(
        PredictionAgreement(), outputs, "ref", ["s1", "s2"], p_method="percentile", **kwargs
    )
    assert (percentile["p_method"] == "percentile").all()
    np.testing.assert_allclose(percentile["p_diverge"], normal["p_diverge"], atol=0.05)
    assert percentile.query("variant == 'worse'")["p_diverge"].item() == pytest.approx(1 / 1001)
