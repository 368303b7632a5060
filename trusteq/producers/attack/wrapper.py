"""The model TextAttack queries: a variant's classifier behind trusteq's batched scorer.

TextAttack's ``HuggingFaceModelWrapper`` pads every query to the tokenizer's
``model_max_length`` (512 for BERT-family tokenizers: 4.7x slower than padding to 128, see
``shared/OFFLINE.md``) and runs the goal function's chunks of 32 one forward pass each.
:class:`BatchedClassifierWrapper` hands every query list to
:class:`~trusteq.producers.explain.scoring.PerturbationScorer` instead: truncation at the study's
``max_length``, dynamic padding, length-sorted batches, ``torch.inference_mode`` (autocast on a
GPU) and the variant's own forward (so int8 and ONNX variants are attacked through their own
inference path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from trusteq.producers.attack.environment import import_textattack
from trusteq.producers.explain.scoring import PerturbationScorer

import_textattack()

from textattack.models.wrappers import ModelWrapper  # noqa: E402


def as_segments(text_input: str | Sequence[str]) -> tuple[str, ...]:
    """TextAttack's ``tokenizer_input`` (a string, or a tuple for text pairs) as scorer segments."""
    return (text_input,) if isinstance(text_input, str) else tuple(str(t) for t in text_input)


class BatchedClassifierWrapper(ModelWrapper):
    """TextAttack model wrapper returning class probabilities from a :class:`PerturbationScorer`.

    Args:
        model: the variant's classifier (any module the scorer can call).
        tokenizer: its tokenizer.
        scorer: the scorer running `model` (batch size, max length, device).

    Attributes:
        model: `model` (TextAttack checks its class).
        calls: query lists received.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, scorer: PerturbationScorer) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.scorer = scorer
        self.calls = 0

    def __call__(self, text_input_list: list[Any], **kwargs: Any) -> np.ndarray:
        """Class probabilities: shape `(n, C)`, float64, rows summing to 1."""
        self.calls += 1
        return self.scorer([as_segments(text) for text in text_input_list])

    def _tokenize(self, inputs: list[str]) -> list[list[str]]:
        return [
            self.tokenizer.convert_ids_to_tokens(self.tokenizer(x)["input_ids"]) for x in inputs
        ]
