from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from trusteq.characteristics.knn_agreement import (
    KNNAgreement,
    knn_agreement_curve,
    knn_agreement_family,
    knn_indices,
    neighbour_jaccard,
)


def _sklearn_neighbour_sets(embeddings: np.ndarray, k: int) -> list[set[int]]:
    search = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(embeddings)
    _, indices = search.kneighbors()  # no query: each point's own row is left out
    return [set(row.tolist()) for row in indices]


@pytest.mark.parametrize("k", [1, 7, 30])
def test_knn_indices_match_sklearn_cosine(pair, k):
    embeddings = pair[0]["embeddings_cls"]
    neighbours = knn_indices(embeddings, k, chunk_size=64)
    assert neighbours.shape == (len(embeddings), k) and neighbours.dtype == np.int64
    assert [set(row.tolist()) for row in neighbours] == _sklearn_neighbour_sets(embeddings, k)


def test_knn_indices_chunking_does_not_matter(pair):
    embeddings = pair[0]["embeddings_mean"]
    assert np.array_equal(knn_indices(embeddings, 5, chunk_size=7), knn_indices(embeddings, 5))


def test_knn_indices_exclude_self_with_duplicates():
    rng = np.random.default_rng(0)
    embeddings = np.repeat(rng.normal(size=(4, 8)), 5, axis=0)  # 4 points, 5 copies each
    embeddings *= rng.uniform(0.5, 2.0, size=(20, 1))  # cosine ignores scale: still duplicates
    neighbours = knn_indices(embeddings, 6)
    for i, row in enumerate(neighbours):
        assert i not in row.tolist() and len(set(row.tolist())) == 6
        copies = {j for j in range(20) if j // 5 == i // 5 and j != i}
        assert copies <= set(row.tolist())


def test_knn_indices_bad_k():
    with pytest.raises(ValueError, match=r"\[1, N - 1\]"):
        knn_indices(np.eye(4), 4)
    with pytest.raises(ValueError, match=r"\[1, N - 1\]"):
        knn_indices(np.eye(4), 0)


def test_agreement_is_mean_of_python_set_jaccards(pair):
    a, b = pair
    k = 10
    sets_a = _sklearn_neighbour_sets(a["embeddings_cls"], k)
    sets_b = _sklearn_neighbour_sets(b["embeddings_cls"], k)
    expected = np.mean([len(x & y) / len(x | y) for x, y in zip(sets_a, sets_b, strict=True)])
    assert KNNAgreement(k=k)(a, b) == pytest.approx(expected)


def test_neighbour_jaccard_hand_case():
    values = neighbour_jaccard(np.array([[1, 2, 3]]), np.array([[3, 4, 1]]))
    assert values.tolist() == [pytest.approx(2 / 4)]


def test_curve_equals_single_k_values(pair):
    a, b = pair
    ks = [1, 5, 20]
    curve = knn_agreement_curve(a["embeddings_mean"], b["embeddings_mean"], ks)
    assert list(curve) == ks
    for k in ks:
        assert curve[k] == pytest.approx(KNNAgreement(k, "embeddings_mean")(a, b))


def test_family_members_share_one_search(pair):
    a, b = pair
    family = knn_agreement_family(ks=[2, 8], embedding="embeddings_cls")
    first, second = family.members
    prepared = first.prepare(a)
    assert second.prepare(prepared) is prepared
    assert prepared["knn_indices/embeddings_cls/k8"].shape == (len(a["targets"]), 8)
    value = second.from_totals(second.statistics(prepared, second.prepare(b)).sum(0))
    assert value == pytest.approx(KNNAgreement(8)(a, b))


def test_k_above_n_minus_one_is_capped_with_warning(make_outputs):
    small = make_outputs(0, n_examples=6)
    with pytest.warns(UserWarning, match="exceeds N - 1"):
        assert KNNAgreement(k=50)(small, small) == 1.0
    with pytest.warns(UserWarning, match="exceeds N - 1"):
        curve = knn_agreement_curve(small["embeddings_cls"], small["embeddings_cls"], [50])
    assert curve == {50: 1.0}


def test_not_chunkable(pair):
    a, b = pair
    char = KNNAgreement(k=3)
    char.update(a, b)
    with pytest.raises(RuntimeError, match="not chunkable"):
        char.update(a, b)


def test_bad_parameters():
    with pytest.raises(ValueError, match="k must be"):
        KNNAgreement(k=0)
    with pytest.raises(ValueError, match="search_k"):
        KNNAgreement(k=5, search_k=2)
    with pytest.raises(ValueError, match="ks must"):
        knn_agreement_family(ks=[])
