"""Undefined values are NaN with a reason, never agreement (issue 10, item 8).

Trial: with two perfect models the summary showed error Jaccard and kappa `1.000 [1.00, 1.00]`.
Reference: the Jaccard index |A ∩ B| / |A ∪ B| and Cohen's kappa (c_obs − c_exp) / (1 − c_exp) are
both 0/0 there; sklearn's `jaccard_score` warns and its `cohen_kappa_score` returns NaN.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from trusteq.characteristics.bootstrap import bootstrap_interval
from trusteq.characteristics.chance_error_jaccard import ChanceErrorJaccard
from trusteq.characteristics.error_consistency import ErrorConsistency
from trusteq.characteristics.error_jaccard import ErrorJaccard
from trusteq.characteristics.matrix import pairwise_matrix

TARGETS = np.array([0, 1, 1, 0, 1, 0])
PERFECT = {"preds": TARGETS.copy(), "targets": TARGETS}
ONE_ERROR = {"preds": np.array([1, 1, 1, 0, 1, 0]), "targets": TARGETS}


def test_kappa_reference_is_nan_too():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(cohen_kappa_score(np.ones(6, bool), np.ones(6, bool)))


@pytest.mark.parametrize("char", [ErrorJaccard(), ChanceErrorJaccard(), ErrorConsistency()])
def test_neither_model_errs_is_nan_with_a_reason(char):
    assert np.isnan(char(PERFECT, PERFECT))
    totals = char.statistics(PERFECT, PERFECT).sum(axis=0)
    assert "neither model errs" in char.undefined_reason(totals)


@pytest.mark.parametrize("char", [ErrorJaccard(), ChanceErrorJaccard(), ErrorConsistency()])
def test_defined_values_have_no_reason(char):
    totals = char.statistics(ONE_ERROR, PERFECT).sum(axis=0)
    assert char.undefined_reason(totals) is None
    assert not np.isnan(char(ONE_ERROR, PERFECT))


def test_one_model_erring_is_defined():
    # |A ∩ B| = 0, |A ∪ B| = 1: a real 0, not undefined.
    assert ErrorJaccard()(ONE_ERROR, PERFECT) == 0.0


def test_matrix_of_perfect_models_is_nan_logged_and_explained(caplog):
    outputs = {"reference": PERFECT, "int8": dict(PERFECT), "seed43": dict(PERFECT)}
    with caplog.at_level(logging.WARNING, logger="trusteq.characteristics.matrix"):
        result = pairwise_matrix(ErrorJaccard(), outputs, n_resamples=20)
    assert np.isnan(result.value).all()  # diagonal too: no contract error is raised
    assert np.isnan(result.ci_low).all() and np.isnan(result.ci_high).all()
    assert result.metadata["undefined_reasons"] == [
        "neither model errs on any example (empty union of error sets)"
    ]
    assert any("undefined (NaN) for 6 pair(s)" in r.getMessage() for r in caplog.records)
    assert result.to_dict()["value"][0][0] is None  # JSON: null, not 1.0


def test_matrix_mixes_defined_and_undefined_pairs():
    outputs = {"reference": PERFECT, "worse": ONE_ERROR}
    result = pairwise_matrix(ErrorJaccard(), outputs, n_resamples=0)
    assert np.isnan(result.value[0, 0])
    assert result.value[1, 1] == 1.0 and result.value[0, 1] == 0.0


def test_bootstrap_interval_is_nan_when_undefined():
    low, high = bootstrap_interval(ErrorConsistency(), PERFECT, PERFECT, n_resamples=20)
    assert np.isnan(low) and np.isnan(high)
