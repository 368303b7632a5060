"""Every config composes, and every `_target_` config instantiates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from trusteq.testing.tiny import CONF_DIR, compose
from trusteq.variants import StudyConfigError, build_variants

APPENDED_GROUPS = {"analysis", "explainer", "ood", "attack"}
GROUPS = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "local")


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize(
    ("group", "option"),
    [
        (g, o)
        for g in GROUPS
        if g not in ("hydra", "characteristic", "compression")
        for o in _options(g)
    ],
)
def test_every_option_composes(group, option):
    if group == "debug":
        overrides = ["debug=fast"]
    elif group in APPENDED_GROUPS:  # not in conf/study.yaml's defaults list: appended with +
        overrides = [f"+{group}={option}"]
    else:
        overrides = [f"{group}={option}"]
    # No experiment is the default (nothing runs unless chosen): compose each option on one.
    cfg = compose(overrides if group == "experiment" else ["experiment=quickstart", *overrides])
    assert cfg.study.name
    OmegaConf.to_container(cfg.train, resolve=True)


def test_no_experiment_composes_but_declares_no_study():
    cfg = compose([])
    assert OmegaConf.is_missing(cfg.study, "name") and not cfg.study.variants


@pytest.mark.parametrize("path", sorted((CONF_DIR / "compression").glob("*.yaml")), ids=str)
def test_compression_configs_instantiate(path: Path):
    method = instantiate(OmegaConf.load(path))
    assert hasattr(method, "apply") and method.identity()["method"]


@pytest.mark.parametrize("path", sorted((CONF_DIR / "model").glob("*.yaml")), ids=str)
def test_model_configs_instantiate_without_loading(path: Path):
    cfg = OmegaConf.load(path)
    if OmegaConf.is_missing(cfg, "name_or_path"):
        cfg.name_or_path = "/some/folder"
    backbone = instantiate(cfg)
    assert backbone.identity()


@pytest.mark.parametrize("path", sorted((CONF_DIR / "dataset").glob("*.yaml")), ids=str)
def test_dataset_configs_instantiate_without_loading(path: Path, tmp_path):
    cfg = OmegaConf.load(path)
    for key in ("files.train", "files.test", "columns.text_a", "columns.label", "label_names"):
        if OmegaConf.select(cfg, key, throw_on_missing=False) is None and "files" in cfg:
            OmegaConf.update(
                cfg,
                key,
                ["a", "b"]
                if key == "label_names"
                else str(tmp_path / "x.csv")
                if key.startswith("files")
                else "col",
            )
    cfg.cache_dir = str(tmp_path) if "cache_dir" in cfg else None
    if cfg.cache_dir is None:
        del cfg["cache_dir"]
    source = instantiate(cfg)
    assert hasattr(source, "load")


def test_quickstart_declares_the_issue_variants():
    cfg = compose(["experiment=quickstart"])
    variants = build_variants(cfg)
    assert list(variants)[:2] == ["reference", "reference_seed43"]
    steps = {name: [type(m).__name__ for _, m, _ in v.steps] for name, v in variants.items()}
    assert steps["int8"] == ["DynamicInt8Quantization"]
    assert steps["pruned50"] == ["GlobalMagnitudePruning"]
    assert steps["layers3"] == ["LayerDrop"]
    assert variants["int8"].parent == "reference" and not variants["int8"].finetune
    assert variants["layers3"].finetune and variants["reference_seed43"].seed == 43


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("study.variants.int8.parent=nope", "parent='nope' is not a declared variant"),
        ("study.reference=nope", "study.reference='nope'"),
        ("study.noise_floor=nope", "study.noise_floor='nope'"),
        ("+study.variants.int8.colour=red", "unknown field"),
        ("study.variants.pruned50.compression.prune.sparsity=1.5", "compression.sparsity=1.5"),
        ("study.variants.layers3.compression.drop.num_layers=0", "at least one layer"),
    ],
)
def test_bad_study_configs_fail_with_the_field_named(override, message):
    with pytest.raises(StudyConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        build_variants(compose(["experiment=quickstart", override]))


def test_parent_cycle_is_rejected():
    cfg = compose(["experiment=quickstart", "+study.variants.reference.parent=int8"])
    with pytest.raises(StudyConfigError, match="cycle"):
        build_variants(cfg)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("study.variants.pruned50.compression.prune.sparsity=1.0", "compression.sparsity=1.0"),
        (
            "study.variants.heads50.compression.prune_heads.fraction=0.95",
            "heads50.compression.prune_heads: compression.fraction=0.95 asks to prune 68 heads",
        ),
        ("study.variants.layers3.compression.drop.num_layers=0", "at least one layer"),
        ("study.variants.layers3.compression.drop.num_layers=7", "num_layers=7 exceeds"),
        ("study.variants.distilled3.compression.drop.num_layers=4", "only 3 alternate layers"),
        ("study.variants.int8.compression.quantize.backend=nope", "compression.backend='nope'"),
        ("study.variants.onnx_int8.compression.quantize.quantization=int4", "int4"),
        ("~study.variants.distilled3.teacher", "distillation step needs a teacher"),
        ("study.variants.distilled3.teacher=distilled3", "teacher cycle"),
        ("study.variants.distilled3.teacher=nope", "distilled3.teacher='nope' is not a declared"),
        ("+study.variants.onnx_int8.finetune=true", "a quantized model cannot be fine-tuned"),
        ("study.variants.pruned50_onnx_int8.parent=onnx_int8", "ends with a quantization step"),
        ("+study.variants.pruned50_ft.train.epochz=3", "unknown recipe field(s) ['epochz']"),
        ("+study.variants.int8.train.max_steps=3", "does not fine-tune"),
    ],
)
def test_bad_compression_sweep_configs_fail_with_the_field_named(override, message):
    cfg = compose(["experiment=compression_sweep", override])
    with pytest.raises(StudyConfigError, match=re.escape(message)):
        build_variants(cfg)


def test_compression_sweep_declares_one_variant_per_method():
    variants = build_variants(compose(["experiment=compression_sweep"]))
    methods = {type(m).__name__ for v in variants.values() for _, m, _ in v.steps}
    assert methods >= {
        "DynamicInt8Quantization",
        "OnnxRuntimeQuantization",
        "GlobalMagnitudePruning",
        "AttentionHeadPruning",
        "LayerDrop",
        "Distillation",
    }
    assert variants["distilled3"].teacher == "reference"
    assert variants["pruned50_ft"].train == {"max_steps": 60} and variants["pruned50_ft"].finetune
