"""Mutual k-nearest-neighbour alignment (Huh et al. 2024): the share of neighbours two models share.

Same neighbour search as kNN agreement (:func:`~trusteq.characteristics.knn_agreement.knn_search`:
exact cosine search with faiss, chunked, never an N×N matrix; from 200k examples on an approximate
index with its measured recall), but the overlap of the two neighbour sets is divided by K instead
of by the size of their union.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from trusteq.characteristics.base import CharacteristicFamily, Outputs
from trusteq.characteristics.knn_agreement import (
    DEFAULT_CHUNK_SIZE,
    Embedding,
    KNNAgreement,
    SearchSettings,
    neighbour_family,
    neighbour_jaccard,
)


def neighbour_overlap(neighbours_a: np.ndarray, neighbours_b: np.ndarray) -> np.ndarray:
    """Per-example share of shared neighbours, ``|A_i ∩ B_i| / K``.

    Computed from the per-example Jaccard ``J = o / (2K − o)`` of two K-sets with ``o`` shared
    members, inverted as ``o = 2KJ / (1 + J)`` (exact integers after rounding).

    Args:
        neighbours_a: shape `(N, K)`, int, distinct indices per row.
        neighbours_b: shape `(N, K)`, int, distinct indices per row.

    Returns:
        shape `(N,)`, float64 in [0, 1].

    Raises:
        ValueError: shapes differ.

    Examples:
        >>> neighbour_overlap(np.array([[1, 2], [0, 2]]), np.array([[2, 1], [2, 3]])).tolist()
        [1.0, 0.5]
    """
    k = neighbours_a.shape[1]
    jaccard = neighbour_jaccard(neighbours_a, neighbours_b)
    return np.rint(2 * k * jaccard / (1.0 + jaccard)) / k


class MutualKNN(KNNAgreement):
    r"""Mutual k-nearest-neighbour alignment of two models' representations.

    .. math:: m_K(a, b) = \frac{1}{N} \sum_i
        \frac{|\mathcal N^a_K(i) \cap \mathcal N^b_K(i)|}{K}

    with :math:`\mathcal N^m_K(i)` the K nearest other examples of example i by cosine similarity
    of model m's embeddings. Huh et al. 2024, "The Platonic Representation Hypothesis",
    arXiv 2405.07987, Sec. 2 and App. A (their "mutual nearest-neighbour" metric, cosine on
    L2-normalised features, K = 10 in most of their figures). Paper A's kNN agreement
    (:class:`~trusteq.characteristics.knn_agreement.KNNAgreement`) divides the same overlap ``o``
    by the union ``2K − o`` instead; per example the two are monotone in each other.

    Two unrelated representations overlap by about ``K / (N − 1)`` by chance. Not chunkable (the
    neighbours are searched among all N examples); bootstrap intervals hold the neighbour sets
    fixed, as for kNN agreement. Per-example statistics: ``[overlap_i / K, 1]``. A K above N − 1
    is capped at N − 1 with a warning. Value in [0, 1]; higher means more alike; symmetric;
    1 on identical inputs.

    Args:
        k: K, number of neighbours, >= 1.
        embedding: which cached embedding to use, shape `(N, D)`.
        search_k: search this many neighbours in :meth:`prepare` (>= k), shared by a family.
        chunk_size: queries per faiss search call.
        search: neighbour search settings (:class:`SearchSettings`: exact, or an approximate
            index with its measured recall in :attr:`search_reports`).

    Raises:
        ValueError: ``k < 1`` or ``search_k < k``.

    Examples:
        >>> a = {"embeddings_cls": np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])}
        >>> b = {"embeddings_cls": np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]])}
        >>> MutualKNN(k=2)(a, b)  # overlaps 1, 1, 1, 2 of K = 2
        0.625
    """

    def __init__(
        self,
        k: int = 10,
        embedding: Embedding = "embeddings_cls",
        search_k: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        search: SearchSettings | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(k, embedding, search_k, chunk_size, search)
        self.name = f"mutual_knn_k{self.k}"
        self.summary_column = f"mutual_knn_k{self.k}" if self.k == 10 else None

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[overlap / K, 1]``, shape `(N, 2)`; needs all N examples."""
        overlap = neighbour_overlap(self._neighbours(a), self._neighbours(b))
        return np.stack([overlap, np.ones_like(overlap)], axis=1)


def mutual_knn_family(
    ks: Iterable[int] = (10,),
    embedding: Embedding = "embeddings_cls",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    search: SearchSettings | Mapping[str, Any] | None = None,
) -> CharacteristicFamily:
    """One :class:`MutualKNN` per K, sharing one neighbour search per model at the largest K.

    Args:
        ks: the K values, each >= 1.
        embedding: which cached embedding to use.
        chunk_size: queries per faiss search call.
        search: neighbour search settings (:class:`SearchSettings`), shared by every member.

    Returns:
        A family named ``mutual_knn`` (matrices ``mutual_knn_k{K}``).

    Raises:
        ValueError: an empty ``ks`` or a K < 1.

    Examples:
        >>> [member.name for member in mutual_knn_family(ks=[5, 10])]
        ['mutual_knn_k5', 'mutual_knn_k10']
    """
    return neighbour_family(MutualKNN, "mutual_knn", ks, embedding, chunk_size, search)
