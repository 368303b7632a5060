"""The one word segmentation every explainer attributes to, and perturbations built on it.

Rule (the same for LIME, SHAP and Integrated Gradients, and for every model, whatever its
tokenizer): a *word* is a maximal match of :data:`WORD_PATTERN` in the raw text of a segment,
that is a run of letters, digits or underscores with inner apostrophes kept (``don't``, ``it's``),
or a single punctuation mark (``!``, ``,``). Whitespace is never a word. For a sentence pair the
words of ``text_a`` come first, then those of ``text_b``; each word remembers its segment.

Perturbing an input (LIME, SHAP) hides a set of words: each hidden word's characters are replaced
by a mask string (the model tokenizer's mask token, or nothing) *inside its own segment*, and the
model is always called with the segments as separate texts, so no perturbation can delete or move
the boundary between the two segments of a pair (the original Paper B code joined pairs with a
literal separator that masking could remove).

Sub-word scores (Integrated Gradients, a tokenizer-level SHAP run) are aggregated to words by one
rule: a word's score is the **sum** over the tokens whose character span overlaps the word's span
in the same segment (:func:`token_word_index`, :func:`aggregate_to_words`); tokens overlapping no
word (special tokens) are dropped, and a word whose tokens were all truncated away scores 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: The segmentation rule (part of every attribution cache key).
WORD_PATTERN = r"\w+(?:['’]\w+)*|[^\w\s]"
_WORD_RE = re.compile(WORD_PATTERN)


@dataclass(frozen=True)
class Word:
    """One word of an input.

    Attributes:
        text: the word as written.
        segment: 0 for ``text_a``, 1 for ``text_b``.
        start: character offset of its first character in its segment.
        end: character offset one past its last character.
    """

    text: str
    segment: int
    start: int
    end: int


def split_words(text: str) -> list[str]:
    """The words of `text` under :data:`WORD_PATTERN`, in order.

    Examples:
        >>> split_words("Don't miss it -- it's great!")
        ["Don't", 'miss', 'it', '-', '-', "it's", 'great', '!']
    """
    return _WORD_RE.findall(text)


@dataclass(frozen=True)
class SegmentedInput:
    """An input text (or text pair) cut into words.

    Attributes:
        segments: ``(text_a,)`` or ``(text_a, text_b)``, the raw texts.
        words: the W words of all segments, segment by segment, in reading order.
    """

    segments: tuple[str, ...]
    words: tuple[Word, ...]

    @classmethod
    def from_texts(cls, text_a: str, text_b: str | None = None) -> SegmentedInput:
        """Segment one example (a single text, or a pair when `text_b` is given)."""
        segments = (text_a,) if text_b is None else (text_a, text_b)
        words = tuple(
            Word(match.group(), index, match.start(), match.end())
            for index, segment in enumerate(segments)
            for match in _WORD_RE.finditer(segment)
        )
        return cls(segments, words)

    def __len__(self) -> int:
        """Number of words W."""
        return len(self.words)

    @property
    def word_texts(self) -> list[str]:
        """The W words as strings."""
        return [word.text for word in self.words]

    @property
    def word_segments(self) -> list[int]:
        """The segment (0 or 1) of each of the W words."""
        return [word.segment for word in self.words]

    def perturb(
        self, keep: np.ndarray | Sequence[bool], mask: str | Sequence[str]
    ) -> tuple[str, ...]:
        """The input with the words where `keep` is False replaced by `mask`, segment by segment.

        Args:
            keep: shape `(W,)`, bool; True keeps the word.
            mask: replacement of each hidden word ("" deletes it): one string for every word, or
                W strings, one per word (e.g. as many mask tokens as the word has sub-words).

        Returns:
            The perturbed segments, as many as :attr:`segments` (the pair boundary is kept).

        Examples:
            >>> pair = SegmentedInput.from_texts("A dog runs.", "An animal moves.")
            >>> pair.perturb([True, False, True, True, False, True, True, True], "[MASK]")
            ('A [MASK] runs.', '[MASK] animal moves.')
        """
        masks = [mask] * len(self.words) if isinstance(mask, str) else list(mask)
        pieces: list[list[str]] = [[] for _ in self.segments]
        cursor = [0] * len(self.segments)
        for word, kept, replacement in zip(self.words, keep, masks, strict=True):
            if kept:
                continue
            text = self.segments[word.segment]
            pieces[word.segment] += [text[cursor[word.segment] : word.start], replacement]
            cursor[word.segment] = word.end
        return tuple(
            "".join([*parts, segment[cursor[index] :]])
            for index, (parts, segment) in enumerate(zip(pieces, self.segments, strict=True))
        )


def token_word_index(
    offsets: Sequence[tuple[int, int]],
    sequence_ids: Sequence[int | None],
    instance: SegmentedInput,
) -> np.ndarray:
    """Which word each token of a fast-tokenizer encoding belongs to.

    Args:
        offsets: length T, each token's ``(start, end)`` character span in its segment
            (``return_offsets_mapping=True``).
        sequence_ids: length T, each token's segment (0, 1) or None for special tokens
            (``encoding.sequence_ids()``).
        instance: the segmented input that was tokenised.

    Returns:
        shape `(T,)`, int64: the index in ``[0, W)`` of the first word whose span overlaps the
        token's span in the same segment, or -1 (special tokens, whitespace).
    """
    index = np.full(len(offsets), -1, dtype=np.int64)
    by_segment: dict[int, list[tuple[int, int, int]]] = {}
    for position, word in enumerate(instance.words):
        by_segment.setdefault(word.segment, []).append((word.start, word.end, position))
    for token, ((start, end), segment) in enumerate(zip(offsets, sequence_ids, strict=True)):
        if segment is None or end <= start:
            continue
        for word_start, word_end, position in by_segment.get(segment, ()):
            if start < word_end and word_start < end:
                index[token] = position
                break
    return index


def aggregate_to_words(
    token_scores: np.ndarray, word_index: np.ndarray, n_words: int
) -> np.ndarray:
    """Sum token scores into their words.

    Args:
        token_scores: shape `(T,)`, one score per token.
        word_index: shape `(T,)`, from :func:`token_word_index` (-1 = no word).
        n_words: W.

    Returns:
        shape `(W,)`, float64; 0 for a word without tokens.

    Examples:
        >>> aggregate_to_words(np.array([9.0, 1.0, 2.0, 4.0]), np.array([-1, 0, 0, 1]), 3)
        array([3., 4., 0.])
    """
    words = np.zeros(n_words, dtype=np.float64)
    valid = word_index >= 0
    np.add.at(words, word_index[valid], np.asarray(token_scores, dtype=np.float64)[valid])
    return words
