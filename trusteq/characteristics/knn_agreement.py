"""kNN agreement (Paper A): do two models put the same examples next to each other?

Neighbours are found with an exact faiss inner-product index on L2-normalised float32 vectors
(inner product = cosine similarity), searched in chunks of queries, so no N×N matrix is ever
held. Neighbour lists are found once per model at the largest K and reused for every smaller K
(:meth:`KNNAgreement.prepare`, :func:`knn_agreement_curve`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Literal

import faiss
import numpy as np

from trusteq.characteristics.base import CharacteristicFamily, Outputs, PairwiseCharacteristic

Embedding = Literal["embeddings_cls", "embeddings_mean"]

#: Queries per faiss search call: bounds the (chunk, K) result and faiss' scratch memory.
DEFAULT_CHUNK_SIZE = 4096


def exact_index(dim: int, metric: Literal["ip", "l2"] = "ip") -> faiss.Index:
    """An exact (flat, brute-force) faiss index, moved to every GPU when faiss sees one.

    On CPU builds (``faiss-cpu``) ``faiss.get_num_gpus()`` is 0 and the plain CPU index is
    returned, so results and tests do not change. GPU flat indexes search at most K = 2048.

    Args:
        dim: D, the vector width.
        metric: ``"ip"`` (inner product; cosine on unit vectors) or ``"l2"`` (squared L2).

    Returns:
        An empty ``IndexFlatIP`` / ``IndexFlatL2`` (or its GPU counterpart).

    Raises:
        ValueError: unknown ``metric``.
    """
    if metric not in ("ip", "l2"):
        raise ValueError(f"metric must be 'ip' or 'l2', got {metric!r}")
    index = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
    if faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_all_gpus(index)
    return index


def knn_indices(embeddings: np.ndarray, k: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> np.ndarray:
    """The K nearest neighbours of every example by cosine similarity, the example itself excluded.

    Exact search (``faiss.IndexFlatIP`` on L2-normalised copies, on GPU when faiss sees one; zero
    vectors stay zero and are similar to nothing). Each query asks for K + 1 results and drops
    itself; if duplicates of an example push it out of its own K + 1 results, the last result is
    dropped instead, so every row holds K distinct other examples. Rows are ordered by decreasing
    similarity, so the first K' columns are the K' nearest neighbours for any K' <= K (up to ties).

    Args:
        embeddings: shape `(N, D)`, float.
        k: K, in ``[1, N − 1]``.
        chunk_size: queries per search call.

    Returns:
        shape `(N, K)`, int64 indices into ``embeddings``.

    Raises:
        ValueError: embeddings not 2-D, non-finite, or K outside ``[1, N − 1]``.

    Examples:
        >>> embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> knn_indices(embeddings, k=1).ravel().tolist()
        [1, 0, 3, 2]
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must have shape (N, D), got shape {embeddings.shape}")
    n_examples = embeddings.shape[0]
    if not 1 <= k <= n_examples - 1:
        raise ValueError(f"k must lie in [1, N - 1] = [1, {n_examples - 1}], got k = {k}")
    vectors = np.array(embeddings, dtype=np.float32, order="C", copy=True)
    if not np.isfinite(vectors).all():
        raise ValueError("embeddings contain NaN or infinite values")
    faiss.normalize_L2(vectors)
    index = exact_index(vectors.shape[1], "ip")
    index.add(vectors)
    neighbours = np.empty((n_examples, k), dtype=np.int64)
    for start in range(0, n_examples, chunk_size):
        stop = min(start + chunk_size, n_examples)
        _, found = index.search(vectors[start:stop], k + 1)
        keep = found != np.arange(start, stop)[:, None]
        # Rows where self was not returned (ties with duplicates) keep their K best.
        keep[keep.all(axis=1), -1] = False
        neighbours[start:stop] = found[keep].reshape(stop - start, k)
    return neighbours


def neighbour_jaccard(neighbours_a: np.ndarray, neighbours_b: np.ndarray) -> np.ndarray:
    """Per-example Jaccard coefficient of two neighbour sets.

    Args:
        neighbours_a: shape `(N, K)`, int, distinct indices per row.
        neighbours_b: shape `(N, K)`, int, distinct indices per row.

    Returns:
        shape `(N,)`, float64 in [0, 1]: ``|A_i ∩ B_i| / |A_i ∪ B_i|``.

    Raises:
        ValueError: shapes differ.

    Examples:
        >>> neighbour_jaccard(np.array([[1, 2], [0, 2]]), np.array([[2, 1], [2, 3]])).tolist()
        [1.0, 0.3333333333333333]
    """
    if neighbours_a.shape != neighbours_b.shape:
        raise ValueError(
            f"neighbour arrays differ in shape: {neighbours_a.shape} vs {neighbours_b.shape}"
        )
    k = neighbours_a.shape[1]
    # Rows hold distinct indices, so a shared index shows up as two equal neighbours after sorting.
    merged = np.sort(np.concatenate([neighbours_a, neighbours_b], axis=1), axis=1)
    intersection = np.count_nonzero(merged[:, 1:] == merged[:, :-1], axis=1)
    return intersection / (2 * k - intersection)


def _capped_k(k: int, n_examples: int) -> int:
    if n_examples < 2:
        raise ValueError(f"kNN agreement needs at least 2 examples, got N = {n_examples}")
    if k > n_examples - 1:
        warnings.warn(
            f"k = {k} exceeds N - 1 = {n_examples - 1}; using k = {n_examples - 1} instead",
            stacklevel=3,
        )
        return n_examples - 1
    return k


def _check_ks(ks: Iterable[int]) -> list[int]:
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be a non-empty list of integers >= 1, got {ks}")
    return ks


def knn_agreement_curve(
    embeddings_a: np.ndarray,
    embeddings_b: np.ndarray,
    ks: Iterable[int],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> dict[int, float]:
    """Neighbour-set agreement at several K, searching once per model at the largest K.

    The data of Paper A's "agreement vs K" plot (arXiv 2407.13174, Fig. 1 a, b). A K above N − 1
    is capped at N − 1 with a warning.

    Args:
        embeddings_a: shape `(N, D_a)`, the first model's embeddings.
        embeddings_b: shape `(N, D_b)`, the second model's embeddings of the same examples.
        ks: the K values, each >= 1.
        chunk_size: queries per search call.

    Returns:
        ``{K: agreement}``, agreement in [0, 1], keyed by the requested K.

    Raises:
        ValueError: N differs, N < 2, or a K < 1.

    Examples:
        >>> embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> knn_agreement_curve(embeddings, embeddings, ks=[1, 2])
        {1: 1.0, 2: 1.0}
    """
    ks = _check_ks(ks)
    n_examples = len(embeddings_a)
    if len(embeddings_b) != n_examples:
        raise ValueError(f"embeddings differ in N: {len(embeddings_a)} vs {len(embeddings_b)}")
    capped = {k: _capped_k(k, n_examples) for k in ks}
    search_k = max(capped.values())
    neighbours_a = knn_indices(embeddings_a, search_k, chunk_size)
    neighbours_b = knn_indices(embeddings_b, search_k, chunk_size)
    return {
        k: float(np.mean(neighbour_jaccard(neighbours_a[:, :kc], neighbours_b[:, :kc])))
        for k, kc in capped.items()
    }


class KNNAgreement(PairwiseCharacteristic):
    r"""Mean Jaccard of the two models' K-nearest-neighbour sets.

    .. math:: \mathrm{agree}_K(a, b) = \frac{1}{N} \sum_i
        \frac{|\mathcal N^a_K(i) \cap \mathcal N^b_K(i)|}
             {|\mathcal N^a_K(i) \cup \mathcal N^b_K(i)|}

    with :math:`\mathcal N^m_K(i)` the K nearest other examples of example i by cosine similarity
    of model m's embeddings (see :func:`knn_indices`). Rai et al. 2024, arXiv 2407.13174, Sec. 4
    (Paper A; last-layer [CLS] vectors in the authors' code); a mutual-kNN variant is studied by
    Huh et al. 2024, "The Platonic Representation Hypothesis", arXiv 2405.07987.

    Not chunkable: neighbours are searched among all N examples, so ``statistics`` needs the full
    outputs; bootstrap intervals hold the neighbour sets fixed. Per-example statistics:
    ``[jaccard_i, 1]``. A K above N − 1 is capped at N − 1 with a warning. Value in [0, 1]; higher
    means more alike; 1 on identical inputs.

    Args:
        k: K, number of neighbours, >= 1.
        embedding: which cached embedding to use, shape `(N, D)`.
        search_k: search this many neighbours in :meth:`prepare` (>= k) so that members of a
            family with several K share one search; defaults to ``k``.
        chunk_size: queries per faiss search call.

    Raises:
        ValueError: ``k < 1`` or ``search_k < k``.

    Examples:
        >>> a = {"embeddings_cls": np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])}
        >>> b = {"embeddings_cls": np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]])}
        >>> KNNAgreement(k=1)(a, b)
        0.0
    """

    name = "knn_agreement"
    symmetric = True
    identity_value = 1.0
    higher_is_better = True
    bounds = (0.0, 1.0)
    chunkable = False

    def __init__(
        self,
        k: int = 10,
        embedding: Embedding = "embeddings_cls",
        search_k: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        search_k = k if search_k is None else search_k
        if search_k < k:
            raise ValueError(f"search_k must be >= k, got search_k = {search_k} < k = {k}")
        self.k = int(k)
        self.embedding = str(embedding)
        self.search_k = int(search_k)
        self.chunk_size = int(chunk_size)
        self.requires = (self.embedding,)
        self.name = f"knn_agreement_k{self.k}"

    @property
    def _cache_key(self) -> str:
        return f"knn_indices/{self.embedding}/k{self.search_k}"

    def prepare(self, outputs: Outputs) -> Outputs:
        """Add this model's neighbour lists at ``search_k`` (kept if already there)."""
        if self._cache_key in outputs:
            return outputs
        embeddings = outputs[self.embedding]
        search_k = _capped_k(self.search_k, len(embeddings))
        return {
            **outputs,
            self._cache_key: knn_indices(embeddings, search_k, self.chunk_size),
        }

    def _neighbours(self, outputs: Outputs) -> np.ndarray:
        n_examples = len(outputs[self.embedding])
        k = _capped_k(self.k, n_examples)
        cached = outputs.get(self._cache_key)
        if cached is not None and cached.shape[0] == n_examples and cached.shape[1] >= k:
            return cached[:, :k]
        return knn_indices(outputs[self.embedding], k, self.chunk_size)

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[jaccard, 1]``, shape `(N, 2)`; needs all N examples."""
        jaccard = neighbour_jaccard(self._neighbours(a), self._neighbours(b))
        return np.stack([jaccard, np.ones_like(jaccard)], axis=1)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Mean Jaccard from totals `(..., 2)`."""
        return totals[..., 0] / totals[..., 1]


def knn_agreement_family(
    ks: Iterable[int] = (1, 5, 10, 20, 50),
    embedding: Embedding = "embeddings_cls",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> CharacteristicFamily:
    """One :class:`KNNAgreement` per K, sharing one neighbour search per model at the largest K.

    The matrix runner turns the family into one V×V matrix per K (names ``knn_agreement_k{K}``).

    Args:
        ks: the K values, each >= 1.
        embedding: which cached embedding to use.
        chunk_size: queries per faiss search call.

    Returns:
        A family named ``knn_agreement``.

    Raises:
        ValueError: an empty ``ks`` or a K < 1.

    Examples:
        >>> [member.name for member in knn_agreement_family(ks=[1, 5])]
        ['knn_agreement_k1', 'knn_agreement_k5']
    """
    return neighbour_family(KNNAgreement, "knn_agreement", ks, embedding, chunk_size)


def neighbour_family(
    member: type[KNNAgreement],
    name: str,
    ks: Iterable[int],
    embedding: Embedding = "embeddings_cls",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> CharacteristicFamily:
    """One `member` per K, all searching neighbours once per model at the largest K.

    Raises:
        ValueError: an empty ``ks`` or a K < 1.
    """
    ks = _check_ks(ks)
    search_k = max(ks)
    return CharacteristicFamily(
        name, [member(k, embedding, search_k=search_k, chunk_size=chunk_size) for k in ks]
    )
