"""SQuAD v2 normalisation, exact match and F1 against hand-computed cases of the official script,
and SQuAD v2 post-processing on hand-made logits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trusteq.qa.metrics import answer_code, normalize_answer, score_prediction, token_f1
from trusteq.qa.postprocess import PAD_SCORE, postprocess_predictions


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The Denver Broncos.", "denver broncos"),
        ("  An  apple,\ta pear ", "apple pear"),
        ("Theatre of Atlanta", "theatre of atlanta"),  # articles only as whole words
        ("40,000", "40000"),  # punctuation is deleted, not replaced by a space
        ("U.S. Army", "us army"),
        ("the", ""),
    ],
)
def test_normalize_answer_follows_the_official_rule(text, normalised):
    assert normalize_answer(text) == normalised


@pytest.mark.parametrize(
    ("prediction", "golds", "exact", "f1"),
    [
        ("Broncos", ["Denver Broncos", "Broncos"], 1, 1.0),  # max over gold answers
        ("the cat sat on the mat", ["cat on mat"], 0, 2 * 0.75 * 1.0 / 1.75),  # P 3/4, R 1
        ("x x y", ["x y y"], 0, 2 / 3),  # multiset overlap 2 of 3 tokens each side
        ("Denver", ["Carolina Panthers"], 0, 0.0),
        ("", [], 1, 1.0),  # unanswerable, no answer given
        ("Paris", [], 0, 0.0),  # unanswerable, an answer given
        ("", ["the", "."], 1, 1.0),  # golds that normalise to "" leave the question unanswerable
        ("", ["Paris"], 0, 0.0),
        ("The Broncos!", ["broncos"], 1, 1.0),
    ],
)
def test_exact_match_and_f1_match_hand_computed_values(prediction, golds, exact, f1):
    assert score_prediction(prediction, golds) == (exact, pytest.approx(f1))


def test_token_f1_is_symmetric_and_answer_codes_follow_normalisation():
    assert token_f1("a big red car", "red car park") == token_f1("red car park", "a big red car")
    assert answer_code("The Broncos.") == answer_code("broncos") > 0
    assert answer_code("") != answer_code("broncos")


# ---------------------------------------------------------------------- post-processing
CONTEXT = "alice lives in rome now"
#           0     6     12 15   20
OFFSETS = [None, None, None, (0, 5), (6, 11), (12, 14), (15, 19), (20, 23), None]
CLS = np.array([0])


def _one_window(start, end, **kwargs):
    return postprocess_predictions(
        [CONTEXT], np.array([0]), [OFFSETS], CLS, [np.array(start)], [np.array(end)], **kwargs
    )


def test_best_span_wins_and_confidence_is_its_softmax_over_candidates_and_null():
    start = [1.0, 3, 2, 0, 0, 0, 5, 0, 2.5]  # top-2 starts: rome (5), a question token (3)
    end = [1.0, 3, 2, 0, 0, 0, 4, 3.5, 2.5]  # top-2 ends: rome (4), now (3.5)
    p = _one_window(start, end, n_best=2)
    assert p.texts == ["rome"]
    # kept: rome (5 + 4 = 9), "rome now" (5 + 3.5 = 8.5); null = 1 + 1 = 2
    expected = math.exp(9) / (math.exp(9) + math.exp(8.5) + math.exp(2))
    assert p.confidence[0] == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(p.candidate_scores[0], [2.0, 9.0, 8.5])
    assert p.null_score[0] == 2.0 and p.best_span_score[0] == 9.0


def test_null_answer_when_null_beats_best_span_plus_threshold():
    start = [6.0, 0, 0, 0, 0, 0, 2, 0, 0]
    end = [6.0, 0, 0, 0, 0, 0, 2, 0, 0]
    p = _one_window(start, end, n_best=3)
    assert p.texts == [""]  # null 12 > span 4
    probs = np.exp(p.candidate_scores[0] - p.candidate_scores[0].max())
    probs = probs[p.candidate_scores[0] > PAD_SCORE]
    assert p.confidence[0] == pytest.approx(probs[0] / probs.sum(), rel=1e-5)
    assert _one_window(start, end, n_best=3, null_score_diff_threshold=10.0).texts == ["rome"]


def test_long_and_reversed_spans_are_not_candidates():
    start = [0.0, 0, 0, 8, 0, 0, 0, 0, 0]  # "alice"
    end = [0.0, 0, 0, 0, 0, 0, 0, 8, 0]  # "now": the span alice..now has 5 tokens
    assert _one_window(start, end, max_answer_length=5).texts == ["alice lives in rome now"]
    assert _one_window(start, end, max_answer_length=4).texts != ["alice lives in rome now"]
    reversed_start = [0.0, 0, 0, 0, 0, 0, 0, 8, 0]
    reversed_end = [0.0, 0, 0, 8, 0, 0, 0, 0, 0]
    p = _one_window(reversed_start, reversed_end, n_best=1)  # only (now, alice): invalid
    assert p.texts == [""] and p.best_span_score[0] == PAD_SCORE


def test_null_is_the_minimum_over_windows_and_spans_come_from_any_window():
    second = [None, None, (15, 19), (20, 23), None]
    p = postprocess_predictions(
        [CONTEXT],
        np.array([0, 0]),
        [OFFSETS, second],
        np.array([0, 0]),
        [np.array([5.0, 0, 0, 0, 0, 0, 0, 0, 0]), np.array([1.0, 0, 3, 0, 0])],
        [np.array([5.0, 0, 0, 0, 0, 0, 0, 0, 0]), np.array([1.0, 0, 0, 3, 0])],
    )
    assert p.null_score[0] == 2.0  # min(10, 2)
    assert p.texts == ["rome now"]  # 3 + 3 = 6 > 2, from the second window
