"""A TextAttack sentence-encoder constraint on a local encoder (the packaged all-MiniLM-L6-v2).

TextAttack's stock semantic constraints download their encoders (TF-Hub Universal Sentence
Encoder, sentence-transformers from the hub); :class:`LocalSentenceEncoder` embeds with any local
Hugging Face encoder folder by attention-masked mean pooling of the last hidden states and L2
normalisation, the pooling all-MiniLM-L6-v2 was trained with (Reimers & Gurevych 2019,
arXiv 1908.10084). Importing this module imports TextAttack (through
:func:`~trusteq.producers.attack.environment.import_textattack`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from trusteq.producers.attack.environment import import_textattack

import_textattack()

from textattack.constraints.semantics.sentence_encoders import SentenceEncoder  # noqa: E402

from trusteq.producers.attack.config import PACKAGED_ENCODER, packaged_encoder_path  # noqa: E402


class LocalSentenceEncoder(SentenceEncoder):
    """Cosine similarity of mean-pooled sentence embeddings must stay >= `threshold`.

    Args:
        encoder: ``minilm`` (the packaged all-MiniLM-L6-v2) or a local encoder folder.
        threshold: least cosine similarity, in [-1, 1].
        window_size: words around the swapped word that are compared (None = whole text).
        max_length: truncation length of the encoder in tokens.
        batch_size: sentences per forward pass.
    """

    def __init__(
        self,
        encoder: str = PACKAGED_ENCODER,
        threshold: float = 0.7,
        window_size: int | None = None,
        max_length: int = 256,
        batch_size: int = 64,
    ) -> None:
        super().__init__(threshold=threshold, metric="cosine", window_size=window_size)
        from transformers import AutoModel, AutoTokenizer

        folder = packaged_encoder_path() if encoder == PACKAGED_ENCODER else encoder
        self.encoder_name = str(encoder)
        self._tokenizer = AutoTokenizer.from_pretrained(folder)
        self._device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self._encoder = AutoModel.from_pretrained(folder).eval().to(self._device)
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.model = self  # SentenceEncoder calls self.model.encode(...)

    def encode(self, sentences: list[str]) -> torch.Tensor:
        """Embeddings of `sentences`: shape `(n, D)`, float32, unit L2 norm."""
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(sentences), self.batch_size):
                batch = self._tokenizer(
                    list(sentences[start : start + self.batch_size]),
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(self._device)
                hidden = self._encoder(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                chunks.append(torch.nn.functional.normalize(pooled.float(), dim=-1).cpu())
        return torch.cat(chunks) if chunks else torch.zeros(0, 1)

    def extra_repr_keys(self) -> list[str]:
        return ["encoder_name", *super().extra_repr_keys()]


def similarity(encoder: LocalSentenceEncoder, first: str, second: str) -> float:
    """Cosine similarity of two texts' embeddings, in [-1, 1]."""
    embeddings: Any = encoder.encode([first, second])
    return float(np.dot(embeddings[0].numpy(), embeddings[1].numpy()))
