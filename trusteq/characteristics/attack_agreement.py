"""Adversarial vulnerability, pairwise: do the same attacks break the same inputs, and transfer?

Inputs are the per-example attack outcomes of :class:`~trusteq.producers.attack.AttackProducer`,
the same stratified rows for every variant: ``attack_status`` `(N,)` int64 (0 success, 1 failed,
2 skipped = misclassified, not attacked). Examples are compared on the *jointly attacked* set
``A = {i : both models classified i correctly}``; on it each model's *vulnerable set* is
``S = {i in A : the attack succeeded}``, as error sets are for
:class:`~trusteq.characteristics.error_jaccard.ErrorJaccard`.

- :class:`VulnerableJaccard`: ``|S_a ∩ S_b| / |S_a ∪ S_b|``;
- :class:`ChanceVulnerableJaccard`: its value if the two models were broken independently at
  their success rates on ``A``: ``p_a p_b / (p_a + p_b − p_a p_b)``;
- :class:`VulnerableKappa`: Cohen's κ of vulnerable / robust on ``A``;
- :class:`AttackTransferRate` (asymmetric): of model a's successful adversarial texts on inputs
  that b classifies correctly, the fraction that also fool b;
- :class:`AttackTransferAccuracy` (asymmetric): b's accuracy on a's successful adversarial texts
  (Rai et al. 2024's "accuracy under attack" read across models; 0 on the diagonal).

Every value depends on the examples only through summed per-example statistics, so the matrix
runner's paired bootstrap applies unchanged. Source: Rai et al. 2024, "Compressed models are NOT
miniature versions of large models", arXiv 2407.13174 (Paper A, attack success per model); the
vulnerable-set overlap, chance level and κ are trusteq's, by analogy with Geirhos et al. 2020
(arXiv 2006.16736); transfer follows Papernot et al. 2016 (arXiv 1605.07277).
"""

from __future__ import annotations

import numpy as np

from trusteq.characteristics.base import Outputs, PairwiseCharacteristic

#: The outcome codes of the attack producer (``trusteq.producers.attack.STATUSES``).
SUCCESS, FAILED, SKIPPED = 0, 1, 2
_DEGENERATE = 1e-12


def vulnerable_indicators(outputs: Outputs) -> tuple[np.ndarray, np.ndarray]:
    """Which examples were attacked and which were broken.

    Args:
        outputs: a model's outputs with ``attack_status`` `(N,)`.

    Returns:
        ``(attacked, broken)``, each shape `(N,)`, bool.
    """
    status = np.asarray(outputs["attack_status"])
    return status != SKIPPED, status == SUCCESS


def _joint_statistics(a: Outputs, b: Outputs) -> np.ndarray:
    """Per example ``[joint, broken_a, broken_b, both broken, either broken]`` on the joint set."""
    attacked_a, broken_a = vulnerable_indicators(a)
    attacked_b, broken_b = vulnerable_indicators(b)
    joint = attacked_a & attacked_b
    broken_a, broken_b = broken_a & joint, broken_b & joint
    return np.stack(
        [joint, broken_a, broken_b, broken_a & broken_b, broken_a | broken_b], axis=1
    ).astype(np.float64)


class VulnerableJaccard(PairwiseCharacteristic):
    r"""Jaccard coefficient of the two models' vulnerable sets on the jointly attacked examples.

    .. math:: J(a, b) = \frac{|S_a \cap S_b|}{|S_a \cup S_b|}

    with ``J = 1`` when neither model was broken (the convention of error Jaccard). Inputs:
    ``attack_status`` `(N,)`. Per-example statistics: ``[joint, broken_a, broken_b, both,
    either]``. Value in [0, 1]; higher means more alike; 1 on identical inputs.

    Examples:
        >>> a = {"attack_status": np.array([0, 0, 1, 1, 2])}
        >>> b = {"attack_status": np.array([0, 1, 0, 1, 0])}
        >>> round(VulnerableJaccard()(a, b), 4)
        0.3333
    """

    name = "vulnerable_jaccard"
    requires = ("attack_status",)
    symmetric = True
    identity_value = 1.0
    higher_is_better = True
    bounds = (0.0, 1.0)
    summary_column = "vuln_j"

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[joint, broken_a, broken_b, both, either]``, shape `(N, 5)`."""
        return _joint_statistics(a, b)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """``both / either`` (1 when ``either = 0``) from totals `(..., 5)`."""
        both, either = totals[..., 3], totals[..., 4]
        return np.where(either > 0, both / np.where(either > 0, either, 1.0), 1.0)


class ChanceVulnerableJaccard(PairwiseCharacteristic):
    r"""Vulnerable-set Jaccard expected if the two models were broken independently.

    .. math:: J_\mathrm{chance} = \frac{p_a p_b}{p_a + p_b - p_a p_b}, \qquad
        p = \frac{|S|}{|A|}

    with ``p`` each model's attack success rate on the jointly attacked set ``A``; 1 when neither
    is ever broken, 0 when no example was attacked by both (then ``p`` is undefined; the observed
    Jaccard is then 1 by convention and should be read with ``|A|``). Inputs: ``attack_status``
    `(N,)`. Value in [0, 1]; symmetric; not constant on identical inputs (``p / (2 − p)``).

    Examples:
        >>> a = {"attack_status": np.array([0, 0, 1, 1, 2])}
        >>> b = {"attack_status": np.array([0, 1, 0, 1, 0])}
        >>> round(ChanceVulnerableJaccard()(a, b), 4)
        0.3333
    """

    name = "chance_vulnerable_jaccard"
    requires = ("attack_status",)
    symmetric = True
    identity_value = None
    higher_is_better = True
    bounds = (0.0, 1.0)
    against_floor = False

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[joint, broken_a, broken_b, both, either]``, shape `(N, 5)`."""
        return _joint_statistics(a, b)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Chance Jaccard from totals `(..., 5)`."""
        joint = totals[..., 0]
        safe = np.where(joint > 0, joint, 1.0)
        p_a, p_b = totals[..., 1] / safe, totals[..., 2] / safe
        union = p_a + p_b - p_a * p_b
        value = np.where(union > 0, p_a * p_b / np.where(union > 0, union, 1.0), 1.0)
        return np.where(joint > 0, value, 0.0)


class VulnerableKappa(PairwiseCharacteristic):
    r"""Cohen's κ of the two models' vulnerable / robust outcomes on the jointly attacked set.

    .. math:: \kappa = \frac{c_\mathrm{obs} - c_\mathrm{exp}}{1 - c_\mathrm{exp}}, \qquad
        c_\mathrm{exp} = p_a p_b + (1 - p_a)(1 - p_b)

    with ``c_obs`` the fraction of ``A`` on which both were broken or both held, and ``p`` the
    success rates on ``A``. κ = 1 when ``c_exp = 1`` (both constant and equal; Geirhos et al. 2020's
    convention for error consistency) and when ``A`` is empty. Inputs: ``attack_status`` `(N,)`.
    Value in [−1, 1]; 0 = chance; higher means more alike; 1 on identical inputs.

    Examples:
        >>> a = {"attack_status": np.array([0, 0, 1, 1, 2])}
        >>> b = {"attack_status": np.array([0, 1, 0, 1, 0])}
        >>> VulnerableKappa()(a, b)
        0.0
    """

    name = "vulnerable_kappa"
    requires = ("attack_status",)
    symmetric = True
    identity_value = 1.0
    higher_is_better = True
    bounds = (-1.0, 1.0)
    summary_column = "vuln_kappa"

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[joint, broken_a, broken_b, both, either]``, shape `(N, 5)`."""
        return _joint_statistics(a, b)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Kappa from totals `(..., 5)`."""
        joint = totals[..., 0]
        safe = np.where(joint > 0, joint, 1.0)
        p_a, p_b = totals[..., 1] / safe, totals[..., 2] / safe
        c_obs = (totals[..., 3] + joint - totals[..., 4]) / safe
        c_exp = p_a * p_b + (1.0 - p_a) * (1.0 - p_b)
        denominator = 1.0 - c_exp
        degenerate = (denominator < _DEGENERATE) | (joint <= 0)
        return np.where(degenerate, 1.0, (c_obs - c_exp) / np.where(degenerate, 1.0, denominator))


def _transfer_statistics(a: Outputs, b: Outputs) -> np.ndarray:
    """Per example ``[a broken & b clean-correct, … & b fooled, a broken, a broken & b correct]``.

    ``b["transfer_correct"]`` `(N, V)` holds whether b is right on each source's adversarial text
    (NaN where it was not replayed); the source column is ``a["variant_index"][0]``.
    """
    source = int(np.asarray(a["variant_index"]).reshape(-1)[0]) if len(a["variant_index"]) else 0
    _, broken_a = vulnerable_indicators(a)
    replayed = np.asarray(b["transfer_correct"], dtype=np.float64)[:, source]
    known = broken_a & np.isfinite(replayed)
    adversarial_correct = known & (np.nan_to_num(replayed) > 0.5)
    clean_correct = np.asarray(b["clean_correct"], dtype=bool)
    return np.stack(
        [
            known & clean_correct,
            known & clean_correct & ~adversarial_correct,
            known,
            adversarial_correct,
        ],
        axis=1,
    ).astype(np.float64)


class AttackTransferRate(PairwiseCharacteristic):
    r"""How often model a's successful adversarial texts also fool model b (row a, column b).

    .. math:: T(a \to b) = \frac{|\{i \in S_a : b \text{ right on } x_i,\
        b \text{ wrong on } \tilde x^a_i\}|}{|\{i \in S_a : b \text{ right on } x_i\}|}

    with ``x̃ᵃ`` a's adversarial texts; inputs b already misclassified are left out (their
    "fooling" is not the perturbation's doing). NaN when a broke no input b gets right. Inputs:
    ``attack_status`` and ``variant_index`` `(N,)` (a's column in b's ``transfer_correct``),
    ``transfer_correct`` `(N, V)` float (1 right, 0 fooled, NaN not replayed) and
    ``clean_correct`` `(N,)` bool. Value in [0, 1]; asymmetric; 1 on the diagonal (a's own
    adversarial texts fool a) unless a was never broken; higher means more alike.

    Examples:
        >>> nan = np.nan
        >>> a = {"attack_status": np.array([0, 0, 1]), "variant_index": np.zeros(3, int),
        ...      "transfer_correct": np.array([[0, nan], [0, nan], [nan, nan]]),
        ...      "clean_correct": np.ones(3, bool)}
        >>> b = {"attack_status": np.array([1, 1, 1]), "variant_index": np.ones(3, int),
        ...      "transfer_correct": np.array([[1, nan], [0, nan], [nan, nan]]),
        ...      "clean_correct": np.ones(3, bool)}
        >>> AttackTransferRate()(a, b)
        0.5
    """

    name = "attack_transfer_rate"
    requires = ("attack_status", "variant_index", "transfer_correct", "clean_correct")
    symmetric = False
    identity_value = None
    higher_is_better = True
    bounds = (0.0, 1.0)
    summary_column = "transfer_from_ref"

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example transfer indicators, shape `(N, 4)` (see :func:`_transfer_statistics`)."""
        return _transfer_statistics(a, b)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """``fooled / (a broken & b clean-correct)`` from totals `(..., 4)` (NaN on 0 / 0)."""
        denominator = totals[..., 0]
        return np.where(
            denominator > 0, totals[..., 1] / np.where(denominator > 0, denominator, 1.0), np.nan
        )


class AttackTransferAccuracy(PairwiseCharacteristic):
    r"""Model b's accuracy on model a's successful adversarial texts (row a, column b).

    .. math:: \mathrm{acc}(a \to b) = \frac{|\{i \in S_a : b \text{ right on }
        \tilde x^a_i\}|}{|S_a|}

    The matrix form of Paper A's "accuracy under attack": the diagonal is 0 by construction.
    NaN when a was never broken. Inputs as :class:`AttackTransferRate`. Value in [0, 1];
    asymmetric; higher means b resists a's attack (less alike).

    Examples:
        >>> nan = np.nan
        >>> a = {"attack_status": np.array([0, 0, 1]), "variant_index": np.zeros(3, int),
        ...      "transfer_correct": np.array([[0, nan], [0, nan], [nan, nan]]),
        ...      "clean_correct": np.ones(3, bool)}
        >>> b = {"attack_status": np.array([1, 1, 1]), "variant_index": np.ones(3, int),
        ...      "transfer_correct": np.array([[1, nan], [0, nan], [nan, nan]]),
        ...      "clean_correct": np.ones(3, bool)}
        >>> AttackTransferAccuracy()(a, b)
        0.5
    """

    name = "attack_transfer_accuracy"
    requires = ("attack_status", "variant_index", "transfer_correct", "clean_correct")
    symmetric = False
    identity_value = None
    higher_is_better = False
    bounds = (0.0, 1.0)
    against_floor = False

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example transfer indicators, shape `(N, 4)` (see :func:`_transfer_statistics`)."""
        return _transfer_statistics(a, b)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """``b correct / a broken`` from totals `(..., 4)` (NaN on 0 / 0)."""
        denominator = totals[..., 2]
        return np.where(
            denominator > 0, totals[..., 3] / np.where(denominator > 0, denominator, 1.0), np.nan
        )


def vulnerable_family() -> list[PairwiseCharacteristic]:
    """The symmetric vulnerable-set characteristics, in table order."""
    return [VulnerableJaccard(), ChanceVulnerableJaccard(), VulnerableKappa()]


def transfer_family() -> list[PairwiseCharacteristic]:
    """The asymmetric transfer characteristics."""
    return [AttackTransferRate(), AttackTransferAccuracy()]
