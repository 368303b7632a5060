from __future__ import annotations

import json

import numpy as np
import pytest

from trusteq.characteristics.base import CharacteristicContractError, Outputs
from trusteq.characteristics.chance_error_jaccard import ChanceErrorJaccard
from trusteq.characteristics.error_jaccard import ErrorJaccard
from trusteq.characteristics.knn_agreement import KNNAgreement, knn_agreement_family
from trusteq.characteristics.matrix import pairwise_matrices, pairwise_matrix
from trusteq.characteristics.prediction_agreement import PredictionAgreement


@pytest.fixture
def variants(make_outputs):
    reference = make_outputs(0, n_examples=150)
    return {
        "reference": reference,
        "medium": make_outputs(1, n_examples=150, base=reference, noise=0.5),
        "tiny": make_outputs(2, n_examples=150, base=reference, noise=2.0),
    }


def test_matrix_entries_equal_direct_calls_and_mirror(variants):
    result = pairwise_matrix(ErrorJaccard(), variants, n_resamples=50)
    names = list(variants)
    assert result.variants == names and result.value.shape == (3, 3)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            assert result.value[i, j] == pytest.approx(ErrorJaccard()(variants[a], variants[b]))
    assert np.array_equal(result.value, result.value.T)
    assert np.array_equal(result.ci_low, result.ci_low.T)
    assert (result.ci_low <= result.value + 1e-12).all()
    assert (result.value <= result.ci_high + 1e-12).all()
    assert np.allclose(np.diag(result.value), 1.0)


def test_frame_and_dict(variants):
    result = pairwise_matrix(PredictionAgreement(), variants, n_resamples=20)
    frame = result.to_frame()
    assert list(frame.columns) == ["a", "b", "value", "ci_low", "ci_high"] and len(frame) == 9
    row = frame[(frame.a == "reference") & (frame.b == "tiny")].iloc[0]
    assert row.value == pytest.approx(result.value[0, 2])
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["name"] == "prediction_agreement" and payload["metadata"]["n_examples"] == 150
    assert payload["value"][0][2] == pytest.approx(result.value[0, 2])
    no_ci = pairwise_matrix(PredictionAgreement(), variants, n_resamples=0).to_dict()
    assert no_ci["ci_low"][0][0] is None


def test_broken_identity_raises_naming_the_characteristic(variants):
    class Broken(PredictionAgreement):
        name = "broken_agreement"

        def from_totals(self, totals: np.ndarray) -> np.ndarray:
            return 0.5 * totals[..., 0] / totals[..., 1]

    with pytest.raises(CharacteristicContractError, match="broken_agreement"):
        pairwise_matrix(Broken(), variants, n_resamples=0)


def test_identity_none_skips_the_diagonal_check(variants):
    result = pairwise_matrix(ChanceErrorJaccard(), variants, n_resamples=0)
    p = np.mean(variants["tiny"]["preds"] != variants["tiny"]["targets"])
    assert result.value[2, 2] == pytest.approx(p / (2 - p))


def test_asymmetric_characteristic_fills_every_pair(variants):
    class Asymmetric(PredictionAgreement):
        name = "asymmetric"
        symmetric = False
        identity_value = None

        def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
            return np.stack([a["preds"] == 0, b["preds"] == 0], axis=1).astype(float)

        def from_totals(self, totals: np.ndarray) -> np.ndarray:
            return totals[..., 0] / (totals[..., 0] + totals[..., 1])

    value = pairwise_matrix(Asymmetric(), variants, n_resamples=0).value
    assert not np.allclose(value, value.T)
    assert np.allclose(value + value.T, 1.0)


def test_family_gives_one_matrix_per_k(variants):
    results = pairwise_matrices(knn_agreement_family(ks=[1, 5]), variants, n_resamples=20)
    assert [result.name for result in results] == ["knn_agreement_k1", "knn_agreement_k5"]
    direct = KNNAgreement(5)(variants["reference"], variants["tiny"])
    assert results[1].value[0, 2] == pytest.approx(direct)


def test_mismatched_variants_raise(variants):
    short = {key: value[:-1] for key, value in variants["tiny"].items()}
    with pytest.raises(ValueError):
        pairwise_matrix(ErrorJaccard(), {**variants, "tiny": short}, n_resamples=0)
    with pytest.raises(ValueError, match="empty"):
        pairwise_matrix(ErrorJaccard(), {})
