r"""Linear centered kernel alignment (CKA) of two models' representations, biased and unbiased.

Kornblith et al. 2019, "Similarity of Neural Network Representations Revisited", arXiv 1905.00414,
Eq. 2–5: with linear Gram matrices ``K = X Xᵀ`` and ``L = Y Yᵀ`` of the N examples,

.. math:: \mathrm{CKA}(K, L) = \frac{\mathrm{HSIC}(K, L)}
    {\sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}}

with either the biased estimator ``HSIC_0 = tr(K H L H) / (n − 1)²`` (H the centering matrix;
Gretton et al. 2005) or the unbiased estimator of Song et al. 2012 ("Feature Selection via
Dependence Maximization", JMLR 13, Eq. 5), with ``K̃``, ``L̃`` the Gram matrices with zeroed
diagonals:

.. math:: \mathrm{HSIC}_1 = \frac{1}{n(n-3)}\Big[\mathrm{tr}(\tilde K \tilde L)
    + \frac{\mathbf 1^\top \tilde K \mathbf 1\,\mathbf 1^\top \tilde L \mathbf 1}{(n-1)(n-2)}
    - \frac{2}{n-2}\,\mathbf 1^\top \tilde K \tilde L \mathbf 1\Big]

(the constants cancel in the ratio). The biased CKA is in [0, 1] and is inflated when D is large
compared with N: two independent random representations score well above 0. The unbiased CKA
(an inner product of U-centred matrices, Székely & Rizzo 2014) is about 0 for them and lies in
[−1, 1].

**Why the bootstrap recomputes.** CKA is not a mean of per-example quantities: HSIC is quadratic
in the example weights. For the biased estimator the exact sufficient statistics are the
per-example moments ``x``, ``y``, ``x xᵀ``, ``y yᵀ``, ``x yᵀ`` — about ``(D_a + D_b)² / 2``
numbers per example, 295,000 for D = 384, i.e. 3.5 GB at N = 1,500 — so that route only pays for
tiny D. Instead :class:`LinearCKA` declares ``chunkable = False`` and uses each example's
indicator vector as its "statistics" (shape `(N, N)`): a bootstrap resample's totals are then
its draw counts ``w`` (how often each example was drawn), and :meth:`LinearCKA.from_totals`
recomputes CKA on the resampled data set in closed form from the Gram matrices and ``w``
(``O(N²)`` per resample, independent of D). This is the ordinary resample-and-recompute
percentile bootstrap (Efron & Tibshirani 1993, Sec. 13.3), run through the matrix runner
unchanged.

**Duplicates.** A bootstrap resample holds copies of examples, and a pair of copies looks
perfectly similar: recomputing either estimator naively on the resample inflates CKA (measured
on random data with N = 1,500, D = 64 and an estimate of 0.46: the naive 95% interval was
[0.48, 0.49]). So no estimator here ever pairs two rows that hold copies of one example: the
biased one keeps each row's pair with itself (its diagonal term) and drops the pairs of distinct
copies; the unbiased one zeroes ``K̃`` on all of them (a weighted U-statistic). With all
``w_i = 1`` nothing changes. The masked unbiased HSIC is not invariant to translating the
embeddings, so they are centred by the full-sample mean first (part of the definition; the point
estimate does not depend on it). The bootstrap distributions are then centred on the estimates
(checked in the tests). Memory is ``O(N²)``: N is capped by ``max_examples``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from trusteq.characteristics.base import Outputs, PairwiseCharacteristic
from trusteq.characteristics.knn_agreement import Embedding

Estimator = Literal["biased", "unbiased"]
ESTIMATORS: tuple[str, ...] = ("biased", "unbiased")


def centered_gram(embeddings: np.ndarray) -> np.ndarray:
    """Linear Gram matrix of the column-centred embeddings.

    CKA with either estimator is unchanged by a common translation of the embeddings (centring
    and U-centring both remove it), so centring first only improves the floating-point accuracy
    (fine-tuned [CLS] vectors share a large common component).

    Args:
        embeddings: shape `(N, D)`, float.

    Returns:
        shape `(N, N)`, float64.

    Raises:
        ValueError: not 2-D or not finite.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must have shape (N, D), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinite values")
    x = x - x.mean(axis=0)
    return x @ x.T


def _hsic_terms(
    weights: np.ndarray,
    gram_a: np.ndarray,
    gram_b: np.ndarray,
    weighted_a: np.ndarray,
    weighted_b: np.ndarray,
    estimator: str,
) -> np.ndarray:
    """HSIC (up to a factor common to all three HSICs of one CKA) of resampled data sets.

    A resample is given by its draw counts ``w`` (shape `(N,)`): the data set in which example i
    appears as ``w_i`` rows. Two rows holding copies of one example are never paired (see the
    module docstring); each row still pairs with itself in the biased estimator.
    ``weighted_a = weights @ gram_a`` holds the resample's row sums; for the unbiased estimator
    the Gram matrices come with zeroed diagonals.
    """
    n = weights.sum(axis=1)
    both = np.einsum("rj,rj->r", weights @ (gram_a * gram_b), weights)  # Σ_pq K_pq L_pq
    row_products = np.einsum("rj,rj,rj->r", weights, weighted_a, weighted_b)  # 1ᵀKL1
    total_a = np.einsum("rj,rj->r", weights, weighted_a)  # 1ᵀK1
    total_b = np.einsum("rj,rj->r", weights, weighted_b)
    if estimator == "unbiased":  # Song et al. 2012, Eq. 5, times n(n − 3)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (
                both + total_a * total_b / ((n - 1.0) * (n - 2.0)) - 2.0 * row_products / (n - 2.0)
            )
    # Biased: tr(K H L H) = tr(KL) − (2/n) 1ᵀKL1 + (1ᵀK1)(1ᵀL1)/n² over all pairs of rows, less
    # the w_i (w_i − 1) pairs of distinct copies of example i, whose centred entry is K̄_ii.
    centred_a = np.diag(gram_a) - 2.0 * weighted_a / n[:, None] + (total_a / n**2)[:, None]
    centred_b = np.diag(gram_b) - 2.0 * weighted_b / n[:, None] + (total_b / n**2)[:, None]
    copies = np.einsum("rj,rj,rj->r", weights * (weights - 1.0), centred_a, centred_b)
    return both - 2.0 * row_products / n + total_a * total_b / n**2 - copies


def cka_from_grams(
    gram_a: np.ndarray,
    gram_b: np.ndarray,
    weights: np.ndarray | None = None,
    estimator: Estimator = "biased",
) -> np.ndarray:
    """Linear CKA from two Gram matrices, on the data set or on weighted (resampled) copies of it.

    Args:
        gram_a: shape `(N, N)`, ``X Xᵀ`` (any translation of X gives the same CKA).
        gram_b: shape `(N, N)`, ``Y Yᵀ`` of the same examples.
        weights: shape `(R, N)`, non-negative integer draw counts of R resamples; None = the data
            set itself (all ones, R = 1). A resample is the data set holding ``w_i`` copies of
            example i; pairs of two distinct copies of one example are left out.
        estimator: ``"biased"`` (Kornblith et al. 2019, Eq. 3 with HSIC_0) or ``"unbiased"``
            (HSIC_1 of Song et al. 2012).

    Returns:
        shape `(R,)`, float64; NaN where a representation has no variance (a zero HSIC in the
        denominator) or, for the unbiased estimator, the resample has fewer than 4 rows.

    Raises:
        ValueError: unknown estimator or mismatched shapes.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if gram_a.shape != gram_b.shape or gram_a.ndim != 2 or gram_a.shape[0] != gram_a.shape[1]:
        raise ValueError(f"Gram matrices must both be (N, N), got {gram_a.shape}, {gram_b.shape}")
    n_examples = gram_a.shape[0]
    weights = np.ones((1, n_examples)) if weights is None else np.asarray(weights, np.float64)
    if weights.ndim != 2 or weights.shape[1] != n_examples:
        raise ValueError(f"weights must have shape (R, {n_examples}), got {weights.shape}")
    if estimator == "unbiased":  # K̃, L̃: no example pairs with itself (nor with its copies)
        gram_a, gram_b = gram_a.copy(), gram_b.copy()
        np.fill_diagonal(gram_a, 0.0)
        np.fill_diagonal(gram_b, 0.0)
    weighted_a, weighted_b = weights @ gram_a, weights @ gram_b
    cross = _hsic_terms(weights, gram_a, gram_b, weighted_a, weighted_b, estimator)
    self_a = _hsic_terms(weights, gram_a, gram_a, weighted_a, weighted_a, estimator)
    self_b = _hsic_terms(weights, gram_b, gram_b, weighted_b, weighted_b, estimator)
    denominator = self_a * self_b
    valid = (denominator > 0) & np.isfinite(denominator)
    if estimator == "unbiased":
        valid &= weights.sum(axis=1) >= 4
    safe = np.where(valid, denominator, 1.0)
    return np.where(valid, cross / np.sqrt(safe), np.nan)


def linear_cka(x: np.ndarray, y: np.ndarray, estimator: Estimator = "biased") -> float:
    """Linear CKA of two representations of the same N examples.

    Args:
        x: shape `(N, D_a)`.
        y: shape `(N, D_b)`.
        estimator: ``"biased"`` or ``"unbiased"``, see :func:`cka_from_grams`.

    Returns:
        CKA in [0, 1] (biased) or [−1, 1] (unbiased); NaN for a constant representation.

    Raises:
        ValueError: N differs, inputs not 2-D or not finite, or an unknown estimator.

    Examples:
        >>> x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0], [1.0, 3.0]])
        >>> round(linear_cka(x, 2.0 * x), 6), round(linear_cka(x, x, "unbiased"), 6)
        (1.0, 1.0)
    """
    if len(x) != len(y):
        raise ValueError(f"x and y differ in N: {len(x)} vs {len(y)}")
    return float(cka_from_grams(centered_gram(x), centered_gram(y), None, estimator)[0])


class LinearCKA(PairwiseCharacteristic):
    r"""Linear CKA of the two models' embeddings (Kornblith et al. 2019, arXiv 1905.00414).

    .. math:: \mathrm{CKA} = \frac{\mathrm{HSIC}(XX^\top, YY^\top)}
        {\sqrt{\mathrm{HSIC}(XX^\top, XX^\top)\,\mathrm{HSIC}(YY^\top, YY^\top)}}

    with the biased (``estimator="biased"``, name ``cka_linear``, value in [0, 1]) or unbiased
    (``"unbiased"``, name ``cka_linear_unbiased``, value in [−1, 1]) HSIC estimator; see the
    module docstring for both formulas. Invariant to orthogonal transforms and isotropic scaling
    of either representation, not to arbitrary invertible linear maps; the two models may have
    different widths D_a, D_b. Symmetric; 1 on identical inputs; higher means more alike.

    Not chunkable: CKA is not a sum over examples. Per-example statistics are the examples'
    indicator vectors, shape `(N, N)`, so the totals of a bootstrap resample are its draw counts
    and :meth:`from_totals` recomputes CKA on the resampled data (resample-and-recompute
    bootstrap; copies of one example are never paired, see the module docstring).
    :meth:`from_totals` reads the Gram matrices of the pair last passed to :meth:`statistics`.
    Memory and time per pair are ``O(N²)`` (plus ``O(N² D)`` for the Gram matrices): about
    ``6 · 8 N²`` bytes, 1.2 GB at N = 5,000.

    Args:
        estimator: ``"biased"`` or ``"unbiased"``.
        embedding: which cached embedding to use, shape `(N, D)`.
        max_examples: refuse larger N (memory guard; raise it knowingly).

    Raises:
        ValueError: unknown estimator or ``max_examples < 4``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> a = {"embeddings_cls": rng.normal(size=(50, 8))}
        >>> rotation = np.linalg.qr(rng.normal(size=(8, 8)))[0]
        >>> b = {"embeddings_cls": 3.0 * a["embeddings_cls"] @ rotation}
        >>> round(LinearCKA()(a, b), 6), round(LinearCKA("unbiased")(a, b), 6)
        (1.0, 1.0)
    """

    symmetric = True
    identity_value = 1.0
    higher_is_better = True
    chunkable = False

    def __init__(
        self,
        estimator: Estimator = "biased",
        embedding: Embedding = "embeddings_cls",
        max_examples: int = 5000,
    ) -> None:
        super().__init__()
        if estimator not in ESTIMATORS:
            raise ValueError(
                f"cka: field 'estimator' must be one of {ESTIMATORS}, got {estimator!r}"
            )
        if int(max_examples) < 4:
            raise ValueError(f"cka: field 'max_examples' must be >= 4, got {max_examples}")
        self.estimator = str(estimator)
        self.embedding = str(embedding)
        self.max_examples = int(max_examples)
        self.requires = (self.embedding,)
        self.name = "cka_linear" if estimator == "biased" else "cka_linear_unbiased"
        self.summary_column = self.name
        self.bounds = (0.0, 1.0) if estimator == "biased" else (-1.0, 1.0)
        self._grams: tuple[np.ndarray, np.ndarray] | None = None

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example indicators, shape `(N, N)`; keeps the pair's Gram matrices.

        Raises:
            ValueError: N exceeds ``max_examples``.
        """
        n_examples = len(a[self.embedding])
        if n_examples > self.max_examples:
            raise ValueError(
                f"{self.name}: N = {n_examples} examples exceed max_examples = "
                f"{self.max_examples} (memory grows as 48·N² bytes); raise "
                "characteristics.<name>.max_examples or compare on a subsample "
                "(dataset.subsample.test)"
            )
        self._grams = (centered_gram(a[self.embedding]), centered_gram(b[self.embedding]))
        return np.eye(n_examples)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """CKA of the data set weighted by ``totals`` (draw counts), shape `(..., N)` → `(...)`.

        Raises:
            RuntimeError: no :meth:`statistics` call has provided the pair's Gram matrices.
        """
        if self._grams is None:
            raise RuntimeError(f"{self.name}: from_totals() needs a statistics() call first")
        totals = np.asarray(totals, dtype=np.float64)
        gram_a, gram_b = self._grams
        flat = totals.reshape(-1, totals.shape[-1])
        return cka_from_grams(gram_a, gram_b, flat, self.estimator).reshape(totals.shape[:-1])

    def reset(self) -> None:
        """Forget the accumulated totals and the pair's Gram matrices."""
        super().reset()
        self._grams = None
