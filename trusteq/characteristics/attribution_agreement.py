"""Agreement of two models' word attributions: top-K Jaccard and Krishna et al.'s metrics.

One ranking rule for every explainer: words are ranked by the **absolute value** of their
attribution to the explained class, largest first, ties broken by word position (earlier first).
The top-K set of an example with W words holds its first ``k_eff = min(K, W)`` words; every "at K"
metric divides by ``k_eff`` so that two identical explanations score 1 also when W < K.

Metrics, per example, then averaged over examples (each example's statistic is
``[score_i, 1]``, or ``[0, 0]`` when either attribution is missing, e.g. a skipped explainer; see
:class:`~trusteq.characteristics.base.PairwiseCharacteristic`):

- top-K Jaccard ``|T_a ∩ T_b| / |T_a ∪ T_b|`` (Paper B, Rai et al. 2025, arXiv 2508.13533);
- from Krishna et al. 2022, "The Disagreement Problem in Explainable Machine Learning",
  arXiv 2202.01602, Sec. 3: *feature agreement* ``|T_a ∩ T_b| / k``; *rank agreement*: the share
  of ranks ``r ≤ k`` holding the same word in both rankings; *sign agreement*: the share of
  ``T_a ∩ T_b`` with the same attribution sign (counted over k); *signed rank agreement*: same word
  at the same rank with the same sign; *rank correlation*: Spearman's ρ between the two
  explanations' absolute attributions over all W words (`scipy.stats.spearmanr`, average ranks for
  ties; an example where either explanation is constant is left out).

Attributions arrive as ``attributions`` arrays of shape `(N, W_max)` (one explainer seed) or
`(N, S, W_max)` (S seeds; model a's seed s is compared with model b's seed s and the S scores of
an example are averaged), NaN-padded beyond each example's word count.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.stats import spearmanr

from trusteq.characteristics.base import CharacteristicFamily, Outputs, PairwiseCharacteristic


def ranking(attributions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Word order by the ranking rule, and each word's rank.

    Args:
        attributions: shape `(..., W)`, NaN = no word (padding).

    Returns:
        ``(order, rank)``, both shape `(..., W)`, int64: ``order[..., r]`` is the word at rank r
        (NaN padding last), ``rank[..., w]`` is the rank of word w.

    Examples:
        >>> order, rank = ranking(np.array([0.1, -0.5, 0.5, np.nan]))
        >>> order.tolist(), rank.tolist()
        ([1, 2, 0, 3], [2, 0, 1, 3])
    """
    magnitude = np.abs(np.asarray(attributions, dtype=np.float64))
    key = np.where(np.isnan(magnitude), np.inf, -magnitude)
    order = np.argsort(key, axis=-1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(order.shape[-1]), axis=-1)
    return order, rank


def top_k_words(attributions: np.ndarray, k: int) -> list[int]:
    """The positions of the top-`k` words of one explanation (shape `(W,)`), best first."""
    order, _ = ranking(attributions)
    count = int(np.sum(~np.isnan(attributions)))
    return order[: min(k, count)].tolist()


def _stacked(outputs: Outputs) -> np.ndarray:
    values = np.asarray(outputs["attributions"], dtype=np.float64)
    return values[:, None, :] if values.ndim == 2 else values


class AttributionCharacteristic(PairwiseCharacteristic):
    """Base of the attribution-agreement characteristics (see the module docstring).

    Subclasses implement :meth:`scores`. Value in the class's `bounds`; higher = more alike;
    1 on identical inputs.
    """

    requires = ("attributions",)
    symmetric: ClassVar[bool] = True
    identity_value: ClassVar[float | None] = 1.0
    higher_is_better: ClassVar[bool] = True
    bounds: ClassVar[tuple[float, float]] = (0.0, 1.0)

    def scores(self, a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Per-(example, seed) scores, shape `(N, S)`, from attributions `(N, S, W)`."""
        raise NotImplementedError

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[mean score over seeds, 1]`` (``[0, 0]`` when missing), `(N, 2)`."""
        values_a, values_b = _stacked(a), _stacked(b)
        if values_a.shape != values_b.shape:
            raise ValueError(
                f"{self.name}: attribution arrays of shapes {values_a.shape} and "
                f"{values_b.shape} do not describe the same examples and seeds"
            )
        present_a, present_b = ~np.isnan(values_a), ~np.isnan(values_b)
        valid = present_a.any(-1) & present_b.any(-1)  # (N, S)
        if np.any(valid[..., None] & (present_a != present_b)):
            raise ValueError(
                f"{self.name}: the two explanations cover different words; rows are not the "
                "same examples (compare entries of the same split, n_examples and subset_seed)"
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            per_seed = np.where(valid, self.scores(values_a, values_b, valid), np.nan)
        counted = np.isfinite(per_seed)
        n_counted = counted.sum(axis=1)
        score = np.where(counted, per_seed, 0.0).sum(axis=1) / np.maximum(n_counted, 1)
        has = n_counted > 0
        return np.stack([np.where(has, score, 0.0), has.astype(np.float64)], axis=1)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Mean score ``totals[..., 0] / totals[..., 1]`` (NaN when no example counted)."""
        total, count = totals[..., 0], totals[..., 1]
        return np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)


class _TopK(AttributionCharacteristic):
    """Shared top-K machinery."""

    label = "top"

    def __init__(self, k: int = 10) -> None:
        super().__init__()
        if int(k) < 1:
            raise ValueError(f"{type(self).__name__}: k={k}; need k >= 1")
        self.k = int(k)
        self.name = f"{self.label}_k{self.k}"

    def _parts(self, a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
        order_a, rank_a = ranking(a)
        order_b, rank_b = ranking(b)
        k_eff = np.minimum(self.k, (~np.isnan(a)).sum(-1))[..., None]  # (N, S, 1)
        in_a, in_b = rank_a < k_eff, rank_b < k_eff
        width = min(self.k, a.shape[-1])
        positions = np.arange(width)
        same_word = (order_a[..., :width] == order_b[..., :width]) & (positions < k_eff)
        sign_a = np.sign(np.nan_to_num(a))
        sign_b = np.sign(np.nan_to_num(b))
        top_sign_a = np.take_along_axis(sign_a, order_a[..., :width], -1)
        top_sign_b = np.take_along_axis(sign_b, order_b[..., :width], -1)
        return {
            "k": k_eff[..., 0].astype(np.float64),
            "both": (in_a & in_b).sum(-1),
            "either": (in_a | in_b).sum(-1),
            "both_same_sign": (in_a & in_b & (sign_a == sign_b)).sum(-1),
            "same_rank": same_word.sum(-1),
            "same_rank_sign": (same_word & (top_sign_a == top_sign_b)).sum(-1),
        }


class _CountOverK(_TopK):
    """Krishna et al. (2022) agreements: a count of matching top-k words, divided by k."""

    count = "both"

    def scores(self, a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> np.ndarray:
        parts = self._parts(a, b)
        return parts[self.count] / parts["k"]


class TopKJaccard(_TopK):
    """Jaccard of the two top-K word sets (Paper B).

    Examples:
        >>> a = {"attributions": np.array([[0.9, 0.1, -0.5, 0.0]])}
        >>> b = {"attributions": np.array([[0.2, 0.8, -0.7, 0.1]])}
        >>> round(TopKJaccard(2)(a, b), 4)  # {0, 2} vs {1, 2}
        0.3333
    """

    label = "jaccard"

    def scores(self, a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> np.ndarray:
        parts = self._parts(a, b)
        return parts["both"] / parts["either"]


class FeatureAgreement(_CountOverK):
    """Krishna et al. (2022) feature agreement ``|T_a ∩ T_b| / k``.

    Examples:
        >>> a = {"attributions": np.array([[0.9, 0.1, -0.5, 0.0]])}
        >>> b = {"attributions": np.array([[0.2, 0.8, -0.7, 0.1]])}
        >>> FeatureAgreement(2)(a, b)
        0.5
    """

    label = "feature_agreement"

    count = "both"


class RankAgreement(_CountOverK):
    """Krishna et al. (2022) rank agreement: same word at the same rank ``r ≤ k``, over k."""

    label = "rank_agreement"

    count = "same_rank"


class SignAgreement(_CountOverK):
    """Krishna et al. (2022) sign agreement: shared top-k words with the same sign, over k."""

    label = "sign_agreement"

    count = "both_same_sign"


class SignedRankAgreement(_CountOverK):
    """Krishna et al. (2022) signed rank agreement: same word, same rank, same sign, over k."""

    label = "signed_rank_agreement"

    count = "same_rank_sign"


class RankCorrelation(AttributionCharacteristic):
    """Spearman's ρ of the absolute attributions over all words (Krishna et al. 2022).

    Value in [-1, 1]; examples with a constant explanation are left out.

    Examples:
        >>> a = {"attributions": np.array([[0.9, 0.1, -0.5, np.nan]])}
        >>> b = {"attributions": np.array([[0.2, 0.8, -0.7, np.nan]])}
        >>> RankCorrelation()(a, b)  # |a| ranks 3, 1, 2 vs |b| ranks 1, 3, 2
        -1.0
    """

    name = "rank_correlation"
    bounds = (-1.0, 1.0)

    def scores(self, a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> np.ndarray:
        out = np.full(valid.shape, np.nan)
        for example, seed in zip(*np.nonzero(valid), strict=True):
            words = ~np.isnan(a[example, seed])
            x, y = np.abs(a[example, seed, words]), np.abs(b[example, seed, words])
            if len(x) >= 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
                out[example, seed] = spearmanr(x, y).statistic
        return out


class CrossSeed(PairwiseCharacteristic):
    """A metric over *different* explainer seeds: model a's seed s against model b's seed t ≠ s.

    With S seeds (attributions `(N, S, W_max)`), the per-example score is averaged over the
    S·(S − 1) ordered pairs (s, t), s ≠ t. Its diagonal is the explainer noise floor of each model
    (one model against itself under another seed), and off the diagonal two models are compared
    with independent explainer noise, so the two are directly comparable. (Pairing the same seed
    across models, Paper B's protocol, shares the perturbation samples: it removes part of the
    explainer noise from cross-model values but not from a floor.) No identity value.

    Args:
        metric: the attribution characteristic to evaluate.
        n_seeds: S >= 2.

    Raises:
        ValueError: `n_seeds < 2`.
    """

    requires = ("attributions",)
    symmetric = True
    identity_value = None
    higher_is_better = True

    def __init__(self, metric: AttributionCharacteristic, n_seeds: int) -> None:
        super().__init__()
        if int(n_seeds) < 2:
            raise ValueError(f"CrossSeed({metric.name}): n_seeds={n_seeds}; need >= 2")
        self.metric = metric
        self.n_seeds = int(n_seeds)
        self.name = f"{metric.name}_cross_seed"
        self.bounds = metric.bounds
        pairs = [(s, t) for s in range(self.n_seeds) for t in range(self.n_seeds) if s != t]
        self._first, self._second = [s for s, _ in pairs], [t for _, t in pairs]

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[mean score over seed pairs s ≠ t, 1]``, shape `(N, 2)`."""
        values_a, values_b = _stacked(a), _stacked(b)
        if values_a.shape[1] != self.n_seeds or values_b.shape[1] != self.n_seeds:
            raise ValueError(
                f"{self.name}: expected {self.n_seeds} seeds, got attribution arrays of shapes "
                f"{values_a.shape} and {values_b.shape}"
            )
        return self.metric.statistics(
            {"attributions": values_a[:, self._first]}, {"attributions": values_b[:, self._second]}
        )

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """See the wrapped metric."""
        return self.metric.from_totals(totals)

    def params(self) -> dict[str, object]:
        return {"metric": self.metric.name, "n_seeds": self.n_seeds}


def attribution_family(
    k_values: tuple[int, ...] | list[int] = (1, 3, 5, 10, 20),
    agreement_k: tuple[int, ...] | list[int] = (10,),
) -> CharacteristicFamily:
    """The attribution characteristics, one V×V matrix each.

    Args:
        k_values: K of the top-K Jaccard members.
        agreement_k: k of Krishna et al.'s four agreement members.

    Returns:
        Jaccard at each K, the four agreements at each k, then the rank correlation.
    """
    members: list[PairwiseCharacteristic] = [TopKJaccard(k) for k in k_values]
    for k in agreement_k:
        members += [FeatureAgreement(k), RankAgreement(k), SignAgreement(k), SignedRankAgreement(k)]
    members.append(RankCorrelation())
    return CharacteristicFamily("attribution_agreement", members)
