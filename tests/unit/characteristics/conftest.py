from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.special import softmax


def synthetic_outputs(
    seed: int,
    n_examples: int = 200,
    n_classes: int = 3,
    width: int = 16,
    base: dict[str, np.ndarray] | None = None,
    noise: float = 1.0,
) -> dict[str, np.ndarray]:
    """Cached outputs of a fake model; with ``base``, a noisy copy of another fake model."""
    rng = np.random.default_rng(seed)
    if base is None:
        targets = rng.integers(0, n_classes, n_examples)
        logits = rng.normal(size=(n_examples, n_classes)) * 1.5
        logits[np.arange(n_examples), targets] += 1.0
        embeddings_cls = rng.normal(size=(n_examples, width))
        embeddings_mean = rng.normal(size=(n_examples, width))
    else:
        targets = base["targets"]
        logits = base["logits"] + noise * rng.normal(size=base["logits"].shape)
        embeddings_cls = base["embeddings_cls"] + noise * rng.normal(size=(n_examples, width))
        embeddings_mean = base["embeddings_mean"] + noise * rng.normal(size=(n_examples, width))
    probs = softmax(logits, axis=1)
    return {
        "logits": logits.astype(np.float32),
        "probs": probs.astype(np.float32),
        "preds": probs.argmax(axis=1).astype(np.int64),
        "targets": targets.astype(np.int64),
        "embeddings_cls": embeddings_cls.astype(np.float32),
        "embeddings_mean": embeddings_mean.astype(np.float32),
    }


@pytest.fixture
def make_outputs() -> Callable[..., dict[str, np.ndarray]]:
    return synthetic_outputs


@pytest.fixture
def pair() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    a = synthetic_outputs(0, n_examples=400)
    b = synthetic_outputs(1, n_examples=400, base=a, noise=1.0)
    return a, b
