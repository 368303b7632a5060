"""The attribution producers on a model whose decision depends on one known word."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from trusteq.characteristics.attribution_agreement import top_k_words
from trusteq.producers.explain import (
    ExplainerConfigError,
    IntegratedGradientsAttribution,
    LimeAttribution,
    ShapAttribution,
)
from trusteq.producers.explain.scoring import PerturbationScorer, autocast_dtype
from trusteq.testing.tiny import CONF_DIR

from .conftest import KEY_WORD, key_word_split, run_producer

COMMON = {"n_examples": 4, "batch_size": 16, "progress": False}
EXPLAINERS = {
    "lime": lambda: LimeAttribution(num_samples=60, **COMMON),
    "shap_partition": lambda: ShapAttribution(algorithm="partition", max_evals=200, **COMMON),
    "shap_permutation": lambda: ShapAttribution(algorithm="permutation", max_evals=30, **COMMON),
    "integrated_gradients": lambda: IntegratedGradientsAttribution(n_steps=8, **COMMON),
}


class RecordingTokenizer:
    """Wraps a tokenizer and records every (text_a, text_b) batch it is asked to encode."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer
        self.calls = []

    def __call__(self, first, second=None, **kwargs):
        self.calls.append((first, second))
        return self._tokenizer(first, second, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


@pytest.mark.parametrize("pairs", [False, True], ids=["single", "pair"])
@pytest.mark.parametrize("explainer", list(EXPLAINERS))
def test_every_explainer_ranks_the_decisive_word_first(explainer, pairs, key_word_model, tmp_path):
    build, tokenizer = key_word_model
    data = key_word_split(6, pairs=pairs)
    arrays, records = run_producer(EXPLAINERS[explainer](), build(), tokenizer, data, tmp_path)
    assert arrays["attributions"].shape[0] == 4
    for values, example in zip(arrays["attributions"], records["examples"], strict=True):
        first = top_k_words(values, 1)[0]
        assert example["words"][first] == KEY_WORD, (example["words"], values)
        assert values[first] > 0  # the key word raises the explained (positive) class
    assert np.all(arrays["word_count"] == [len(ex["words"]) for ex in records["examples"]])
    assert np.all(arrays["explained_class"] == 1) and np.all(arrays["labels"] == 1)
    padded = np.arange(arrays["attributions"].shape[1])[None, :] >= arrays["word_count"][:, None]
    assert np.isnan(arrays["attributions"][padded]).all()
    assert not np.isnan(arrays["attributions"][~padded]).any()


@pytest.mark.parametrize("mask", ["mask_token", "remove"])
def test_pair_perturbations_keep_the_two_segments_apart(key_word_model, tmp_path, mask):
    build, tokenizer = key_word_model
    recording = RecordingTokenizer(tokenizer)
    data = key_word_split(3, pairs=True)
    producer = LimeAttribution(num_samples=80, mask=mask, **COMMON)
    run_producer(producer, build(), recording, data, tmp_path)
    words_a = {w for text in data.text_a for w in text.split()} | {"[MASK]"}
    words_b = {w for text in data.text_b for w in text.split()} | {"[MASK]"}
    assert recording.calls
    for first, second in recording.calls:
        assert second is not None and len(first) == len(second)
        for text_a, text_b in zip(first, second, strict=True):
            assert set(text_a.split()) <= words_a  # no word of segment b leaked into a
            assert set(text_b.split()) <= words_b
            assert KEY_WORD not in text_b


def test_identical_perturbations_are_evaluated_once(key_word_model, tmp_path):
    build, tokenizer = key_word_model
    model = build()
    scorer = PerturbationScorer(model, tokenizer, max_length=32, batch_size=4)
    texts = [("good film",), ("bad film",), ("good film",), ("good film",), ("bad film",)]
    probs = scorer(texts)
    assert (scorer.n_requested, scorer.n_evaluated, sum(model.batch_sizes)) == (5, 2, 2)
    np.testing.assert_array_equal(probs[0], probs[2])
    scorer(texts)  # all memoised
    assert scorer.n_evaluated == 2 and sum(model.batch_sizes) == 2
    # A 3-word sentence has 2**3 = 8 distinct perturbations: LIME's 200 samples cost at most 8.
    data = key_word_split(1)
    data = type(data)("test", ["x"], ["superb film ."], None, np.ones(1, dtype=np.int64))
    arrays, _ = run_producer(
        LimeAttribution(num_samples=200, **COMMON), model := build(), tokenizer, data, tmp_path
    )
    assert arrays["model_evals"][0] <= 8 and sum(model.batch_sizes) <= 8 + 1  # + the original


def test_perturbations_reach_the_model_in_full_batches(key_word_model, tmp_path):
    build, tokenizer = key_word_model
    model = build()
    data = key_word_split(1)
    producer = LimeAttribution(num_samples=150, n_examples=1, batch_size=16, progress=False)
    arrays, records = run_producer(producer, model, tokenizer, data, tmp_path)
    explained = model.batch_sizes[1:]  # the first call scores the unperturbed example
    distinct = int(arrays["model_evals"][0])
    assert distinct > 40  # an 8-10 word sentence: most samples are distinct
    assert len(explained) == -(-distinct // 16)  # ceil: every call but the last is full
    assert all(size == 16 for size in explained[:-1])
    assert records["totals"]["forward_passes_this_run"] == 1 + len(explained)


def test_resume_after_a_kill_explains_only_the_rest(key_word_model, tmp_path):
    build, tokenizer = key_word_model
    data = key_word_split(6)
    producer = ShapAttribution(algorithm="permutation", max_evals=30, n_examples=6, batch_size=8)
    producer._progress = False
    reference, _ = run_producer(producer, build(), tokenizer, data, tmp_path / "uninterrupted")

    class Killed(RuntimeError):
        pass

    dying = build()
    real_forward = dying.forward

    def forward_then_die(*args, **kwargs):
        if len(dying.batch_sizes) >= 12:  # part-way through the examples
            raise Killed
        return real_forward(*args, **kwargs)

    dying.forward = forward_then_die
    resume = tmp_path / "resume"
    with pytest.raises(Killed):
        run_producer(producer, dying, tokenizer, data, resume)
    finished = sorted(resume.glob("example_*.json"))
    assert 0 < len(finished) < 6
    assert not list(resume.glob(".partial-*"))  # atomic writes: nothing half-written
    survivor = build()
    arrays, _ = run_producer(producer, survivor, tokenizer, data, resume)
    np.testing.assert_allclose(arrays["attributions"], reference["attributions"])
    assert len(list(resume.glob("example_*.json"))) == 6
    again = build()
    run_producer(producer, again, tokenizer, data, resume)
    assert again.batch_sizes == []  # everything was finished: the model never ran
    resumed = {json.loads(path.read_text())["index"] for path in finished}
    assert resumed <= set(arrays["example_index"].tolist())


def test_predicted_target_explains_the_argmax(key_word_model, tmp_path):
    build, tokenizer = key_word_model
    data = key_word_split(4)
    data = type(data)("test", data.ids, data.text_a, None, np.zeros(4, dtype=np.int64))
    arrays, _ = run_producer(
        IntegratedGradientsAttribution(n_steps=4, target="predicted", **COMMON),
        build(),
        tokenizer,
        data,
        tmp_path,
    )
    np.testing.assert_array_equal(arrays["explained_class"], arrays["probs"].argmax(1))
    assert np.all(arrays["explained_class"] == 1) and np.all(arrays["labels"] == 0)


def test_training_rows_are_refused(key_word_model, tmp_path):
    with pytest.raises(ExplainerConfigError, match="split='train' is not held out"):
        LimeAttribution(split="train")
    build, tokenizer = key_word_model
    with pytest.raises(ExplainerConfigError, match="not held out"):
        run_producer(
            LimeAttribution(**COMMON), build(), tokenizer, key_word_split(2, name="train"), tmp_path
        )


@pytest.mark.parametrize("on_quantized", ["dequantize", "skip"])
def test_integrated_gradients_on_an_int8_model_does_not_crash(
    tiny_model_dir, tmp_path, on_quantized
):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).eval()
    int8 = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    producer = IntegratedGradientsAttribution(n_steps=4, on_quantized=on_quantized, **COMMON)
    arrays, records = run_producer(producer, int8, tokenizer, key_word_split(4), tmp_path)
    words = np.arange(arrays["attributions"].shape[1])[None, :] < arrays["word_count"][:, None]
    if on_quantized == "skip":
        assert np.isnan(arrays["attributions"]).all() and "no gradients" in records["skipped"]
    else:
        assert np.isfinite(arrays["attributions"][words]).all() and records["skipped"] is None
        assert any("dequantized" in note for note in records["notes"])
    assert np.isfinite(arrays["probs"]).all()  # the int8 model itself scored the inputs


@pytest.mark.parametrize(
    "path", sorted((CONF_DIR / "explainer").glob("*.yaml")), ids=lambda p: p.stem
)
def test_explainer_configs_instantiate_and_key_on_what_matters(path):
    producer = instantiate(OmegaConf.load(path))
    identity = producer.identity()
    assert identity["split"] == "test" and "segmentation" in identity
    assert "batch_size" not in str(identity) and "progress" not in str(identity)
    reseeded = instantiate(OmegaConf.merge(OmegaConf.load(path), {"seed": 1})).identity()
    # the seed is in the cache key exactly when the explainer draws random numbers
    assert ("seed" in identity) == producer.seeded == (reseeded != identity)
    assert producer.seeded == (path.stem in {"lime", "shap_permutation"})


@pytest.mark.parametrize("explainer", list(EXPLAINERS))
def test_the_seed_is_keyed_exactly_when_it_changes_the_attributions(
    explainer, key_word_model, tmp_path
):
    build, tokenizer = key_word_model
    data = key_word_split(6, pairs=True)
    runs = []
    for seed in (0, 1):
        producer = EXPLAINERS[explainer]()
        producer.seed = seed
        arrays, _ = run_producer(producer, build(), tokenizer, data, tmp_path / str(seed))
        runs.append((producer.identity(), arrays["attributions"]))
    (key0, first), (key1, second) = runs
    same = np.array_equal(first, second, equal_nan=True)
    deterministic = explainer in {"shap_partition", "integrated_gradients"}
    assert (key0 == key1) == deterministic
    if deterministic:
        assert same  # one key, one output: a cache hit loses nothing
    elif explainer == "lime":
        assert not same  # LIME's sampling follows the seed
    # (permutation SHAP is exact, whatever the permutation, on this nearly additive model)


def test_autocast_only_on_a_gpu():
    assert autocast_dtype(torch.device("cpu"), "bf16-mixed") is None
    assert autocast_dtype(torch.device("cuda"), "bf16-mixed") == torch.bfloat16
    assert autocast_dtype(torch.device("cuda"), "16-mixed") == torch.float16
    assert autocast_dtype(torch.device("cuda"), "32-true") is None
