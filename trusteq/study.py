"""One study: a reference model and its variants, run through train → infer → compare.

The cache sits between the stages. `train` publishes one checkpoint entry per fine-tuned variant;
`infer` publishes one outputs entry per (variant, split); `compare` reads outputs entries only.
Every entry is keyed by a content hash of what defines it (see `trusteq.outputs.keys`).
"""

from __future__ import annotations

import importlib.metadata
import logging
import shutil
import subprocess
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from trusteq.compression.base import CompressionContext, compression_stats
from trusteq.compression.pruning import pin_zero_weights, remove_pruning_masks
from trusteq.data import DatasetSplits
from trusteq.data.fetch import sha256_file
from trusteq.models.encoding import TokenizedSplit
from trusteq.models.latency import measure_latency
from trusteq.models.lightning_runs import fine_tune, predict
from trusteq.outputs.keys import content_key
from trusteq.outputs.store import CacheError, OutputStore
from trusteq.variants import Variant, build_variants

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoints"
OUTPUTS = "outputs"
PRODUCED = "produced"
_LIBRARIES = (
    "torch",
    "transformers",
    "lightning",
    "hydra-core",
    "mlflow",
    "faiss-cpu",
    "onnxruntime",
    "trusteq",
)
#: Latency measurement defaults (`infer.latency` overrides them); runtime only, never in a key.
LATENCY_DEFAULTS = {"enabled": True, "batch_size": 32, "seq_len": 64, "repeats": 10, "warmup": 2}


def git_sha() -> str | None:
    """The checkout's commit, or None outside git."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape outputs."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


class Study:
    """A configured study. Cheap to build; data and models load when first needed.

    Args:
        cfg: the composed config (`conf/study.yaml` plus overrides).

    Raises:
        StudyConfigError: `study.variants` is inconsistent.
    """

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.name = str(cfg.study.name)
        self.variants: dict[str, Variant] = build_variants(cfg)
        self.reference = str(cfg.study.reference)
        self.store = OutputStore(Path(cfg.paths.cache_dir).resolve())
        self.runtime = OmegaConf.to_container(cfg.trainer, resolve=True)
        self.recipe = OmegaConf.to_container(cfg.train, resolve=True)
        self.producers: dict[str, Any] = {
            str(name): instantiate(spec)
            for name, spec in (cfg.get("producers") or {}).items()
            if spec is not None  # `producers.<name>=null` switches one off
        }
        self.analyses: dict[str, Any] = {
            str(name): instantiate(spec)
            for name, spec in (cfg.get("analyses") or {}).items()
            if spec is not None  # `analyses.<name>=null` switches one off
        }
        if self.runtime.get("num_threads"):
            torch.set_num_threads(int(self.runtime["num_threads"]))

    # ------------------------------------------------------------------ data
    @cached_property
    def dataset(self) -> Any:
        return instantiate(self.cfg.dataset)

    @cached_property
    def data(self) -> DatasetSplits:
        return self.dataset.load()

    @property
    def num_labels(self) -> int:
        return len(self.data.label_names)

    @cached_property
    def task(self) -> Any:
        """Hooks of a non-classification task (`trusteq.qa.task.QATask` for QA data), or None."""
        from trusteq.qa.task import task_for

        return task_for(self.dataset, self.cfg.get("qa"), self.variants)

    def _task_identity(self, training: bool) -> dict[str, Any]:
        # Only non-classification tasks add a key, so classification cache keys are unchanged.
        return {"task": self.task.identity(training)} if self.task else {}

    def _tokenized(self, tokenizer: Any, split: str) -> TokenizedSplit:
        if self.task:
            return self.task.features(tokenizer, self.data[split], int(self.recipe["max_length"]))
        part = self.data[split]
        return TokenizedSplit(
            part.text_a, part.text_b, part.labels, tokenizer, int(self.recipe["max_length"])
        )

    # ------------------------------------------------------------------ keys
    def recipe_for(self, name: str) -> dict[str, Any]:
        """The `train` recipe of variant `name`: the study's, with the variant's overrides."""
        return {**self.recipe, **self.variants[name].train}

    def checkpoint_key(self, name: str) -> str:
        """Key of the fine-tuned weights of variant `name` (which must fine-tune)."""
        variant = self.variants[name]
        source = (
            {"parent_model": self.model_key(variant.parent)}
            if variant.parent
            else {"backbone": variant.backbone.identity()}
        )
        if variant.teacher:  # a distilled student depends on its teacher's exact weights
            source["teacher_model"] = self.model_key(variant.teacher)
        return content_key(
            CHECKPOINT,
            {
                **source,
                "steps": variant.step_identity(),
                "seed": variant.seed,
                "recipe": self.recipe_for(name),
                "num_labels": self.num_labels,
                "dataset": self.dataset.identity(include_ood=False),
                "train": self.data["train"].fingerprint(),
                "validation": self.data["validation"].fingerprint(),
                **self._task_identity(training=True),
            },
        )

    def model_key(self, name: str) -> str:
        """Identity of variant `name`'s final weights.

        Its checkpoint key and weights digest, or its parent's identity plus the post-training
        steps.
        """
        variant = self.variants[name]
        if variant.finetune:
            key = self.checkpoint_key(name)
            if self.store.exists(CHECKPOINT, key):
                return f"{key}:{self.store.read_meta(CHECKPOINT, key)['weights_sha256'][:16]}"
            return key
        return content_key(
            "model", {"parent": self.model_key(variant.parent), "steps": variant.step_identity()}
        )

    def outputs_key(self, name: str, split: str) -> str:
        """Key of the outputs entry of variant `name` on `split`."""
        return content_key(
            OUTPUTS,
            {
                "model": self.model_key(name),
                "dataset": self.dataset.identity(include_ood=False),
                "split": split,
                "data": self.data[split].fingerprint(),
                "max_length": int(self.recipe["max_length"]),
                "embedding_layer": int(self.cfg.infer.embedding_layer),
                **self._task_identity(training=False),
            },
        )

    # ------------------------------------------------------------------ train
    def ensure_checkpoint(self, name: str, force: bool = False) -> Path:
        """Fine-tune variant `name` unless its checkpoint entry exists; returns its folder.

        Its parent and teacher are made first (their weights are part of its key). A variant whose
        lineage pruned weights keeps them at zero during fine-tuning (pinned by masks); a variant
        with a teacher is distilled from the teacher's cached logits on `train`.
        """
        variant = self.variants[name]
        for dependency in variant.dependencies():
            self._ensure_checkpoints(dependency)
        key = self.checkpoint_key(name)
        if self.store.exists(CHECKPOINT, key) and not force:
            log.debug("[%s] checkpoint cached: %s", name, key)
            return self.store.path(CHECKPOINT, key)
        self.store.remove(CHECKPOINT, key)
        distillation: dict[str, Any] = {}
        if variant.teacher:
            teacher_key = self.ensure_outputs(variant.teacher, "train")
            teacher = self.store.read_arrays(OUTPUTS, teacher_key)
            method = variant.distillation
            distillation = {
                "teacher_logits": teacher["logits"],
                "temperature": method.temperature,
                "alpha": method.alpha,
            }
        torch.manual_seed(variant.seed)  # the fresh head's initialisation
        model, tokenizer = self._initial_model(variant)
        pinned = pin_zero_weights(model) if self._pins_zeros(name) else 0
        log.info(
            "[%s] %s (%s)%s",
            name,
            f"distilling from {variant.teacher}" if variant.teacher else "fine-tuning",
            key,
            f", {pinned} pruned weights pinned at zero" if pinned else "",
        )
        from trusteq.tracking.mlflow_tracking import lightning_logger

        model, metrics = (self.task.fine_tune if self.task else fine_tune)(
            model,
            self._tokenized(tokenizer, "train"),
            self._tokenized(tokenizer, "validation"),
            self.recipe_for(name),
            self.runtime,
            variant.seed,
            logger=lightning_logger(
                self.cfg,
                run_name=f"{self.name}/train/{name}",
                tags={"trusteq.variant": name, "trusteq.stage": "train"},
            ),
            **distillation,
        )
        remove_pruning_masks(model)
        meta = {
            "variant": name,
            "study": self.name,
            "train_metrics": metrics,
            "steps": variant.step_identity(),
            "teacher": variant.teacher,
            "recipe": self.recipe_for(name),
            "pinned_zero_weights": pinned,
            "git_sha": git_sha(),
            "versions": library_versions(),
        }
        with self.store.building(CHECKPOINT, key, meta) as folder:
            model.save_pretrained(folder, safe_serialization=True)
            tokenizer.save_pretrained(folder)
            meta["weights_sha256"] = sha256_file(folder / "model.safetensors")
        return self.store.path(CHECKPOINT, key)

    def _initial_model(self, variant: Variant) -> tuple[nn.Module, Any]:
        """The model a variant starts from, with its pre-fine-tuning steps applied."""
        if variant.parent:
            model, tokenizer = self.load_model(variant.parent)
        else:
            tokenizer = variant.backbone.load_tokenizer()
            model = (
                self.task.initial_model(variant.backbone)
                if self.task
                else variant.backbone.load_classifier(self.num_labels)
            )
        context = None
        if any(getattr(method, "requires_data", False) for _, method, _ in variant.steps):
            context = CompressionContext(
                calibration=self._tokenized(tokenizer, "validation"), seed=variant.seed
            )
        for step, method, _ in variant.steps:
            log.info("[%s] compression step %s: %s", variant.name, step, type(method).__name__)
            model = method.apply(model, context)
        return model, tokenizer

    def _pins_zeros(self, name: str) -> bool:
        """Whether fine-tuning `name` must keep pruned weights at zero."""
        return any(
            getattr(method, "pins_zeros", False)
            for ancestor in self._lineage(name)
            for _, method, _ in self.variants[ancestor].steps
        )

    def load_model(self, name: str, force: bool = False) -> tuple[nn.Module, Any]:
        """Variant `name`'s final model and tokenizer (training or compressing as needed)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        variant = self.variants[name]
        if variant.finetune:
            folder = self.ensure_checkpoint(name, force=force)
            model = (
                self.task.load_finetuned(folder)
                if self.task
                else AutoModelForSequenceClassification.from_pretrained(folder)
            )
            return model.eval(), AutoTokenizer.from_pretrained(folder)
        model, tokenizer = self._initial_model(variant)
        return model.eval(), tokenizer

    # ------------------------------------------------------------------ infer
    def ensure_outputs(self, name: str, split: str, force: bool = False) -> str:
        """Run variant `name` on `split` unless its outputs entry exists; returns the key.

        Fine-tunes the variant (and its parents and teachers) first when their checkpoints are
        missing. `force` recomputes the outputs entry, not the checkpoints (see
        `train(force=True)`). The entry's `meta.json` also records the model's size
        (`compression_stats`) and its inference latency at a fixed batch size and sequence length
        (`latency`, see `trusteq.models.latency`; runtime facts, not part of any key).
        """
        self._ensure_checkpoints(name)
        key = self.outputs_key(name, split)
        if self.store.exists(OUTPUTS, key) and not force:
            log.info("[%s] outputs on %s cached: %s", name, split, key)
            return key
        model, tokenizer = self.load_model(name)
        self.store.remove(OUTPUTS, key)
        variant = self.variants[name]
        stats = compression_stats(model)
        data = self._tokenized(tokenizer, split)
        # Latency is a fact of the model, not of the split: timed once, with the compared split.
        latency = self._latency(name, model, data) if split == str(self.cfg.compare.split) else None
        arrays, seconds = (self.task.predict if self.task else predict)(
            model,
            data,
            int(self.cfg.infer.batch_size),
            self.runtime,
            force_cpu=self._needs_cpu(name),
            embedding_layer=int(self.cfg.infer.embedding_layer),
        )
        meta = {
            "variant": name,
            "study": self.name,
            "split": split,
            "ids": list(self.data[split].ids),
            "label_names": list(self.data.label_names),
            "model_key": self.model_key(name),
            "parent": variant.parent,
            "steps": variant.step_identity(),
            "seed": variant.seed,
            "teacher": variant.teacher,
            "backbone": variant.backbone.identity(),
            "compression_stats": stats.to_dict(),
            "latency": latency,
            "timings": {"predict_seconds": seconds, "examples_per_second": len(data) / seconds},
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "git_sha": git_sha(),
            "versions": library_versions(),
        }
        self.store.write_arrays(OUTPUTS, key, arrays, meta)
        log.info("[%s] outputs on %s written: %s (%.1f s)", name, split, key, seconds)
        return key

    def _latency(self, name: str, model: nn.Module, data: TokenizedSplit) -> dict[str, Any] | None:
        """Median forward time at `infer.latency` settings on the variant's device, or None."""
        settings = {**LATENCY_DEFAULTS, **(self.cfg.infer.get("latency") or {})}
        if not settings.pop("enabled") or len(data) == 0:
            return None
        accelerator = str(self.runtime.get("accelerator", "auto"))
        on_gpu = (
            accelerator in ("gpu", "cuda", "auto")
            and torch.cuda.is_available()
            and not self._needs_cpu(name)
        )
        latency = measure_latency(
            model,
            data,
            batch_size=int(settings["batch_size"]),
            seq_len=int(settings["seq_len"]),
            repeats=int(settings["repeats"]),
            warmup=int(settings["warmup"]),
            device="cuda" if on_gpu else "cpu",
        )
        model.to("cpu")
        log.info(
            "[%s] latency %.2f ms/example (batch %d x %d tokens, %s)",
            name,
            latency["ms_per_example"],
            latency["batch_size"],
            latency["seq_len"],
            latency["device"],
        )
        return latency

    def _ensure_checkpoints(self, name: str) -> None:
        """Fine-tune, in dependency order, every variant `name` needs, itself included."""
        for dependency in self._dependency_order(name):
            if self.variants[dependency].finetune:
                self.ensure_checkpoint(dependency)

    def _dependency_order(self, name: str) -> list[str]:
        """`name` after everything it needs (parents and teachers, recursively), no repeats."""
        order: list[str] = []

        def visit(current: str) -> None:
            for dependency in self.variants[current].dependencies():
                visit(dependency)
            if current not in order:
                order.append(current)

        visit(name)
        return order

    def _lineage(self, name: str) -> list[str]:
        chain = [name]
        while self.variants[chain[-1]].parent:
            chain.append(self.variants[chain[-1]].parent)
        return chain[::-1]

    def _needs_cpu(self, name: str) -> bool:
        return any(self.variants[v].requires_cpu for v in self._lineage(name))

    def load_outputs(self, name: str, split: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Cached outputs of variant `name` on `split`; never runs a model.

        Raises:
            CacheError: the entry does not exist yet; the message gives the command that makes it.
        """
        arrays, meta = self._read_entry(
            OUTPUTS,
            self.outputs_key(name, split),
            f"outputs for variant {name!r} on split {split!r}",
            name,
        )
        # QA entries hold per-question answers; the view adds what characteristics read.
        return (self.task.view(arrays) if self.task else arrays), meta

    def _read_entry(
        self, kind: str, key: str, what: str, name: str
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """An entry's arrays and meta, or a CacheError that names the command making it."""
        if not self.store.exists(kind, key):
            raise CacheError(
                f"{self.store.path(kind, key)}: no {what}. Run `trusteq-infer experiment=<this "
                f"experiment> variant={name}` (or `trusteq-study`) first."
            )
        return self.store.read_arrays(kind, key), self.store.read_meta(kind, key)

    # ------------------------------------------------------------------ stages
    def selected(self, only: str | list[str] | None) -> list[str]:
        """Variant names to run: all, one, or a list (validated)."""
        if only is None:
            return list(self.variants)
        names = [only] if isinstance(only, str) else list(only)
        unknown = [n for n in names if n not in self.variants]
        if unknown:
            raise KeyError(
                f"variant={unknown} is not declared in study.variants; declared: "
                f"{sorted(self.variants)}."
            )
        return names

    def train(self, only: str | list[str] | None = None, force: bool = False) -> None:
        """Stage 1: fine-tune every selected variant that fine-tunes (and their parents)."""
        for name in self.selected(only):
            for variant in self._dependency_order(name):
                if self.variants[variant].finetune:
                    self.ensure_checkpoint(variant, force=force and variant == name)

    def infer_splits(self) -> list[str]:
        """`infer.splits` plus every split an analysis needs, in order, without repeats."""
        splits = [str(split) for split in self.cfg.infer.splits]
        for analysis in self.analyses.values():
            splits += [s for s in analysis.required_splits() if s not in splits]
        return splits

    def infer(self, only: str | list[str] | None = None, force: bool = False) -> dict[str, str]:
        """Stage 2: one outputs entry per selected variant and split, then every producer."""
        keys = {}
        splits = self.infer_splits()
        for name in self.selected(only):
            for split in splits:
                keys[f"{name}/{split}"] = self.ensure_outputs(name, split, force=force)
            for producer in self.producers:
                keys[f"{name}/{producer}"] = self.ensure_produced(name, producer, force=force)
        return keys

    # ------------------------------------------------------------------ producers
    def produced_key(self, name: str, producer: str) -> str:
        """Key of producer `producer`'s entry for variant `name`."""
        spec = self.producers[producer]
        return content_key(
            PRODUCED,
            {
                "model": self.model_key(name),
                "producer": spec.identity(),
                "dataset": self.dataset.identity(include_ood=False),
                "data": self.data[spec.split].fingerprint(),
                "max_length": int(self.recipe["max_length"]),
            },
        )

    def ensure_produced(self, name: str, producer: str, force: bool = False) -> str:
        """Run producer `producer` on variant `name` unless cached; returns the key."""
        self._ensure_checkpoints(name)
        key = self.produced_key(name, producer)
        if self.store.exists(PRODUCED, key) and not force:
            log.info("[%s] %s cached: %s", name, producer, key)
            return key
        self.store.remove(PRODUCED, key)
        spec = self.producers[producer]
        model, tokenizer = self.load_model(name)
        resume_dir = self.store.root / "resume" / key
        resume_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        arrays, records = spec.produce(
            model,
            tokenizer,
            self.data[spec.split],
            list(self.data.label_names),
            self.runtime,
            resume_dir,
        )
        meta = {
            "variant": name,
            "producer": producer,
            "identity": spec.identity(),
            "split": spec.split,
            "ids": list(self.data[spec.split].ids),
            "model_key": self.model_key(name),
            "records": records,
            "seconds": time.perf_counter() - started,
            "git_sha": git_sha(),
            "versions": library_versions(),
        }
        self.store.write_arrays(PRODUCED, key, arrays, meta)
        shutil.rmtree(resume_dir, ignore_errors=True)
        log.info("[%s] %s written: %s", name, producer, key)
        return key

    def load_produced(self, name: str, producer: str) -> tuple[dict[str, np.ndarray], dict]:
        """Cached entry of producer `producer` for variant `name`; never runs a model.

        Raises:
            CacheError: the entry does not exist yet; the message gives the command that makes it.
        """
        return self._read_entry(
            PRODUCED,
            self.produced_key(name, producer),
            f"{producer!r} outputs for variant {name!r}",
            name,
        )
