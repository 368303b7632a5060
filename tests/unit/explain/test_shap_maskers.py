"""SHAP's two maskers: shap's own Text masker per segment (summed to words) and the word masker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from trusteq.producers.explain import ShapAttribution
from trusteq.producers.explain.base import ExplainContext
from trusteq.producers.explain.shap_explainer import TokenMasker
from trusteq.producers.explain.words import SegmentedInput
from trusteq.testing.tiny import tiny_bert_folder

from .conftest import KEY_WORD, key_word_split, run_producer


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    """A random tiny BERT classifier whose vocabulary splits 'unreal' into 'un' + '##real'."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tiny_bert_folder(tmp_path_factory.mktemp("tiny"), words=["un", "##real", KEY_WORD])
    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    return model, AutoTokenizer.from_pretrained(folder)


def test_mask_token_rule_gives_one_mask_per_sub_word(tiny_classifier):
    _, tokenizer = tiny_classifier
    instance = SegmentedInput.from_texts("the unreal plot .")
    masks = ExplainContext(None, tokenizer, None, None, "[MASK]").word_masks(instance)
    assert masks == ["[MASK]", "[MASK] [MASK]", "[MASK]", "[MASK]"]
    assert instance.perturb([True, False, True, True], masks) == ("the [MASK] [MASK] plot .",)
    assert ExplainContext(None, tokenizer, None, None, "").word_masks(instance) == ""


def test_token_masker_matches_shaps_own_text_masker_run(tiny_classifier, tmp_path):
    """trusteq's batched run equals `shap.Explainer(f, shap.maskers.Text(tokenizer))` (Partition),
    the default pipeline's game, with f scoring one text per call, once summed into words."""
    import shap

    model, tokenizer = tiny_classifier
    texts = ["the unreal plot was quite superb .", "a story , and the acting was unreal"]
    data = key_word_split(2)
    data = type(data)("test", ["a", "b"], texts, None, np.array([1, 0]))
    producer = ShapAttribution(max_evals=60, n_examples=None, batch_size=16, progress=False)
    arrays, records = run_producer(producer, model, tokenizer, data, tmp_path)

    def one_at_a_time(strings):
        rows = []
        with torch.no_grad():
            for text in strings:
                logits = model(**tokenizer(str(text), return_tensors="pt")).logits
                rows.append(torch.softmax(logits, -1)[0].numpy())
        return np.array(rows)

    explainer = shap.Explainer(one_at_a_time, shap.maskers.Text(tokenizer))
    for row, (text, label) in enumerate(zip(texts, data.labels, strict=True)):
        tokens = np.asarray(explainer([text], max_evals=60, silent=True).values[0])[:, label]
        # [CLS] the un ##real plot ... [SEP]: 'un' + '##real' -> the word 'unreal'
        pieces = tokenizer(text)["input_ids"]
        assert len(tokens) == len(pieces)
        words = records["examples"][row]["words"]
        expected = {}
        for token_value, word in zip(tokens[1:-1], _piece_words(tokenizer, text), strict=True):
            expected[word] = expected.get(word, 0.0) + token_value
        ours = arrays["attributions"][row, : len(words)]
        np.testing.assert_allclose(ours, [expected[i] for i in range(len(words))], atol=1e-6)


def _piece_words(tokenizer, text):
    """The word index of each non-special token, from the tokenizer's own word ids."""
    return [w for w in tokenizer(text).word_ids() if w is not None]


def test_token_masker_masks_each_segment_of_a_pair_separately(tiny_classifier):
    _, tokenizer = tiny_classifier
    instance = SegmentedInput.from_texts("the unreal plot", "a story")
    masker = TokenMasker(instance, tokenizer)
    # per segment: [CLS] the un ##real plot [SEP] | [CLS] a story [SEP]
    assert masker.sizes == [6, 4] and masker.n_words == 10
    assert masker.word_index.tolist() == [-1, 0, 1, 1, 2, -1, -1, 3, 4, -1]
    keep = np.ones(10, dtype=bool)
    keep[[0, 2, 3, 5, 6, 8, 9]] = False  # specials cannot be hidden; pieces become [MASK] each
    first, second = masker.perturb(keep)  # shap's Text rule: "the [MASK] [MASK]plot"
    assert tokenizer.tokenize(first) == ["the", "[MASK]", "[MASK]", "plot"]
    assert second == "a [MASK]"
    tree = masker.clustering()
    assert tree.shape == (9, 4) and tree[-1, 3] == 10  # the two segment trees join at the root
    assert {int(tree[-1, 0]), int(tree[-1, 1])} == {10 + 4, 10 + 4 + 3}


@pytest.mark.parametrize("masker", ["text", "words"])
def test_both_maskers_rank_the_decisive_word_first_on_pairs(key_word_model, tmp_path, masker):
    build, tokenizer = key_word_model
    data = key_word_split(4, pairs=True)
    producer = ShapAttribution(
        masker=masker, max_evals=120, n_examples=None, batch_size=16, progress=False
    )
    arrays, records = run_producer(producer, build(), tokenizer, data, tmp_path)
    for values, example in zip(arrays["attributions"], records["examples"], strict=True):
        assert example["words"][int(np.nanargmax(values))] == KEY_WORD


def test_unknown_masker_is_refused():
    with pytest.raises(Exception, match="masker='tokens'"):
        ShapAttribution(masker="tokens")


SHAP_IN_A_FRESH_PROCESS = """
import json, sys
import numpy as np
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from trusteq.data import TextSplit
from trusteq.producers.explain import ShapAttribution

folder, out, seeds = sys.argv[1], sys.argv[2], [int(seed) for seed in sys.argv[3:]]
model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
tokenizer = AutoTokenizer.from_pretrained(folder)
texts = ["a truly great and wonderful film , with a plot that works",
         "the worst , most boring movie of the year , sadly"]
data = TextSplit("test", ["a", "b"], texts, None, np.array([1, 0]))
found = {}
for seed in seeds:
    producer = ShapAttribution(algorithm="permutation", max_evals=300, seed=seed, n_examples=2,
                               progress=False)
    arrays, _ = producer.produce(model, tokenizer, data, ["neg", "pos"], {"accelerator": "cpu"},
                                 f"{out}/{seed}")
    found[seed] = np.nan_to_num(arrays["attributions"], nan=-9.0).round(12).tolist()
print(json.dumps(found))
"""


def test_shap_permutations_follow_the_seed_with_numba_jit_on(tmp_path):
    """numba's generator (shap's jitted shuffle) is seeded: fresh processes agree, seeds differ.

    Unseeded, two processes with the same seed drew different permutations; the test suite
    runs shap with `NUMBA_DISABLE_JIT=1` (see conftest), which hid it, so this runs with JIT.
    """
    folder = tiny_bert_folder(tmp_path / "bert")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")

    def attributions(run: str, *seeds: int) -> dict[str, list]:
        script = [sys.executable, "-c", SHAP_IN_A_FRESH_PROCESS, str(folder), str(tmp_path / run)]
        done = subprocess.run(
            [*script, *map(str, seeds)], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    first, second = attributions("a", 7), attributions("b", 8, 7)  # seed 7 after another draw
    assert first["7"] == second["7"]
    assert second["8"] != second["7"]
