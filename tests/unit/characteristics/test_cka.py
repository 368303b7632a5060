"""Linear CKA against a reference written here from the papers' formulas (not trusteq's code)."""

from __future__ import annotations

import numpy as np
import pytest

from trusteq.characteristics.bootstrap import bootstrap_values, resample_counts
from trusteq.characteristics.cka import LinearCKA, cka_from_grams, linear_cka
from trusteq.characteristics.matrix import pairwise_matrix


def reference_cka_biased(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al. 2019, feature-space form: ||YcᵀXc||²_F / (||XcᵀXc||_F ||YcᵀYc||_F)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))


def _hsic_unbiased(k: np.ndarray, m: np.ndarray, example: np.ndarray | None = None) -> float:
    """Song et al. 2012, Eq. 5, with explicit loops; rows of one `example` (copies) never pair."""
    n = k.shape[0]
    example = np.arange(n) if example is None else example
    same = example[:, None] == example[None, :]  # the diagonal, plus copies in a resample
    kt, mt = np.where(same, 0.0, k), np.where(same, 0.0, m)
    ones = np.ones(n)
    trace = sum(kt[i, j] * mt[j, i] for i in range(n) for j in range(n))
    term2 = (ones @ kt @ ones) * (ones @ mt @ ones) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (ones @ kt @ mt @ ones)
    return (trace + term2 - term3) / (n * (n - 3))


def reference_cka_unbiased(x: np.ndarray, y: np.ndarray, example: np.ndarray | None = None):
    k, m = x @ x.T, y @ y.T  # uncentred on purpose: U-centring removes the mean
    hsic = _hsic_unbiased(k, m, example)
    return hsic / np.sqrt(_hsic_unbiased(k, k, example) * _hsic_unbiased(m, m, example))


def reference_cka_biased_resampled(x: np.ndarray, y: np.ndarray, example: np.ndarray) -> float:
    """tr(KHLH) over the resampled rows, without the pairs of two distinct copies of an example."""
    n = len(x)
    h = np.eye(n) - 1.0 / n
    keep = (example[:, None] != example[None, :]) | np.eye(n, dtype=bool)

    def hsic(k, m):
        return np.sum((h @ k @ h) * (h @ m @ h) * keep)

    k, m = x @ x.T, y @ y.T
    return hsic(k, m) / np.sqrt(hsic(k, k) * hsic(m, m))


REFERENCE = {"biased": reference_cka_biased, "unbiased": reference_cka_unbiased}
RESAMPLED_REFERENCE = {
    "biased": reference_cka_biased_resampled,
    "unbiased": reference_cka_unbiased,
}


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 12)) + 3.0  # a large common component, as [CLS] vectors have
    y = x[:, :6] @ rng.normal(size=(6, 9)) + 0.7 * rng.normal(size=(40, 9))
    return x, y


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_matches_reference(pair, estimator):
    x, y = pair
    expected = REFERENCE[estimator](x, y)
    assert 0.1 < expected < 0.99
    assert linear_cka(x, y, estimator) == pytest.approx(expected, rel=1e-9)
    char = LinearCKA(estimator)
    assert char({"embeddings_cls": x}, {"embeddings_cls": y}) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_identity_orthogonal_and_isotropic_invariance(pair, estimator):
    x, y = pair
    rng = np.random.default_rng(1)
    rotation = np.linalg.qr(rng.normal(size=(12, 12)))[0]
    assert linear_cka(x, x, estimator) == pytest.approx(1.0)
    base = linear_cka(x, y, estimator)
    assert linear_cka(x @ rotation, y, estimator) == pytest.approx(base, rel=1e-9)
    assert linear_cka(x, 7.5 * y, estimator) == pytest.approx(base, rel=1e-9)
    assert linear_cka(x + 100.0, y, estimator) == pytest.approx(base, rel=1e-7)
    # Not invariant to an arbitrary invertible linear map (Kornblith et al. 2019, Sec. 3).
    stretch = np.diag(np.linspace(0.1, 10.0, 12))
    assert abs(linear_cka(x @ stretch, y, estimator) - base) > 1e-3


def test_unbiased_removes_the_small_n_inflation_of_the_biased_estimator():
    rng = np.random.default_rng(2)
    biased, unbiased = [], []
    for _ in range(5):
        x, y = rng.normal(size=(30, 200)), rng.normal(size=(30, 200))  # independent, D >> N
        biased.append(linear_cka(x, y, "biased"))
        unbiased.append(linear_cka(x, y, "unbiased"))
    assert np.mean(biased) > 0.5  # inflated although the two are unrelated
    assert abs(np.mean(unbiased)) < 0.05
    assert all(b > u for b, u in zip(biased, unbiased, strict=True))


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_bootstrap_equals_recomputing_on_resampled_rows(pair, estimator):
    x, y = pair
    char = LinearCKA(estimator)
    a, b = {"embeddings_cls": x}, {"embeddings_cls": y}
    statistics = char.statistics(a, b)
    counts = resample_counts(len(x), n_resamples=4, seed=3)
    values = bootstrap_values(char, statistics, counts)
    xc, yc = x - x.mean(0), y - y.mean(0)  # the documented centring by the full-sample mean
    for row, value in zip(counts, values, strict=True):
        rows = np.repeat(np.arange(len(x)), row)  # the resampled data set, duplicates included
        expected = RESAMPLED_REFERENCE[estimator](xc[rows], yc[rows], rows)
        assert value == pytest.approx(expected, rel=1e-8)


def test_matrix_runner_gives_intervals(pair):
    x, y = pair
    outputs = {"ref": {"embeddings_cls": x}, "small": {"embeddings_cls": y}}
    for estimator in ("biased", "unbiased"):
        result = pairwise_matrix(LinearCKA(estimator), outputs, n_resamples=50, seed=0)
        np.testing.assert_allclose(np.diag(result.value), 1.0)
        assert result.value[0, 1] == pytest.approx(result.value[1, 0])
        assert result.ci_high[0, 1] - result.ci_low[0, 1] > 0.01
    assert result.ci_low[0, 1] <= result.value[0, 1] <= result.ci_high[0, 1]  # unbiased
    assert result.name == "cka_linear_unbiased" and result.metadata["bounds"] == [-1.0, 1.0]


@pytest.mark.parametrize(("width", "signal"), [(40, 0.0), (40, 1.0), (8, 1.0)])
def test_bootstrap_is_centred_on_the_estimate(width, signal):
    """Duplicated rows would inflate both estimators if copies were paired; they are not."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(80, width))
    y = rng.normal(size=(80, width)) + signal * x @ rng.normal(size=(width, width)) / width**0.5
    outputs = {"a": {"embeddings_cls": x}, "b": {"embeddings_cls": y}}
    for estimator in ("biased", "unbiased"):
        char = LinearCKA(estimator)
        value = char(outputs["a"], outputs["b"])
        statistics = char.statistics(outputs["a"], outputs["b"])
        draws = bootstrap_values(char, statistics, resample_counts(80, 200, seed=0))
        low, median, high = np.quantile(draws, [0.025, 0.5, 0.975])
        assert low < value < high
        assert abs(median - value) < 0.25 * (high - low)


def test_constant_representation_gives_nan():
    x = np.ones((10, 3))
    y = np.random.default_rng(0).normal(size=(10, 3))
    assert np.isnan(linear_cka(x, y))


def test_errors():
    with pytest.raises(ValueError, match="estimator"):
        LinearCKA("debiased")
    with pytest.raises(ValueError, match="max_examples"):
        LinearCKA(max_examples=2)
    char = LinearCKA(max_examples=10)
    with pytest.raises(ValueError, match="max_examples = 10"):
        char.statistics({"embeddings_cls": np.ones((11, 2))}, {"embeddings_cls": np.ones((11, 2))})
    with pytest.raises(RuntimeError, match="statistics"):
        LinearCKA().from_totals(np.ones(5))
    with pytest.raises(ValueError, match="differ in N"):
        linear_cka(np.ones((4, 2)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="weights"):
        cka_from_grams(np.eye(3), np.eye(3), np.ones((2, 4)))
