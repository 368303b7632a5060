"""A classifier whose decision depends on one known word, and helpers to run producers on it."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from trusteq.data import TextSplit
from trusteq.testing.tiny import FILLER, tiny_bert_folder

# shap's numba kernels take 10-20 s to compile on 2 busy cores and run on a handful of masks here:
# pure Python is faster for tests (same results). Must be set before shap imports numba.
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")

KEY_WORD = "superb"


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread (and far faster on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class KeyWordClassifier(nn.Module):
    """Positive iff the key word's token is present: logits `(B, 2)` = ±(6·[key present] − 3).

    Its input embedding is 1-D and zero except for the key token (1.0), so the class-1 logit is
    a linear function of the embeddings (Integrated Gradients is exact) and every other word is
    irrelevant. It counts its forward calls and the batch sizes it saw.
    """

    def __init__(self, vocab_size: int, key_id: int) -> None:
        super().__init__()
        self.embeddings = nn.Embedding(vocab_size, 1)
        with torch.no_grad():
            self.embeddings.weight.zero_()
            self.embeddings.weight[key_id] = 1.0
        self.batch_sizes: list[int] = []
        self.seen: list[tuple[list[int], ...]] = []

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, **_):
        self.batch_sizes.append(int(input_ids.shape[0]))
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        present = (self.embeddings(input_ids)[..., 0] * mask).sum(-1)
        score = 6.0 * present - 3.0
        return SimpleNamespace(logits=torch.stack([-score, score], dim=-1))


@pytest.fixture(scope="session")
def key_word_model(tmp_path_factory):
    from transformers import AutoTokenizer

    folder = tiny_bert_folder(tmp_path_factory.mktemp("key-word-bert"), words=[KEY_WORD])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    key_id = tokenizer.convert_tokens_to_ids(KEY_WORD)

    def build() -> KeyWordClassifier:
        return KeyWordClassifier(len(tokenizer), key_id).eval()

    return build, tokenizer


def key_word_split(n: int = 6, seed: int = 0, pairs: bool = False, name: str = "test") -> TextSplit:
    """Sentences of filler words with the key word at a random position; label 1 (positive)."""
    rng = np.random.default_rng(seed)
    text_a, text_b = [], []
    for _ in range(n):
        words = list(rng.choice(FILLER, size=int(rng.integers(4, 9))))
        words.insert(int(rng.integers(0, len(words) + 1)), KEY_WORD)
        text_a.append(" ".join(words) + " .")
        text_b.append(" ".join(rng.choice(FILLER, size=4)))
    return TextSplit(
        name=name,
        ids=[f"k:{i}" for i in range(n)],
        text_a=text_a,
        text_b=text_b if pairs else None,
        labels=np.ones(n, dtype=np.int64),
    )


def run_producer(producer, model, tokenizer, data: TextSplit, resume_dir: Path):
    return producer.produce(
        model, tokenizer, data, ["negative", "positive"], {"accelerator": "cpu"}, resume_dir
    )
