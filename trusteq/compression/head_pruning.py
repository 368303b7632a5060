"""Structured attention-head pruning by head importance.

Michel et al. 2019, "Are Sixteen Heads Really Better than One?", NeurIPS, arXiv 1905.10650,
Eq. (2): the importance of head h is the expected absolute sensitivity of the loss to a mask
variable ξ_h that multiplies the head's output,

    I_h = E_x | ∂L(x) / ∂ξ_h |,  evaluated at ξ = 1,

estimated, as in the authors' code and Hugging Face's bertology example, by summing the absolute
gradient of each calibration batch's mean cross-entropy over a few batches; scores are normalised
per layer by their L2 norm (the authors' default). The least important heads over the whole model
are removed with `transformers`' `prune_heads`, which deletes their rows and columns of the query,
key, value and output projections, so parameters and compute really drop. At least one head per
layer is kept (a layer without heads would reduce attention to its output bias).
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import torch
from torch import nn

from trusteq.compression.base import (
    Architecture,
    Compression,
    CompressionConfigError,
    CompressionContext,
    require_context,
)

log = logging.getLogger(__name__)


def head_importance(
    model: nn.Module, batches: list[dict[str, torch.Tensor]], normalize_by_layer: bool = True
) -> torch.Tensor:
    """Michel et al. (2019) head importance from gradients of a head mask.

    Args:
        model: a `...ForSequenceClassification` model that accepts `head_mask` (BERT, DistilBERT);
            no head may be pruned yet.
        batches: tokenised batches with `input_ids`, `attention_mask`, `labels` (and optionally
            `token_type_ids`).
        normalize_by_layer: divide each layer's scores by their L2 norm (Michel et al., §4.1).

    Returns:
        Shape `(L, H)`, float32, non-negative: importance of head h of layer l.
    """
    architecture = Architecture.from_config(model.config)
    if architecture is None or architecture.total_heads != (
        architecture.num_layers * architecture.num_heads
    ):
        raise CompressionConfigError(
            "head importance needs an unpruned BERT-like model (config.num_attention_heads and "
            "no config.pruned_heads): prune heads once per lineage."
        )
    head_mask = torch.ones(architecture.num_layers, architecture.num_heads, requires_grad=True)
    importance = torch.zeros(architecture.num_layers, architecture.num_heads)
    was_training = model.training
    model.eval()  # deterministic: no dropout while measuring sensitivities
    for batch in batches:
        inputs = {
            key: batch[key]
            for key in ("input_ids", "attention_mask", "token_type_ids")
            if key in batch
        }
        logits = model(**inputs, head_mask=head_mask).logits
        loss = nn.functional.cross_entropy(logits, batch["labels"])
        (gradient,) = torch.autograd.grad(loss, head_mask)
        importance += gradient.abs().detach()
    model.train(was_training)
    if normalize_by_layer:
        importance /= importance.norm(p=2, dim=-1, keepdim=True).clamp_min(1e-20)
    return importance


def heads_to_prune(importance: torch.Tensor, count: int) -> dict[int, list[int]]:
    """The `count` least important heads, never the most important head of a layer.

    Args:
        importance: shape `(L, H)`.
        count: heads to remove, at most `L * (H - 1)`.

    Returns:
        layer → sorted head indices to remove (layers with none are left out).
    """
    scores = importance.clone().float()
    keep = scores.argmax(dim=-1)
    scores[torch.arange(scores.shape[0]), keep] = math.inf  # one head per layer survives
    order = torch.argsort(scores.flatten(), stable=True)[:count]
    pruned: dict[int, list[int]] = {}
    for flat in order.tolist():
        layer, head = divmod(flat, scores.shape[1])
        pruned.setdefault(layer, []).append(head)
    return {layer: sorted(heads) for layer, heads in sorted(pruned.items())}


class AttentionHeadPruning(Compression):
    """Remove the least important attention heads (Michel et al. 2019), model-wide.

    Args:
        fraction: share of all heads to remove, in [0, 1); or None when `num_heads` is given.
        num_heads: number of heads to remove, >= 0; or None when `fraction` is given.
        calibration_batches: validation batches used to estimate importance, >= 1.
        calibration_batch_size: examples per calibration batch, >= 1 (importance sums |gradient|
            of each batch's mean loss, so this shapes the result).
        normalize_by_layer: L2-normalise importance within each layer before ranking.

    Raises:
        CompressionConfigError: both or neither of fraction / num_heads, a value out of range, or
            (`check`, at config time) more heads than can go while keeping one per layer.
    """

    requires_data = True

    def __init__(
        self,
        fraction: float | None = 0.25,
        num_heads: int | None = None,
        calibration_batches: int = 8,
        calibration_batch_size: int = 64,
        normalize_by_layer: bool = True,
    ) -> None:
        if (fraction is None) == (num_heads is None):
            raise CompressionConfigError(
                f"compression.fraction={fraction!r}, compression.num_heads={num_heads!r}: set "
                "exactly one of them (the other to null)."
            )
        if fraction is not None and not 0.0 <= float(fraction) < 1.0:
            raise CompressionConfigError(
                f"compression.fraction={fraction!r} must be in [0, 1): the share of attention "
                "heads removed. Fix: e.g. compression.fraction=0.25."
            )
        if num_heads is not None and int(num_heads) < 0:
            raise CompressionConfigError(f"compression.num_heads={num_heads!r} must be >= 0.")
        for field, value in (
            ("calibration_batches", calibration_batches),
            ("calibration_batch_size", calibration_batch_size),
        ):
            if int(value) < 1:
                raise CompressionConfigError(f"compression.{field}={value!r} must be >= 1.")
        self.fraction = None if fraction is None else float(fraction)
        self.num_heads = None if num_heads is None else int(num_heads)
        self.calibration_batches = int(calibration_batches)
        self.calibration_batch_size = int(calibration_batch_size)
        self.normalize_by_layer = bool(normalize_by_layer)

    def count(self, architecture: Architecture) -> int:
        """Heads this step removes from a model of this shape."""
        if self.num_heads is not None:
            return self.num_heads
        return int(round(self.fraction * architecture.total_heads))

    def check(self, architecture: Architecture) -> Architecture:
        if architecture.total_heads != architecture.num_layers * architecture.num_heads:
            raise CompressionConfigError(
                "compression: attention heads were already pruned earlier in this variant's "
                "lineage; head pruning can be applied once. Fix: merge the two steps."
            )
        count = self.count(architecture)
        removable = architecture.num_layers * (architecture.num_heads - 1)
        if count > removable:
            field = "num_heads" if self.num_heads is not None else "fraction"
            value = self.num_heads if self.num_heads is not None else self.fraction
            raise CompressionConfigError(
                f"compression.{field}={value!r} asks to prune {count} heads, but the model has "
                f"{architecture.total_heads} ({architecture.num_layers} layers x "
                f"{architecture.num_heads}) and one per layer must remain: at most {removable}."
            )
        return replace(architecture, total_heads=architecture.total_heads - count)

    def apply(self, model: nn.Module, context: CompressionContext | None = None) -> nn.Module:
        architecture = Architecture.from_config(model.config)
        if architecture is None:
            raise CompressionConfigError(
                f"head pruning does not know the heads of {type(model).__name__}."
            )
        self.check(architecture)
        count = self.count(architecture)
        if count == 0:
            return model
        loader = require_context(self, context, self.calibration_batch_size)
        batches = [batch for _, batch in zip(range(self.calibration_batches), loader, strict=False)]
        importance = head_importance(model, batches, self.normalize_by_layer)
        pruned = heads_to_prune(importance, count)
        log.info("pruning %d of %d attention heads: %s", count, architecture.total_heads, pruned)
        model.prune_heads(pruned)
        return model
