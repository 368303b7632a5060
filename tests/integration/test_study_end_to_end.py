"""The whole pipeline on a tiny BERT and tiny data: train → infer → compare → MLflow, then cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trusteq.testing.tiny import compose, tiny_overrides


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory, tiny_model_dir, tiny_data_files):
    from trusteq.pipeline.study import Study
    from trusteq.runs import compare_and_log as run_compare

    root = tmp_path_factory.mktemp("study")
    cfg = compose(tiny_overrides(root, tiny_model_dir, tiny_data_files))
    study = Study(cfg)
    study.train()
    keys = study.infer()
    result = run_compare(cfg)
    return cfg, study, keys, result, root


def test_every_variant_has_an_outputs_entry(finished_study):
    cfg, study, keys, _, root = finished_study
    assert set(keys) == {f"{name}/test" for name in study.variants}
    arrays, meta = study.load_outputs("reference", "test")
    n = len(meta["ids"])
    assert n == 48
    assert arrays["logits"].shape == (n, 2) and arrays["probs"].shape == (n, 2)
    assert arrays["embeddings_cls"].shape == (n, 32) and arrays["embeddings_mean"].shape == (n, 32)
    np.testing.assert_allclose(arrays["probs"].sum(1), 1.0, atol=1e-5)
    assert meta["git_sha"] is None or len(meta["git_sha"]) == 40
    assert "torch" in meta["versions"]


def test_variants_really_differ(finished_study):
    _, study, _, result, _ = finished_study
    stats = {name: result.meta[name]["compression_stats"] for name in study.variants}
    assert stats["int8"]["size_mb"] < stats["reference"]["size_mb"]
    assert stats["pruned50"]["linear_sparsity"] > 0.45
    assert stats["layers3"]["parameters"] < stats["reference"]["parameters"]
    ref, _ = study.load_outputs("reference", "test")
    seed, _ = study.load_outputs("reference_seed43", "test")
    assert not np.allclose(ref["logits"], seed["logits"])  # another seed is another model


def test_matrices_have_identity_diagonals_and_intervals(finished_study):
    _, study, _, result, _ = finished_study
    names = set(result.pairwise)
    assert {
        "prediction_agreement",
        "error_jaccard",
        "chance_error_jaccard",
        "error_consistency",
        "calibration_similarity",
        "knn_agreement_k1",
        "knn_agreement_k5",
    } <= names
    for name in ("prediction_agreement", "error_consistency", "knn_agreement_k5"):
        matrix = result.pairwise[name]
        assert matrix.value.shape == (5, 5)
        np.testing.assert_allclose(np.diag(matrix.value), 1.0)
        np.testing.assert_allclose(matrix.value, matrix.value.T)
        off = ~np.eye(5, dtype=bool)
        assert np.all(matrix.ci_low[off] <= matrix.value[off] + 1e-12)
        assert np.all(matrix.value[off] <= matrix.ci_high[off] + 1e-12)
    assert list(result.summary.index) == list(study.variants)


def test_mlflow_store_holds_parent_children_and_artifacts(finished_study):
    import mlflow
    from mlflow.tracking import MlflowClient

    cfg, study, _, result, root = finished_study
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("trusteq")
    assert experiment.artifact_location.startswith(Path(root, "mlruns").as_uri())
    parent = client.get_run(result.parent_run_id)
    assert parent.data.tags["trusteq.study"] == "quickstart"
    assert "noise_floor.error_jaccard" in parent.data.metrics
    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'",
    )
    assert {run.data.tags["trusteq.variant"] for run in children} == set(study.variants)
    int8 = next(run for run in children if run.data.tags["trusteq.variant"] == "int8")
    assert int8.data.metrics["accuracy"] == pytest.approx(result.unary["int8"]["accuracy"])
    assert (
        "error_jaccard.ci_low" in int8.data.metrics
        and "error_jaccard.vs_reference" in int8.data.metrics
    )
    child_artifacts = {a.path for a in client.list_artifacts(int8.info.run_id)}
    assert {"reliability_equal_mass.png", "reliability_equal_width.png"} <= child_artifacts
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=result.parent_run_id,
            artifact_path="matrices",
            tracking_uri=client.tracking_uri,
            dst_path=str(root / "download"),
        )
    )
    matrix = json.loads((local / "error_jaccard.json").read_text())
    assert matrix["variants"] == list(study.variants)
    assert (local / "error_jaccard.png").is_file() and (local / "error_jaccard.csv").is_file()
    parent_artifacts = {a.path for a in client.list_artifacts(result.parent_run_id)}
    assert {"summary.csv", "summary.md", "knn_agreement_vs_k.png"} <= parent_artifacts


def test_training_runs_are_nested_under_the_study_run(finished_study):
    """The runs table shows one expandable row per study: its training runs are inside it."""
    from mlflow.tracking import MlflowClient

    cfg, study, _, result, root = finished_study
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("trusteq")
    training = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`trusteq.stage` = 'train'"
    )
    trained = {name for name in study.variants if study.plan.variants[name].finetune}
    assert {run.data.tags["trusteq.variant"] for run in training} == trained
    assert {run.data.tags.get("mlflow.parentRunId") for run in training} == {result.parent_run_id}


def test_child_run_names_carry_the_verdict(finished_study):
    from mlflow.tracking import MlflowClient

    cfg, study, _, result, root = finished_study
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("trusteq")
    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'",
    )
    children = [run for run in children if run.data.tags.get("trusteq.stage") != "train"]
    overall = result.verdicts.overall.set_index("variant")
    # With a seed population the verdict is the one answer: the one-replicate column is gone.
    assert "verdict" in result.summary.columns and "beyond_noise" not in result.summary.columns
    judged = 0
    for run in children:
        variant = run.data.tags["trusteq.variant"]
        assert run.info.run_name.startswith(f"quickstart/{variant}")
        if variant in overall.index:
            judged += 1
            verdict = overall.loc[variant, "verdict"]
            word = "diverges" if verdict.startswith("diverges") else verdict
            assert f"· {word}" in run.info.run_name
            assert run.data.tags["verdict"] == verdict
    assert judged == len(overall)


def test_the_verdict_view_is_stored_on_the_experiment(finished_study):
    """`?viewStateShareKey=trusteq-verdicts` opens a flat table of the runs with a verdict."""
    import json

    from mlflow.tracking import MlflowClient

    from trusteq.tracking.keys import (
        SHARED_VIEW_TAG_PREFIX,
        VERDICT_VIEW_KEY,
        verdict_view_key,
    )

    cfg, study, _, result, root = finished_study
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("trusteq")
    view = json.loads(experiment.tags[SHARED_VIEW_TAG_PREFIX + VERDICT_VIEW_KEY])
    assert "tags.`verdict`" in view["selectedColumns"]
    shown = client.search_runs([experiment.experiment_id], filter_string=view["searchFilter"])
    judged = set(result.verdicts.overall["variant"])
    assert judged <= {run.data.tags.get("trusteq.variant") for run in shown}
    # this comparison's own view: exactly its judged variants (no training run, no older study)
    own = json.loads(
        experiment.tags[SHARED_VIEW_TAG_PREFIX + verdict_view_key(result.parent_run_id)]
    )
    assert own["selectedColumns"] == view["selectedColumns"]
    mine = client.search_runs([experiment.experiment_id], filter_string=own["searchFilter"])
    assert sorted(run.data.tags["trusteq.variant"] for run in mine) == sorted(judged)
    parent = client.get_run(result.parent_run_id)
    for variant in judged:  # the study's own row names every variant's verdict
        assert variant in parent.data.tags["verdict"]


def test_second_run_reuses_cache_and_compare_runs_no_model(finished_study, monkeypatch):
    import trusteq.models.lightning_runs as runs_module
    from trusteq.pipeline.study import Study
    from trusteq.runs import compare_and_log as run_compare

    cfg, _, keys, first, _ = finished_study

    def no_model(*args, **kwargs):
        raise AssertionError("a model ran although everything was cached")

    monkeypatch.setattr(runs_module, "fine_tune", no_model)
    monkeypatch.setattr(runs_module, "predict", no_model)
    again = Study(cfg)
    assert again.infer() == keys
    assert again.models.builds == {}  # everything cached: no model was even built
    cfg.logger.enabled = False
    second = run_compare(cfg)
    np.testing.assert_allclose(
        second.pairwise["error_jaccard"].value, first.pairwise["error_jaccard"].value
    )


def test_force_recomputes_outputs(finished_study, monkeypatch):
    import trusteq.models.lightning_runs as runs_module
    from trusteq.pipeline.study import Study

    cfg, _, keys, _, _ = finished_study
    calls = []
    real_predict = runs_module.predict

    def counting_predict(*args, **kwargs):
        calls.append(1)
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(runs_module, "predict", counting_predict)
    assert Study(cfg).infer("int8", force=True) == {"int8/test": keys["int8/test"]}
    assert len(calls) == 1


def test_compare_without_cache_names_the_missing_entry(tmp_path, tiny_model_dir, tiny_data_files):
    from trusteq.outputs.store import CacheError
    from trusteq.runs import compare_and_log as run_compare

    cfg = compose(tiny_overrides(tmp_path, tiny_model_dir, tiny_data_files) + ["logger=none"])
    # Nothing trained or cached in this root: compare must not train, it must say what to run.
    with pytest.raises(CacheError, match="trusteq-infer"):
        run_compare(cfg)
    assert not (tmp_path / "cache" / "checkpoints").exists()
