"""Shared helpers of the reliability tests: a tiny study as command-line overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from trusteq.testing.tiny import local_overrides


def study_overrides(root: Path, model_dir: Path, files: dict[str, Path], name: str = "rel"):
    """Overrides of a seconds-long study: two fine-tuned seeds and an int8 child, tiny BERT.

    Written against the command line (what a user types), so they hold for `trusteq-study` and
    for `trusteq.testing.tiny.compose` alike.
    """
    return [
        f"study.name={name}",
        *local_overrides(root, model_dir, files),
        "train.epochs=2",
        "train.learning_rate=1e-3",
        "+study.variants.reference.seed=42",
        "+study.variants.seed43.seed=43",
        "study.noise_floor=seed43",
        "+study.variants.int8.parent=reference",
        "+compression@study.variants.int8.compression.quantize=dynamic_int8",
    ]


@pytest.fixture
def overrides(tmp_path, tiny_model_dir, tiny_data_files):
    return study_overrides(tmp_path, tiny_model_dir, tiny_data_files)


@pytest.fixture(scope="session")
def make_overrides():
    """`study_overrides` as a fixture (test modules cannot import conftest)."""
    return study_overrides
