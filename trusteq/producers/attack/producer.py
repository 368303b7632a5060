"""The attack producers: word-substitution attacks per variant and their transfer to others.

:class:`AttackProducer` attacks a deterministic stratified subset of a held-out split (the same
rows for every variant: ``n_examples``, ``subset_seed``). Examples the variant misclassifies are
*skipped* (not attacked, as in TextAttack); the rest end as *success* (the prediction left the
gold label) or *failed*. Arrays, one row per selected example (N):

- ``example_index`` (row in the split), ``labels`` (gold), ``original_label`` (prediction on the
  clean text), ``perturbed_label`` (prediction on the final text; = ``original_label`` unless the
  attack succeeded), ``status`` (0 success, 1 failed, 2 skipped; :data:`STATUSES`), ``queries``
  (TextAttack's goal-function queries), ``model_evals`` (distinct texts the model ran),
  ``words_changed`` and ``word_count`` (TextAttack's word segmentation), all int64;
- ``seconds`` float64; ``original_probs`` / ``perturbed_probs`` `(N, C)` float32;
- ``perturbed_utf8`` uint8 and ``perturbed_offsets`` `(N + 1,)` int64: the adversarial text of
  every successful row (empty otherwise), UTF-8 bytes; text pairs add ``perturbed_b_*``.

Records add the recipe's description (masked LM, encoder), totals and, per example, the id, the
status and, for successes, the original words and the ``[word index, old, new]`` changes (what
the side-by-side figure shows). Each finished example is written atomically to ``resume_dir``
(the explainers' helpers), so a killed job resumes where it stopped.

:class:`AttackTransferProducer` runs a variant on another variant's adversarial texts (it
consumes that variant's attack entry): does A's successful attack also fool B?

Over 400 lines: the attack producer and the transfer producer share the subset selection, the held-
out checks and the per-example resume records; kept together so both read the same arrays.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from trusteq.data import TextSplit, stratified_sample_indices
from trusteq.producers.attack.recipes import AttackConfigError, Recipe, seed_everything
from trusteq.producers.base import Consumed, Producer
from trusteq.producers.explain.base import _load_result, _save_result, example_seed, is_held_out
from trusteq.producers.explain.scoring import PerturbationScorer, scorer_on_device
from trusteq.tasks.base import CLASS_DISTRIBUTION, TEXT_INPUTS

log = logging.getLogger(__name__)

#: Bump when the meaning of the stored arrays changes (part of every cache key).
FORMAT_VERSION = 1
STATUSES = ("success", "failed", "skipped")
SUCCESS, FAILED, SKIPPED = 0, 1, 2


class AttackError(RuntimeError):
    """An attack cannot run on this data (e.g. no correctly classified example)."""


def encode_utf8(texts: list[str], prefix: str) -> dict[str, np.ndarray]:
    """``<prefix>_utf8`` (uint8) and ``<prefix>_offsets`` `(N + 1,)` int64 of `texts`."""
    encoded = [text.encode("utf-8") for text in texts]
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(np.int64)
    payload = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)[: offsets[-1]].copy()
    return {f"{prefix}_utf8": payload, f"{prefix}_offsets": offsets}


def decode_utf8(arrays: Mapping[str, np.ndarray], prefix: str = "perturbed") -> list[str]:
    """The texts stored by :func:`encode_utf8` under `prefix`."""
    payload = np.asarray(arrays[f"{prefix}_utf8"], dtype=np.uint8).tobytes()
    offsets = np.asarray(arrays[f"{prefix}_offsets"], dtype=np.int64)
    return [payload[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def check_classification(data: Any, where: str) -> TextSplit:
    """Refuse data an attack cannot run on: anything but a held-out text-classification split.

    Raises:
        AttackConfigError: extractive QA (or any non-:class:`TextSplit` data), or a split that is
            not held out.
    """
    if not isinstance(data, TextSplit):
        raise AttackConfigError(
            f"{where}: word-substitution attacks need a text-classification split, got "
            f"{type(data).__name__}. Extractive QA is not supported (no label for the goal "
            "function to flip); remove the attack producers (`~producers.<name>`) for QA studies."
        )
    if not is_held_out(data.name):
        raise AttackConfigError(
            f"{where}: refusing to attack split {data.name!r}; attacks run on held-out data "
            "(`test`, `validation` or `ood_*`). Fix: set split: test."
        )
    return data


def train_texts(train: TextSplit) -> list[str]:
    """Every text of a training split (both segments of a pair, each as its own text)."""
    texts = list(train.text_a)
    if getattr(train, "text_b", None) is not None:
        texts += [text for text in train.text_b if text]
    return texts


def _segments(data: TextSplit, index: int) -> tuple[str, ...]:
    if data.text_b is None:
        return (data.text_a[index],)
    return (data.text_a[index], data.text_b[index])


class AttackProducer(Producer):
    """Attack one variant on a held-out subset (see the module docstring for the arrays).

    Args:
        recipe: the attack (:mod:`trusteq.producers.attack.recipes`).
        split: held-out split to attack.
        n_examples: rows drawn (stratified, `subset_seed`; the same for every variant), of which
            the correctly classified are attacked; null = the whole split.
        subset_seed: seed of that subset.
        seed: seed of stochastic recipes (DeepWordBug), derived per example.
        query_budget: most goal-function queries per example (null = unlimited).
        max_length: truncation length in tokens (the study's ``train.max_length``).
        batch_size: texts per forward pass (runtime only, not in the cache key).
        goal_batch_size: texts the goal function hands the wrapper per call (runtime only).
        progress: show a progress bar (runtime only).

    Raises:
        AttackConfigError: not a recipe, split not held out, sizes < 1.
    """

    name = "attack"
    #: Output kinds the task must yield (the plan refuses extractive QA before any run).
    requires_kinds = (TEXT_INPUTS, CLASS_DISTRIBUTION)

    def __init__(
        self,
        recipe: Recipe,
        split: str = "test",
        n_examples: int | None = 40,
        subset_seed: int = 0,
        seed: int = 0,
        query_budget: int | None = None,
        max_length: int = 128,
        batch_size: int = 64,
        goal_batch_size: int = 512,
        progress: bool = True,
    ) -> None:
        where = f"{type(self).__name__} (conf/attack/*.yaml, producers.<name>)"
        if not isinstance(recipe, Recipe):
            raise AttackConfigError(f"{where}: recipe must be an attack recipe, got {recipe!r}.")
        if not is_held_out(str(split)):
            raise AttackConfigError(
                f"{where}: split={split!r} is not held out; attacks run on `test`, `validation` "
                "or `ood_*`. Fix: set split: test."
            )
        if n_examples is not None and int(n_examples) < 1:
            raise AttackConfigError(f"{where}: n_examples={n_examples}; expected >= 1 or null.")
        if query_budget is not None and int(query_budget) < 1:
            raise AttackConfigError(f"{where}: query_budget={query_budget}; expected >= 1 or null.")
        if min(int(batch_size), int(goal_batch_size)) < 1 or int(max_length) < 2:
            raise AttackConfigError(f"{where}: batch sizes and max_length must be positive.")
        self.recipe = recipe
        self.split = str(split)
        self.n_examples = None if n_examples is None else int(n_examples)
        self.subset_seed = int(subset_seed)
        self.seed = int(seed)
        self.query_budget = None if query_budget is None else int(query_budget)
        self.max_length = int(max_length)
        self._batch_size = int(batch_size)
        self._goal_batch_size = int(goal_batch_size)
        self._progress = bool(progress)

    @property
    def needs_train_split(self) -> bool:  # type: ignore[override]
        """Whether the recipe fits a helper model to the training texts first."""
        return bool(getattr(self.recipe, "needs_train_texts", False))

    def identity(self) -> dict[str, Any]:
        """Everything that defines the attack results (the cache key); runtime knobs excluded."""
        params = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "recipe"}
        return {
            "producer": type(self).__name__,
            "format": FORMAT_VERSION,
            "recipe": self.recipe.identity(),
            **params,
        }

    def select(self, data: TextSplit) -> np.ndarray:
        """Rows of `data` to attack (before the correctness filter): `(N,)`, int64, ascending."""
        if self.n_examples is None or self.n_examples >= len(data):
            return np.arange(len(data), dtype=np.int64)
        return stratified_sample_indices(data.labels, self.n_examples, self.subset_seed)

    # ------------------------------------------------------------------ the producer
    def produce(
        self,
        model: nn.Module,
        tokenizer: Any,
        data: Any,
        label_names: list[str],
        runtime: Mapping[str, Any],
        resume_dir: Path,
        inputs: Mapping[str, Any] | None = None,
        train: TextSplit | None = None,
        cache_dir: Path | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Attack the selected, correctly classified examples of `data`.

        `train` and `cache_dir` are used by recipes that fit a helper model to the study's
        texts first (BERT-Attack's offline stand-in masked LM, `recipe.needs_train_texts`).

        Raises:
            AttackConfigError: `data` is not a held-out classification split (e.g. QA), or the
                recipe needs the training texts and none were given.
            AttackError: the variant classifies none of the selected examples correctly.
        """
        data = check_classification(data, f"{type(self).__name__} ({self.recipe.name})")
        if self.needs_train_split:
            if train is None or cache_dir is None:
                raise AttackConfigError(
                    f"{type(self).__name__} ({self.recipe.name}): the recipe re-trains its "
                    "stand-in masked LM on the study's training texts; call produce(..., "
                    "train=<train split>, cache_dir=<cache>) (the infer stage does)."
                )
            self.recipe.prepare(train_texts(train), Path(cache_dir), runtime)
        resume_dir = Path(resume_dir)
        resume_dir.mkdir(parents=True, exist_ok=True)
        indices = self.select(data)
        started = time.perf_counter()
        with scorer_on_device(model, tokenizer, self.max_length, self._batch_size, runtime) as (
            scorer,
            device,
        ):
            clean = scorer([_segments(data, int(i)) for i in indices])
            correct = clean.argmax(axis=1) == data.labels[indices]
            if not correct.any():
                raise AttackError(
                    f"{type(self).__name__} ({self.recipe.name}) on {data.name!r}: the model "
                    f"classifies none of the {len(indices)} selected examples correctly, so there "
                    "is nothing to attack (accuracy 0 on the subset). Check the checkpoint (was it "
                    "fine-tuned?) or raise n_examples."
                )
            results = self._attack_all(
                data, indices, clean, correct, scorer, model, tokenizer, resume_dir
            )
        seconds = time.perf_counter() - started
        arrays = _assemble(results, data, indices, len(label_names))
        status = arrays["status"]
        records = {
            "attack": self.recipe.describe(),
            "settings": self.identity(),
            "label_names": list(label_names),
            "device": str(device),
            "statuses": list(STATUSES),
            "totals": {
                "examples": len(indices),
                "attacked": int((status != SKIPPED).sum()),
                "successes": int((status == SUCCESS).sum()),
                "queries": int(arrays["queries"].sum()),
                "model_evals": int(arrays["model_evals"].sum()),
                "attack_seconds": float(arrays["seconds"].sum()),
                "seconds_this_run": seconds,
                "forward_passes_this_run": scorer.n_forward,
            },
            "examples": [
                {"index": int(i), "id": data.ids[int(i)], "status": STATUSES[r["status"]]}
                | ({"words": r["words"], "changes": r["changes"]} if r["status"] == SUCCESS else {})
                | ({"note": r["note"]} if r.get("note") else {})
                for i, r in zip(indices, results, strict=True)
            ],
        }
        log.info(
            "%s (%s) on %s: %d examples, %d attacked, %d successes in %.1f s",
            type(self).__name__,
            self.recipe.name,
            data.name,
            len(indices),
            records["totals"]["attacked"],
            records["totals"]["successes"],
            seconds,
        )
        return arrays, records

    def _attack_all(
        self,
        data: TextSplit,
        indices: np.ndarray,
        clean: np.ndarray,
        correct: np.ndarray,
        scorer: PerturbationScorer,
        model: nn.Module,
        tokenizer: Any,
        resume_dir: Path,
    ) -> list[dict[str, Any]]:
        done = {int(i): _load_result(resume_dir, int(i)) for i in indices}
        todo = [k for k, i in enumerate(indices) if done[int(i)] is None]
        if len(todo) < len(indices):
            log.info(
                "%s: resuming, %d of %d done",
                self.recipe.name,
                len(indices) - len(todo),
                len(indices),
            )
        attack = None
        if any(correct[k] for k in todo):
            from trusteq.producers.attack.environment import offline_nltk
            from trusteq.producers.attack.wrapper import BatchedClassifierWrapper

            budget = float("inf") if self.query_budget is None else self.query_budget
            with offline_nltk():
                wrapper = BatchedClassifierWrapper(model, tokenizer, scorer)
                attack = self.recipe.build(wrapper, self._goal_batch_size, budget)
        bar = tqdm(
            total=len(indices),
            initial=len(indices) - len(todo),
            desc=f"{self.recipe.name} on {data.name}",
            unit="ex",
            disable=not self._progress,
            leave=False,
        )
        for k in todo:
            index = int(indices[k])
            if correct[k]:
                result = self._attack_one(attack, data, index, clean[k], scorer)
            else:
                result = _unattacked(index, clean[k], "misclassified")
            _save_result(resume_dir, index, result)
            done[index] = result
            bar.update(1)
        bar.close()
        return [done[int(i)] for i in indices]

    def _attack_one(
        self,
        attack: Any,
        data: TextSplit,
        index: int,
        clean: np.ndarray,
        scorer: PerturbationScorer,
    ) -> dict[str, Any]:
        from textattack.attack_results import SkippedAttackResult, SuccessfulAttackResult

        if self.recipe.stochastic:
            seed_everything(example_seed(self.seed, index))
        scorer.reset_memo()
        attack.goal_function.clear_cache()  # each example's queries independent of the others
        attack.clear_cache()
        evaluated = scorer.n_evaluated
        segments = _segments(data, index)
        example = (
            segments[0]
            if len(segments) == 1
            else OrderedDict([("text_a", segments[0]), ("text_b", segments[1])])
        )
        tick = time.perf_counter()
        try:
            outcome = attack.attack(example, int(data.labels[index]))
        except Exception as error:  # one odd example must not end a long study
            log.warning("attack on example %d failed: %s", index, error)
            return _unattacked(index, clean, f"error: {type(error).__name__}: {error}")
        seconds = time.perf_counter() - tick
        original = outcome.original_result.attacked_text
        perturbed = outcome.perturbed_result.attacked_text
        status = (
            SUCCESS
            if isinstance(outcome, SuccessfulAttackResult)
            else SKIPPED
            if isinstance(outcome, SkippedAttackResult)
            else FAILED
        )
        changed = sorted(original.all_words_diff(perturbed)) if status == SUCCESS else []
        words_after = perturbed.words
        perturbed_probs = (
            np.asarray(outcome.perturbed_result.raw_output, dtype=np.float64).reshape(-1)
            if status == SUCCESS
            else clean
        )
        texts = list(perturbed.tokenizer_input) if len(segments) > 1 else [perturbed.text]
        return {
            "index": index,
            "status": status,
            "original_label": int(np.argmax(clean)),
            "perturbed_label": int(np.argmax(perturbed_probs)),
            "original_probs": clean.tolist(),
            "perturbed_probs": perturbed_probs.tolist(),
            "queries": int(outcome.perturbed_result.num_queries),
            "model_evals": int(scorer.n_evaluated - evaluated),
            "words_changed": len(changed),
            "word_count": len(original.words),
            "words": list(original.words) if status == SUCCESS else [],
            "changes": [
                [int(i), original.words[i], words_after[i] if i < len(words_after) else ""]
                for i in changed
            ],
            "perturbed_texts": texts if status == SUCCESS else ["" for _ in segments],
            "seconds": seconds,
            "note": None if status != SKIPPED else "skipped by TextAttack",
        }


def _unattacked(index: int, clean: np.ndarray, note: str) -> dict[str, Any]:
    return {
        "index": index,
        "status": SKIPPED,
        "original_label": int(np.argmax(clean)),
        "perturbed_label": int(np.argmax(clean)),
        "original_probs": clean.tolist(),
        "perturbed_probs": clean.tolist(),
        "queries": 0,
        "model_evals": 0,
        "words_changed": 0,
        "word_count": 0,
        "words": [],
        "changes": [],
        "perturbed_texts": [],
        "seconds": 0.0,
        "note": note,
    }


def _assemble(
    results: list[dict[str, Any]], data: TextSplit, indices: np.ndarray, n_classes: int
) -> dict[str, np.ndarray]:
    n_examples = len(results)

    def column(key: str, dtype: Any) -> np.ndarray:
        return np.array([r[key] for r in results], dtype=dtype).reshape(n_examples)

    def probs(key: str) -> np.ndarray:
        return np.array([r[key] for r in results], dtype=np.float32).reshape(n_examples, n_classes)

    arrays = {
        "example_index": np.asarray(indices, dtype=np.int64),
        "labels": data.labels[indices].astype(np.int64),
        "original_label": column("original_label", np.int64),
        "perturbed_label": column("perturbed_label", np.int64),
        "status": column("status", np.int64),
        "queries": column("queries", np.int64),
        "model_evals": column("model_evals", np.int64),
        "words_changed": column("words_changed", np.int64),
        "word_count": column("word_count", np.int64),
        "seconds": column("seconds", np.float64),
        "original_probs": probs("original_probs"),
        "perturbed_probs": probs("perturbed_probs"),
    }
    first = [(r["perturbed_texts"] or [""])[0] for r in results]
    arrays |= encode_utf8(first, "perturbed")
    if data.text_b is not None:
        second = [(r["perturbed_texts"] + ["", ""])[1] for r in results]
        arrays |= encode_utf8(second, "perturbed_b")
    return arrays


class AttackTransferProducer(Producer):
    """Run a variant on another variant's successful adversarial texts (attack transfer).

    Consumes ``producers.<source_producer>``'s entry of variant `source_variant`; for every row
    that attack broke, this variant predicts the adversarial text. Arrays, one row per row of
    the source entry (N): ``example_index``, ``labels`` (gold), ``clean_label`` (this variant on
    the clean text), ``adversarial_label`` (on the source's adversarial text; -1 where the source
    attack did not succeed), ``source_status`` (the source's status), ``status`` (0 = fooled:
    the prediction left the gold label, 1 = not fooled, 2 = skipped: no adversarial text), int64;
    ``clean_probs`` / ``adversarial_probs`` `(N, C)` float32.

    Args:
        source_variant: whose adversarial texts are replayed (e.g. the reference).
        source_producer: the name of that attack under ``producers.<name>``.
        max_length: truncation length in tokens.
        batch_size: texts per forward pass (runtime only).
    """

    name = "attack_transfer"
    requires_kinds = (TEXT_INPUTS, CLASS_DISTRIBUTION)

    def __init__(
        self,
        source_variant: str = "reference",
        source_producer: str = "attack",
        split: str = "test",
        max_length: int = 128,
        batch_size: int = 64,
    ) -> None:
        if not source_variant or not source_producer:
            raise AttackConfigError(
                "AttackTransferProducer: source_variant and source_producer must name the variant "
                "and the attack producer whose adversarial texts are replayed."
            )
        self.source_variant = str(source_variant)
        self.source_producer = str(source_producer)
        self.split = str(split)
        self.max_length = int(max_length)
        self._batch_size = int(batch_size)

    def consumes(self) -> list[Consumed]:
        return [Consumed(producer=self.source_producer, variant=self.source_variant)]

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "format": FORMAT_VERSION}

    def produce(
        self,
        model: nn.Module,
        tokenizer: Any,
        data: Any,
        label_names: list[str],
        runtime: Mapping[str, Any],
        resume_dir: Path,
        inputs: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Predict the source attack's adversarial texts (see the class docstring).

        Raises:
            AttackConfigError: not a held-out classification split, or the source entry is
                missing from `inputs` or was made on other examples.
        """
        where = f"{type(self).__name__} (from {self.source_variant}/{self.source_producer})"
        data = check_classification(data, where)
        if not inputs or self.source_producer not in inputs:
            raise AttackConfigError(
                f"{where}: the infer stage passed no {self.source_producer!r} entry of "
                f"{self.source_variant!r}; it must run that attack first (see consumes())."
            )
        source, source_meta = inputs[self.source_producer]
        index = np.asarray(source["example_index"], dtype=np.int64)
        examples = (source_meta.get("records") or source_meta).get("examples", [])
        ids = [e.get("id") for e in examples]
        if len(index) and (
            index.max() >= len(data) or (ids and ids != [data.ids[i] for i in index])
        ):
            raise AttackConfigError(
                f"{where}: the source entry's examples are not rows of split {data.name!r} "
                "(different split or data); give both producers the same split."
            )
        started = time.perf_counter()
        with scorer_on_device(model, tokenizer, self.max_length, self._batch_size, runtime) as (
            scorer,
            device,
        ):
            clean = scorer([_segments(data, int(i)) for i in index])
            source_status = np.asarray(source["status"], dtype=np.int64)
            broken = np.flatnonzero(source_status == SUCCESS)
            texts_a = decode_utf8(source, "perturbed")
            texts_b = decode_utf8(source, "perturbed_b") if "perturbed_b_utf8" in source else None
            adversarial = clean.copy()
            if len(broken):
                adversarial[broken] = scorer(
                    [(texts_a[k],) if texts_b is None else (texts_a[k], texts_b[k]) for k in broken]
                )
        labels = data.labels[index].astype(np.int64)
        adversarial_label = np.where(source_status == SUCCESS, adversarial.argmax(axis=1), -1)
        status = np.where(
            source_status != SUCCESS,
            SKIPPED,
            np.where(adversarial_label != labels, SUCCESS, FAILED),
        ).astype(np.int64)
        arrays = {
            "example_index": index,
            "labels": labels,
            "clean_label": clean.argmax(axis=1).astype(np.int64),
            "adversarial_label": adversarial_label.astype(np.int64),
            "source_status": source_status,
            "status": status,
            "clean_probs": clean.astype(np.float32),
            "adversarial_probs": adversarial.astype(np.float32),
        }
        records = {
            "source_variant": self.source_variant,
            "source_producer": self.source_producer,
            "source_attack": (source_meta.get("records") or {}).get("attack"),
            "label_names": list(label_names),
            "totals": {
                "replayed": int(len(broken)),
                "fooled": int((status == SUCCESS).sum()),
                "seconds": time.perf_counter() - started,
            },
        }
        return arrays, records
