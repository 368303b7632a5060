"""Attention-head pruning (Michel et al. 2019): importance, selection, and real removal."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from trusteq.compression.base import Architecture, CompressionConfigError, compression_stats
from trusteq.compression.head_pruning import AttentionHeadPruning, head_importance, heads_to_prune


@pytest.fixture
def tiny_model(tiny_model_dir):
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2).eval()


def _batches(context, n=2):
    return [batch for _, batch in zip(range(n), context.calibration_loader(16), strict=False)]


def _loss(model, batch, head_mask):
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    logits = model(**inputs, head_mask=head_mask).logits
    return torch.nn.functional.cross_entropy(logits, batch["labels"])


def test_importance_equals_finite_difference_sensitivities(tiny_model, context):
    """|dL/dξ_h| per batch, summed: checked against central differences in float64."""
    model = tiny_model.double()
    batches = _batches(context)
    layers, heads = 2, 2
    expected = torch.zeros(layers, heads, dtype=torch.float64)
    step = 1e-5
    with torch.no_grad():
        for batch in batches:
            for layer in range(layers):
                for head in range(heads):
                    plus = torch.ones(layers, heads, dtype=torch.float64)
                    minus = plus.clone()
                    plus[layer, head] += step
                    minus[layer, head] -= step
                    slope = (_loss(model, batch, plus) - _loss(model, batch, minus)) / (2 * step)
                    expected[layer, head] += slope.abs()
    importance = head_importance(model, batches, normalize_by_layer=False)
    torch.testing.assert_close(importance.double(), expected, rtol=1e-4, atol=1e-7)
    normalised = head_importance(model, batches, normalize_by_layer=True)
    torch.testing.assert_close(normalised.norm(dim=-1), torch.ones(layers), rtol=1e-5, atol=0)


def test_selection_keeps_the_best_head_of_each_layer():
    importance = torch.tensor([[0.1, 0.5, 0.3], [0.9, 0.2, 0.4]])
    # Hand-checked: the layer bests (0,1) and (1,0) are protected; the 3 lowest of the rest.
    assert heads_to_prune(importance, 3) == {0: [0, 2], 1: [1]}
    assert heads_to_prune(importance, 0) == {}


def test_pruned_heads_are_really_gone(tiny_model, context):
    before = compression_stats(tiny_model)
    pruned = AttentionHeadPruning(fraction=0.5).apply(tiny_model, context)
    after = compression_stats(pruned)
    hidden, head_size = 32, 16
    # Per head: query, key, value rows (weights + biases) and the output projection's columns.
    per_head = 3 * (head_size * hidden + head_size) + hidden * head_size
    assert before.parameters - after.parameters == 2 * per_head
    assert sum(len(v) for v in pruned.config.pruned_heads.values()) == 2
    assert all(len(v) == 1 for v in pruned.config.pruned_heads.values())  # one kept per layer
    batch = next(iter(context.calibration_loader(16)))
    logits = pruned(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert logits.shape == (len(batch["labels"]), 2)


def test_head_pruning_survives_save_and_load(tiny_model, context, tmp_path):
    pruned = AttentionHeadPruning(num_heads=1, fraction=None).apply(tiny_model, context)
    pruned.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert compression_stats(loaded).parameters == compression_stats(pruned).parameters


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fraction": 1.0}, "compression.fraction=1.0 must be in"),
        ({"fraction": -0.1}, "compression.fraction=-0.1"),
        ({"fraction": 0.5, "num_heads": 2}, "set exactly one"),
        ({"fraction": None, "num_heads": None}, "set exactly one"),
        ({"fraction": None, "num_heads": -1}, "compression.num_heads=-1"),
        ({"calibration_batches": 0}, "compression.calibration_batches=0"),
        ({"calibration_batch_size": 0}, "compression.calibration_batch_size=0"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs, message):
    with pytest.raises(CompressionConfigError, match=message):
        AttentionHeadPruning(**kwargs)


def test_more_heads_than_exist_fail_the_shape_check():
    shape = Architecture(num_layers=2, num_heads=2, total_heads=4)
    with pytest.raises(CompressionConfigError, match="compression.num_heads=3 .* at most 2"):
        AttentionHeadPruning(fraction=None, num_heads=3).check(shape)
    assert AttentionHeadPruning(fraction=0.5).check(shape).total_heads == 2


def test_importance_needs_calibration_data(tiny_model):
    with pytest.raises(CompressionConfigError, match="needs calibration data"):
        AttentionHeadPruning(fraction=0.5).apply(tiny_model)
