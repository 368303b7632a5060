"""One memo of model scores per variant: a text one producer scored is not run again by the next."""

from __future__ import annotations

import weakref

import numpy as np

from trusteq.producers.explain import ShapAttribution, scoring
from trusteq.producers.explain.scoring import PerturbationScorer, shared_scores

from .conftest import key_word_split, run_producer

TEXTS = [("good film",), ("bad film",), ("superb film",)]


def test_scorers_of_one_model_share_scores_inside_the_block_only(key_word_model):
    build, tokenizer = key_word_model
    model = build()
    with shared_scores():
        first = PerturbationScorer(model, tokenizer, max_length=32, batch_size=4)
        probs = first(TEXTS)
        second = PerturbationScorer(model, tokenizer, max_length=32, batch_size=4)
        np.testing.assert_array_equal(second(TEXTS), probs)
        assert (first.n_evaluated, second.n_evaluated, sum(model.batch_sizes)) == (3, 0, 3)
        second.reset_memo()  # between examples: a shared memo is kept for later producers
        assert PerturbationScorer(model, tokenizer, 32, 4)(TEXTS[:1]) is not None
        assert sum(model.batch_sizes) == 3
        # Another length, another model: their own memos.
        assert PerturbationScorer(model, tokenizer, 16, 4)(TEXTS).shape == (3, 2)
        other = build()
        PerturbationScorer(other, tokenizer, 32, 4)(TEXTS)
        assert sum(model.batch_sizes) == 6 and sum(other.batch_sizes) == 3
    outside = PerturbationScorer(model, tokenizer, max_length=32, batch_size=4)
    outside(TEXTS)
    assert not outside.shared and outside.n_evaluated == 3 and sum(model.batch_sizes) == 9


def test_a_memo_left_by_a_freed_model_is_never_read_by_another(key_word_model):
    build, tokenizer = key_word_model
    model, gone = build(), build()
    with shared_scores():
        scorer = PerturbationScorer(model, tokenizer, 32, 4)
        identity = next(iter(scoring._SCOPES[-1]))
        # As if `gone` had held `model`'s address before being freed: same identity, other object.
        scoring._SCOPES[-1][identity] = (weakref.ref(gone), {TEXTS[0]: np.array([0.5, 0.5])})
        fresh = PerturbationScorer(model, tokenizer, 32, 4)
        assert TEXTS[0] not in fresh._memo
        assert fresh(TEXTS[:1])[0, 1] < 0.01  # the model's own score: no key word, class 0
        assert scorer.shared and fresh.shared


def test_a_shared_memo_over_its_bound_is_cleared_between_examples(key_word_model, monkeypatch):
    build, tokenizer = key_word_model
    model = build()
    monkeypatch.setattr(scoring, "MAX_SHARED_TEXTS", 2)
    with shared_scores():
        scorer = PerturbationScorer(model, tokenizer, 32, 4)
        scorer(TEXTS[:2])
        scorer.reset_memo()
        assert len(scorer._memo) == 2  # at the bound: kept
        scorer(TEXTS)
        scorer.reset_memo()
        assert not scorer._memo


def test_a_second_shap_seed_reuses_the_first_seeds_scores_with_the_same_attributions(
    key_word_model, tmp_path
):
    build, tokenizer = key_word_model
    data = key_word_split(4, seed=3)
    common = {"n_examples": 4, "progress": False, "algorithm": "permutation", "max_evals": 200}

    def explain(seed: int, model, folder: str) -> dict[str, np.ndarray]:
        producer = ShapAttribution(seed=seed, **common)
        return run_producer(producer, model, tokenizer, data, tmp_path / folder)[0]

    alone = [explain(seed, build(), f"alone{seed}") for seed in (0, 1)]
    model = build()
    with shared_scores():
        shared = [explain(seed, model, f"shared{seed}") for seed in (0, 1)]
    for own, reused in zip(alone, shared, strict=True):
        np.testing.assert_allclose(reused["attributions"], own["attributions"], atol=1e-6)
    # The first seed pays in full but for the unperturbed text, scored once before the examples
    # (alone, each example's memo is cleared first); the second pays only for texts the first
    # never asked for.
    np.testing.assert_array_equal(shared[0]["model_evals"], alone[0]["model_evals"] - 1)
    assert shared[1]["model_evals"].sum() < 0.5 * alone[1]["model_evals"].sum()
    assert sum(model.batch_sizes) < sum(alone[0]["model_evals"]) + sum(alone[1]["model_evals"])


def test_a_real_transformer_gets_the_same_attributions_and_int8_never_shares(tmp_path):
    """Float BERT: scores reused from other batches change nothing but rounding; int8: no reuse.

    Dynamic int8 quantization takes the activation range over the batch, so a text's score
    depends on its batch: sharing would make an entry depend on the producers before it.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from trusteq.data import TextSplit
    from trusteq.testing.tiny import tiny_bert_folder

    folder = tiny_bert_folder(tmp_path / "bert")
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    texts = ["a truly great and wonderful film , with a plot that works", "the worst movie"]
    data = TextSplit("test", ["a", "b"], texts, None, np.array([1, 0]))
    common = {"n_examples": 2, "progress": False, "algorithm": "permutation", "max_evals": 120}

    def explain(seed: int, folder_name: str) -> np.ndarray:
        producer = ShapAttribution(seed=seed, **common)
        arrays, _ = run_producer(producer, model, tokenizer, data, tmp_path / folder_name)
        return arrays["attributions"]

    alone = [explain(seed, f"alone{seed}") for seed in (0, 1)]
    with shared_scores():
        shared = [explain(seed, f"shared{seed}") for seed in (0, 1)]
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear})
        assert not PerturbationScorer(quantized, tokenizer, 32, 4).shared
        assert PerturbationScorer(model, tokenizer, 32, 4).shared
    for own, reused in zip(alone, shared, strict=True):
        np.testing.assert_allclose(reused, own, atol=1e-6, equal_nan=True)
