"""Integrated Gradients word attributions (Sundararajan et al. 2017, arXiv 1703.01365), via captum.

`captum.attr.LayerIntegratedGradients` on the model's input (word) embedding layer: the path runs
from a baseline input, in which every non-special token is replaced by the baseline token (the
pad token under `mask: remove`, the usual "no information" reference since a token cannot be
deleted in embedding space; the mask token under `mask: mask_token`), to the input, for the
probability of the explained class. The token attribution is the sum over the embedding dimension
(Eq. 1 of the paper, per token); word attributions are the sums over each word's tokens
(:func:`trusteq.producers.explain.words.aggregate_to_words`). It is the cheap third opinion:
`n_steps` forward and backward passes per example, no sampling (the seed changes nothing).

Dynamically quantized (int8) models have no gradients (their kernels are CPU-only and not
differentiable). `on_quantized: dequantize` (default) runs IG through a float copy whose linear
layers carry the dequantized int8 weights, i.e. the int8 model without activation quantization (a
straight-through view; recorded in the entry's notes); `on_quantized: skip` stores NaN attributions
and the reason instead.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from trusteq.producers.explain.base import (
    AttributionProducer,
    ExplainContext,
    ExplainerConfigError,
    require,
)
from trusteq.producers.explain.scoring import is_dynamically_quantized, logits_of
from trusteq.producers.explain.words import SegmentedInput, aggregate_to_words, token_word_index

ON_QUANTIZED = ("dequantize", "skip")
METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left", "riemann_right")


def dequantized_copy(model: nn.Module) -> nn.Module:
    """A float copy of a dynamically quantized model: each int8 `Linear` → float `nn.Linear`.

    Args:
        model: a model from `torch.ao.quantization.quantize_dynamic`.

    Returns:
        A new model (the input is untouched) with the dequantized weights and the float biases.
    """
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    clone = copy.deepcopy(model)
    for parent in list(clone.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, DynamicLinear):
                bias = child.bias()
                linear = nn.Linear(child.in_features, child.out_features, bias=bias is not None)
                with torch.no_grad():
                    linear.weight.copy_(child.weight().dequantize())
                    if bias is not None:
                        linear.bias.copy_(bias)
                setattr(parent, child_name, linear)
    return clone.eval()


class IntegratedGradientsAttribution(AttributionProducer):
    """Integrated Gradients of the explained class's probability, summed to words.

    Args:
        n_steps: points on the integration path (captum's `n_steps`).
        method: captum's quadrature, `gausslegendre` (default) or a Riemann rule.
        on_quantized: `dequantize` or `skip` (see the module docstring).
        **common: see :class:`~trusteq.producers.explain.base.AttributionProducer`.

    Raises:
        ExplainerConfigError: `n_steps < 2`, unknown `method` or `on_quantized`.
    """

    name = "integrated_gradients"
    seeded = False  # no sampling: the seed is not in the cache key

    def __init__(
        self,
        n_steps: int = 32,
        method: str = "gausslegendre",
        on_quantized: str = "dequantize",
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if int(n_steps) < 2:
            raise ExplainerConfigError(f"IntegratedGradients: n_steps={n_steps}; need >= 2.")
        if method not in METHODS:
            raise ExplainerConfigError(f"IntegratedGradients: method={method!r}; one of {METHODS}.")
        if on_quantized not in ON_QUANTIZED:
            raise ExplainerConfigError(
                f"IntegratedGradients: on_quantized={on_quantized!r}; one of {ON_QUANTIZED}."
            )
        self.n_steps = int(n_steps)
        self.method = str(method)
        self.on_quantized = str(on_quantized)

    def skip_reason(self, model: nn.Module) -> str | None:
        if self.on_quantized == "skip" and is_dynamically_quantized(model):
            return (
                "integrated gradients skipped: dynamically quantized (int8) kernels have no "
                "gradients (on_quantized=skip); set on_quantized=dequantize to run it through "
                "the dequantized float weights"
            )
        return None

    def prepare(self, context: ExplainContext) -> None:
        LayerIntegratedGradients = require("captum.attr").LayerIntegratedGradients  # noqa: N806

        model = context.model
        if is_dynamically_quantized(model):
            model = dequantized_copy(model)
            context.extras.setdefault("notes", []).append(
                "integrated gradients ran on a float copy with the dequantized int8 weights "
                "(activations not quantized)"
            )
        tokenizer = context.tokenizer
        baseline = tokenizer.pad_token_id if context.mask == "" else tokenizer.mask_token_id
        context.extras["ig_model"] = model
        context.extras["baseline_id"] = int(baseline if baseline is not None else 0)

        def probabilities(input_ids: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
            inputs = dict(zip(context.extras["ig_inputs"], (input_ids, *rest), strict=True))
            return torch.softmax(logits_of(model(**inputs)).float(), dim=-1)

        context.extras["ig"] = LayerIntegratedGradients(probabilities, model.get_input_embeddings())

    def explain(
        self, instance: SegmentedInput, target: int, context: ExplainContext, seed: int
    ) -> np.ndarray:
        """IG attributions of the W words for class `target`; shape `(W,)`."""
        segments = instance.segments
        encoded = context.tokenizer(
            segments[0],
            segments[1] if len(segments) > 1 else None,
            truncation=True,
            max_length=self.max_length,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = [tuple(pair) for pair in encoded.pop("offset_mapping")[0].tolist()]
        sequence_ids = encoded.sequence_ids(0)
        encoded = {key: value.to(context.device) for key, value in encoded.items()}
        input_ids = encoded.pop("input_ids")
        special = torch.tensor([s is None for s in sequence_ids], device=context.device)
        baselines = torch.where(special, input_ids, context.extras["baseline_id"])
        context.extras["ig_inputs"] = ("input_ids", *encoded)
        with torch.enable_grad():
            attributions = context.extras["ig"].attribute(
                inputs=input_ids,
                baselines=baselines,
                additional_forward_args=tuple(encoded.values()),
                target=int(target),
                n_steps=self.n_steps,
                method=self.method,
                internal_batch_size=context.scorer.batch_size,
            )
        token_scores = attributions.sum(dim=-1)[0].detach().float().cpu().numpy()
        context.extras["evals"] = context.extras["requests"] = self.n_steps
        word_index = token_word_index(offsets, sequence_ids, instance)
        return aggregate_to_words(token_scores, word_index, len(instance))
