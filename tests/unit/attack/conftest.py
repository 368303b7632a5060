"""Fixtures of the attack tests: an NLTK data folder, a bag-of-words classifier, a tiny word list.

The classifier scores +1 per positive and -1 per negative word of :mod:`trusteq.testing.tiny`
(ties → class 0, negative), so an attack that swaps a positive word for a word outside the
vocabulary flips a positive sentence; the word-list recipe makes the attacks hand-checkable and
independent of WordNet.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from trusteq.data import TextSplit
from trusteq.producers.attack import Recipe, environment
from trusteq.testing.tiny import NEGATIVE, POSITIVE, sentiment_sentences, tiny_bert_folder

#: Each word's substitutes: positives become words the model does not know (score 0).
WORD_LIST = {"good": ["okay"], "great": ["okay"], "superb": ["okay"], "bad": ["okay"]}


@pytest.fixture(scope="session", autouse=True)
def nltk_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete NLTK data folder: the real one when set up, else stopwords + empty WordNet."""
    try:
        return environment.find_nltk_data()
    except environment.AttackEnvironmentError:
        pass
    fake = tmp_path_factory.mktemp("wordnet")
    for name in environment.WORDNET_FILES:
        (fake / name).write_text("")
    folder = environment.build_nltk_data(tmp_path_factory.mktemp("nltk") / "nltk_data", fake)
    os.environ["NLTK_DATA"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert_folder(tmp_path_factory.mktemp("tiny")))


class BagOfWords(nn.Module):
    """Logits ``[-s, s]`` with ``s`` = sum of word weights (+1 positive, -1 negative)."""

    def __init__(self, tokenizer, ignore: tuple[str, ...] = ()) -> None:
        super().__init__()
        weights = torch.zeros(len(tokenizer))
        for words, sign in ((POSITIVE, 1.0), (NEGATIVE, -1.0)):
            for word in words:
                if word not in ignore:
                    weights[tokenizer.convert_tokens_to_ids(word)] = sign
        self.weights = nn.Parameter(weights, requires_grad=False)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        score = (self.weights[input_ids] * mask).sum(dim=1)
        return torch.stack([-score, score], dim=1)


@pytest.fixture
def model(tokenizer) -> BagOfWords:
    return BagOfWords(tokenizer)


@pytest.fixture
def split() -> TextSplit:
    texts, labels = sentiment_sentences(16, seed=3)
    return TextSplit("test", [f"tiny:{i}" for i in range(16)], texts, None, np.array(labels))


class WordListRecipe(Recipe):
    """Swap words for the substitutes of :data:`WORD_LIST`, greedy by deletion importance."""

    name = "word_list"

    def build(self, model_wrapper, goal_batch_size, query_budget):
        from textattack import Attack
        from textattack.constraints.pre_transformation import (
            RepeatModification,
            StopwordModification,
        )
        from textattack.search_methods import GreedyWordSwapWIR
        from textattack.transformations import WordSwap

        class ListSwap(WordSwap):
            def _get_replacement_words(self, word):
                return list(WORD_LIST.get(word.lower(), []))

        return Attack(
            self.goal_function(model_wrapper, goal_batch_size, query_budget),
            [RepeatModification(), StopwordModification(stopwords=["the", "a", "and"])],
            ListSwap(),
            GreedyWordSwapWIR("delete"),
        )


@pytest.fixture
def recipe() -> WordListRecipe:
    return WordListRecipe()
