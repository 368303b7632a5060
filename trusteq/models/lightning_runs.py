"""The two Lightning runs trusteq makes: fine-tuning and one prediction pass."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn
from torch.utils.data import Dataset

from trusteq.models.classifier import DistillationClassifier, SequenceClassifier
from trusteq.models.encoding import TokenizedSplit, inference_loader, train_loader
from trusteq.outputs.store import owner_tag

log = logging.getLogger(__name__)


#: Keys of the `trainer` config that are trusteq's, not `lightning.pytorch.Trainer` arguments.
_TRUSTEQ_RUNTIME_KEYS = ("num_threads", "callbacks")
#: Used when a runtime dict carries no `_target_` (a caller that builds it by hand).
_DEFAULT_TRAINER = {"_target_": "lightning.pytorch.Trainer", "_partial_": True, "devices": 1}
_DEFAULT_CALLBACKS = {
    "model_checkpoint": {
        "_target_": "lightning.pytorch.callbacks.ModelCheckpoint",
        "_partial_": True,
        "save_top_k": 1,
        "save_weights_only": True,
    },
    "early_stopping": {"_target_": "lightning.pytorch.callbacks.EarlyStopping", "_partial_": True},
}


def make_trainer(runtime: Mapping[str, Any], force_cpu: bool = False, **run: Any) -> pl.Trainer:
    """The Lightning Trainer of the `trainer` config (`_target_`, as in lightning-hydra-template).

    Args:
        runtime: the `trainer` config as a dict (`conf/trainer/*.yaml`).
        force_cpu: run on CPU whatever the config says (int8 and ONNX Runtime kernels).
        run: this run's own arguments (step budget, callbacks, logger...).
    """
    from hydra.utils import instantiate

    settings = {
        **_DEFAULT_TRAINER,
        "enable_model_summary": False,
        **{k: v for k, v in runtime.items() if k not in _TRUSTEQ_RUNTIME_KEYS},
    }
    settings.setdefault("accelerator", "auto")
    if force_cpu or settings["accelerator"] == "cpu":
        settings["accelerator"], settings["precision"] = "cpu", "32-true"
    return instantiate(settings)(**run)


def make_callbacks(
    runtime: Mapping[str, Any], monitor: str, mode: str, patience: int, dirpath: str
) -> tuple[ModelCheckpoint, EarlyStopping]:
    """The best-checkpoint and early-stopping callbacks of `conf/callbacks/*.yaml`.

    The recipe decides what they watch (`monitor`, `mode`, `patience`: in the checkpoint key);
    the config decides the rest.
    """
    from hydra.utils import instantiate

    configs = {**_DEFAULT_CALLBACKS, **(runtime.get("callbacks") or {})}
    best = instantiate(configs["model_checkpoint"])(dirpath=dirpath, monitor=monitor, mode=mode)
    stop = instantiate(configs["early_stopping"])(monitor=monitor, mode=mode, patience=patience)
    return best, stop


def fine_tune(
    model: nn.Module,
    train: TokenizedSplit,
    validation: TokenizedSplit,
    recipe: Mapping[str, Any],
    runtime: Mapping[str, Any],
    seed: int,
    logger: Any = False,
    teacher_logits: np.ndarray | None = None,
    temperature: float = 2.0,
    alpha: float = 0.5,
    module_factory: Callable[..., SequenceClassifier] = SequenceClassifier,
) -> tuple[nn.Module, dict[str, float]]:
    """Fine-tune `model` and return it with the weights of its best validation epoch.

    With `teacher_logits` the training loss is Hinton et al.'s (2015) distillation loss
    (`DistillationClassifier`); with `recipe["max_steps"]` training stops after that many
    optimiser steps (short recovery fine-tuning) and validates every `max_steps` steps, or at
    every epoch end when an epoch is shorter.

    Args:
        model: a `...ForSequenceClassification` model.
        train: tokenised training split.
        validation: tokenised validation split (early stopping and best-checkpoint selection).
        recipe: `epochs`, `batch_size`, `learning_rate`, `weight_decay`, `warmup_ratio`,
            `monitor` (`val_accuracy` or `val_loss`), `early_stopping_patience`, optionally
            `max_steps` (> 0: a step budget instead of `epochs`).
        runtime: `trainer` config (accelerator, precision, progress bar).
        seed: seeds data order, dropout and anything else random.
        logger: a Lightning logger or False.
        teacher_logits: shape `(N, C)`, a teacher's logits on `train` (row i = example i), or
            None for plain cross-entropy fine-tuning.
        temperature: distillation temperature T > 0.
        alpha: weight of the distillation term, in [0, 1].
        module_factory: builds the LightningModule from `model` and the optimisation settings
            (another task's module, e.g. `trusteq.qa.model.QuestionAnsweringModule`); ignored
            when distilling.

    Returns:
        `(model, metrics)`: the best-epoch model on CPU, and `best_score`, `epochs_run`, `seconds`.
    """
    pl.seed_everything(seed, workers=True, verbose=False)
    mode = "min" if recipe["monitor"].endswith("loss") else "max"
    optimisation = {
        "learning_rate": float(recipe["learning_rate"]),
        "weight_decay": float(recipe["weight_decay"]),
        "warmup_ratio": float(recipe["warmup_ratio"]),
    }
    if teacher_logits is not None:
        module: SequenceClassifier = DistillationClassifier(
            model,
            torch.from_numpy(np.asarray(teacher_logits, dtype=np.float32)),
            temperature=temperature,
            alpha=alpha,
            **optimisation,
        )
    else:
        module = module_factory(model, **optimisation)
    loader = train_loader(train, int(recipe["batch_size"]), seed)
    max_steps = int(recipe.get("max_steps") or -1)
    budget: dict[str, Any] = {"max_epochs": int(recipe["epochs"])}
    if max_steps > 0:
        # Validate every max_steps steps, or each epoch end when an epoch is shorter.
        interval = min(max_steps, len(loader))
        budget = {"max_epochs": -1, "max_steps": max_steps}
        if interval < len(loader):
            budget |= {"val_check_interval": interval, "check_val_every_n_epoch": None}
    # `from_pretrained` returns a model in eval mode and Lightning keeps submodule modes as found:
    # without this, dropout would be off during fine-tuning.
    module.model.train()
    started = time.perf_counter()
    # Owner in the name: a SIGKILLed run's folder is found and removed by the next run's cleanup.
    with tempfile.TemporaryDirectory(prefix=f"trusteq-ckpt-{owner_tag()}-") as ckpt_dir:
        best, stop = make_callbacks(
            runtime,
            monitor=recipe["monitor"],
            mode=mode,
            patience=int(recipe["early_stopping_patience"]),
            dirpath=ckpt_dir,
        )
        trainer = make_trainer(
            runtime,
            **budget,
            callbacks=[best, stop],
            logger=logger,
            num_sanity_val_steps=0,
            log_every_n_steps=10,
        )
        trainer.fit(module, loader, inference_loader(validation, int(recipe["batch_size"])))
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
        module.load_state_dict(state["state_dict"])
        metrics = {
            "best_score": float(best.best_model_score),
            "epochs_run": int(trainer.current_epoch),
            "steps_run": int(trainer.global_step),
            "seconds": time.perf_counter() - started,
        }
    return module.model.to("cpu").eval(), metrics


def predict_batches(
    module: pl.LightningModule,
    data: Dataset,
    batch_size: int,
    runtime: Mapping[str, Any],
    force_cpu: bool = False,
) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor, float]:
    """`Trainer.predict` of `module` over `data` (length-bucketed batches, inference mode).

    Returns:
        `(batches, order, seconds)`: the predict-step outputs (each with an `index` tensor), the
        permutation that puts their concatenated rows back in `data`'s order, and the wall time.
    """
    trainer = make_trainer(
        runtime, force_cpu=force_cpu, logger=False, enable_checkpointing=False, inference_mode=True
    )
    started = time.perf_counter()
    batches = trainer.predict(module, inference_loader(data, batch_size))
    seconds = time.perf_counter() - started
    order = torch.cat([b["index"] for b in batches]).argsort()
    return batches, order, seconds


def predict(
    model: nn.Module,
    data: TokenizedSplit,
    batch_size: int,
    runtime: Mapping[str, Any],
    force_cpu: bool = False,
    embedding_layer: int = -1,
) -> tuple[dict[str, np.ndarray], float]:
    """One prediction pass over `data`, in the split's order.

    Returns:
        `(arrays, seconds)` where arrays are `logits` `(N, C)`, `probs` `(N, C)`, `preds` `(N,)`,
        `targets` `(N,)`, `embeddings_cls` `(N, D)`, `embeddings_mean` `(N, D)`; float32 / int64.
    """
    module = SequenceClassifier(model.eval(), embedding_layer=embedding_layer)
    batches, order, seconds = predict_batches(module, data, batch_size, runtime, force_cpu)
    arrays = {
        key: torch.cat([b[key] for b in batches])[order].cpu().numpy().astype(np.float32)
        for key in ("logits", "embeddings_cls", "embeddings_mean")
    }
    arrays["probs"] = torch.softmax(torch.from_numpy(arrays["logits"]), -1).numpy()
    arrays["preds"] = arrays["logits"].argmax(-1).astype(np.int64)
    arrays["targets"] = data.labels.astype(np.int64)
    return arrays, seconds
