"""Attribution producers and the attribution analysis inside a whole (tiny) study."""

from __future__ import annotations

import os

import numpy as np
import pytest

from trusteq.testing.tiny import compose, tiny_overrides

# shap's numba kernels compile for 10-20 s on busy cores; pure Python is faster on tiny inputs.
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")

# The quick-start declares the explainers (lime, lime_seed1, shap, ig) and the analysis.
EXPLAIN = [
    "producers.lime.num_samples=40",
    "producers.lime_seed1.num_samples=40",
    "producers.shap.max_evals=40",
    "producers.shap_seed1.max_evals=40",
    "producers.ig.n_steps=4",
    "producers.lime.n_examples=6",
    "producers.lime_seed1.n_examples=6",
    "producers.shap.n_examples=6",
    "producers.shap_seed1.n_examples=6",
    "producers.ig.n_examples=6",
    "analyses.attribution.k_values=[1,10]",
    "analyses.attribution.figure_examples=2",
    "trainer.num_threads=1",  # tiny models: one thread is faster (much faster on a busy machine)
]


@pytest.fixture(scope="module")
def explained_study(tmp_path_factory, tiny_model_dir, tiny_data_files):
    import torch

    from trusteq.pipeline.study import Study
    from trusteq.runs import compare_and_log as run_compare

    threads = torch.get_num_threads()
    root = tmp_path_factory.mktemp("explain-study")
    cfg = compose(tiny_overrides(root, tiny_model_dir, tiny_data_files, explain=True) + EXPLAIN)
    study = Study(cfg)
    study.train()
    keys = study.infer()
    yield cfg, study, keys, run_compare(cfg), root
    torch.set_num_threads(threads)


def test_every_variant_has_every_explainer_entry(explained_study):
    _, study, keys, _, _ = explained_study
    for variant in study.variants:
        for producer in ("lime", "lime_seed1", "shap", "shap_seed1", "ig"):
            assert f"{variant}/{producer}" in keys
            arrays, meta = study.load_produced(variant, producer)
            assert arrays["attributions"].shape[0] == 6
            settings = meta["records"]["settings"]
            if producer == "ig":  # IG ignores its seed: not in its settings nor its cache key
                assert "seed" not in settings
            else:
                assert settings["seed"] == (1 if producer.endswith("seed1") else 0)
    # the int8 variant's gradients ran through its dequantized weights (documented in the entry)
    _, meta = study.load_produced("int8", "ig")
    assert any("dequantized" in note for note in meta["records"]["notes"])
    assert not list((study.store.root / "resume").glob("*/example_*.json"))  # cleaned up


def test_matrices_noise_floors_tables_and_figures(explained_study):
    _, study, _, result, _ = explained_study
    analysis = result.analyses["attribution"]
    variants = list(study.variants)
    for label in ("lime", "shap", "ig"):
        for metric in ("jaccard_k1", "jaccard_k10", "feature_agreement_k10", "rank_correlation"):
            matrix = result.pairwise[f"attribution_{label}_{metric}"]
            assert matrix.variants == variants
            np.testing.assert_allclose(np.diag(matrix.value), 1.0)
            np.testing.assert_allclose(matrix.value, matrix.value.T)
        assert f"top_words_{label}.png" in analysis.figures
    table = analysis.tables["agreement.csv"]
    lime = table[(table.explainer == "lime") & (table.metric == "jaccard_k10")]
    assert lime["reference_floor"].notna().all() and (lime["n_seeds"] == 2).all()
    assert "lime.jaccard_k10.noise_floor" in analysis.study_metrics
    shap = table[(table.explainer == "shap") & (table.metric == "jaccard_k10")]
    assert shap["reference_floor"].notna().all() and (shap["n_seeds"] == 2).all()
    ig = table[(table.explainer == "ig") & (table.metric == "jaccard_k10")]
    assert ig["reference_floor"].isna().all()  # one seed only
    assert {"lime_j10", "lime_j10_xseed", "lime_j10_floor", "shap_j10", "ig_j10"} <= set(
        result.summary.columns
    )
    crossed = result.pairwise["attribution_lime_jaccard_k10_cross_seed"]
    np.testing.assert_allclose(crossed.value, crossed.value.T)
    floors = lime[lime.a == lime.b].set_index("a")["floor_a"]
    np.testing.assert_allclose(np.diag(crossed.value), floors[variants].to_numpy())
    assert "attribution_shap_jaccard_k10_cross_seed" in result.pairwise  # two seeds
    assert "attribution_ig_jaccard_k10_cross_seed" not in result.pairwise  # one seed
    assert result.summary.loc["reference", "lime_j10"] == pytest.approx(1.0)


def test_figures_and_tables_reach_mlflow(explained_study):
    from mlflow.tracking import MlflowClient

    _, _, _, result, root = explained_study
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db")
    logged = {a.path for a in client.list_artifacts(result.parent_run_id, "analyses/attribution")}
    assert {
        "analyses/attribution/top_words_lime.png",
        "analyses/attribution/jaccard_vs_k_shap.png",
        "analyses/attribution/agreement.csv",
    } <= logged
    metrics = client.get_run(result.parent_run_id).data.metrics
    assert "attribution.lime.jaccard_k10.noise_floor" in metrics


def test_analysis_naming_missing_producers_is_refused_before_any_training(explained_study):
    from trusteq.pipeline.plan import Plan, StudyConfigError

    cfg, _, _, _, root = explained_study
    bad = cfg.copy()
    bad.analyses.attribution.explainers = {"lime": ["lime", "lime_seed7"]}
    with pytest.raises(
        StudyConfigError, match=r"analyses.attribution: reads producers \['lime_seed7'\]"
    ):
        Plan(bad)
