"""The shared word segmentation, pair-safe perturbations and the sub-token → word rule."""

from __future__ import annotations

import numpy as np
import pytest

from trusteq.producers.explain.words import (
    SegmentedInput,
    aggregate_to_words,
    split_words,
    token_word_index,
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("The film was GOOD!", ["The", "film", "was", "GOOD", "!"]),
        ("don't  stop, it's 2 good", ["don't", "stop", ",", "it's", "2", "good"]),
        ("   ", []),
        ("'quoted' (x)", ["'", "quoted", "'", "(", "x", ")"]),
    ],
)
def test_split_words(text, words):
    assert split_words(text) == words


def test_segments_keep_their_words_and_offsets():
    pair = SegmentedInput.from_texts("A dog runs.", "It moves")
    assert pair.word_texts == ["A", "dog", "runs", ".", "It", "moves"]
    assert pair.word_segments == [0, 0, 0, 0, 1, 1]
    for word in pair.words:
        assert pair.segments[word.segment][word.start : word.end] == word.text


def test_perturb_masks_within_each_segment_only():
    pair = SegmentedInput.from_texts("A dog runs.", "It moves")
    everything_hidden = pair.perturb(np.zeros(6, bool), "[MASK]")
    assert everything_hidden == ("[MASK] [MASK] [MASK][MASK]", "[MASK] [MASK]")
    assert pair.perturb(np.ones(6, bool), "[MASK]") == pair.segments
    removed = pair.perturb(np.array([1, 0, 1, 1, 0, 1], bool), "")
    assert removed == ("A  runs.", " moves")
    single = SegmentedInput.from_texts("good film")
    assert single.perturb([False, True], "[MASK]") == ("[MASK] film",)


def test_sub_tokens_sum_into_their_word():
    # "unhappy film": tokens [CLS] un ##happy film [SEP]; hand-made offsets as a fast tokenizer.
    instance = SegmentedInput.from_texts("unhappy film")
    offsets = [(0, 0), (0, 2), (2, 7), (8, 12), (0, 0)]
    index = token_word_index(offsets, [None, 0, 0, 0, None], instance)
    assert index.tolist() == [-1, 0, 0, 1, -1]
    scores = np.array([100.0, 0.25, 0.5, -1.0, 100.0])
    np.testing.assert_allclose(aggregate_to_words(scores, index, 2), [0.75, -1.0])


def test_token_word_index_respects_segments(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    pair = SegmentedInput.from_texts("good film", "good plot")
    encoded = tokenizer("good film", "good plot", return_offsets_mapping=True)
    index = token_word_index(encoded["offset_mapping"], encoded.sequence_ids(), pair)
    # [CLS] good film [SEP] good plot [SEP]: the second "good" belongs to segment 1 (word 2)
    assert index.tolist() == [-1, 0, 1, -1, 2, 3, -1]
