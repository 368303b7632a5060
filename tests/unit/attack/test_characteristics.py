from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, jaccard_score

from trusteq.characteristics.attack_agreement import (
    AttackTransferAccuracy,
    AttackTransferRate,
    ChanceVulnerableJaccard,
    VulnerableJaccard,
    VulnerableKappa,
    vulnerable_family,
)
from trusteq.characteristics.matrix import pairwise_matrices

S, F, K = 0, 1, 2  # success, failed, skipped

# Hand-computed case: joint set = rows 0-5 (row 6 skipped by a, row 7 by b).
A = np.array([S, S, S, F, F, F, K, S])
B = np.array([S, F, S, S, F, F, S, K])
# on the joint rows: a broken {0,1,2}, b broken {0,2,3}; both {0,2}; either {0,1,2,3}


def status(values):
    return {"attack_status": np.asarray(values)}


def test_vulnerable_jaccard_hand_computed():
    assert VulnerableJaccard()(status(A), status(B)) == pytest.approx(2 / 4)


def test_chance_jaccard_hand_computed():
    p_a = p_b = 3 / 6
    expected = p_a * p_b / (p_a + p_b - p_a * p_b)  # 0.25 / 0.75
    assert ChanceVulnerableJaccard()(status(A), status(B)) == pytest.approx(expected)
    assert expected == pytest.approx(1 / 3)


def test_kappa_hand_computed():
    # joint 6: both broken 2, both held 2 (rows 4, 5) -> c_obs = 4/6; c_exp = .5*.5 + .5*.5
    expected = (4 / 6 - 0.5) / (1 - 0.5)
    assert VulnerableKappa()(status(A), status(B)) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(5))
def test_against_sklearn_on_random_outcomes(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    joint = (a != K) & (b != K)
    broken_a, broken_b = a[joint] == S, b[joint] == S
    assert VulnerableJaccard()(status(a), status(b)) == pytest.approx(
        jaccard_score(broken_a, broken_b)
    )
    assert VulnerableKappa()(status(a), status(b)) == pytest.approx(
        cohen_kappa_score(broken_a, broken_b)
    )


def test_degenerate_conventions():
    never = status([F, F, K])
    assert VulnerableJaccard()(never, never) == 1.0
    assert VulnerableKappa()(never, never) == 1.0
    assert ChanceVulnerableJaccard()(never, never) == 1.0
    disjoint_a, disjoint_b = status([K, S]), status([S, K])  # nothing attacked by both
    assert ChanceVulnerableJaccard()(disjoint_a, disjoint_b) == 0.0
    assert VulnerableKappa()(disjoint_a, disjoint_b) == 1.0


def test_chunking_and_bootstrap_run_on_the_matrix_runner():
    rng = np.random.default_rng(0)
    outputs = {name: status(rng.integers(0, 3, 120)) for name in ("ref", "seed2", "small")}
    for char in vulnerable_family():
        whole = char(outputs["ref"], outputs["small"])
        char.reset()
        char.update(
            status(outputs["ref"]["attack_status"][:50]),
            status(outputs["small"]["attack_status"][:50]),
        )
        char.update(
            status(outputs["ref"]["attack_status"][50:]),
            status(outputs["small"]["attack_status"][50:]),
        )
        assert char.compute() == pytest.approx(whole)
    matrices = pairwise_matrices(vulnerable_family(), outputs, n_resamples=50, seed=0)
    jaccard = matrices[0]
    assert np.allclose(np.diag(jaccard.value), 1.0)
    assert np.allclose(jaccard.value, jaccard.value.T)
    assert (jaccard.ci_low <= jaccard.value + 1e-12).all() and (
        jaccard.value <= jaccard.ci_high + 1e-12
    ).all()


def transfer_outputs():
    """Two variants, 5 rows. a broke rows 0-2; b broke rows 2-3.

    b on a's texts (rows 0-2): right, fooled, fooled; b was wrong on row 1 before the attack?
    No: b clean-correct everywhere except row 4 (skipped by b). a on b's texts (rows 2-3):
    fooled, right.
    """
    nan = np.nan
    a = {
        "attack_status": np.array([S, S, S, F, F]),
        "variant_index": np.zeros(5, int),
        "transfer_correct": np.array([[0, nan], [0, nan], [0, 0], [nan, 1], [nan, nan]]),
        "clean_correct": np.ones(5, bool),
    }
    b = {
        "attack_status": np.array([F, F, S, S, K]),
        "variant_index": np.ones(5, int),
        "transfer_correct": np.array([[1, nan], [0, nan], [0, 0], [nan, 0], [nan, nan]]),
        "clean_correct": np.array([True, True, True, True, False]),
    }
    return a, b


def test_transfer_hand_computed():
    a, b = transfer_outputs()
    # a -> b: a broke rows 0,1,2 (b clean-correct on all); b fooled on 1, 2 -> 2/3
    assert AttackTransferRate()(a, b) == pytest.approx(2 / 3)
    assert AttackTransferAccuracy()(a, b) == pytest.approx(1 / 3)
    # b -> a: b broke rows 2, 3; a fooled on 2, right on 3 -> 1/2
    assert AttackTransferRate()(b, a) == pytest.approx(1 / 2)
    assert AttackTransferAccuracy()(b, a) == pytest.approx(1 / 2)
    # the diagonal: own adversarial texts always fool (rate 1, accuracy 0)
    assert AttackTransferRate()(a, a) == 1.0 and AttackTransferAccuracy()(a, a) == 0.0
    matrix = pairwise_matrices([AttackTransferRate()], {"a": a, "b": b}, n_resamples=20)[0]
    assert matrix.value[0, 1] == pytest.approx(2 / 3) and matrix.value[1, 0] == pytest.approx(0.5)


def test_transfer_left_out_when_b_was_wrong_before_the_attack():
    a, b = transfer_outputs()
    b["clean_correct"] = np.array([False, True, True, True, False])  # b already wrong on row 0
    # a -> b now over rows 1, 2 only: both fooled
    assert AttackTransferRate()(a, b) == pytest.approx(1.0)
    never = dict(a, attack_status=np.array([F, F, F, F, F]))
    assert np.isnan(AttackTransferRate()(never, b))
