from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from trusteq.compression.base import CompressionConfigError, compression_stats
from trusteq.compression.layer_drop import LayerDrop
from trusteq.compression.pruning import GlobalMagnitudePruning
from trusteq.compression.quantization import DynamicInt8Quantization


@pytest.fixture
def tiny_model(tiny_model_dir):
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2).eval()


def _logits(model):
    ids = torch.tensor([[2, 10, 11, 12, 3], [2, 13, 14, 3, 0]])
    mask = (ids != 0).long()
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=mask).logits


def test_stats_count_parameters_like_torch(tiny_model):
    stats = compression_stats(tiny_model)
    assert stats.parameters == sum(p.numel() for p in tiny_model.parameters())
    nonzero = sum(int(torch.count_nonzero(p)) for p in tiny_model.parameters())
    assert stats.nonzero_parameters == nonzero  # fresh biases are exactly zero
    assert stats.sparsity == pytest.approx(1 - nonzero / stats.parameters)
    assert stats.size_mb > 0


@pytest.mark.parametrize("scope", ["encoder", "all"])
@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9])
def test_global_pruning_reaches_requested_sparsity(tiny_model, sparsity, scope):
    owner = tiny_model.bert.encoder if scope == "encoder" else tiny_model
    pool = [m for m in owner.modules() if isinstance(m, torch.nn.Linear)]
    outside = [
        (m, m.weight.detach().clone())
        for m in tiny_model.modules()
        if isinstance(m, torch.nn.Linear) and all(m is not p for p in pool)
    ]
    all_weights = torch.cat([m.weight.detach().abs().flatten() for m in pool])
    threshold = all_weights.kthvalue(int(sparsity * all_weights.numel())).values
    pruned = GlobalMagnitudePruning(sparsity, scope=scope).apply(tiny_model)
    weights = torch.cat([m.weight.detach().flatten() for m in pool])
    achieved = float((weights == 0).float().mean())
    assert abs(achieved - sparsity) < 0.01
    assert float(weights.abs().max()) >= float(threshold)  # large weights survive
    assert _logits(pruned).shape == (2, 2)
    assert not any("weight_orig" in n for n, _ in pruned.named_parameters())  # mask made permanent
    assert (scope == "all") != bool(outside)
    for module, weight in outside:  # pooler and head untouched under scope=encoder
        assert torch.equal(module.weight, weight)


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5])
def test_pruning_rejects_bad_sparsity(sparsity):
    with pytest.raises(CompressionConfigError, match="compression.sparsity"):
        GlobalMagnitudePruning(sparsity)
    with pytest.raises(CompressionConfigError, match="compression.scope='head'"):
        GlobalMagnitudePruning(0.5, scope="head")


def test_int8_is_smaller_and_close(tiny_model):
    before = compression_stats(tiny_model)
    reference = _logits(tiny_model)
    quantized = DynamicInt8Quantization().apply(tiny_model)
    after = compression_stats(quantized)
    assert after.size_mb < before.size_mb
    assert after.parameters == before.parameters
    np.testing.assert_allclose(_logits(quantized), reference, atol=0.1)


def test_int8_rejects_missing_backend():
    with pytest.raises(CompressionConfigError, match="supported engines"):
        DynamicInt8Quantization(backend="no-such-engine")


@pytest.mark.parametrize(("keep", "expected"), [("bottom", [0]), ("top", [1]), ("alternate", [0])])
def test_layer_drop_keeps_the_right_layers(tiny_model, keep, expected):
    layers = list(tiny_model.bert.encoder.layer)
    dropped = LayerDrop(num_layers=1, keep=keep).apply(tiny_model)
    assert [id(m) for m in dropped.bert.encoder.layer] == [id(layers[i]) for i in expected]
    assert dropped.config.num_hidden_layers == 1
    assert _logits(dropped).shape == (2, 2)


def test_layer_drop_rejects_bad_settings(tiny_model):
    with pytest.raises(CompressionConfigError, match="at least one layer"):
        LayerDrop(num_layers=0)
    with pytest.raises(CompressionConfigError, match="exceeds"):
        LayerDrop(num_layers=5).apply(tiny_model)
