"""Out-of-distribution scorers over cached outputs. One convention: higher score = more OOD.

Each scorer reads a variant's cached arrays (``logits`` or an embedding), never a model, so OOD
detection is part of the compare stage. Configs: ``conf/ood/*.yaml``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from typing import ClassVar

import faiss
import numpy as np
from scipy.special import logsumexp, softmax

from trusteq.characteristics.knn_agreement import DEFAULT_CHUNK_SIZE, Embedding, exact_index

Outputs = Mapping[str, np.ndarray]


class OODScorer(abc.ABC):
    """Base class of OOD scorers.

    Attributes:
        requires: keys of the cached outputs consumed.
        uses_train: True when :meth:`score` needs the variant's outputs on the training split.
    """

    requires: tuple[str, ...] = ()
    uses_train: ClassVar[bool] = False

    def check(self, outputs: Outputs, label: str = "outputs") -> None:
        """Raise a KeyError naming the missing cached arrays."""
        missing = [key for key in self.requires if key not in outputs]
        if missing:
            raise KeyError(
                f"{type(self).__name__}: {label} lack {missing}; it requires "
                f"{list(self.requires)}, got keys {sorted(outputs)}"
            )

    @abc.abstractmethod
    def score(self, outputs: Outputs, train: Outputs | None = None) -> np.ndarray:
        """OOD scores of the inputs behind ``outputs``.

        Args:
            outputs: one variant's cached arrays for N inputs.
            train: the same variant's outputs on its training split (only if ``uses_train``).

        Returns:
            shape `(N,)`, float64; higher means more OOD.
        """

    def __repr__(self) -> str:
        shown = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "requires"}
        args = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"{type(self).__name__}({args})"


class MaxSoftmaxProbability(OODScorer):
    r"""Maximum softmax probability baseline, negated: ``score = 1 − max_c softmax(logits)_c``.

    Hendrycks & Gimpel 2017, "A Baseline for Detecting Misclassified and Out-of-Distribution
    Examples in Neural Networks", arXiv 1610.02136. The paper's detector keeps inputs with a high
    MSP; ``1 − MSP`` is the same ranking with higher = more OOD. Range [0, 1 − 1/C].

    Examples:
        >>> MaxSoftmaxProbability().score({"logits": np.array([[0.0, 0.0], [3.0, -3.0]])})
        array([0.5       , 0.00247262])
    """

    requires = ("logits",)

    def score(self, outputs: Outputs, train: Outputs | None = None) -> np.ndarray:
        """``1 − max softmax probability``, shape `(N,)`, from ``logits`` `(N, C)`."""
        self.check(outputs)
        probs = softmax(np.asarray(outputs["logits"], dtype=np.float64), axis=1)
        return 1.0 - probs.max(axis=1)


class EnergyScore(OODScorer):
    r"""Free energy of the logits: ``score = −T · logsumexp(logits / T)``.

    Liu et al. 2020, "Energy-based Out-of-distribution Detection", arXiv 2010.03759, Eq. 6 (the
    detector keeps inputs of low energy, so the energy itself is higher = more OOD). Unbounded,
    in logit units.

    Args:
        temperature: T > 0 (the paper uses T = 1).

    Raises:
        ValueError: ``temperature <= 0``.

    Examples:
        >>> EnergyScore().score({"logits": np.array([[0.0, 0.0]])}).round(4)
        array([-0.6931])
    """

    requires = ("logits",)

    def __init__(self, temperature: float = 1.0) -> None:
        if not float(temperature) > 0:
            raise ValueError(f"energy: field 'temperature' must be > 0, got {temperature!r}")
        self.temperature = float(temperature)

    def score(self, outputs: Outputs, train: Outputs | None = None) -> np.ndarray:
        """Energy, shape `(N,)`, from ``logits`` `(N, C)`."""
        self.check(outputs)
        logits = np.asarray(outputs["logits"], dtype=np.float64)
        return -self.temperature * logsumexp(logits / self.temperature, axis=1)


def normalised_float32(embeddings: np.ndarray, label: str) -> np.ndarray:
    """A C-contiguous float32 copy with unit-L2 rows (zero rows stay zero)."""
    vectors = np.array(embeddings, dtype=np.float32, order="C", copy=True)
    if vectors.ndim != 2 or not np.isfinite(vectors).all():
        raise ValueError(
            f"{label}: expected finite embeddings of shape (N, D), got {vectors.shape}"
        )
    faiss.normalize_L2(vectors)
    return vectors


def deep_knn_distances(
    queries: np.ndarray,
    train: np.ndarray,
    ks: Iterable[int],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> np.ndarray:
    """L2 distance from each L2-normalised query to its k-th nearest L2-normalised training vector.

    Exact search with a faiss flat L2 index over the training vectors (on GPU when faiss sees
    one), queries in chunks: memory O(N_train · D + chunk · max K), never an N×N_train matrix.
    Distances are in [0, 2] (unit vectors); ``d² = 2 − 2 cos``.

    Args:
        queries: shape `(N, D)`, embeddings of the inputs to score.
        train: shape `(N_train, D)`, the variant's training-split embeddings.
        ks: the k values, each in ``[1, N_train]``.
        chunk_size: queries per faiss search call.

    Returns:
        shape `(N, len(ks))`, float64; column j is the distance to the ``ks[j]``-th neighbour.

    Raises:
        ValueError: widths differ, a k outside ``[1, N_train]``, or non-finite embeddings.

    Examples:
        >>> train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> deep_knn_distances(np.array([[2.0, 0.0]]), train, ks=[1, 3]).round(4)
        array([[0.    , 1.4142]])
    """
    ks = [int(k) for k in ks]
    train_vectors = normalised_float32(train, "deep kNN training embeddings")
    query_vectors = normalised_float32(queries, "deep kNN query embeddings")
    if query_vectors.shape[1] != train_vectors.shape[1]:
        raise ValueError(
            f"query width {query_vectors.shape[1]} != training width {train_vectors.shape[1]}"
        )
    n_train = len(train_vectors)
    if not ks or min(ks) < 1 or max(ks) > n_train:
        raise ValueError(f"every k must lie in [1, N_train] = [1, {n_train}], got {ks}")
    index = exact_index(train_vectors.shape[1], "l2")
    index.add(train_vectors)
    search_k = max(ks)
    columns = np.asarray(ks) - 1
    distances = np.empty((len(query_vectors), len(ks)), dtype=np.float64)
    for start in range(0, len(query_vectors), chunk_size):
        squared, _ = index.search(query_vectors[start : start + chunk_size], search_k)
        distances[start : start + chunk_size] = np.sqrt(np.maximum(squared[:, columns], 0.0))
    return distances


class DeepKNN(OODScorer):
    r"""Deep nearest neighbours: distance to the k-th nearest training embedding.

    .. math:: s(x) = \lVert z^* - z^*_{(k)} \rVert_2, \qquad z^* = z / \lVert z \rVert_2

    with ``z`` the input's penultimate-layer feature and ``z*_(k)`` the k-th nearest normalised
    training feature. Sun et al. 2022, "Out-of-Distribution Detection with Deep Nearest
    Neighbors", ICML, arXiv 2204.06507, Eq. 2 and Alg. 1 (the paper thresholds ``−s``; ``s`` is
    higher = more OOD). The feature is the cached last-layer [CLS] hidden state
    (``embeddings_cls``), the input of the classification head — the authors of Paper A use the
    same vector for their kNN analyses; set ``embedding: embeddings_mean`` for mean pooling.
    Which layer is cached follows ``infer.embedding_layer``. Needs the same variant's outputs on
    the training split. Range [0, 2].

    Args:
        k: the neighbour rank, >= 1 (Sun et al. use 50 on CIFAR-10 with 50,000 training images).
        embedding: which cached embedding to use.
        chunk_size: queries per faiss search call.

    Raises:
        ValueError: ``k < 1``.
    """

    uses_train = True

    def __init__(
        self, k: int = 10, embedding: Embedding = "embeddings_cls", chunk_size: int = 4096
    ) -> None:
        if int(k) < 1:
            raise ValueError(f"deep_knn: field 'k' must be >= 1, got {k!r}")
        self.k = int(k)
        self.embedding = str(embedding)
        self.chunk_size = int(chunk_size)
        self.requires = (self.embedding,)

    def distances(self, outputs: Outputs, train: Outputs | None, ks: Iterable[int]) -> np.ndarray:
        """k-th-neighbour distances at several k, shape `(N, len(ks))` (one search).

        Raises:
            ValueError: ``train`` is None; see also :func:`deep_knn_distances`.
        """
        if train is None:
            raise ValueError("DeepKNN needs the variant's training-split outputs (train=...)")
        self.check(outputs)
        self.check(train, "training outputs")
        return deep_knn_distances(
            outputs[self.embedding], train[self.embedding], ks, self.chunk_size
        )

    def score(self, outputs: Outputs, train: Outputs | None = None) -> np.ndarray:
        """Distance to the k-th nearest training embedding, shape `(N,)`."""
        return self.distances(outputs, train, [self.k])[:, 0]
