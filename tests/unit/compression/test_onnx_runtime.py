"""ONNX export and ONNX Runtime int8 quantization behind the classifier interface."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from trusteq.compression.base import CompressionConfigError, compression_stats
from trusteq.compression.onnx_runtime import OnnxRuntimeQuantization, OnnxSequenceClassifier
from trusteq.compression.pruning import GlobalMagnitudePruning
from trusteq.models.lightning_runs import predict


@pytest.fixture
def bert(tiny_split):
    """A 2-layer, hidden-64 BERT whose every parameter is random (no two tensors alike)."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
        num_labels=2,
    )
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model


def _batch(context):
    batch = next(iter(context.calibration_loader(16)))
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def test_fp32_export_matches_torch_logits_and_every_hidden_layer(bert, context):
    batch = _batch(context)
    assert bool((batch["attention_mask"] == 0).any())  # padding is exercised
    with torch.inference_mode():
        expected = bert(**batch, output_hidden_states=True)
    exported = OnnxRuntimeQuantization(quantization="none").apply(bert, context)
    assert isinstance(exported, OnnxSequenceClassifier) and not bert.training
    outputs = exported(**batch, output_hidden_states=True)
    torch.testing.assert_close(outputs.logits, expected.logits, rtol=1e-4, atol=1e-5)
    assert len(outputs.hidden_states) == len(expected.hidden_states) == 3
    for got, want in zip(outputs.hidden_states, expected.hidden_states, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    stats = compression_stats(exported)
    assert stats.format == "onnx"
    assert stats.parameters == sum(p.numel() for p in bert.parameters())


def test_dynamic_int8_is_smaller_close_and_runs_the_predict_path(bert, context, tiny_split):
    fp32 = compression_stats(OnnxRuntimeQuantization(quantization="none").apply(bert, context))
    torch_stats = compression_stats(bert)
    reference, _ = predict(bert, tiny_split, 16, {"accelerator": "cpu"}, force_cpu=True)
    quantized = OnnxRuntimeQuantization(quantization="dynamic").apply(bert, context)
    stats = compression_stats(quantized)
    assert stats.size_mb < 0.5 * fp32.size_mb and stats.size_mb < 0.5 * torch_stats.size_mb
    assert stats.bits_per_weight < 0.5 * fp32.bits_per_weight
    arrays, _ = predict(quantized, tiny_split, 16, {"accelerator": "cpu"}, force_cpu=True)
    for key in ("logits", "probs", "preds", "embeddings_cls", "embeddings_mean"):
        assert arrays[key].shape == reference[key].shape, key
    np.testing.assert_allclose(arrays["logits"], reference["logits"], atol=0.05)


def test_static_int8_calibrates_on_validation_batches(bert, context):
    batch = _batch(context)
    with torch.inference_mode():
        expected = bert(**batch).logits
    quantized = OnnxRuntimeQuantization(quantization="static", calibration_batches=2)
    assert quantized.requires_data
    model = quantized.apply(bert, context)
    assert compression_stats(model).format == "onnx"
    torch.testing.assert_close(model(**batch).logits, expected, atol=0.1, rtol=0)
    with pytest.raises(CompressionConfigError, match="needs calibration data"):
        quantized.apply(bert)


def test_pruned_zeros_survive_export_and_int8(bert, context):
    pruned = GlobalMagnitudePruning(0.5, scope="all").apply(bert)
    quantized = OnnxRuntimeQuantization(quantization="dynamic").apply(pruned, context)
    assert compression_stats(quantized).linear_sparsity == pytest.approx(0.5, abs=0.01)


def test_bad_settings_and_missing_backend_fail_at_construction(monkeypatch):
    with pytest.raises(CompressionConfigError, match="compression.quantization='int4'"):
        OnnxRuntimeQuantization(quantization="int4")
    with pytest.raises(CompressionConfigError, match="compression.calibration_method"):
        OnnxRuntimeQuantization(calibration_method="mse")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else real(name)
    )
    with pytest.raises(CompressionConfigError, match="pip install onnx onnxruntime"):
        OnnxRuntimeQuantization()
