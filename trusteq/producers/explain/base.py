"""The attribution producer: word attributions of one variant on held-out examples, resumable.

Every explainer (LIME, SHAP, Integrated Gradients) is an :class:`AttributionProducer`: it picks a
deterministic subset of a held-out split, decides which class to explain (gold or predicted),
explains each example on the shared word segmentation (:mod:`trusteq.producers.explain.words`), and
returns arrays the study caches per variant:

- ``attributions`` `(N, W_max)`, float32: the attribution of every word to the explained class's
  probability, NaN-padded beyond each example's word count (all NaN when the example was skipped);
- ``word_count`` `(N,)`, ``example_index`` `(N,)` (row in the split), ``explained_class`` `(N,)`,
  ``labels`` `(N,)` (gold), int64;
- ``probs`` `(N, C)`, float32: the model's class probabilities on the unperturbed inputs;
- ``model_evals`` `(N,)`, int64: model evaluations the explanation ran (distinct perturbations,
  or integration steps); in a study, perturbations an earlier producer of the same variant
  already scored are reused and not counted (`trusteq.producers.explain.scoring.shared_scores`).

The words themselves are in the records (``examples[i].words``) and are reproducible from the text
with :func:`trusteq.producers.explain.words.split_words`. Each finished example is written
atomically to the producer's ``resume_dir``; a restarted job loads those and explains only the rest.

Over 400 lines because the producer loop, its resume files and the shared explain context belong
together; each explainer module stays small by building on them.
"""

from __future__ import annotations

import abc
import importlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from trusteq.data import TextSplit, stratified_sample_indices
from trusteq.producers import Producer
from trusteq.producers.explain.scoring import PerturbationScorer, scorer_on_device
from trusteq.producers.explain.words import WORD_PATTERN, SegmentedInput

log = logging.getLogger(__name__)

#: Bump when the meaning of the stored arrays changes (part of every cache key).
FORMAT_VERSION = 1
TARGETS = ("gold", "predicted")
MASKS = ("mask_token", "remove")


class ExplainerConfigError(ValueError):
    """An explainer config is invalid; the message names the field and the fix."""


def require(module: str) -> Any:
    """Import an explainer library, or fail with the install command.

    Raises:
        ImportError: `module` is not installed (the `explain` extra).
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{module!r} is not installed; the explainers need the `explain` extra: "
            "`.venv/bin/pip install -c constraints.txt -e '.[explain]'`."
        ) from error


def example_seed(seed: int, index: int) -> int:
    """The random seed of example `index` under explainer seed `seed` (a 32-bit integer).

    Derived with `numpy.random.SeedSequence`, so an example's explanation does not depend on which
    other examples were explained before it (resuming gives the same result).
    """
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def is_held_out(split: str) -> bool:
    """Whether `split` may be explained: `test`, `validation` or an `ood_*` split."""
    return split in ("test", "validation") or split.startswith("ood_")


@dataclass
class ExplainContext:
    """What an explainer needs besides the example.

    Attributes:
        model: the variant's classifier, in eval mode, on `device`.
        tokenizer: its tokenizer.
        scorer: batched, memoised class probabilities of perturbed inputs.
        device: where the model runs.
        mask: the string that replaces a hidden word ("" = delete it).
        extras: per-run state an explainer sets up in `prepare` (e.g. a float copy of the model);
            `notes` (strings kept in the records), and `evals` / `requests` (model evaluations of
            the current example, for explainers that bypass `scorer`) have a meaning here.
    """

    model: nn.Module
    tokenizer: Any
    scorer: PerturbationScorer
    device: torch.device
    mask: str
    extras: dict[str, Any] = field(default_factory=dict)

    def word_masks(self, instance: SegmentedInput) -> str | list[str]:
        """What replaces each hidden word of `instance`.

        Returns:
            `""` (every hidden word deleted) for `mask: remove`; for `mask: mask_token`, W strings:
            each word becomes as many mask tokens as the tokenizer cuts it into sub-words (at least
            one), as `shap.maskers.Text` masks every hidden sub-word with its own mask token, so the
            perturbed input keeps the original's length and positions.
        """
        if not self.mask:
            return ""
        return [
            " ".join([self.mask] * max(1, len(self.tokenizer.tokenize(word.text))))
            for word in instance.words
        ]


class AttributionProducer(Producer):
    """Base class of the word-attribution producers.

    Args:
        split: held-out split to explain (`test`, `validation`, `ood_*`; never `train`).
        n_examples: examples to explain, a stratified deterministic subset drawn with
            `subset_seed` (the same subset for every variant and explainer seed); None = all.
        subset_seed: seed of that subset.
        seed: explainer seed (sampling of LIME, permutations of SHAP); in the cache key.
        target: `gold` (Paper B's choice) or `predicted`: which class's probability is explained.
        mask: how a hidden word is perturbed: `remove` (deleted, LIME's original perturbation;
            every model then sees the very same perturbed texts, whatever its tokenizer) or
            `mask_token` (replaced by the tokenizer's mask token, one per sub-word of the word,
            as shap's Text masker does; see :meth:`ExplainContext.word_masks`). Integrated
            Gradients' baseline token follows it: the pad token for
            `remove`, the mask token for `mask_token`.
        max_length: truncation length in tokens (the study's `train.max_length`).
        batch_size: perturbations per forward pass (runtime only: not in the cache key).
        progress: show a progress bar (runtime only).

    Raises:
        ExplainerConfigError: `split` is not held out, `target`/`mask` unknown, sizes < 1.
    """

    name = "attribution"

    def __init__(
        self,
        split: str = "test",
        n_examples: int | None = 20,
        subset_seed: int = 0,
        seed: int = 0,
        target: str = "gold",
        mask: str = "remove",
        max_length: int = 128,
        batch_size: int = 64,
        progress: bool = True,
    ) -> None:
        where = f"{type(self).__name__} (conf/explainer/*.yaml, producers.<name>)"
        if not is_held_out(str(split)):
            raise ExplainerConfigError(
                f"{where}: split={split!r} is not held out. Explanations are computed on "
                "`test`, `validation` or `ood_*` only (Paper B explained training rows for "
                "paraphrase identification; trusteq refuses). Fix: set split: test."
            )
        if target not in TARGETS:
            raise ExplainerConfigError(f"{where}: target={target!r}; expected one of {TARGETS}.")
        if mask not in MASKS:
            raise ExplainerConfigError(f"{where}: mask={mask!r}; expected one of {MASKS}.")
        if n_examples is not None and int(n_examples) < 1:
            raise ExplainerConfigError(f"{where}: n_examples={n_examples}; expected >= 1 or null.")
        if int(batch_size) < 1 or int(max_length) < 2:
            raise ExplainerConfigError(f"{where}: batch_size and max_length must be positive.")
        self.split = str(split)
        self.n_examples = None if n_examples is None else int(n_examples)
        self.subset_seed = int(subset_seed)
        self.seed = int(seed)
        self.target = str(target)
        self.mask = str(mask)
        self.max_length = int(max_length)
        self._batch_size = int(batch_size)
        self._progress = bool(progress)

    #: Whether `seed` changes the attributions. An explainer that ignores it (SHAP Partition,
    #: Integrated Gradients) leaves it out of its cache key, so entries that differ only in the
    #: seed are one entry, computed once, and no explainer-seed floor is made of them (a floor of
    #: 1 by construction says nothing).
    seeded: bool = True

    def identity(self) -> dict[str, Any]:
        """Everything that defines the attributions (the cache key); runtime knobs excluded."""
        identity = {**super().identity(), "format": FORMAT_VERSION, "segmentation": WORD_PATTERN}
        if not self.seeded:
            identity.pop("seed", None)
        return identity

    # ------------------------------------------------------------------ to implement
    @abc.abstractmethod
    def explain(
        self, instance: SegmentedInput, target: int, context: ExplainContext, seed: int
    ) -> np.ndarray:
        """Attributions of the W words of `instance` to class `target`; shape `(W,)`."""

    def prepare(self, context: ExplainContext) -> None:
        """Set up per-run state in `context.extras` (default: nothing)."""

    def skip_reason(self, model: nn.Module) -> str | None:
        """Why this explainer cannot explain `model` (every attribution is then NaN), or None."""
        return None

    # ------------------------------------------------------------------ the producer
    def select(self, data: TextSplit) -> np.ndarray:
        """Rows of `data` to explain: shape `(N,)`, int64, ascending."""
        if self.n_examples is None or self.n_examples >= len(data):
            return np.arange(len(data), dtype=np.int64)
        return stratified_sample_indices(data.labels, self.n_examples, self.subset_seed)

    def resolve_mask(self, tokenizer: Any) -> str:
        """The replacement string of a hidden word for this tokenizer.

        Raises:
            ExplainerConfigError: `mask: mask_token` and the tokenizer has no mask token.
        """
        if self.mask == "remove":
            return ""
        token = getattr(tokenizer, "mask_token", None)
        if not token:
            raise ExplainerConfigError(
                f"{type(self).__name__}: mask=mask_token but the tokenizer "
                f"{type(tokenizer).__name__} has no mask token. Fix: set mask: remove."
            )
        return str(token)

    def produce(
        self,
        model: nn.Module,
        tokenizer: Any,
        data: TextSplit,
        label_names: list[str],
        runtime: Mapping[str, Any],
        resume_dir: Path,
        inputs: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Explain the selected examples of `data` (see the module docstring for the arrays)."""
        if not is_held_out(data.name):
            raise ExplainerConfigError(
                f"{type(self).__name__}: refusing to explain split {data.name!r} (not held out)."
            )
        resume_dir = Path(resume_dir)
        resume_dir.mkdir(parents=True, exist_ok=True)
        indices = self.select(data)
        instances = [
            SegmentedInput.from_texts(
                data.text_a[i], None if data.text_b is None else data.text_b[i]
            )
            for i in indices
        ]
        started = time.perf_counter()
        with scorer_on_device(model, tokenizer, self.max_length, self._batch_size, runtime) as (
            scorer,
            device,
        ):
            context = ExplainContext(model, tokenizer, scorer, device, self.resolve_mask(tokenizer))
            skipped = self.skip_reason(model)
            results = self._explain_all(data, indices, instances, context, skipped, resume_dir)
        arrays = _assemble(results, instances, data, indices, len(label_names))
        seconds = time.perf_counter() - started
        records = {
            "explainer": type(self).__name__,
            "settings": self.identity(),
            "label_names": list(label_names),
            "segmentation": WORD_PATTERN,
            "mask_string": context.mask,
            "device": str(device),
            "skipped": skipped,
            "notes": context.extras.get("notes", []),
            "totals": {
                "examples": len(indices),
                "seconds_this_run": seconds,
                "model_evals": int(arrays["model_evals"].sum()),
                "model_requests": int(sum(r.get("model_requests", 0) for r in results)),
                "explain_seconds": float(sum(r["seconds"] for r in results)),
                "forward_passes_this_run": scorer.n_forward,
            },
            "examples": [
                {"index": int(i), "id": data.ids[i], "words": inst.word_texts}
                | ({"segments": inst.word_segments} if data.text_b is not None else {})
                for i, inst in zip(indices, instances, strict=True)
            ],
        }
        log.info(
            "%s on %s: %d examples in %.1f s (%d model evaluations, %d forward passes)",
            type(self).__name__,
            data.name,
            len(indices),
            seconds,
            records["totals"]["model_evals"],
            scorer.n_forward,
        )
        return arrays, records

    def _explain_all(
        self,
        data: TextSplit,
        indices: np.ndarray,
        instances: list[SegmentedInput],
        context: ExplainContext,
        skipped: str | None,
        resume_dir: Path,
    ) -> list[dict[str, Any]]:
        done = {int(i): _load_result(resume_dir, int(i)) for i in indices}
        todo = [k for k, i in enumerate(indices) if done[int(i)] is None]
        if len(todo) < len(indices):
            log.info(
                "%s: resuming, %d of %d done",
                type(self).__name__,
                len(indices) - len(todo),
                len(indices),
            )
        if skipped is None:
            self.prepare(context)  # also when resuming with nothing left: it records its notes
        if todo:
            probs = context.scorer([instances[k].segments for k in todo])
        bar = tqdm(
            total=len(indices),
            initial=len(indices) - len(todo),
            desc=f"{type(self).__name__} on {data.name}",
            unit="ex",
            disable=not self._progress,
            leave=False,
        )
        for row, k in enumerate(todo):
            index, instance = int(indices[k]), instances[k]
            explained = int(data.labels[index] if self.target == "gold" else probs[row].argmax())
            context.scorer.reset_memo()
            evaluated, requested = context.scorer.n_evaluated, context.scorer.n_requested
            tick = time.perf_counter()
            if skipped is not None or len(instance) == 0:
                values = np.full(len(instance), np.nan)
            else:
                values = np.asarray(
                    self.explain(instance, explained, context, example_seed(self.seed, index)),
                    dtype=np.float64,
                )
            evals = context.extras.pop("evals", context.scorer.n_evaluated - evaluated)
            requests = context.extras.pop("requests", context.scorer.n_requested - requested)
            result = {
                "index": index,
                "explained_class": explained,
                "probs": probs[row].tolist(),
                "attributions": [None if np.isnan(v) else float(v) for v in values],
                "model_evals": int(evals),
                "model_requests": int(requests),
                "seconds": time.perf_counter() - tick,
            }
            _save_result(resume_dir, index, result)
            done[index] = result
            bar.update(1)
            bar.set_postfix(evals=int(evals))
        bar.close()
        return [done[int(i)] for i in indices]


def _result_path(resume_dir: Path, index: int) -> Path:
    return resume_dir / f"example_{index:07d}.json"


def _save_result(resume_dir: Path, index: int, result: dict[str, Any]) -> None:
    """Write one finished example atomically (temporary file, then rename)."""
    handle, temporary = tempfile.mkstemp(dir=resume_dir, prefix=".partial-", suffix=".json")
    with os.fdopen(handle, "w") as stream:
        json.dump(result, stream)
    os.replace(temporary, _result_path(resume_dir, index))


def _load_result(resume_dir: Path, index: int) -> dict[str, Any] | None:
    path = _result_path(resume_dir, index)
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return result if result.get("index") == index else None


def _assemble(
    results: list[dict[str, Any]],
    instances: list[SegmentedInput],
    data: TextSplit,
    indices: np.ndarray,
    n_classes: int,
) -> dict[str, np.ndarray]:
    n_examples = len(results)
    word_count = np.array([len(inst) for inst in instances], dtype=np.int64)
    width = max(1, int(word_count.max(initial=0)))
    attributions = np.full((n_examples, width), np.nan, dtype=np.float32)
    for row, result in enumerate(results):
        values = np.array(
            [np.nan if v is None else v for v in result["attributions"]], dtype=np.float32
        )
        attributions[row, : len(values)] = values
    return {
        "attributions": attributions,
        "word_count": word_count,
        "example_index": np.asarray(indices, dtype=np.int64),
        "explained_class": np.array([r["explained_class"] for r in results], dtype=np.int64),
        "labels": data.labels[indices].astype(np.int64),
        "probs": np.array([r["probs"] for r in results], dtype=np.float32).reshape(
            n_examples, n_classes
        ),
        "model_evals": np.array([r["model_evals"] for r in results], dtype=np.int64),
    }
