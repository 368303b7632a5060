"""Recovery fine-tuning after magnitude pruning keeps the pruned weights at zero."""

from __future__ import annotations

import torch
from transformers import AutoModelForSequenceClassification

from trusteq.compression.base import compression_stats
from trusteq.compression.pruning import (
    GlobalMagnitudePruning,
    pin_zero_weights,
    remove_pruning_masks,
)
from trusteq.models.lightning_runs import fine_tune

RECIPE = {
    "epochs": 1,
    "batch_size": 16,
    "learning_rate": 1e-2,
    "weight_decay": 0.01,
    "warmup_ratio": 0.0,
    "monitor": "val_accuracy",
    "early_stopping_patience": 1,
}
RUNTIME = {"accelerator": "cpu", "enable_progress_bar": False}


def _pruned(tiny_model_dir):
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    return GlobalMagnitudePruning(0.5, scope="all").apply(model)


def _zero_masks(model):
    return {
        name: module.weight.detach() == 0
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    }


def test_pinned_zeros_survive_fine_tuning(tiny_model_dir, tiny_split):
    model = _pruned(tiny_model_dir)
    zeros = _zero_masks(model)
    pinned = pin_zero_weights(model)
    assert pinned == sum(int(mask.sum()) for mask in zeros.values())
    before = {
        name: module.weight.detach().clone()
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    }
    model, _ = fine_tune(model, tiny_split, tiny_split, RECIPE, RUNTIME, seed=0)
    remove_pruning_masks(model)
    assert not any("weight_orig" in name for name, _ in model.named_parameters())
    for name, mask in _zero_masks(model).items():
        assert torch.equal(mask | zeros[name], mask), f"{name}: a pruned weight came back"
    after = {n: m.weight for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert any(not torch.equal(after[name], before[name]) for name in before)  # it did train
    assert abs(compression_stats(model).linear_sparsity - 0.5) < 0.01


def test_without_pins_training_revives_pruned_weights(tiny_model_dir, tiny_split):
    """The control: the same optimiser without masks moves the zeros (so the pins matter)."""
    model = _pruned(tiny_model_dir).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    batch = next(iter(torch.utils.data.DataLoader(tiny_split, 16, collate_fn=tiny_split.collate)))
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    loss = torch.nn.functional.cross_entropy(model(**inputs).logits, batch["labels"])
    loss.backward()
    optimizer.step()
    assert compression_stats(model).linear_sparsity < 0.1
