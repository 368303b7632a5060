"""Sequence (and sentence-pair) classification: the default task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from torch import nn

from trusteq.characteristics.unary import compute_unary
from trusteq.models.encoding import TokenizedSplit
from trusteq.tasks.base import CLASS_DISTRIBUTION, TEXT_INPUTS, Task

#: What a classification outputs entry holds (see `trusteq.models.lightning_runs.predict`).
CLASSIFICATION_ARRAYS = frozenset(
    {"logits", "probs", "preds", "targets", "embeddings_cls", "embeddings_mean"}
)


class ClassificationTask(Task):
    """C-way classification of a text or a text pair with a fresh linear head.

    Cached arrays: ``logits`` / ``probs`` `(N, C)` float32, ``preds`` / ``targets`` `(N,)` int64,
    ``embeddings_cls`` / ``embeddings_mean`` `(N, D)` float32.
    """

    name: ClassVar[str] = "classification"
    output_kinds: ClassVar[frozenset[str]] = CLASSIFICATION_ARRAYS | {
        CLASS_DISTRIBUTION,
        TEXT_INPUTS,
    }

    def features(self, tokenizer: Any, split: Any, max_length: int) -> TokenizedSplit:
        return TokenizedSplit(split.text_a, split.text_b, split.labels, tokenizer, max_length)

    def initial_model(self, backbone: Any, num_labels: int) -> nn.Module:
        return backbone.load_classifier(num_labels)

    def load_finetuned(self, folder: Any) -> nn.Module:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(folder)

    def fine_tune(self, model, train, validation, recipe, runtime, seed, logger=False, **distil):
        from trusteq.models.lightning_runs import fine_tune

        return fine_tune(model, train, validation, recipe, runtime, seed, logger=logger, **distil)

    def predict(self, model, data, batch_size, runtime, force_cpu=False, embedding_layer=-1):
        from trusteq.models.lightning_runs import predict

        return predict(
            model, data, batch_size, runtime, force_cpu=force_cpu, embedding_layer=embedding_layer
        )

    def unary(self, outputs: Mapping[str, np.ndarray], n_bins: int = 10) -> dict[str, float]:
        return compute_unary(outputs, n_bins=n_bins)
