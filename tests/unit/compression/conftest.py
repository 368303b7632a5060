from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_split(tiny_model_dir):
    """64 tokenised synthetic sentences (labels included) with the tiny BERT's tokenizer."""
    from transformers import AutoTokenizer

    from trusteq.models.encoding import TokenizedSplit
    from trusteq.testing.tiny import sentiment_sentences

    texts, labels = sentiment_sentences(64, seed=3)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return TokenizedSplit(texts, None, np.asarray(labels), tokenizer, max_length=32)


@pytest.fixture
def context(tiny_split):
    from trusteq.compression.base import CompressionContext

    return CompressionContext(calibration=tiny_split)
