"""Bad config values are refused before any work, in one line (issue 10, item 7)."""

from __future__ import annotations

import os

import pytest

from trusteq.testing.tiny import compose
from trusteq.validation import ConfigError, check_cache_dir, check_config, check_finite_outputs


def test_the_tiny_study_passes(overrides):
    check_config(compose(overrides))


@pytest.mark.parametrize(
    ("override", "field", "allowed"),
    [
        ("train.epochs=0", "train.epochs=0", "positive integer"),
        ("train.epochs=-1", "train.epochs=-1", "positive integer"),
        ("train.batch_size=0", "train.batch_size=0", "positive integer"),
        ("train.batch_size=-4", "train.batch_size=-4", "positive integer"),
        ("train.learning_rate=-1e-3", "train.learning_rate=-0.001", "> 0"),
        ("train.learning_rate=0", "train.learning_rate=0", "> 0"),
        ("train.monitor=val_acc", "train.monitor='val_acc'", "val_accuracy"),
        ("infer.batch_size=0", "infer.batch_size=0", "positive integer"),
        ("+train.typo=1", "train.typo=1", "not a training setting"),
        ("train.max_length=100", "train.max_length=100", "64 positions"),
        ("infer.embedding_layer=7", "infer.embedding_layer=7", "[-3, 2]"),
        ("infer.embedding_layer=-4", "infer.embedding_layer=-4", "[-3, 2]"),
    ],
)
def test_bad_values_are_refused_naming_field_value_allowed_and_fix(
    overrides, override, field, allowed
):
    with pytest.raises(ConfigError) as caught:
        check_config(compose([*overrides, override]))
    message = str(caught.value)
    assert message.startswith(field), message
    assert allowed in message and "Fix:" in message
    assert "\n" not in message


def test_a_variant_override_is_checked_too(overrides):
    with pytest.raises(ConfigError, match=r"study.variants.seed43.train.epochs=0"):
        check_config(compose([*overrides, "+study.variants.seed43.train.epochs=0"]))


def test_max_steps_replaces_epochs(overrides):
    check_config(compose([*overrides, "+study.variants.seed43.train.max_steps=5"]))


def test_compare_skips_training_checks(overrides):
    check_config(compose([*overrides, "train.epochs=0"]), stage="compare")


def test_cache_dir_that_is_a_file(overrides, tmp_path):
    blocker = tmp_path / "cache-file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        check_config(compose([*overrides, f"paths.cache_dir={blocker}"]))
    with pytest.raises(ConfigError, match="lies under"):
        check_cache_dir(blocker / "sub")


def test_read_only_cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
    else:  # root ignores permission bits: simulate what os.access reports for other users
        monkeypatch.setattr("trusteq.validation.os.access", lambda path, mode: False)
    with pytest.raises(ConfigError, match="read-only") as caught:
        check_cache_dir(folder)
    assert "TRUSTEQ_CACHE" in str(caught.value)


def test_env_cache_pointing_at_a_file(overrides, tmp_path, monkeypatch):
    blocker = tmp_path / "env-file"
    blocker.write_text("x")
    monkeypatch.setenv("TRUSTEQ_CACHE", str(blocker))
    cfg = compose([o for o in overrides if not o.startswith("paths.cache_dir")])
    with pytest.raises(ConfigError, match="paths.cache_dir"):
        check_config(cfg)


def test_backbone_problems_surface_before_any_work(overrides, tmp_path):
    from trusteq.models.backbone import BackboneError

    empty = tmp_path / "empty-model"
    empty.mkdir()
    with pytest.raises(BackboneError, match="empty"):
        check_config(compose([*overrides, f"model.name_or_path={empty}"]))


def test_nan_outputs_name_the_variant():
    import numpy as np

    with pytest.raises(ConfigError, match="variant 'int8' on split 'test': logits holds 1 NaN"):
        check_finite_outputs({"logits": np.array([[0.0, np.nan]])}, "int8", "test")
    check_finite_outputs({"preds": np.array([0, 1]), "logits": np.zeros((2, 2))}, "a", "test")


def test_gpu_trainer_without_cuda_is_refused(overrides):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match=r"trainer.accelerator='gpu'.*Fix: trainer=cpu"):
        check_config(compose([*overrides, "trainer=gpu"]))
