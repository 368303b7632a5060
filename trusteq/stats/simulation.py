"""Synthetic seed populations: fake cached outputs of exchangeable models, for tests and demos.

Every model sees the same N examples. Example i has a true class ``y_i`` and item logits
``z_i = signal · onehot(y_i) + item_noise · ε_i`` shared by all models (so they find the same
examples hard, as real models do); model m adds its own noise,
``logits_mi = z_i + model_noise · f_m · η_mi``, with ``f_m = 1`` for a seed replicate and
``f_m = extra_noise[m] > 1`` for a variant that disagrees more. Embeddings are a fixed random
projection of the logits plus model noise. Seed replicates are exchangeable by construction:
there is no model-level effect, so the paired bootstrap over examples is exactly the right
null distribution, which is what the simulation test of the verdict rule needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.special import softmax


def simulate_population(
    names: Sequence[str],
    n_examples: int = 1000,
    n_classes: int = 3,
    *,
    signal: float = 2.0,
    item_noise: float = 1.5,
    model_noise: float = 1.0,
    extra_noise: Mapping[str, float] | None = None,
    width: int = 16,
    seed: int = 0,
) -> dict[str, dict[str, np.ndarray]]:
    """Fake outputs of several models of one generative process.

    Args:
        names: model names, each gets its own noise draw.
        n_examples: N.
        n_classes: C >= 2.
        signal: logit added to the true class.
        item_noise: SD of the item logits shared by every model.
        model_noise: SD of each model's own logit noise.
        extra_noise: ``{name: f}`` multiplies that model's noise SD by f (f > 1: more
            disagreement with every other model).
        width: D of the fake embeddings.
        seed: seed of everything.

    Returns:
        ``{name: {"logits" (N, C) float32, "probs" (N, C) float32, "preds" (N,) int64,
        "targets" (N,) int64, "embeddings_cls" (N, D) float32, "embeddings_mean" (N, D)
        float32}}``.

    Examples:
        >>> outputs = simulate_population(["ref", "s1"], n_examples=5)
        >>> outputs["ref"]["probs"].shape, bool((outputs["ref"]["targets"] ==
        ...     outputs["s1"]["targets"]).all())
        ((5, 3), True)
    """
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, n_classes, n_examples)
    items = signal * np.eye(n_classes)[targets] + item_noise * rng.normal(
        size=(n_examples, n_classes)
    )
    projection = rng.normal(size=(n_classes, width))
    outputs = {}
    for name in names:
        factor = float((extra_noise or {}).get(name, 1.0))
        logits = items + model_noise * factor * rng.normal(size=items.shape)
        probs = softmax(logits, axis=1)
        embeddings = logits @ projection
        outputs[name] = {
            "logits": logits.astype(np.float32),
            "probs": probs.astype(np.float32),
            "preds": probs.argmax(axis=1).astype(np.int64),
            "targets": targets.astype(np.int64),
            "embeddings_cls": (embeddings + rng.normal(size=embeddings.shape)).astype(np.float32),
            "embeddings_mean": (embeddings + rng.normal(size=embeddings.shape)).astype(np.float32),
        }
    return outputs
