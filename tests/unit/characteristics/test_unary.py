from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score
from torchmetrics.functional.classification import multiclass_calibration_error

from trusteq.characteristics.unary import UNARY_KEYS, compute_unary, macro_f1


def test_keys_are_the_documented_set(pair):
    metrics = compute_unary(pair[0])
    assert tuple(metrics) == UNARY_KEYS
    assert all(isinstance(value, float) for value in metrics.values())
    import trusteq.characteristics.unary as module

    for key in UNARY_KEYS:
        assert f"``{key}``" in module.__doc__


def test_values_match_independent_references(pair):
    outputs = pair[1]
    metrics = compute_unary(outputs, n_bins=10)
    targets, preds = outputs["targets"], outputs["preds"]
    assert metrics["accuracy"] == pytest.approx(accuracy_score(targets, preds))
    assert metrics["error_rate"] == pytest.approx(1 - accuracy_score(targets, preds))
    assert metrics["macro_f1"] == pytest.approx(f1_score(targets, preds, average="macro"))
    assert metrics["n_examples"] == len(targets)
    reference_ece = multiclass_calibration_error(
        torch.from_numpy(outputs["probs"].astype(np.float64)),
        torch.from_numpy(targets),
        num_classes=3,
        n_bins=10,
    )
    assert metrics["ece_equal_width"] == pytest.approx(float(reference_ece), abs=1e-6)
    assert 0 <= metrics["ece_equal_mass"] <= metrics["mce_equal_mass"] <= 1
    assert 0 <= metrics["brier"] <= 2 and metrics["nll"] > 0


def test_nll_falls_back_to_probs(pair):
    outputs = dict(pair[0])
    with_logits = compute_unary(outputs)["nll"]
    del outputs["logits"]
    assert compute_unary(outputs)["nll"] == pytest.approx(with_logits, rel=1e-4)


def test_macro_f1_leaves_out_absent_classes_like_sklearn_default():
    targets = np.array([0, 0, 1, 1, 1])
    preds = np.array([0, 1, 1, 1, 0])
    # Class 2 never occurs: sklearn's default labels are the classes present, as here.
    assert macro_f1(preds, targets, n_classes=3) == pytest.approx(
        f1_score(targets, preds, average="macro")
    )


def test_missing_key_and_bad_preds_raise(pair):
    outputs = dict(pair[0])
    with pytest.raises(ValueError, match="preds must lie"):
        compute_unary({**outputs, "preds": outputs["preds"] + 3})
    del outputs["probs"]
    with pytest.raises(KeyError, match="probs"):
        compute_unary(outputs)
