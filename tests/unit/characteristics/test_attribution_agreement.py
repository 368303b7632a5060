"""Attribution agreement metrics against hand-computed cases, scipy and plain-Python sets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from trusteq.characteristics.attribution_agreement import (
    CrossSeed,
    FeatureAgreement,
    RankAgreement,
    RankCorrelation,
    SignAgreement,
    SignedRankAgreement,
    TopKJaccard,
    attribution_family,
    ranking,
    top_k_words,
)
from trusteq.characteristics.matrix import pairwise_matrices

# Hand-computed case: a ranks (by |value|, ties by position) w0 (0.9), w2 (-0.6), w1 (0.5),
# w3 (0.2), w4 (0.0); b ranks w0 (0.8), w1 (0.7), w2 (0.6), w4 (-0.3), w3 (0.1).
A = np.array([0.9, 0.5, -0.6, 0.2, 0.0])
B = np.array([0.8, 0.7, 0.6, 0.1, -0.3])


def one(values):
    return {"attributions": np.asarray(values, dtype=np.float64)[None, :]}


def test_ranking_uses_absolute_value_then_position():
    assert top_k_words(A, 5) == [0, 2, 1, 3, 4]
    assert top_k_words(np.array([0.5, -0.5, 0.5, np.nan]), 3) == [0, 1, 2]
    order, rank = ranking(np.array([[0.1, 0.3], [0.3, 0.1]]))
    assert order.tolist() == [[1, 0], [0, 1]] and rank.tolist() == [[1, 0], [0, 1]]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        # top-3: a {0, 2, 1}, b {0, 1, 2}
        (TopKJaccard(3), 1.0),
        (FeatureAgreement(3), 1.0),
        (RankAgreement(3), 1 / 3),  # only rank 1 (w0) matches
        (SignAgreement(3), 2 / 3),  # w2 is negative in a, positive in b
        (SignedRankAgreement(3), 1 / 3),
        # top-2: a {0, 2}, b {0, 1}
        (TopKJaccard(2), 1 / 3),
        (FeatureAgreement(2), 1 / 2),
        (RankAgreement(2), 1 / 2),
        (SignAgreement(2), 1 / 2),
        (SignedRankAgreement(2), 1 / 2),
        # top-4: a {0, 2, 1, 3}, b {0, 1, 2, 4}
        (TopKJaccard(4), 3 / 5),
        (FeatureAgreement(4), 3 / 4),
        (RankAgreement(4), 1 / 4),
        (SignAgreement(4), 2 / 4),
    ],
)
def test_hand_computed_values(metric, expected):
    assert metric(one(A), one(B)) == pytest.approx(expected)


def test_k_larger_than_the_sentence_uses_every_word():
    short_a, short_b = one([0.3, -0.1]), one([-0.2, 0.4])
    assert TopKJaccard(10)(short_a, short_b) == 1.0
    assert FeatureAgreement(10)(short_a, short_b) == 1.0
    assert RankAgreement(10)(short_a, short_b) == 0.0
    assert SignAgreement(10)(short_a, short_b) == 0.0


def _set_jaccard(x, y, k):
    """Independent reference: Python sets from a sort by (-|v|, position)."""
    words_x = [i for i, v in enumerate(x) if not np.isnan(v)]
    top_x = set(sorted(words_x, key=lambda i: (-abs(x[i]), i))[:k])
    top_y = set(sorted(words_x, key=lambda i: (-abs(y[i]), i))[:k])
    return len(top_x & top_y) / len(top_x | top_y)


def _padded(rng, n_examples, width, lengths):
    values = rng.normal(size=(n_examples, width))
    values[np.arange(width)[None, :] >= lengths[:, None]] = np.nan
    return values


def test_matches_python_sets_and_scipy_on_random_examples():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 25, size=60)
    a = _padded(rng, 60, 25, lengths)
    b = np.where(np.isnan(a), np.nan, a + rng.normal(scale=0.8, size=a.shape))
    for k in (1, 3, 10):
        expected = np.mean([_set_jaccard(x, y, k) for x, y in zip(a, b, strict=True)])
        assert TopKJaccard(k)({"attributions": a}, {"attributions": b}) == pytest.approx(expected)
    rhos = [
        spearmanr(np.abs(x[:n]), np.abs(y[:n])).statistic
        for x, y, n in zip(a, b, lengths, strict=True)
        if n >= 2
    ]
    assert RankCorrelation()({"attributions": a}, {"attributions": b}) == pytest.approx(
        np.mean(rhos)
    )


def test_seeds_are_paired_and_averaged_and_missing_rows_skipped():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 3, 8))  # N=5 examples, S=3 seeds, W=8
    b = rng.normal(size=(5, 3, 8))
    per_seed = [
        TopKJaccard(3)({"attributions": a[:, s]}, {"attributions": b[:, s]}) for s in range(3)
    ]
    both = TopKJaccard(3)({"attributions": a}, {"attributions": b})
    assert both == pytest.approx(np.mean(per_seed))
    skipped = a.copy()
    skipped[2] = np.nan  # e.g. an explainer that could not run on this example
    kept = [0, 1, 3, 4]
    assert TopKJaccard(3)({"attributions": skipped}, {"attributions": b}) == pytest.approx(
        TopKJaccard(3)({"attributions": a[kept]}, {"attributions": b[kept]})
    )


def test_different_words_are_rejected():
    with pytest.raises(ValueError, match="different words"):
        TopKJaccard(3)(one([0.1, 0.2, np.nan]), one([0.1, 0.2, 0.3]))


@pytest.mark.parametrize("char", list(attribution_family((1, 5), (3,))), ids=lambda c: c.name)
def test_contract_identity_symmetry_bounds_chunking_determinism(char):
    rng = np.random.default_rng(2)
    lengths = rng.integers(2, 16, size=40)
    a = {"attributions": _padded(rng, 40, 16, lengths)}
    b = {"attributions": np.where(np.isnan(a["attributions"]), np.nan, rng.normal(size=(40, 16)))}
    assert char(a, a) == pytest.approx(char.identity_value)
    assert char(a, b) == pytest.approx(char(b, a))
    low, high = char.bounds
    assert low - 1e-12 <= char(a, b) <= high + 1e-12
    char.reset()
    for chunk in (slice(0, 13), slice(13, 40)):
        char.update(
            {"attributions": a["attributions"][chunk]}, {"attributions": b["attributions"][chunk]}
        )
    assert char.compute() == pytest.approx(char(a, b))
    assert char(a, b) == char(a, b)


def test_matrix_runner_gives_intervals_around_the_value():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(30, 12))
    outputs = {
        name: {"attributions": base + rng.normal(scale=scale, size=base.shape)}
        for name, scale in (("ref", 0.0), ("close", 0.3), ("far", 3.0))
    }
    results = pairwise_matrices(attribution_family((5,), ()), outputs, n_resamples=50, seed=0)
    jaccard = results[0]
    assert jaccard.name == "jaccard_k5"
    np.testing.assert_allclose(np.diag(jaccard.value), 1.0)
    assert jaccard.value[0, 1] > jaccard.value[0, 2]
    assert jaccard.ci_low[0, 1] <= jaccard.value[0, 1] <= jaccard.ci_high[0, 1]


def test_cross_seed_pairs_different_seeds_and_its_diagonal_is_the_noise_floor():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(20, 3, 9))
    b = rng.normal(size=(20, 3, 9))
    cross = CrossSeed(TopKJaccard(3), n_seeds=3)
    pairs = [(s, t) for s in range(3) for t in range(3) if s != t]
    expected = np.mean(
        [TopKJaccard(3)({"attributions": a[:, s]}, {"attributions": b[:, t]}) for s, t in pairs]
    )
    assert cross({"attributions": a}, {"attributions": b}) == pytest.approx(expected)
    assert cross({"attributions": a}, {"attributions": b}) == pytest.approx(
        cross({"attributions": b}, {"attributions": a})
    )
    floor = cross({"attributions": a}, {"attributions": a})
    assert floor == pytest.approx(
        np.mean(
            [TopKJaccard(3)({"attributions": a[:, s]}, {"attributions": a[:, t]}) for s, t in pairs]
        )
    )
    assert floor < 1.0  # independent seeds disagree; a same-seed comparison would give 1
    results = pairwise_matrices([cross], {"x": {"attributions": a}, "y": {"attributions": b}}, 20)
    np.testing.assert_allclose(
        np.diag(results[0].value), [floor, cross({"attributions": b}, {"attributions": b})]
    )
    with pytest.raises(ValueError, match="n_seeds"):
        CrossSeed(TopKJaccard(3), n_seeds=1)
