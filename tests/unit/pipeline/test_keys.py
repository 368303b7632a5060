"""Cache keys are pure functions of declared identity (no runtime knob, no file on disk)."""

from __future__ import annotations

import pytest

from trusteq.pipeline.study import Study
from trusteq.testing.tiny import compose, tiny_overrides


@pytest.fixture(scope="module")
def base_overrides(tmp_path_factory, tiny_model_dir, tiny_data_files):
    root = tmp_path_factory.mktemp("keys")
    return tiny_overrides(root, tiny_model_dir, tiny_data_files) + ["logger=none"]


def _keys(overrides: list[str]) -> dict[str, str]:
    study = Study(compose(overrides))
    keys = study.keys
    out = {}
    for name, variant in study.variants.items():
        out[f"model/{name}"] = keys.model(name)
        if variant.finetune:
            out[f"checkpoint/{name}"] = keys.checkpoint(name)
        out[f"outputs/{name}/test"] = keys.outputs(name, "test")
    return out


#: Runtime knobs: none of them may move any key.
RUNTIME = [
    "infer.batch_size=7",
    "trainer.num_threads=1",
    "trainer.enable_progress_bar=true",
    "trainer.precision=bf16-mixed",
    "infer.latency.repeats=3",
    "infer.latency.enabled=false",
    "compare.n_resamples=5",
    "variant=int8",
    "force=true",
]


@pytest.mark.parametrize("override", RUNTIME)
def test_runtime_knobs_move_no_key(base_overrides, override):
    assert _keys(base_overrides + [override]) == _keys(base_overrides)


def test_test_subsample_moves_outputs_not_checkpoints(base_overrides, tiny_data_files):
    before = _keys(base_overrides)
    after = _keys(base_overrides + ["dataset.subsample.test=20"])
    for key, value in before.items():
        if key.startswith(("checkpoint/", "model/")):
            assert after[key] == value, key  # a smaller test set never retrains a model
        else:
            assert after[key] != value, key  # it is other outputs


def test_keys_do_not_depend_on_files_on_disk(base_overrides):
    """The int8 key used to change once its parent's checkpoint existed."""
    study = Study(compose(base_overrides))
    before = _keys(base_overrides)
    study.train("reference")
    assert study.store.exists("checkpoints", study.keys.checkpoint("reference"))
    assert _keys(base_overrides) == before


@pytest.mark.parametrize(
    ("override", "moved"),
    [
        ("train.learning_rate=2e-3", "checkpoint/reference"),
        ("train.epochs=3", "checkpoint/reference"),
        ("study.variants.reference.seed=7", "checkpoint/reference"),
        ("dataset.subsample.train=40", "checkpoint/reference"),
        ("study.variants.pruned50.compression.prune.sparsity=0.3", "model/pruned50"),
        ("infer.embedding_layer=1", "outputs/reference/test"),
        ("train.max_length=24", "outputs/reference/test"),
    ],
)
def test_each_defining_field_moves_its_key(base_overrides, override, moved):
    before, after = _keys(base_overrides), _keys(base_overrides + [override])
    assert after[moved] != before[moved]
    if moved.startswith("model/pruned50"):  # only pruned50 changed: the others stay
        assert after["checkpoint/reference"] == before["checkpoint/reference"]
        assert after["model/int8"] == before["model/int8"]


def test_weights_changed_in_place_move_the_checkpoint_key(tmp_path, tiny_data_files):
    """A local folder's weights enter the key by digest, not by path."""
    from trusteq.testing.tiny import tiny_bert_folder

    folder = tiny_bert_folder(tmp_path / "model")
    overrides = tiny_overrides(tmp_path, folder, tiny_data_files) + ["logger=none"]
    before = _keys(overrides)
    tiny_bert_folder(tmp_path / "model", num_layers=3)  # same path, other weights
    assert _keys(overrides)["checkpoint/reference"] != before["checkpoint/reference"]
