"""The MLflow key scheme of the verdicts: unique, valid, complete."""

from __future__ import annotations

import doctest
import re

import numpy as np
import pytest

import trusteq.tracking.keys as keys_module
from trusteq.characteristics.error_consistency import ErrorConsistency
from trusteq.characteristics.prediction_agreement import PredictionAgreement
from trusteq.stats import seed_verdicts, simulate_population
from trusteq.tracking.keys import (
    OUTCOME_CODES,
    characteristic_keys,
    key_table_markdown,
    metric_key,
    study_params,
    variant_metrics_and_tags,
)


@pytest.fixture(scope="module")
def result():
    outputs = simulate_population(["ref", "s1", "s2", "small"], 300, extra_noise={"small": 2.0})
    chars = [PredictionAgreement(), ErrorConsistency()]
    return seed_verdicts(chars, outputs, "ref", ["s1", "s2"], n_resamples=200)


def test_keys_are_unique_across_characteristics_and_kinds():
    names = ["error_consistency", "knn_agreement_k10", "cka_linear", "knn_agreement_k1"]
    every = []
    for name in names:
        keys = characteristic_keys(name)
        every += keys["metrics"] + keys["tags"]
    every += ["verdict"] + [f"verdict.{c}" for c in keys_module.VERDICT_COUNTS]
    assert len(every) == len(set(every))
    assert all(re.fullmatch(r"[A-Za-z0-9_\-./: ]+", key) for key in every)


def test_variant_metrics_and_tags(result):
    runs = variant_metrics_and_tags(result.table, result.overall)
    assert set(runs) == {"s1", "s2", "small"}
    metrics, tags = runs["small"]
    row = result.table.query("variant == 'small' and characteristic == 'error_consistency'")
    assert metrics["error_consistency.vs_reference"] == pytest.approx(row["value"].item())
    assert metrics["error_consistency.floor_mean"] == pytest.approx(row["floor_mean"].item())
    assert tags["error_consistency.outcome"] == row["outcome"].item()
    assert metrics["error_consistency.outcome_code"] == OUTCOME_CODES[row["outcome"].item()]
    assert tags["verdict"] == result.verdict("small")
    assert all(np.isfinite(value) for value in metrics.values())
    # the metric and tag names never collide, nor do two characteristics
    assert not set(metrics) & set(tags)


def test_duplicate_characteristic_is_refused(result):
    import pandas as pd

    doubled = pd.concat([result.table, result.table.iloc[:1]])
    with pytest.raises(ValueError, match="twice"):
        variant_metrics_and_tags(doubled)


def test_study_params_and_docs(result):
    params = study_params(result.settings)
    assert params["verdict.alpha"] == "0.05" and params["verdict.seeds"] == "ref,s1,s2"
    table = key_table_markdown()
    for suffix, _, _ in keys_module.CHARACTERISTIC_METRICS:
        assert f"`<c>.{suffix}`" in table
        assert f"``<c>.{suffix}``" in keys_module.__doc__  # module docs list every key
    with pytest.raises(ValueError, match="unknown key suffix"):
        metric_key("error_consistency", "floor")


def test_doctests():
    assert doctest.testmod(keys_module).failed == 0
