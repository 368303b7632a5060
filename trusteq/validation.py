"""Refuse a bad config before any work, in one line: field, value, what is allowed, the fix.

`check_config(cfg)` is called at the start of every stage (study, train, infer, compare). Each
check corresponds to a trial of issue 10 that used to fail late (after fine-tuning, after
computing) or with a library traceback: `train.epochs=0`, `train.batch_size=0`, a negative
learning rate, `train.max_length` beyond the backbone's position embeddings, an out-of-range
`infer.embedding_layer`, a `train.monitor` the trainer never logs, `infer.batch_size=0`, a cache
folder that is a file or read-only, a misspelt `+train.<key>` (which silently changed the
checkpoint key), `trainer=gpu` on a machine without CUDA, and a backbone that cannot be loaded
(see `Backbone.check`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
#: Recipe keys read by the trainer besides those of `conf/study.yaml`'s `train` block.
OPTIONAL_TRAIN_KEYS = ("max_steps",)
#: Metrics `SequenceClassifier` logs during validation (trusteq/models/classifier.py).
CLASSIFICATION_MONITORS = ("val_accuracy", "val_loss")
#: Metrics the extractive-QA module logs (trusteq/qa/model.py).
QA_MONITORS = ("val_accuracy", "val_exact_match", "val_f1", "val_loss")
#: Model types whose position table holds 2 extra rows (padding offset), not usable positions.
_POSITION_OFFSET_TYPES = {"roberta": 2, "xlm-roberta": 2, "camembert": 2, "mpnet": 2}
STAGES = ("study", "train", "infer", "compare")


class ConfigError(ValueError):
    """A config value is invalid; the message names field, value, what is allowed and the fix."""


def _fail(field: str, value: Any, allowed: str, fix: str) -> ConfigError:
    return ConfigError(f"{field}={value!r}: {allowed}. Fix: {fix}")


def _plain(node: Any) -> Any:
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _positive_int(field: str, value: Any, fix: str) -> None:
    number = _number(value)
    if number is None or number < 1 or number != int(number):
        raise _fail(field, value, "must be a positive integer", fix)


def known_train_keys() -> set[str]:
    """Keys of the `train` block of `conf/study.yaml`, plus `OPTIONAL_TRAIN_KEYS`."""
    study = OmegaConf.load(CONF_DIR / "study.yaml")
    return set(study.get("train") or {}) | set(OPTIONAL_TRAIN_KEYS)


def _is_qa(cfg: DictConfig) -> bool:
    target = str((cfg.get("dataset") or {}).get("_target_", ""))
    return ".qa." in target


def check_recipe(recipe: Mapping[str, Any], where: str, qa: bool, known: Iterable[str]) -> None:
    """Check one fine-tuning recipe (the study's `train` block or a variant's override of it).

    Args:
        recipe: the recipe fields present (a variant override holds only some).
        where: the config path of the block (`train`, `study.variants.x.train`).
        qa: whether the task is extractive QA (other metrics may be monitored).
        known: allowed keys.

    Raises:
        ConfigError: an unknown key or an invalid value.
    """
    known = set(known)
    for key in recipe:
        if key not in known:
            raise _fail(
                f"{where}.{key}",
                recipe[key],
                f"is not a training setting (known: {sorted(known)})",
                f"check the spelling, or drop `+{where}.{key}=...` (unknown keys would change "
                "the checkpoint key without changing the training)",
            )
    max_steps = _number(recipe.get("max_steps")) or 0
    if "epochs" in recipe and max_steps <= 0:
        _positive_int(f"{where}.epochs", recipe["epochs"], f"{where}.epochs=3 (at least 1)")
    if "max_steps" in recipe and recipe["max_steps"] is not None:
        number = _number(recipe["max_steps"])
        if number is None or number != int(number):
            raise _fail(
                f"{where}.max_steps",
                recipe["max_steps"],
                "must be an integer (> 0: a step budget; <= 0 or null: use epochs)",
                f"{where}.max_steps=60 or null",
            )
    if "batch_size" in recipe:
        _positive_int(f"{where}.batch_size", recipe["batch_size"], f"{where}.batch_size=32")
    if "learning_rate" in recipe:
        rate = _number(recipe["learning_rate"])
        if rate is None or rate <= 0 or math.isinf(rate):
            raise _fail(
                f"{where}.learning_rate",
                recipe["learning_rate"],
                "must be a finite number > 0",
                f"{where}.learning_rate=5e-5",
            )
    for key in ("weight_decay", "warmup_ratio"):
        if key in recipe:
            number = _number(recipe[key])
            high = 1.0 if key == "warmup_ratio" else math.inf
            if number is None or not 0 <= number <= high:
                allowed = "in [0, 1]" if key == "warmup_ratio" else ">= 0"
                raise _fail(f"{where}.{key}", recipe[key], f"must be a number {allowed}", "0.1")
    if "max_length" in recipe:
        _positive_int(f"{where}.max_length", recipe["max_length"], f"{where}.max_length=128")
    if "early_stopping_patience" in recipe:
        number = _number(recipe["early_stopping_patience"])
        if number is None or number < 0 or number != int(number):
            raise _fail(
                f"{where}.early_stopping_patience",
                recipe["early_stopping_patience"],
                "must be an integer >= 0",
                f"{where}.early_stopping_patience=2",
            )
    if "monitor" in recipe:
        allowed = QA_MONITORS if qa else CLASSIFICATION_MONITORS
        if recipe["monitor"] not in allowed:
            raise _fail(
                f"{where}.monitor",
                recipe["monitor"],
                f"the trainer logs only {list(allowed)}",
                f"{where}.monitor=val_accuracy (or val_loss)",
            )


def check_cache_dir(path: str | Path, field: str = "paths.cache_dir") -> None:
    """The cache folder must be a folder we can write to (or creatable).

    Raises:
        ConfigError: it is a file, lies under a file, or is read-only.
    """
    folder = Path(path).expanduser()
    fix = "point TRUSTEQ_CACHE (or paths.cache_dir=...) at a writable folder"
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is a file" if probe == folder else f"lies under {probe}, which is a file"
        raise _fail(field, str(folder), f"must be a folder, but it {what}", fix)
    if probe.is_dir() and not os.access(probe, os.W_OK | os.X_OK):
        what = "is read-only" if probe == folder else f"cannot be created: {probe} is read-only"
        raise _fail(field, str(folder), f"must be writable, but it {what}", fix)


def check_accelerator(trainer: Mapping[str, Any]) -> None:
    """`trainer.accelerator` must exist on this machine (gpu/cuda needs CUDA, mps needs MPS).

    Trial of issue 10: `trusteq-train force_train=true trainer=gpu` on a CPU machine failed inside
    Lightning after the old checkpoint had been deleted.

    Raises:
        ConfigError: the accelerator is not available here.
    """
    accelerator = str(trainer.get("accelerator", "auto")).lower()
    if accelerator not in ("gpu", "cuda", "mps"):
        return
    import torch

    if accelerator == "mps":
        available = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    else:
        available = torch.cuda.is_available()
    if not available:
        raise _fail(
            "trainer.accelerator",
            accelerator,
            f"no {accelerator.upper()} device is available on this machine",
            "trainer=cpu (or trainer.accelerator=auto)",
        )


def _backbones(cfg: DictConfig) -> list[tuple[str, Any]]:
    from hydra.utils import instantiate

    found = []
    if cfg.get("model") is not None:
        found.append(("model", instantiate(cfg.model)))
    for name, spec in ((cfg.get("study") or {}).get("variants") or {}).items():
        if spec is not None and spec.get("model") is not None:
            found.append((f"study.variants.{name}.model", instantiate(spec.model)))
    return found


def _limits(backbone: Any) -> tuple[int | None, int | None]:
    """(usable positions, number of hidden layers) from the backbone's config.json, or Nones."""
    try:
        config = backbone.load_config()
    except Exception as error:  # noqa: BLE001 - unreadable here; Backbone.check reports it
        log.debug("cannot read the config of %s: %s", backbone.name_or_path, error)
        return None, None
    positions = getattr(config, "max_position_embeddings", None)
    if positions is not None:
        positions = int(positions) - _POSITION_OFFSET_TYPES.get(
            getattr(config, "model_type", ""), 0
        )
    layers = getattr(config, "num_hidden_layers", None)
    return positions, (int(layers) if layers is not None else None)


def check_config(cfg: DictConfig, stage: str = "study", load_backbone: bool = True) -> None:
    """Refuse an invalid config before any work.

    Args:
        cfg: the composed config (`conf/study.yaml` plus overrides).
        stage: `study`, `train`, `infer` or `compare`; `compare` skips the training and backbone
            checks (it never runs a model).
        load_backbone: check the backbone (`Backbone.check`) and read its `config.json` for the
            position and layer limits; False skips both (no file is opened).

    Raises:
        ConfigError: the first invalid field, as one line: field, value, what is allowed, fix.
        BackboneError: the backbone cannot be loaded (missing or empty folder, no tokenizer, no
            weights, corrupt weights, a hub id not in the local cache while offline).
    """
    if stage not in STAGES:
        raise ValueError(f"stage={stage!r}; expected one of {STAGES}")
    qa = _is_qa(cfg)
    known = known_train_keys()
    train = _plain(cfg.get("train")) or {}
    infer = _plain(cfg.get("infer")) or {}
    check_cache_dir(str(cfg.paths.cache_dir))
    if stage != "compare":
        check_recipe(train, "train", qa, known)
        for name, spec in ((cfg.get("study") or {}).get("variants") or {}).items():
            override = _plain(spec.get("train")) if spec is not None else None
            if override:
                check_recipe(override, f"study.variants.{name}.train", qa, known)
    if "batch_size" in infer:
        _positive_int("infer.batch_size", infer["batch_size"], "infer.batch_size=64")
    layer = infer.get("embedding_layer")
    if layer is not None and (_number(layer) is None or _number(layer) != int(_number(layer))):
        raise _fail(
            "infer.embedding_layer", layer, "must be an integer layer index", "-1 (last layer)"
        )
    if stage != "compare":
        check_accelerator(_plain(cfg.get("trainer")) or {})
    if stage == "compare" or not load_backbone:
        return
    for where, backbone in _backbones(cfg):
        if hasattr(backbone, "check"):
            backbone.check()
        positions, layers = _limits(backbone)
        max_length = train.get("max_length")
        if positions is not None and max_length is not None and int(max_length) > positions:
            raise _fail(
                "train.max_length",
                max_length,
                f"{where}.name_or_path={backbone.name_or_path!r} has {positions} positions",
                f"train.max_length={min(positions, 512)} or lower",
            )
        if layers is not None and layer is not None and not -(layers + 1) <= int(layer) <= layers:
            raise _fail(
                "infer.embedding_layer",
                layer,
                f"{where} has {layers} layers, so the index must lie in "
                f"[{-(layers + 1)}, {layers}] (0 = the embedding layer, -1 = the last layer)",
                "infer.embedding_layer=-1",
            )


def check_finite_outputs(arrays: Mapping[str, Any], variant: str, split: str) -> None:
    """Refuse outputs holding NaN or infinite values (caught at infer time, naming the variant).

    Args:
        arrays: the outputs entry's arrays (`logits`, `probs`, `embeddings_*`, ...).
        variant: the variant's name.
        split: the split's name.

    Raises:
        ConfigError: an array holds NaN or inf; names the variant, split, array and count.
    """
    import numpy as np

    for name, array in arrays.items():
        values = np.asarray(array)
        if values.dtype.kind != "f":
            continue
        bad = int((~np.isfinite(values)).sum())
        if bad:
            raise ConfigError(
                f"variant {variant!r} on split {split!r}: {name} holds {bad} NaN/inf value(s) of "
                f"{values.size}; the model diverged or its compression broke it. Fix: check this "
                "variant's compression settings or train.learning_rate, then rerun with force=true"
            )
