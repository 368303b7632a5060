"""Scoring of extractive-QA predictions: post-processing, exact match / F1, answer texts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from trusteq.qa.features import QAFeatures
from trusteq.qa.metrics import score_prediction
from trusteq.qa.postprocess import postprocess_predictions


def predicted_texts(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """Decode the predicted answers stored as ``prediction_utf8`` + ``prediction_offsets``."""
    raw = np.asarray(arrays["prediction_utf8"], dtype=np.uint8).tobytes()
    bounds = np.asarray(arrays["prediction_offsets"]).tolist()
    return [raw[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def encode_texts(texts: list[str]) -> dict[str, np.ndarray]:
    """``prediction_utf8`` (uint8) and ``prediction_offsets`` `(N + 1,)` int64 of ``texts``."""
    encoded = [text.encode("utf-8") for text in texts]
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(np.int64)
    payload = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)[: offsets[-1]].copy()
    return {"prediction_utf8": payload, "prediction_offsets": offsets}


def score_split(
    features: QAFeatures,
    start_logits: list[np.ndarray],
    end_logits: list[np.ndarray],
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """Post-process window logits and score every question against its gold answers.

    Returns:
        ``exact_match`` and ``f1`` `(N,)` float32, ``predictions`` (see
        :class:`~trusteq.qa.postprocess.QAPredictions`).
    """
    split = features.split
    predictions = postprocess_predictions(
        split.contexts,
        features.example_index,
        features.offsets,
        features.cls_index,
        start_logits,
        end_logits,
        n_best=int(settings["n_best"]),
        max_answer_length=int(settings["max_answer_length"]),
        null_score_diff_threshold=float(settings["null_score_diff_threshold"]),
    )
    scores = [
        score_prediction(text, golds)
        for text, golds in zip(predictions.texts, split.answer_texts, strict=True)
    ]
    return {
        "exact_match": np.array([s[0] for s in scores], dtype=np.float32),
        "f1": np.array([s[1] for s in scores], dtype=np.float32),
        "predictions": predictions,
    }
