from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from trusteq.analyses.attack import AttackAnalysis
from trusteq.producers.attack import AttackConfigError, AttackProducer, AttackTransferProducer

CONF = Path(__file__).resolve().parents[3] / "conf"
CONTEXT = {"study": {"reference": "reference"}, "train": {"max_length": 64}}


def compose(path: Path):
    cfg = OmegaConf.merge(OmegaConf.create(CONTEXT), {"node": OmegaConf.load(path)})
    return cfg.node


@pytest.mark.parametrize("name", ["pwws", "wordnet_constrained", "deepwordbug"])
def test_offline_attack_configs_instantiate(name):
    producer = instantiate(compose(CONF / "attack" / f"{name}.yaml"))
    assert isinstance(producer, AttackProducer)
    assert producer.recipe.name == name and producer.max_length == 64


def test_bert_attack_config_fails_offline_naming_the_alternative(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(Exception) as caught:
        instantiate(compose(CONF / "attack" / "bert_attack.yaml"))
    error = caught.value
    while error.__cause__ is not None and not isinstance(error, AttackConfigError):
        error = error.__cause__
    assert isinstance(error, AttackConfigError) and "wordnet_constrained" in str(error)
    cfg = compose(CONF / "attack" / "bert_attack.yaml")
    cfg.recipe.mlm = str(tmp_path)
    assert instantiate(cfg).recipe.describe()["fidelity"] == "low-fidelity stand-in"


def test_transfer_and_analysis_configs_instantiate():
    transfer = instantiate(compose(CONF / "attack" / "transfer.yaml"))
    assert isinstance(transfer, AttackTransferProducer) and transfer.source_variant == "reference"
    analysis = instantiate(compose(CONF / "analysis" / "attack.yaml"))
    assert isinstance(analysis, AttackAnalysis)
    assert analysis.required_producers() == ["attack", "transfer_reference"]


def test_the_offline_bert_attack_config_composes_through_hydra():
    from trusteq.testing.tiny import compose as compose_study

    cfg = compose_study(["experiment=quickstart", "attack@producers.attack=bert_attack_offline"])
    producer = instantiate(cfg.producers.attack)
    assert isinstance(producer, AttackProducer) and producer.needs_train_split
    assert producer.recipe.name == "bert_attack" and producer.recipe.max_candidates == 48
    assert producer.recipe.describe()["fidelity"] == "low-fidelity stand-in"


def test_the_offline_bert_attack_has_a_query_budget():
    from trusteq.testing.tiny import compose as compose_study

    cfg = compose_study(["experiment=quickstart", "attack@producers.attack=bert_attack_offline"])
    assert instantiate(cfg.producers.attack).query_budget == 1000
