"""A tiny study with OOD splits: train → infer → compare with the OOD analysis, mutual kNN and CKA.

The data is a VADER-format corpus written in the test (movie sentences in distribution; tweet,
Amazon and NYT files with other words as the OOD splits), so `dataset=vader_movies` loads offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trusteq.data.vader import CORPUS_DIRNAME, write_manifest
from trusteq.testing.tiny import compose, sentiment_sentences

OOD_WORDS = ["lol", "omg", "shipping", "battery", "senate", "policy", "tax", "vote"]
N_MOVIE, N_OOD = 200, 30


def _write_ground_truth(path: Path, texts: list[str], labels: list[int]) -> None:
    pairs = zip(texts, labels, strict=True)
    rows = [f"{i}\t{2.0 if y else -2.0}\t{t}" for i, (t, y) in enumerate(pairs, start=1)]
    path.write_bytes("\r\n".join(rows).encode())


def write_fake_vader_cache(cache_dir: Path) -> Path:
    """Movie sentences built from the tiny vocabulary; OOD files mostly of unknown words."""
    folder = cache_dir / CORPUS_DIRNAME
    folder.mkdir(parents=True)
    texts, labels = sentiment_sentences(N_MOVIE, seed=0)
    _write_ground_truth(folder / "movieReviewSnippets_GroundTruth.txt", texts, labels)
    rng = np.random.default_rng(1)
    for offset, stem in enumerate(["tweets", "amazonReviewSnippets", "nytEditorialSnippets"]):
        base, labels = sentiment_sentences(N_OOD, seed=10 + offset)
        texts = [
            " ".join([*rng.choice(OOD_WORDS, size=4 + offset), sentence.split()[0]])
            for sentence in base
        ]
        _write_ground_truth(folder / f"{stem}_GroundTruth.txt", texts, labels)
    write_manifest(folder, "tiny fake corpus for the OOD integration test")
    return cache_dir


@pytest.fixture(scope="module")
def ood_study(tmp_path_factory, tiny_model_dir):
    from trusteq.pipeline.study import Study
    from trusteq.runs import compare_and_log as run_compare

    root = tmp_path_factory.mktemp("ood-study")
    data_dir = write_fake_vader_cache(root / "data")
    cfg = compose(
        [
            "experiment=representation_ood",
            "debug=fast",
            f"paths.root_dir={root}",
            f"paths.cache_dir={root}/cache",
            "model=local",
            f"model.name_or_path={tiny_model_dir}",
            f"dataset.cache_dir={data_dir}",
            "dataset.subsample={train:null,validation:null,test:null,ood:null}",
            "study.variants.layers3.compression.drop.num_layers=1",
            "train.learning_rate=1e-3",
            "analyses.ood.ks=[1,5,10]",
            # Kept small (2 s per Lightning predict call on 2 busy cores): reference, its seed
            # replicate, int8; two OOD splits; only the characteristics this test reads.
            "~study.variants.pruned50",
            "~study.variants.layers3",
            "~dataset.ood_corpora.ood_amazon",
            "analyses.ood.ood_splits=[ood_tweets,ood_nyt]",
            "~characteristics.calibration_similarity",
            "~characteristics.prediction_agreement",
            "~characteristics.chance_error_jaccard",
            "~characteristics.error_consistency",
            "~producers",
            "~analyses.attribution",
            "~analyses.attack",
        ]
    )
    study = Study(cfg)
    keys = study.infer()
    result = run_compare(cfg)
    return cfg, study, keys, result, root


def test_infer_cached_every_split_the_analysis_needs(ood_study):
    _, study, keys, _, _ = ood_study
    splits = {"validation", "test", "ood_tweets", "ood_nyt", "train"}
    assert {key.split("/")[1] for key in keys} == splits
    assert len(keys) == len(splits) * len(study.variants)


def test_representation_matrices(ood_study):
    _, study, _, result, _ = ood_study
    n_variants = len(study.variants)
    for name in ("mutual_knn_k10", "cka_linear", "cka_linear_unbiased"):
        matrix = result.pairwise[name]
        assert matrix.value.shape == (n_variants, n_variants)
        np.testing.assert_allclose(np.diag(matrix.value), 1.0)
        np.testing.assert_allclose(matrix.value, matrix.value.T)
        off = ~np.eye(n_variants, dtype=bool)
        assert np.all(matrix.ci_low[off] <= matrix.ci_high[off])
    # int8 barely changes the reference: its representation stays close.
    cka = result.pairwise["cka_linear"]
    assert cka.value[0, cka.variants.index("int8")] > 0.9


def test_ood_metrics_tables_and_summary(ood_study):
    _, study, _, result, _ = ood_study
    ood = result.analyses["ood"]
    metrics = ood.tables["metrics.csv"]
    assert len(metrics) == len(study.variants) * 3 * 2  # variants × scorers × OOD splits
    assert metrics[["auroc", "aupr", "fpr95", "flag_rate_in"]].apply(np.isfinite).all().all()
    assert metrics["auroc"].between(0, 1).all()
    # OOD sentences are made of words the tiny vocabulary lacks: deep kNN separates them.
    assert metrics.loc[metrics["scorer"] == "knn", "auroc"].mean() > 0.8
    reference = ood.variant_metrics["reference"]
    assert {"auroc.knn.ood_tweets", "aupr.msp.ood_nyt", "fpr95.energy.ood_nyt"} <= set(reference)
    assert {"auroc_msp", "auroc_energy", "auroc_knn", "ood_jaccard_knn"} <= set(result.summary)
    assert result.summary.loc["reference", "ood_jaccard_knn"] == 1.0


def test_flag_agreement_matrices_and_curve(ood_study):
    _, study, _, result, _ = ood_study
    for scorer in ("msp", "energy", "knn"):
        jaccard = result.pairwise[f"ood_flag_jaccard.{scorer}"]
        np.testing.assert_allclose(np.diag(jaccard.value), 1.0)
        kappa = result.pairwise[f"ood_flag_kappa.{scorer}"]
        assert np.all((-1 <= kappa.value) & (kappa.value <= 1))
        assert f"ood_flag_chance_jaccard.{scorer}" in result.pairwise
    ood = result.analyses["ood"]
    curve = ood.tables["flag_agreement_vs_k.csv"]
    assert sorted(curve["k"].unique()) == [1, 5, 10]
    assert set(curve["variant"]) == set(study.variants)
    assert curve.loc[curve["variant"] == "reference_seed43", "noise_floor"].all()
    per_split = ood.tables["flag_agreement.csv"]
    assert set(per_split["split"]) == {"all", "ood_tweets", "ood_nyt"}
    assert {"auroc.png", "flag_agreement_vs_k.png"} <= set(ood.figures)


def test_results_read_back_from_mlflow(ood_study):
    import mlflow
    from mlflow.tracking import MlflowClient

    _, _, _, result, root = ood_study
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db")
    parent = client.get_run(result.parent_run_id)
    assert "noise_floor.ood_flag_jaccard.knn" in parent.data.metrics
    assert "noise_floor.cka_linear_unbiased" in parent.data.metrics
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=result.parent_run_id,
            artifact_path="analyses/ood",
            tracking_uri=client.tracking_uri,
            dst_path=str(root / "download"),
        )
    )
    table = pd.read_csv(local / "metrics.csv")
    expected = result.analyses["ood"].tables["metrics.csv"]
    np.testing.assert_allclose(table["auroc"], expected["auroc"])
    assert (local / "flag_agreement_vs_k.png").is_file()
    experiment = client.get_experiment_by_name("trusteq")
    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'",
    )
    int8 = next(run for run in children if run.data.tags["trusteq.variant"] == "int8")
    assert int8.data.metrics["ood.auroc.knn.ood_tweets"] == pytest.approx(
        result.analyses["ood"].variant_metrics["int8"]["auroc.knn.ood_tweets"]
    )


def test_summary_columns_come_from_the_characteristics_not_the_ood_flags(ood_study):
    """OOD flag matrices are built with ErrorJaccard; they must not overwrite its column."""
    _, study, _, result, _ = ood_study
    errors = result.pairwise["error_jaccard"]
    i = errors.variants.index(study.reference)
    for name in study.variants:
        assert (
            result.summary.loc[name, "error_jaccard"]
            == errors.value[i, errors.variants.index(name)]
        )
    flags = [m for key, m in result.pairwise.items() if key.startswith("ood_flag")]
    assert flags and all(m.metadata.get("summary_column") is None for m in flags)
