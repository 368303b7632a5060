from __future__ import annotations

import numpy as np
import pytest

from trusteq.data import TextSplit
from trusteq.producers import Consumed
from trusteq.producers.attack import (
    FAILED,
    SKIPPED,
    SUCCESS,
    AttackConfigError,
    AttackError,
    AttackProducer,
    AttackTransferProducer,
    BertAttack,
    decode_utf8,
    encode_utf8,
)
from trusteq.producers.attack.producer import _unattacked
from trusteq.testing.tiny import POSITIVE

from .conftest import WORD_LIST, BagOfWords

LABELS = ["negative", "positive"]


def _expected_status(split: TextSplit) -> np.ndarray:
    """By hand: the bag-of-words model is right on every sentence; positives carrying a word of
    the word list lose their only positive word (score 0 -> negative), everything else holds."""
    status = []
    for text, label in zip(split.text_a, split.labels, strict=True):
        words = text.split()
        if label == 1 and any(w in WORD_LIST for w in words):
            status.append(SUCCESS)
        else:
            status.append(FAILED)
    return np.array(status)


def test_attack_outcomes_match_hand_computed(model, tokenizer, split, recipe, tmp_path):
    producer = AttackProducer(recipe, n_examples=None, progress=False)
    arrays, records = producer.produce(model, tokenizer, split, LABELS, {}, tmp_path)
    np.testing.assert_array_equal(arrays["status"], _expected_status(split))
    success = arrays["status"] == SUCCESS
    assert success.any() and (~success).any()
    np.testing.assert_array_equal(arrays["words_changed"][success], 1)
    np.testing.assert_array_equal(arrays["perturbed_label"][success], 0)
    np.testing.assert_array_equal(arrays["perturbed_label"][~success], arrays["labels"][~success])
    texts = decode_utf8(arrays)
    for k in np.flatnonzero(success):
        assert "okay" in texts[k].split()
        assert texts[k] != split.text_a[k]
        example = records["examples"][k]
        assert [change[2] for change in example["changes"]] == ["okay"]
        assert example["changes"][0][1] in WORD_LIST
    assert all(texts[k] == "" for k in np.flatnonzero(~success))
    assert (arrays["queries"] > 0).all() and (arrays["model_evals"] <= arrays["queries"]).all()
    assert records["totals"]["successes"] == int(success.sum())
    assert arrays["perturbed_probs"].shape == (len(split), 2)


def test_misclassified_examples_are_skipped_and_subset_is_stratified(
    tokenizer, split, recipe, tmp_path
):
    # ignoring "good" makes its positive sentences ties -> predicted negative -> skipped
    model = BagOfWords(tokenizer, ignore=("good",))
    producer = AttackProducer(recipe, n_examples=10, subset_seed=1, progress=False)
    arrays, _ = producer.produce(model, tokenizer, split, LABELS, {}, tmp_path)
    rows = arrays["example_index"]
    assert len(rows) == 10 and np.array_equal(rows, np.sort(rows))
    assert np.array_equal(rows, producer.select(split))
    for row, status in zip(rows, arrays["status"], strict=True):
        words = split.text_a[row].split()
        if split.labels[row] == 1 and "good" in words:
            assert status == SKIPPED
        else:
            assert status != SKIPPED
    assert (arrays["queries"][arrays["status"] == SKIPPED] == 0).all()


def test_resume_after_kill_recomputes_only_unfinished(
    model, tokenizer, split, recipe, tmp_path, monkeypatch
):
    reference, _ = AttackProducer(recipe, n_examples=None, progress=False).produce(
        model, tokenizer, split, LABELS, {}, tmp_path / "fresh"
    )
    calls: list[int] = []
    original = AttackProducer._attack_one

    def killed_after_three(self, attack, data, index, clean, scorer):
        if len(calls) == 3:
            raise KeyboardInterrupt  # the job is killed mid-run
        calls.append(index)
        return original(self, attack, data, index, clean, scorer)

    monkeypatch.setattr(AttackProducer, "_attack_one", killed_after_three)
    resume = tmp_path / "resume"
    producer = AttackProducer(recipe, n_examples=None, progress=False)
    with pytest.raises(KeyboardInterrupt):
        producer.produce(model, tokenizer, split, LABELS, {}, resume)
    finished = sorted(p.name for p in resume.glob("example_*.json"))
    assert len(finished) == 3
    first_run = list(calls)
    calls.clear()
    monkeypatch.setattr(
        AttackProducer, "_attack_one", lambda self, *a: calls.append(a[2]) or original(self, *a)
    )
    arrays, _ = producer.produce(model, tokenizer, split, LABELS, {}, resume)
    assert not set(calls) & set(first_run)  # finished examples were not attacked again
    assert len(calls) == len(split) - 3
    for key in ("status", "perturbed_label", "words_changed", "queries"):
        np.testing.assert_array_equal(arrays[key], reference[key])
    assert decode_utf8(arrays) == decode_utf8(reference)


def test_no_correctly_classified_example_is_a_clear_error(tokenizer, split, recipe, tmp_path):
    model = BagOfWords(tokenizer, ignore=tuple(POSITIVE))  # every positive becomes negative
    positives = TextSplit(
        "test",
        [i for i, y in zip(split.ids, split.labels, strict=True) if y == 1],
        [t for t, y in zip(split.text_a, split.labels, strict=True) if y == 1],
        None,
        np.ones(int(split.labels.sum()), dtype=np.int64),
    )
    with pytest.raises(AttackError, match="none of the .* selected examples correctly"):
        AttackProducer(recipe, progress=False).produce(
            model, tokenizer, positives, LABELS, {}, tmp_path
        )


def test_extractive_qa_and_training_splits_are_refused(model, tokenizer, recipe, tmp_path):
    from trusteq.qa.data import QASplit

    qa = QASplit("test", ["q1"], ["who?"], ["Ann went home."], [["Ann"]], [[0]])
    with pytest.raises(AttackConfigError, match="Extractive QA is not supported"):
        AttackProducer(recipe).produce(model, tokenizer, qa, LABELS, {}, tmp_path)
    with pytest.raises(AttackConfigError, match="not held out"):
        AttackProducer(recipe, split="train")
    train = TextSplit("train", ["a"], ["good"], None, np.array([1]))
    with pytest.raises(AttackConfigError, match="held-out"):
        AttackProducer(recipe).produce(model, tokenizer, train, LABELS, {}, tmp_path)


def test_the_plan_refuses_attacks_on_extractive_qa():
    from trusteq.analyses.attack import AttackAnalysis
    from trusteq.tasks.classification import ClassificationTask
    from trusteq.tasks.extractive_qa import QATask

    for needs in (AttackProducer.requires_kinds, AttackTransferProducer.requires_kinds,
                  AttackAnalysis.requires_kinds):  # fmt: skip
        assert not set(needs) <= QATask.output_kinds
        assert set(needs) <= ClassificationTask.output_kinds


def test_bert_attack_offline_fails_at_construction(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-home" / "hub"))
    with pytest.raises(AttackConfigError) as caught:
        BertAttack()  # the paper's bert-base-uncased
    message = str(caught.value)
    assert "WordSwapMaskedLM" in message and "bert-base-uncased" in message
    assert "wordnet_constrained" in message and "local" in message
    with pytest.raises(AttackConfigError, match="UniversalSentenceEncoder"):
        BertAttack(mlm=str(tmp_path), sentence_encoder="use")
    local = BertAttack(mlm=str(tmp_path))  # a local folder is accepted (loaded only when built)
    assert local.describe()["fidelity"] == "low-fidelity stand-in"


def test_identity_excludes_runtime_knobs(recipe):
    a = AttackProducer(recipe, batch_size=8, goal_batch_size=16, progress=False).identity()
    b = AttackProducer(recipe, batch_size=64).identity()
    assert a == b and a["recipe"]["recipe"] == "word_list"
    assert AttackProducer(recipe, n_examples=5).identity() != b


def test_transfer_replays_the_source_adversarial_texts(model, tokenizer, split, recipe, tmp_path):
    source, records = AttackProducer(recipe, n_examples=None, progress=False).produce(
        model, tokenizer, split, LABELS, {}, tmp_path / "a"
    )
    transfer = AttackTransferProducer(source_variant="reference", source_producer="attack")
    assert transfer.consumes() == [Consumed("attack", "reference")]
    # the same model fooled by its own texts; a model ignoring "okay"-style swaps is the same here
    arrays, meta = transfer.produce(
        model,
        tokenizer,
        split,
        LABELS,
        {},
        tmp_path / "t",
        {"attack": (source, {"records": records})},
    )
    broken = source["status"] == SUCCESS
    np.testing.assert_array_equal(arrays["status"][~broken], SKIPPED)
    np.testing.assert_array_equal(arrays["status"][broken], SUCCESS)
    np.testing.assert_array_equal(arrays["adversarial_label"][~broken], -1)
    np.testing.assert_array_equal(arrays["clean_label"], source["original_label"])
    assert meta["totals"]["replayed"] == int(broken.sum())
    # a model that does not know "good" is not fooled by texts where "good" was swapped away
    other = BagOfWords(tokenizer, ignore=("good",))
    replay, _ = transfer.produce(
        other,
        tokenizer,
        split,
        LABELS,
        {},
        tmp_path / "u",
        {"attack": (source, {"records": records})},
    )
    np.testing.assert_array_equal(replay["adversarial_label"][broken], 0)
    with pytest.raises(AttackConfigError, match="passed no 'attack' entry"):
        transfer.produce(model, tokenizer, split, LABELS, {}, tmp_path / "v", {})


def test_utf8_round_trip_and_unattacked_record():
    texts = ["", "naïve café", "plain", "日本語"]
    assert decode_utf8(encode_utf8(texts, "perturbed")) == texts
    assert _unattacked(3, np.array([0.2, 0.8]), "misclassified")["status"] == SKIPPED
