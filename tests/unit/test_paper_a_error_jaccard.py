"""Paper A's error-Jaccard matrix from the authors' released SQuAD 2.0 dev error ids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trusteq.characteristics.chance_error_jaccard import ChanceErrorJaccard
from trusteq.characteristics.error_jaccard import ErrorJaccard
from trusteq.characteristics.matrix import pairwise_matrix
from trusteq.data.error_lists import error_outputs

DATA_DIR = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "paper_a_squad2_dev_errors"
)
MODELS = ["bert_large", "bert_base", "distil_bert", "bert_medium", "bert_mini", "tiny_bert"]
N_DEV_QUESTIONS = 11_873
EXPECTED = np.array(
    [
        [1.0, 0.528, 0.410, 0.421, 0.317, 0.220],
        [np.nan, 1.0, 0.487, 0.502, 0.370, 0.244],
        [np.nan, np.nan, 1.0, 0.566, 0.477, 0.297],
        [np.nan, np.nan, np.nan, 1.0, 0.470, 0.292],
        [np.nan, np.nan, np.nan, np.nan, 1.0, 0.487],
        [np.nan, np.nan, np.nan, np.nan, np.nan, 1.0],
    ]
)

pytestmark = pytest.mark.skipif(
    not all((DATA_DIR / f"{model}.json").is_file() for model in MODELS),
    reason=f"Paper A error id lists not found in {DATA_DIR}",
)


@pytest.fixture(scope="module")
def error_ids() -> dict[str, list[str]]:
    return {model: json.loads((DATA_DIR / f"{model}.json").read_text()) for model in MODELS}


@pytest.fixture(scope="module")
def outputs(error_ids) -> dict[str, dict[str, np.ndarray]]:
    return error_outputs(error_ids, N_DEV_QUESTIONS)


def test_error_counts_match_the_release_notes(error_ids):
    counts = {model: len(set(ids)) for model, ids in error_ids.items()}
    assert counts == {
        "bert_large": 2701,
        "bert_base": 3236,
        "distil_bert": 4294,
        "bert_medium": 4026,
        "bert_mini": 5423,
        "tiny_bert": 6206,
    }


def test_error_jaccard_matrix_reproduces_paper_a(outputs, error_ids):
    result = pairwise_matrix(ErrorJaccard(), outputs, n_resamples=0)
    upper = np.triu_indices(len(MODELS))
    np.testing.assert_array_equal(np.round(result.value[upper], 3), EXPECTED[upper])
    as_sets = {model: set(ids) for model, ids in error_ids.items()}
    large, tiny = as_sets["bert_large"], as_sets["tiny_bert"]
    assert result.value[0, 5] == pytest.approx(len(large & tiny) / len(large | tiny))


def test_chance_error_jaccard_on_the_full_dev_set(outputs, error_ids):
    result = pairwise_matrix(ChanceErrorJaccard(), outputs, n_resamples=0)
    rates = [len(error_ids[model]) / N_DEV_QUESTIONS for model in MODELS]
    for i, p_a in enumerate(rates):
        for j, p_b in enumerate(rates):
            assert result.value[i, j] == pytest.approx(p_a * p_b / (p_a + p_b - p_a * p_b))
    # By hand: p = 2701/11873 = 0.2275, 3236/11873 = 0.2726; 0.0620 / (0.5001 - 0.0620) = 0.1415.
    assert result.value[0, 1] == pytest.approx(0.1415, abs=1e-4)
    # Every pair shares more errors than independent models with the same error rates would.
    observed = pairwise_matrix(ErrorJaccard(), outputs, n_resamples=0).value
    assert (observed[np.triu_indices(6, 1)] > result.value[np.triu_indices(6, 1)]).all()
