"""Every compression method as a study variant on a tiny BERT: train → infer → compare.

The fast test runs a reduced `compression_sweep` (one variant per method family and two
compositions); the slow one runs the whole experiment under `debug=fast`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trusteq.testing.tiny import compose, tiny_overrides

#: Shrink the experiment to the tiny 2-layer, 2-head BERT.
TINY_SWEEP = [
    "experiment=compression_sweep",
    "study.variants.distilled3.compression.drop.num_layers=1",
    "study.variants.pruned50_ft.train.max_steps=2",
    "study.variants.heads50_ft.train.max_steps=2",
    "train.epochs=1",
    "infer.latency.repeats=2",
    "infer.latency.warmup=1",
    "infer.latency.batch_size=4",
    "infer.latency.seq_len=16",
    "logger=none",
]
#: Left out of the fast test (covered by unit tests and the slow full-sweep test).
SLOW_ONLY = ("int8", "onnx_static_int8", "layers3", "pruned50_onnx_int8")


def tiny_distilbert_folder(folder: Path, vocab_source: Path) -> Path:
    """A randomly initialised 2-layer, hidden-32 DistilBERT with the tiny BERT's vocabulary."""
    import torch
    from transformers import (
        DistilBertConfig,
        DistilBertForSequenceClassification,
        DistilBertTokenizerFast,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = (vocab_source / "vocab.txt").read_text()
    (folder / "vocab.txt").write_text(vocab)
    DistilBertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = DistilBertConfig(
        vocab_size=len(vocab.split()),
        dim=32,
        n_layers=2,
        n_heads=2,
        hidden_dim=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    DistilBertForSequenceClassification(config).save_pretrained(folder)
    return folder


def _sweep_overrides(root: Path, model_dir: Path, files: dict[str, Path]) -> list[str]:
    return tiny_overrides(root, model_dir, files) + TINY_SWEEP


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_model_dir, tiny_data_files):
    from trusteq.pipeline.study import Study
    from trusteq.runs import compare_and_log as run_compare

    root = tmp_path_factory.mktemp("sweep")
    overrides = _sweep_overrides(root, tiny_model_dir, tiny_data_files)
    cfg = compose(overrides + [f"~study.variants.{name}" for name in SLOW_ONLY])
    study = Study(cfg)
    study.train()
    study.infer()
    return study, run_compare(cfg)


def test_every_method_yields_aligned_outputs_and_latency(swept):
    study, result = swept
    assert list(result.summary.index) == list(study.variants)
    reference, _ = study.load_outputs("reference", "test")
    for name in study.variants:
        arrays, meta = study.load_outputs(name, "test")
        assert arrays["logits"].shape == reference["logits"].shape, name
        assert arrays["embeddings_cls"].shape == reference["embeddings_cls"].shape, name
        latency = meta["latency"]
        assert latency["ms_per_example"] > 0 and latency["batch_size"] == 4
        assert latency["device"].startswith("cpu (")


def test_compression_facts_are_measured(swept):
    study, result = swept
    stats = {name: result.meta[name]["compression_stats"] for name in study.variants}
    assert stats["onnx_int8"]["format"] == "onnx"
    assert stats["distilled3_onnx_int8"]["format"] == "onnx"
    # Half of the encoder's linear weights; the dense pooler and head (1,088 of 17,472) dilute it.
    assert stats["pruned50"]["linear_sparsity"] == pytest.approx(0.5 * 16384 / 17472, abs=0.01)
    # Recovery fine-tuning kept every pruned weight at zero.
    assert stats["pruned50_ft"]["linear_sparsity"] >= stats["pruned50"]["linear_sparsity"] - 1e-9
    assert stats["heads50_ft"]["parameters"] < stats["reference"]["parameters"]
    assert stats["distilled3"]["parameters"] < stats["reference"]["parameters"]
    pruned, _ = study.load_outputs("pruned50", "test")
    recovered, _ = study.load_outputs("pruned50_ft", "test")
    assert not np.allclose(pruned["logits"], recovered["logits"])  # recovery did train


def test_distillation_and_composition_are_in_the_keys(swept):
    study, _ = swept
    from trusteq.outputs.keys import content_key

    meta = study.store.read_meta("checkpoints", study.keys.checkpoint("distilled3"))
    assert meta["teacher"] == "reference"
    # The teacher's logits on train were cached once, as an ordinary outputs entry.
    assert study.store.exists("outputs", study.keys.outputs("reference", "train"))
    # The composed variant's identity is its parent's model plus its own steps, in order.
    expected = content_key(
        "model",
        {
            "parent": study.keys.model("distilled3"),
            "steps": study.variants["distilled3_onnx_int8"].step_identity(),
        },
    )
    assert study.keys.model("distilled3_onnx_int8") == expected
    assert study.keys.model("distilled3_onnx_int8") != study.keys.model("onnx_int8")


def test_tradeoff_plot_from_the_comparison(swept):
    import matplotlib.pyplot as plt

    from trusteq.viz.tradeoff import tradeoff_figure, tradeoff_points

    study, result = swept
    points = tradeoff_points(result, "error_jaccard", "reference")
    assert set(points) == set(study.variants)
    assert points["reference"][1] == pytest.approx(1.0)
    for x in ("size_mb", "ms_per_example"):
        fig = tradeoff_figure(result, "reference", "reference_seed43", x=x)
        assert len([ax for ax in fig.axes if ax.get_visible()]) >= 4
        plt.close(fig)


@pytest.mark.parametrize("model_group", ["bert_tiny", "distilbert_base_uncased"])
def test_pretrained_checkpoint_configs_run_from_a_local_folder(
    model_group, tmp_path, tiny_model_dir, tiny_data_files
):
    """A smaller checkpoint is a variant's `model:`: same loader, fine-tuning and predict path."""
    from omegaconf import OmegaConf

    from trusteq.pipeline.study import Study

    folder = tiny_model_dir
    if model_group.startswith("distilbert"):
        folder = tiny_distilbert_folder(tmp_path / "tiny-distilbert", tiny_model_dir)
    cfg = compose(tiny_overrides(tmp_path, tiny_model_dir, tiny_data_files) + ["logger=none"])
    model_cfg = OmegaConf.load(Path(__file__).parents[2] / "conf" / "model" / f"{model_group}.yaml")
    model_cfg.name_or_path = str(folder)
    cfg.study.variants = {"small": {"seed": 42, "model": model_cfg}}
    cfg.study.reference, cfg.study.noise_floor, cfg.study.seeds = "small", None, None
    study = Study(cfg)
    study.infer()
    arrays, meta = study.load_outputs("small", "test")
    assert meta["backbone"]["name_or_path"] == str(folder)
    assert arrays["logits"].shape == (48, 2) and arrays["embeddings_cls"].shape == (48, 32)


@pytest.mark.slow
def test_whole_compression_sweep_runs_under_debug_fast(tmp_path, tiny_model_dir, tiny_data_files):
    from trusteq.pipeline.study import Study
    from trusteq.runs import compare_and_log as run_compare

    cfg = compose(_sweep_overrides(tmp_path, tiny_model_dir, tiny_data_files))
    study = Study(cfg)
    study.train()
    study.infer()
    result = run_compare(cfg)
    assert result.pairwise["error_jaccard"].value.shape == (len(study.variants),) * 2
