"""SQuAD answer normalisation, exact match and token F1, as in the official SQuAD v2.0 script.

Source: the official evaluation script of SQuAD 2.0 (Rajpurkar, Jia and Liang 2018, "Know What
You Don't Know: Unanswerable Questions for SQuAD", arXiv 1806.03822), `evaluate-v2.0.py`:
``normalize_answer`` lower-cases, removes punctuation (``string.punctuation``), the articles
``a``/``an``/``the`` as whole words, and collapses whitespace; ``compute_exact`` compares the
normalised strings; ``compute_f1`` is the F1 of the multisets of normalised tokens, with the rule
that if either side has no tokens (an unanswerable question, or an answer made of punctuation and
articles only) F1 is 1 when both are empty and 0 otherwise. A question's score is the maximum over
its gold answers; an unanswerable question's only gold answer is ``""``.
"""

from __future__ import annotations

import collections
import hashlib
import re
import string
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse whitespace (official SQuAD rule).

    The order is the script's: lower, remove punctuation, remove articles, fix whitespace.

    Examples:
        >>> normalize_answer("The  Denver Broncos!")
        'denver broncos'
        >>> normalize_answer("an apple, a pear")
        'apple pear'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    """Tokens of the normalised answer (empty for ``""``)."""
    return normalize_answer(text).split() if text else []


def exact_match(prediction: str, gold: str) -> int:
    """1 if the normalised strings are equal, else 0 (``compute_exact``)."""
    return int(normalize_answer(gold) == normalize_answer(prediction))


def token_f1(prediction: str, gold: str) -> float:
    """F1 of the normalised token multisets (``compute_f1``), in [0, 1].

    Examples:
        >>> round(token_f1("the big cat sat", "a cat sat down"), 4)
        0.6667
        >>> token_f1("", ""), token_f1("", "Paris")
        (1.0, 0.0)
    """
    gold_tokens, pred_tokens = answer_tokens(gold), answer_tokens(prediction)
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    common = collections.Counter(gold_tokens) & collections.Counter(pred_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def gold_answers(texts: Sequence[str]) -> list[str]:
    """The gold answers a prediction is scored against.

    As in the official script: answers that normalise to ``""`` are dropped; if none is left the
    question is unanswerable and its only gold answer is ``""``.
    """
    kept = [text for text in texts if normalize_answer(text)]
    return kept or [""]


def score_prediction(prediction: str, golds: Sequence[str]) -> tuple[int, float]:
    """``(exact match, F1)`` of one prediction: the maximum over the gold answers.

    Args:
        prediction: the predicted answer text (``""`` = no answer).
        golds: the question's gold answer texts (empty = unanswerable).

    Examples:
        >>> score_prediction("Broncos", ["Denver Broncos", "The Broncos"])
        (1, 1.0)
        >>> score_prediction("", [])
        (1, 1.0)
    """
    candidates = gold_answers(golds)
    return (
        max(exact_match(prediction, gold) for gold in candidates),
        max(token_f1(prediction, gold) for gold in candidates),
    )


def answer_code(text: str) -> int:
    """A stable positive int64 naming the normalised answer (for prediction agreement).

    The first 62 bits of the sha256 of the normalised text, plus 1 (so 0 stays free); two answers
    get the same code exactly when they normalise alike (up to a 2^-62 collision chance).

    Examples:
        >>> answer_code("The Broncos") == answer_code("broncos") != answer_code("")
        True
    """
    digest = hashlib.sha256(normalize_answer(text).encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "little") >> 2) + 1
