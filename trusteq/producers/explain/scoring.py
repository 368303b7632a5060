"""Fast model calls for perturbation explainers: batched, memoised, in inference mode.

LIME and SHAP ask for the model's class probabilities on hundreds of perturbed copies of one input.
:class:`PerturbationScorer` answers such a request by evaluating each *distinct* perturbation once
(memoised by the tuple of perturbed segment texts), sorting the rest by length so that dynamic
padding wastes little, and running them through the model in batches of the configured size under
`torch.inference_mode` (and autocast on a GPU). The straightforward use of the libraries (one text
per forward pass, repeated texts recomputed) is what `benchmarks/explain_speed.py` compares with.

Inside :func:`shared_scores` (the infer stage opens one per variant around its producers), every
scorer of the same model, tokenizer, length, device and precision reads and fills one memo, so a
text one producer already scored is not run again by the next: SHAP Permutation under a second
explainer seed asks for 96-100 % of the texts its first seed asked for (its permutations follow
shap's text hierarchy), so its second seed costs a few percent of the first. A float model's
score of a text does not depend on the batch it was scored in beyond float rounding (~1e-7, from
padding), so an entry is the same whichever producers ran before it; a dynamically quantized
model's does (its activation range is the batch's: 0.02 in a probability, measured on the
quick-start's int8), so its scorers never share. Outside the block each scorer keeps its own
memo, cleared between examples.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

Segments = tuple[str, ...]

#: A shared memo is cleared when it holds more texts than this between two examples (about 0.5 kB
#: a text with its probabilities: ~100 MB), so a study at paper scale stays bounded.
MAX_SHARED_TEXTS = 200_000

#: The open :func:`shared_scores` scopes (innermost last): scorer identity → (model ref, memo).
_SCOPES: list[dict[tuple[Any, ...], tuple[weakref.ref, dict[Segments, np.ndarray]]]] = []


@contextlib.contextmanager
def shared_scores() -> Iterator[None]:
    """Within the block, scorers of the same model share their memo (see the module docstring).

    The memo lives as long as the block: the caller guarantees that no model's weights change
    inside it (the infer stage opens it around one variant's producers, whose models it only
    reads). A scorer is matched by its model object (held weakly: a model freed and another
    built at the same address never reads the first one's scores), tokenizer, `max_length`,
    device and autocast dtype.
    """
    _SCOPES.append({})
    try:
        yield
    finally:
        _SCOPES.pop()


def _shared_memo(scorer: PerturbationScorer) -> dict[Segments, np.ndarray] | None:
    """The memo of the innermost open scope for this scorer's model, or None outside a scope."""
    if not _SCOPES or is_dynamically_quantized(scorer.model):
        # A dynamically quantized model's scores depend on the batch a text is scored in (the
        # activation range is taken over the batch): a text scored in another producer's batch
        # would change this producer's entry, so its scorers keep their own memos.
        return None
    scope = _SCOPES[-1]
    tokenizer = scorer.tokenizer
    identity = (
        id(scorer.model),
        getattr(tokenizer, "name_or_path", None) or id(tokenizer),
        scorer.max_length,
        str(scorer.device),
        str(scorer.dtype),
    )
    found = scope.get(identity)
    if found is None or found[0]() is not scorer.model:
        found = (weakref.ref(scorer.model), {})
        scope[identity] = found
    return found[1]


def is_dynamically_quantized(model: nn.Module) -> bool:
    """True when `model` holds `torch.ao` quantized modules (CPU-only kernels, no autograd)."""
    return any(
        type(module).__module__.startswith("torch.ao.nn.quantized") for module in model.modules()
    )


def explanation_device(model: nn.Module, runtime: Mapping[str, Any]) -> torch.device:
    """Where to run a variant's explanations.

    The GPU when the runtime asks for one (`trainer.accelerator` `gpu`, `cuda` or `auto`) and one is
    available, unless the model is dynamically quantized (its int8 kernels exist for CPU only).
    """
    wants_gpu = str(runtime.get("accelerator", "cpu")) in ("gpu", "cuda", "auto")
    if wants_gpu and torch.cuda.is_available() and not is_dynamically_quantized(model):
        return torch.device("cuda")
    return torch.device("cpu")


@contextlib.contextmanager
def scorer_on_device(
    model: nn.Module, tokenizer: Any, max_length: int, batch_size: int, runtime: Mapping[str, Any]
) -> Iterator[tuple[PerturbationScorer, torch.device]]:
    """A :class:`PerturbationScorer` on the variant's device (`explanation_device`).

    The model is put in eval mode and moved there for the block, and moved back afterwards
    whatever happens (explainers and attacks share the study's in-memory model).

    Yields:
        ``(scorer, device)``.
    """
    device = explanation_device(model, runtime)
    home = next(iter(model.parameters()), torch.empty(0)).device
    model.eval()
    if device != home:
        model.to(device)
    try:
        yield (
            PerturbationScorer(
                model, tokenizer, max_length, batch_size, device, runtime.get("precision")
            ),
            device,
        )
    finally:
        if device != home:
            model.to(home)


def autocast_dtype(device: torch.device, precision: str | None) -> torch.dtype | None:
    """The autocast dtype for `trainer.precision` on `device` (None: full float32).

    Autocast is used on a GPU only: `bf16-mixed` → bfloat16, `16-mixed` → float16.
    """
    if device.type != "cuda" or not precision:
        return None
    if str(precision).startswith("bf16"):
        return torch.bfloat16
    if str(precision).startswith("16"):
        return torch.float16
    return None


def logits_of(output: Any) -> torch.Tensor:
    """The logits of a classifier's forward output (a `ModelOutput`, a tuple or a tensor)."""
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, tuple | list):
        return output[0]
    return output


class PerturbationScorer:
    """Class probabilities of (perturbed) inputs: batched, memoised, inference mode.

    Args:
        model: a sequence classifier taking the tokenizer's encoding as keyword arguments and
            returning logits `(B, C)` (or an object with `.logits`).
        tokenizer: a `transformers` tokenizer; pairs are encoded as two segments.
        max_length: truncation length in tokens (pairs truncated longest-first).
        batch_size: B, perturbations per forward pass (runtime only).
        device: where the model runs.
        precision: `trainer.precision`; selects autocast on a GPU (see :func:`autocast_dtype`).

    Attributes:
        n_requested: perturbations asked for since construction.
        n_evaluated: distinct perturbations actually run through the model (inside
            :func:`shared_scores`: not already scored by an earlier scorer of the same model).
        shared: whether the memo is a :func:`shared_scores` scope's.
        n_forward: forward passes made.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        max_length: int,
        batch_size: int,
        device: torch.device | str = "cpu",
        precision: str | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.dtype = autocast_dtype(self.device, precision)
        self.n_requested = 0
        self.n_evaluated = 0
        self.n_forward = 0
        shared = _shared_memo(self)
        self.shared = shared is not None
        self._memo: dict[Segments, np.ndarray] = {} if shared is None else shared

    def reset_memo(self) -> None:
        """Forget memoised results (call between examples to bound memory).

        A memo shared inside :func:`shared_scores` is kept (later producers of the variant reuse
        it) unless it holds more than :data:`MAX_SHARED_TEXTS` texts.
        """
        if not self.shared or len(self._memo) > MAX_SHARED_TEXTS:
            self._memo.clear()

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def _batches(self, pending: list[Segments]) -> Iterator[list[Segments]]:
        # Longest first (characters as a proxy for tokens): similar lengths share a batch.
        pending = sorted(pending, key=lambda segments: -sum(len(s) for s in segments))
        for start in range(0, len(pending), self.batch_size):
            yield pending[start : start + self.batch_size]

    def encode(self, batch: Sequence[Segments]) -> dict[str, torch.Tensor]:
        """Tokenise a batch of single texts or pairs (padded to the batch's longest)."""
        first = [segments[0] for segments in batch]
        second = [segments[1] for segments in batch] if len(batch[0]) > 1 else None
        encoded = self.tokenizer(
            first,
            second,
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        return {key: value.to(self.device) for key, value in encoded.items()}

    def __call__(self, inputs: Sequence[Segments]) -> np.ndarray:
        """Class probabilities of each input.

        Args:
            inputs: length n; each a tuple of segment texts (`(text_a,)` or `(text_a, text_b)`).

        Returns:
            shape `(n, C)`, float64 softmax probabilities, in the order of `inputs`.
        """
        self.n_requested += len(inputs)
        pending = [segments for segments in dict.fromkeys(inputs) if segments not in self._memo]
        if pending:
            with torch.inference_mode(), self._autocast():
                for batch in self._batches(pending):
                    logits = logits_of(self.model(**self.encode(batch)))
                    probs = torch.softmax(logits.float(), dim=-1).cpu().numpy().astype(np.float64)
                    self._memo.update(zip(batch, probs, strict=True))
                    self.n_forward += 1
            self.n_evaluated += len(pending)
        return np.stack([self._memo[segments] for segments in inputs])
