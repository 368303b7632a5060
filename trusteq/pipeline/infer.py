"""Stage 2, infer: one outputs entry per (variant, split), then every producer, then the manifest.

Each variant's model is built once per process (`trusteq.pipeline.train.Models`) and shared by
its splits and producers. Producers run in dependency order: a producer that consumes another's
entry (attack transfer reads the reference's adversarial texts) runs after it, and the consumed
entries are passed to it. Latency is timed once per variant, with the compared split.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import nn

from trusteq.compression.base import compression_stats
from trusteq.models.latency import measure_latency
from trusteq.outputs.provenance import git_sha, library_versions, machine
from trusteq.pipeline.keys import OUTPUTS, PRODUCED
from trusteq.pipeline.manifest import Manifest, StudyHeader, ids_digest, manifest_dir
from trusteq.pipeline.models import Models
from trusteq.pipeline.plan import study_digest
from trusteq.pipeline.workspace import Workspace
from trusteq.producers.explain.scoring import shared_scores
from trusteq.validation import check_finite_outputs

log = logging.getLogger(__name__)


def ensure_outputs(
    ws: Workspace, models: Models, name: str, split: str, force: bool = False
) -> str:
    """Run variant `name` on `split` unless its outputs entry exists; returns the key.

    The entry's `meta.json` also records the model's size (`compression_stats`), its latency
    (timed once, with the compared split), the machine (CPU model, SIMD level and quantized
    engine: int8 results depend on them) and the provenance.
    """
    plan, store = ws.plan, ws.store
    key = ws.keys.outputs(name, split)
    if store.exists(OUTPUTS, key) and not force:
        log.info("[%s] outputs on %s cached: %s", name, split, key)
        return key
    model, tokenizer = models.get(name)
    variant = plan.variants[name]
    stats = compression_stats(model)
    data = ws.features(tokenizer, split)
    latency = _latency(ws, name, model, data) if split == str(ws.cfg.compare.split) else None
    arrays, seconds = plan.task.predict(
        model,
        data,
        int(ws.cfg.infer.batch_size),
        plan.runtime,
        force_cpu=plan.needs_cpu(name),
        embedding_layer=int(ws.cfg.infer.embedding_layer),
    )
    check_finite_outputs(arrays, name, split)  # NaN outputs are refused, naming the variant
    meta = {
        "variant": name,
        "study": plan.name,
        "split": split,
        "ids": list(ws.data[split].ids),
        "label_names": ws.label_names,
        "model_key": ws.keys.model(name),
        "parent": variant.parent,
        "steps": variant.step_identity(),
        "seed": variant.seed,
        "teacher": variant.teacher,
        "backbone": variant.backbone.identity(),
        "compression_stats": stats.to_dict(),
        "latency": latency,
        "timings": {
            "predict_seconds": seconds,
            "examples_per_second": len(data) / seconds if seconds > 0 else math.nan,
        },
        "machine": machine(),
        "machine_dependent": plan.needs_cpu(name),
        "config": OmegaConf.to_container(ws.cfg, resolve=True),
        "git_sha": git_sha(),
        "versions": library_versions(),
    }
    store.write_arrays(OUTPUTS, key, arrays, meta, replace=force)
    log.info("[%s] outputs on %s written: %s (%.1f s)", name, split, key, seconds)
    return key


def _latency(ws: Workspace, name: str, model: nn.Module, data: Any) -> dict[str, Any] | None:
    """Median forward time at `infer.latency` settings on the variant's device, or None."""
    settings = dict(OmegaConf.to_container(ws.cfg.infer.latency, resolve=True))
    if not settings.pop("enabled") or len(data) == 0:
        return None
    runtime = ws.plan.runtime
    accelerator = str(runtime.get("accelerator", "auto"))
    on_gpu = (
        accelerator in ("gpu", "cuda", "auto")
        and torch.cuda.is_available()
        and not ws.plan.needs_cpu(name)
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


def ensure_produced(
    ws: Workspace, models: Models, name: str, producer: str, force: bool = False
) -> str:
    """Run producer `producer` on variant `name` unless cached; returns the key.

    Entries it consumes (of this or another variant) are made first. Finished examples are kept
    under `<cache>/resume/<key>/` while it runs, so a killed job resumes where it stopped.
    """
    plan, store = ws.plan, ws.store
    key = ws.keys.produced(name, producer)
    if store.exists(PRODUCED, key) and not force:
        log.info("[%s] %s cached: %s", name, producer, key)
        return key
    spec = plan.producers[producer]
    inputs = {}
    for consumed in spec.consumes():
        source = consumed.variant or name
        consumed_key = ensure_produced(ws, models, source, consumed.producer)
        inputs[consumed.producer] = (
            store.read_arrays(PRODUCED, consumed_key),
            store.read_meta(PRODUCED, consumed_key),
        )
    model, tokenizer = models.get(name)
    resume_dir = store.root / "resume" / key
    resume_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    arrays, records = spec.produce(
        model,
        tokenizer,
        ws.data[spec.split],
        ws.label_names,
        plan.runtime,
        resume_dir,
        **({"inputs": inputs} if inputs else {}),
        **(
            {"train": ws.data["train"], "cache_dir": store.root}
            if getattr(spec, "needs_train_split", False)
            else {}
        ),
    )
    meta = {
        "variant": name,
        "producer": producer,
        "identity": spec.identity(),
        "split": spec.split,
        "ids": list(ws.data[spec.split].ids),
        "model_key": ws.keys.model(name),
        "consumes": [
            {"producer": c.producer, "variant": c.variant or name} for c in spec.consumes()
        ],
        "records": records,
        "seconds": time.perf_counter() - started,
        "git_sha": git_sha(),
        "versions": library_versions(),
    }
    store.write_arrays(PRODUCED, key, arrays, meta, replace=force)
    shutil.rmtree(resume_dir, ignore_errors=True)
    log.info("[%s] %s written: %s", name, producer, key)
    return key


def study_header(ws: Workspace) -> StudyHeader:
    """The manifest header of the study (from the plan and the label names)."""
    plan = ws.plan
    return StudyHeader(
        name=plan.name,
        variants=list(plan.variants),
        reference=plan.reference,
        noise_floor=plan.noise_floor,
        seeds=plan.seeds,
        task=plan.task.name,
        label_names=ws.label_names,
        descriptions={n: v.description for n, v in plan.variants.items()},
        producers={n: p.split for n, p in plan.producers.items()},
    )


def infer(
    ws: Workspace, models: Models, only: str | list[str] | None = None, force: bool = False
) -> dict[str, str]:
    """One outputs entry per selected variant and split, then every producer; the manifest.

    Returns:
        `"<variant>/<split or producer>"` → entry key.
    """
    keys: dict[str, str] = {}
    manifest = Manifest(study_header(ws), study_digest(ws.cfg))
    folder = manifest_dir(ws.store.root, ws.plan.name, manifest.digest)
    splits = ws.plan.infer_splits()
    for name in ws.plan.selected(only):
        manifest.outputs[name], manifest.produced[name] = {}, {}
        for split in splits:
            key = ensure_outputs(ws, models, name, split, force=force)
            keys[f"{name}/{split}"] = key
            ids = list(ws.data[split].ids)
            manifest.outputs[name][split] = {
                "key": key,
                "n": len(ids),
                "ids_sha256": ids_digest(ids),
            }
        # One memo of model scores for the variant's producers: a perturbed text one explainer
        # (seed) already scored is not run again by the next (the models are only read here).
        with shared_scores():
            for producer in ws.plan.producer_order():
                key = ensure_produced(ws, models, name, producer, force=force)
                keys[f"{name}/{producer}"] = key
                manifest.produced[name][producer] = {
                    "key": key,
                    "split": ws.plan.producers[producer].split,
                }
        manifest.write_part(folder, name)  # after each variant: a killed sweep keeps the rest
    return keys
