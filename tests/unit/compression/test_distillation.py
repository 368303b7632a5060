"""Knowledge distillation: the loss against scipy/sklearn, and a student that learns its teacher."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import softmax
from scipy.stats import entropy
from sklearn.metrics import log_loss
from transformers import AutoModelForSequenceClassification

from trusteq.compression.base import CompressionConfigError
from trusteq.compression.distillation import Distillation, distillation_loss
from trusteq.compression.layer_drop import LayerDrop
from trusteq.models.encoding import TokenizedSplit
from trusteq.models.lightning_runs import fine_tune, predict

RUNTIME = {"accelerator": "cpu", "enable_progress_bar": False}


@pytest.mark.parametrize(("temperature", "alpha"), [(1.0, 0.5), (2.0, 0.9), (4.0, 0.0), (3.0, 1.0)])
def test_loss_matches_scipy_and_sklearn(temperature, alpha):
    rng = np.random.default_rng(0)
    student, teacher = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) * 2
    labels = rng.integers(0, 3, size=6)
    kl = np.mean(
        [
            entropy(softmax(t / temperature), softmax(s / temperature))
            for s, t in zip(student, teacher, strict=True)
        ]
    )
    hard = log_loss(labels, softmax(student, axis=1), labels=[0, 1, 2])
    expected = alpha * temperature**2 * kl + (1 - alpha) * hard
    got = distillation_loss(
        torch.tensor(student), torch.tensor(teacher), torch.tensor(labels), temperature, alpha
    )
    assert float(got) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"temperature": 0}, "compression.temperature=0"), ({"alpha": 1.5}, "compression.alpha")],
)
def test_bad_settings_fail_at_construction(kwargs, message):
    with pytest.raises(CompressionConfigError, match=message):
        Distillation(**kwargs)


def _kl_to_teacher(student_logits, teacher_logits):
    return float(np.mean(entropy(softmax(teacher_logits, 1), softmax(student_logits, 1), axis=1)))


def test_distillation_lowers_held_out_kl_to_the_teacher(tiny_model_dir):
    from transformers import AutoTokenizer

    from trusteq.testing.tiny import sentiment_sentences

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)

    def split(n, seed):
        texts, labels = sentiment_sentences(n, seed=seed)
        return TokenizedSplit(texts, None, np.asarray(labels), tokenizer, 32)

    train, validation, held_out = split(128, 11), split(32, 13), split(64, 12)

    def teacher_logits(data):
        # A confident teacher whose soft labels follow the sentiment word (what a student can
        # learn from the text), never the raw labels: the student sees only these (alpha = 1).
        margin = np.where(data.labels == 1, 2.0, -2.0)
        return np.stack([-margin / 2, margin / 2], axis=1).astype(np.float32)

    torch.manual_seed(2)
    student = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    student = LayerDrop(num_layers=1, keep="alternate").apply(student)
    untrained, _ = predict(student, held_out, 32, RUNTIME, force_cpu=True)
    recipe = {
        "epochs": 4,
        "batch_size": 16,
        "learning_rate": 1e-2,
        "weight_decay": 0.0,
        "warmup_ratio": 0.0,
        "monitor": "val_loss",
        "early_stopping_patience": 4,
    }
    student, _ = fine_tune(
        student,
        train,
        validation,
        recipe,
        RUNTIME,
        seed=0,
        teacher_logits=teacher_logits(train),
        temperature=2.0,
        alpha=1.0,
    )
    distilled, _ = predict(student, held_out, 32, RUNTIME, force_cpu=True)
    before = _kl_to_teacher(untrained["logits"], teacher_logits(held_out))
    after = _kl_to_teacher(distilled["logits"], teacher_logits(held_out))
    assert after < 0.5 * before
