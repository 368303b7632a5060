"""LightningModule around a `transformers` `...ForQuestionAnswering` model.

Subclasses `trusteq.models.classifier.SequenceClassifier`, so the optimiser (AdamW, decoupled
weight decay, linear warm-up then decay) and the forward pass are the classifier's. The loss is
the model's own: the mean of the cross-entropies of the start and end positions (Devlin et al.
2019, Sec. 4.2–4.3). Validation logs ``val_loss`` and, after post-processing the epoch's windows,
``val_exact_match``, ``val_f1`` and ``val_accuracy`` (= exact match, so the study's default
``train.monitor`` works for QA too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel

from trusteq.models.classifier import SequenceClassifier, _model_inputs, sentence_embeddings
from trusteq.qa.features import QAFeatures


def window_logits(
    batches: list[dict[str, torch.Tensor]], n_features: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-window start and end logits in window order, cut to each window's real tokens."""
    start: list[np.ndarray] = [np.zeros(0)] * n_features
    end: list[np.ndarray] = [np.zeros(0)] * n_features
    for batch in batches:
        lengths = batch["lengths"].tolist()
        for row, index in enumerate(batch["index"].tolist()):
            start[index] = batch["start_logits"][row, : lengths[row]].numpy()
            end[index] = batch["end_logits"][row, : lengths[row]].numpy()
    return start, end


class QuestionAnsweringModule(SequenceClassifier):
    """Fine-tunes and runs an extractive QA model on :class:`QAFeatures` batches.

    Args:
        model: any `AutoModelForQuestionAnswering` result (also quantized).
        validation: the validation windows, for exact match and F1 at each epoch end; None logs
            only ``val_loss``.
        settings: post-processing settings (``n_best``, ``max_answer_length``,
            ``null_score_diff_threshold``).
        **kwargs: `SequenceClassifier` arguments (learning rate, weight decay, warm-up,
            embedding layer).
    """

    def __init__(
        self,
        model: PreTrainedModel | nn.Module,
        validation: QAFeatures | None = None,
        settings: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, **kwargs)
        self.validation = validation
        self.settings = dict(settings or {})
        self._validation_batches: list[dict[str, torch.Tensor]] = []

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
        outputs = self.model(
            **_model_inputs(batch),
            start_positions=batch["start_positions"],
            end_positions=batch["end_positions"],
        )
        return outputs.loss, outputs

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch["input_ids"]))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._validation_batches = []

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, outputs = self._loss(batch)
        self.log("val_loss", loss, prog_bar=True, batch_size=len(batch["input_ids"]))
        self._validation_batches.append(
            {
                "index": batch["index"].cpu(),
                "lengths": batch["attention_mask"].sum(1).cpu(),
                "start_logits": outputs.start_logits.float().cpu(),
                "end_logits": outputs.end_logits.float().cpu(),
            }
        )

    def on_validation_epoch_end(self) -> None:
        if self.validation is None or not self._validation_batches:
            return
        from trusteq.qa.scoring import score_split

        features = self.validation
        start, end = window_logits(self._validation_batches, len(features))
        scores = score_split(features, start, end, self.settings)
        self.log("val_exact_match", float(scores["exact_match"].mean()), prog_bar=True)
        self.log("val_accuracy", float(scores["exact_match"].mean()))
        self.log("val_f1", float(scores["f1"].mean()), prog_bar=True)
        self._validation_batches = []

    def predict_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int
    ) -> dict[str, torch.Tensor]:
        outputs = self(batch, hidden_states=True)
        cls, mean = sentence_embeddings(
            outputs.hidden_states[self.embedding_layer], batch["attention_mask"]
        )
        return {
            "index": batch["index"].cpu(),
            "lengths": batch["attention_mask"].sum(1).cpu(),
            "start_logits": outputs.start_logits.float().cpu(),
            "end_logits": outputs.end_logits.float().cpu(),
            "embeddings_cls": cls.float().cpu(),
            "embeddings_mean": mean.float().cpu(),
        }
