from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from trusteq.characteristics.knn_agreement import KNNAgreement
from trusteq.characteristics.mutual_knn import MutualKNN, mutual_knn_family, neighbour_overlap


def _sklearn_sets(embeddings: np.ndarray, k: int) -> list[set[int]]:
    search = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(embeddings)
    return [set(row.tolist()) for row in search.kneighbors()[1]]


@pytest.mark.parametrize("k", [1, 10])
def test_mutual_knn_is_mean_shared_fraction_of_sklearn_neighbour_sets(pair, k):
    a, b = pair
    sets_a = _sklearn_sets(a["embeddings_cls"], k)
    sets_b = _sklearn_sets(b["embeddings_cls"], k)
    expected = np.mean([len(x & y) / k for x, y in zip(sets_a, sets_b, strict=True)])
    assert MutualKNN(k=k)(a, b) == pytest.approx(expected)


def test_symmetric_identity_and_relation_to_jaccard(pair):
    a, b = pair
    char = MutualKNN(k=5)
    assert char(a, b) == pytest.approx(char(b, a))
    assert char(a, a) == 1.0
    # overlap share o/K >= Jaccard o/(2K - o), equal only at 0 and 1.
    assert char(a, b) > KNNAgreement(k=5)(a, b)


def test_overlap_hand_case():
    overlap = neighbour_overlap(np.array([[1, 2, 3], [4, 5, 6]]), np.array([[3, 9, 1], [7, 8, 0]]))
    assert overlap.tolist() == [pytest.approx(2 / 3), 0.0]


def test_unrelated_representations_overlap_near_chance(make_outputs):
    rng = np.random.default_rng(5)
    a = {"embeddings_cls": rng.normal(size=(300, 16))}
    b = {"embeddings_cls": rng.normal(size=(300, 16))}
    assert MutualKNN(k=10)(a, b) == pytest.approx(10 / 299, abs=0.02)


def test_family_names_and_shared_search(pair):
    a, _ = pair
    family = mutual_knn_family(ks=[3, 7])
    assert [m.name for m in family] == ["mutual_knn_k3", "mutual_knn_k7"]
    prepared = family.members[0].prepare(a)
    assert family.members[1].prepare(prepared) is prepared
