"""The explainer, analysis and Paper B experiment configs compose, instantiate and validate."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from trusteq.analyses.attribution import AnalysisConfigError, AttributionAgreement
from trusteq.testing.tiny import CONF_DIR, compose


def test_analysis_config_instantiates():
    analysis = instantiate(OmegaConf.load(CONF_DIR / "analysis" / "attribution.yaml"))
    assert analysis.required_producers() == ["lime", "lime_seed1", "shap", "ig"]
    assert analysis.k_values == [1, 3, 5, 10, 20] and analysis.summary_k == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"explainers": {}}, "must map each explainer label"),
        ({"explainers": {"lime": None}}, "must map each explainer label"),
        ({"explainers": {"lime": ["lime"]}, "summary_k": 7}, "summary_k=7 is not in k_values"),
        ({"explainers": {"lime": ["lime"]}, "k_values": [0, 10]}, "every K must be >= 1"),
    ],
)
def test_bad_analysis_configs_name_the_field(kwargs, message):
    with pytest.raises(AnalysisConfigError, match=message):
        AttributionAgreement(**kwargs)


def test_paper_b_experiment_composes_with_three_seeds_per_explainer():
    cfg = compose(["experiment=paper_b_explain"])
    producers = {name: instantiate(spec) for name, spec in cfg.producers.items()}
    assert sorted(producers) == [
        "lime",
        "lime_seed1",
        "lime_seed2",
        "shap",
        "shap_seed1",
        "shap_seed2",
    ]
    assert [producers[f"lime{s}"].seed for s in ("", "_seed1", "_seed2")] == [0, 1, 2]
    assert {p.n_examples for p in producers.values()} == {1000}
    assert producers["lime"].num_samples == 1000 and producers["lime"].num_features == 20
    assert producers["shap"].algorithm == "partition" and producers["shap"].max_evals == 500
    assert {p.target for p in producers.values()} == {"gold"}
    assert {p.max_length for p in producers.values()} == {512}  # Paper B's max length
    analysis = instantiate(cfg.analyses.attribution)
    assert analysis.explainers == {
        "lime": ["lime", "lime_seed1", "lime_seed2"],
        "shap": ["shap", "shap_seed1", "shap_seed2"],
    }
    assert cfg.study.reference == "bert_base" and len(cfg.study.variants) == 5
    assert cfg.dataset.dataset_name == "snli"
