"""LightningModule around a `transformers` sequence classifier.

Fine-tuning follows the common BERT recipe: AdamW with decoupled weight decay (biases and LayerNorm
weights excluded) and a linear warm-up then linear decay schedule (Devlin et al. 2019). The
prediction step returns logits and two sentence embeddings per example, so a single pass fills a
cache entry. `DistillationClassifier` trains a student on a teacher's cached logits instead of
(or besides) the gold labels.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from transformers import PreTrainedModel, get_linear_schedule_with_warmup


def _model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    keys = ("input_ids", "attention_mask", "token_type_ids")
    return {key: batch[key] for key in keys if key in batch}


def sentence_embeddings(
    hidden: torch.Tensor, attention_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """[CLS] and mean-pooled sentence embeddings from one hidden layer.

    Args:
        hidden: shape `(B, T, D)`, a hidden layer's states.
        attention_mask: shape `(B, T)`, 1 for real tokens.

    Returns:
        `(cls, mean)`, each shape `(B, D)`: the first token's state, and the mean over real tokens.
    """
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    return hidden[:, 0], mean


class SequenceClassifier(pl.LightningModule):
    """Fine-tunes and runs a `transformers` `...ForSequenceClassification` model.

    Args:
        model: the wrapped model (any `AutoModelForSequenceClassification` result, also quantized).
        learning_rate: peak AdamW learning rate.
        weight_decay: decoupled weight decay for non-bias, non-LayerNorm weights.
        warmup_ratio: fraction of the total optimisation steps spent warming up, in [0, 1).
        embedding_layer: which hidden layer feeds the cached embeddings (-1 = last).
    """

    def __init__(
        self,
        model: PreTrainedModel | nn.Module,
        learning_rate: float = 5e-5,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        embedding_layer: int = -1,
    ) -> None:
        super().__init__()
        self.model = model
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.embedding_layer = embedding_layer

    def forward(self, batch: dict[str, torch.Tensor], hidden_states: bool = False) -> Any:
        return self.model(**_model_inputs(batch), output_hidden_states=hidden_states)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self(batch).logits
        loss = nn.functional.cross_entropy(logits, batch["labels"])
        self.log("train_loss", loss, prog_bar=True, batch_size=len(logits))
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch).logits
        loss = nn.functional.cross_entropy(logits, batch["labels"])
        accuracy = (logits.argmax(-1) == batch["labels"]).float().mean()
        self.log("val_loss", loss, prog_bar=True, batch_size=len(logits))
        self.log("val_accuracy", accuracy, prog_bar=True, batch_size=len(logits))

    def predict_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int
    ) -> dict[str, torch.Tensor]:
        outputs = self(batch, hidden_states=True)
        cls, mean = sentence_embeddings(
            outputs.hidden_states[self.embedding_layer], batch["attention_mask"]
        )
        return {
            "index": batch["index"],
            "logits": outputs.logits.float(),
            "embeddings_cls": cls.float(),
            "embeddings_mean": mean.float(),
        }

    def configure_optimizers(self) -> Any:
        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        groups = [
            {
                "params": [p for n, p in named if not any(nd in n for nd in no_decay)],
                "weight_decay": self.weight_decay,
            },
            {
                "params": [p for n, p in named if any(nd in n for nd in no_decay)],
                "weight_decay": 0.0,
            },
        ]
        optimizer = torch.optim.AdamW(groups, lr=self.learning_rate)
        total_steps = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = get_linear_schedule_with_warmup(
            optimizer, int(self.warmup_ratio * total_steps), total_steps
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class DistillationClassifier(SequenceClassifier):
    """Fine-tunes a student on a teacher's cached logits (Hinton et al. 2015, arXiv 1503.02531).

    The training loss is `trusteq.models.losses.distillation_loss`; validation,
    prediction and the optimiser are those of `SequenceClassifier`.

    Args:
        model: the student `...ForSequenceClassification` model.
        teacher_logits: shape `(N, C)`, the teacher's logits on the training split, row i for
            example i (batches carry their row `index`).
        temperature: softening temperature T > 0.
        alpha: weight of the distillation term, in [0, 1].
        **kwargs: `SequenceClassifier` arguments.
    """

    def __init__(
        self,
        model: PreTrainedModel | nn.Module,
        teacher_logits: torch.Tensor,
        temperature: float = 2.0,
        alpha: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, **kwargs)
        self.teacher_logits = torch.as_tensor(teacher_logits, dtype=torch.float32)
        self.temperature = temperature
        self.alpha = alpha

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        from trusteq.models.losses import distillation_loss

        logits = self(batch).logits
        teacher = self.teacher_logits[batch["index"].cpu()].to(logits.device)
        loss = distillation_loss(logits, teacher, batch["labels"], self.temperature, self.alpha)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(logits))
        return loss
