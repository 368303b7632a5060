"""The report's notes: near-constant predictors, noisy explainers, machine-dependent results."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from trusteq.characteristics.matrix import PairwiseResult
from trusteq.report.notes import constant_predictor_notes, report_notes
from trusteq.report.results import ComparisonResult


def _outputs(preds: list[int], targets: list[int], n_classes: int = 3) -> dict[str, np.ndarray]:
    probs = np.full((len(preds), n_classes), 0.1)
    probs[np.arange(len(preds)), preds] = 0.8
    return {"probs": probs, "preds": np.asarray(preds), "targets": np.asarray(targets)}


def test_a_constant_predictor_is_named_with_its_class_and_the_gold_share():
    targets = [0] * 10 + [1] * 6 + [2] * 4  # gold share of class 0: 10 / 20 = 50.0%
    arrays = {
        "constant": _outputs([0] * 20, targets),
        "learned": _outputs(targets, targets),
        "almost": _outputs([0] * 19 + [1], targets),  # 95.0% class 0: at the threshold
        "below": _outputs([0] * 18 + [1, 2], targets),  # 90.0%
    }
    notes = constant_predictor_notes(arrays, ["True", "False", "Neither"])
    assert [line.split(":")[0] for line in notes] == ["constant", "almost"]
    assert "'True' for 100.0% of the 20 compared inputs" in notes[0]
    assert "gold share of that class: 50.0%" in notes[0]
    assert "'True' for 95.0%" in notes[1]
    assert constant_predictor_notes(arrays, None, share=1.0)[0].startswith("constant: predicts '0'")


def test_outputs_without_class_scores_are_not_checked():
    qa = {"start_logits": np.zeros((4, 7)), "end_logits": np.zeros((4, 7))}
    assert constant_predictor_notes({"reader": qa}) == []


def test_report_notes_gather_machines_explainer_floors_and_predictors():
    variants = ["reference", "int8"]
    floor = np.array([[0.62, 0.5], [0.5, 0.7]])
    pairwise = {
        "attribution_lime_jaccard_k10_cross_seed": PairwiseResult(
            "jaccard_k10", variants, floor, floor - 0.1, floor + 0.1
        ),
        "attribution_shap_jaccard_k10_cross_seed": PairwiseResult(
            "jaccard_k10", variants, floor + 0.3, floor, floor + 0.3
        ),
    }
    machine = {"cpu": "AMD EPYC", "torch_cpu_capability": "AVX2", "quantized_engine": "x86"}
    result = ComparisonResult(
        unary={},
        pairwise=pairwise,
        summary=pd.DataFrame(),
        meta={
            "reference": {"label_names": ["neg", "pos"]},
            "int8": {"machine_dependent": True, "machine": machine, "label_names": ["neg", "pos"]},
        },
        header=SimpleNamespace(reference="reference"),
    )
    arrays = {
        "reference": _outputs([1, 0, 1, 0], [1, 0, 1, 1], 2),
        "int8": _outputs([1, 1, 1, 1], [1, 0, 1, 1], 2),
    }
    notes = report_notes(result, arrays)
    assert len(notes) == 3, notes
    assert notes[0].startswith("int8: machine-dependent") and "AMD EPYC" in notes[0]
    assert "AVX2" in notes[0]
    assert notes[1].startswith("lime: the explainer's own floor") and "0.62 < 0.9" in notes[1]
    assert notes[2].startswith("int8: predicts 'pos' for 100.0% of the 4")
    assert len(report_notes(result)) == 2  # no outputs given: no predictor check
