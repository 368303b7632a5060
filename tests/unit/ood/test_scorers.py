"""OOD scorers against direct numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from trusteq.ood.scorers import (
    DeepKNN,
    EnergyScore,
    MaxSoftmaxProbability,
    OODScorer,
    deep_knn_distances,
)
from trusteq.testing.tiny import CONF_DIR


def brute_force_kth_distance(queries: np.ndarray, train: np.ndarray, k: int) -> np.ndarray:
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    t = train / np.linalg.norm(train, axis=1, keepdims=True)
    distances = np.sqrt(((q[:, None, :] - t[None, :, :]) ** 2).sum(-1))  # (N, N_train)
    return np.sort(distances, axis=1)[:, k - 1]


@pytest.fixture
def embeddings():
    rng = np.random.default_rng(0)
    return rng.normal(size=(70, 12)) * 3.0, rng.normal(size=(150, 12)) + 0.5


@pytest.mark.parametrize("k", [1, 7, 150])
def test_deep_knn_matches_brute_force(embeddings, k):
    queries, train = embeddings
    expected = brute_force_kth_distance(queries, train, k)
    scorer = DeepKNN(k=k, chunk_size=16)
    got = scorer.score({"embeddings_cls": queries}, {"embeddings_cls": train})
    np.testing.assert_allclose(got, expected, atol=1e-5)
    both = deep_knn_distances(queries, train, [1, k])
    np.testing.assert_allclose(both[:, 1], expected, atol=1e-5)


def test_deep_knn_scores_far_inputs_higher():
    rng = np.random.default_rng(2)
    train = 0.3 * rng.normal(size=(150, 12)) + 1.0  # one cluster of directions
    near = train[:20] + 0.01
    far = -train[:20]
    scorer = DeepKNN(k=5)
    train_outputs = {"embeddings_cls": train}
    near_scores = scorer.score({"embeddings_cls": near}, train_outputs)
    far_scores = scorer.score({"embeddings_cls": far}, train_outputs)
    assert far_scores.min() > near_scores.max()
    assert np.all((near_scores >= 0) & (far_scores <= 2))


def test_msp_and_energy_from_their_formulas():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(30, 4)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    msp = MaxSoftmaxProbability().score({"logits": logits})
    np.testing.assert_allclose(msp, 1.0 - probs.max(1))
    temperature = 2.5
    energy = EnergyScore(temperature).score({"logits": logits})
    np.testing.assert_allclose(
        energy, -temperature * np.log(np.exp(logits / temperature).sum(1)), rtol=1e-12
    )
    confident = np.array([[10.0, -10.0, -10.0, -10.0]])  # in-distribution-like: low scores
    unsure = np.zeros((1, 4))
    for scorer in (MaxSoftmaxProbability(), EnergyScore()):
        assert scorer.score({"logits": confident}) < scorer.score({"logits": unsure})


def test_errors(embeddings):
    queries, train = embeddings
    with pytest.raises(ValueError, match="training-split"):
        DeepKNN().score({"embeddings_cls": queries})
    with pytest.raises(ValueError, match=r"\[1, 150\]"):
        DeepKNN(k=151).score({"embeddings_cls": queries}, {"embeddings_cls": train})
    with pytest.raises(KeyError, match="embeddings_mean"):
        DeepKNN(embedding="embeddings_mean").score({"embeddings_cls": queries}, {})
    with pytest.raises(ValueError, match="width"):
        deep_knn_distances(queries[:, :5], train, [1])
    with pytest.raises(ValueError, match="'k'"):
        DeepKNN(k=0)
    with pytest.raises(ValueError, match="'temperature'"):
        EnergyScore(temperature=0)


@pytest.mark.parametrize("path", sorted((CONF_DIR / "ood").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_ood_config_instantiates_a_scorer(path):
    config = OmegaConf.load(path)
    assert next(iter(config)) == "_target_"
    assert isinstance(instantiate(config), OODScorer)
