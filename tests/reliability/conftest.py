"""Shared helpers of the reliability tests: a tiny study as command-line overrides."""

from __future__ import annotations

from pathlib import Path

import pytest


def study_overrides(root: Path, model_dir: Path, files: dict[str, Path], name: str = "rel"):
    """Overrides of a seconds-long study: two fine-tuned seeds and an int8 child, tiny BERT.

    Written against the command line (what a user types), so they hold for `trusteq-study` and
    for `trusteq.testing.tiny.compose` alike.
    """
    return [
        f"study.name={name}",
        "debug=fast",
        f"paths.root_dir={root}",
        f"paths.cache_dir={root}/cache",
        "model=local",
        f"model.name_or_path={model_dir}",
        "dataset=local_files",
        f"dataset.files.train={files['train']}",
        f"dataset.files.validation={files['validation']}",
        f"dataset.files.test={files['test']}",
        "dataset.columns.text_a=text",
        "dataset.columns.label=label",
        "dataset.label_names=[negative,positive]",
        "dataset.subsample={train:null,validation:null,test:null,ood:null}",
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
