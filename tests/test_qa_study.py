"""A tiny extractive-QA study end to end: train → infer → compare from the cache, with the OOD
analysis; the adapter's encoding; the Paper A config's loading path on local stand-ins."""

from __future__ import annotations

import numpy as np
import pytest

from trusteq.tasks.extractive_qa import QAConfigError, predicted_texts
from trusteq.testing.tiny import compose, tiny_bert_folder
from trusteq.testing.tiny_qa import (
    QA_WORDS,
    qa_records,
    tiny_qa_overrides,
    write_jsonl,
    write_mrqa_jsonl,
    write_qa_splits,
)


@pytest.fixture(scope="module")
def qa_study(tmp_path_factory):
    from trusteq.pipeline.study import Study
    from trusteq.runs import compare_and_log as run_compare

    root = tmp_path_factory.mktemp("qa-study")
    model_dir = tiny_bert_folder(root / "model", words=QA_WORDS)
    files = write_qa_splits(
        root / "data", {"train": 64, "validation": 16, "test": 32, "ood_news": 24}
    )
    cfg = compose(tiny_qa_overrides(root, model_dir, files) + ["logger=none"])
    study = Study(cfg)
    study.train()
    keys = study.infer()
    return cfg, study, keys, run_compare(cfg)


def test_outputs_are_cached_per_question(qa_study):
    _, study, keys, _ = qa_study
    assert set(keys) == {
        f"{v}/{s}" for v in study.variants for s in ("test", "validation", "ood_news", "train")
    }
    arrays, meta = study.load_outputs("reference", "test")
    n = len(meta["ids"])
    assert n == 32 and meta["label_names"] == ["start", "end"]
    for key in ("exact_match", "f1", "confidence", "has_answer", "answer_code"):
        assert arrays[key].shape == (n,)
    assert arrays["embeddings_cls"].shape == (n, 32) and arrays["candidate_scores"].shape[0] == n
    assert np.all((arrays["confidence"] > 0) & (arrays["confidence"] <= 1))
    texts = predicted_texts(arrays)
    data = study.data["test"]
    from trusteq.qa.metrics import score_prediction

    rescored = [score_prediction(t, g)[0] for t, g in zip(texts, data.answer_texts, strict=True)]
    np.testing.assert_array_equal(arrays["exact_match"], rescored)


def test_adapter_encodes_errors_and_calibration_exactly(qa_study):
    _, study, _, result = qa_study
    view, _ = study.load_outputs("reference", "test")
    correct = view["exact_match"] == 1
    np.testing.assert_array_equal(view["preds"] != view["targets"], ~correct)
    np.testing.assert_allclose(view["probs"].max(1), view["confidence"], rtol=1e-6)
    np.testing.assert_array_equal(view["probs"].argmax(1) == view["targets"], correct)
    unary = result.unary["reference"]
    assert unary["accuracy"] == pytest.approx(correct.mean())
    assert unary["f1"] == pytest.approx(view["f1"].mean())
    assert np.isnan(unary["brier"]) and np.isnan(unary["macro_f1"])  # skipped for QA


def test_error_jaccard_matrix_matches_hand_computation_from_the_cache(qa_study):
    _, study, _, result = qa_study
    matrix = result.pairwise["error_jaccard"]
    assert matrix.variants == list(study.variants) and matrix.value.shape == (3, 3)
    errors = {v: study.load_outputs(v, "test")[0]["exact_match"] == 0 for v in study.variants}
    a, b = errors["reference"], errors["pruned50"]
    expected = (a & b).sum() / (a | b).sum() if (a | b).any() else 1.0
    assert matrix.value[0, 2] == pytest.approx(expected)
    for name in (
        "chance_error_jaccard",
        "error_consistency",
        "prediction_agreement",
        "calibration_similarity",
        "knn_agreement_k3",
        "cka_linear",
    ):
        assert name in result.pairwise


def test_ood_analysis_runs_from_the_cache(qa_study):
    _, study, _, result = qa_study
    ood = result.analyses["ood"]
    table = ood.tables["metrics.csv"]
    assert set(table["scorer"]) == {"msp", "energy", "knn"}
    assert set(table["split"]) == {"ood_news"} and table["auroc"].between(0, 1).all()
    flags = result.pairwise["ood_flag_jaccard.knn"]
    np.testing.assert_allclose(np.diag(flags.value), 1.0)
    assert flags.variants == list(study.variants) and "ood_flag_jaccard.knn" in ood.matrices
    assert set(ood.tables["flag_agreement_vs_k.csv"]["k"]) == {1, 3}
    # MSP = 1 − confidence: the chosen answer is the top candidate at threshold 0
    view, _ = study.load_outputs("reference", "test")
    from trusteq.ood.scorers import MaxSoftmaxProbability

    np.testing.assert_allclose(
        MaxSoftmaxProbability().score(view), 1 - view["confidence"], atol=1e-5
    )


def test_compare_again_runs_no_model(qa_study, monkeypatch):
    import trusteq.pipeline.models as train_module
    from trusteq.runs import compare_and_log as run_compare

    cfg, study, _, first = qa_study

    def no_model(*args, **kwargs):
        raise AssertionError("a model ran although everything was cached")

    monkeypatch.setattr(train_module.Models, "get", no_model)
    again = run_compare(cfg)
    np.testing.assert_array_equal(
        again.pairwise["error_jaccard"].value, first.pairwise["error_jaccard"].value
    )


def test_bad_qa_settings_and_steps_fail_naming_the_field():
    from hydra.utils import instantiate

    from trusteq.pipeline.plan import Plan, StudyConfigError
    from trusteq.variants import build_variants

    settings = compose(["task=extractive_qa"]).task
    with pytest.raises(StudyConfigError, match="task.doc_stride must be an integer >= 1"):
        Plan(compose(["experiment=disfl_qa_ood", "task.doc_stride=0"]))
    with pytest.raises(QAConfigError, match="train.max_length=32 cannot hold"):
        instantiate(settings, doc_stride=64).features(None, None, 32)
    variants = build_variants(compose(["experiment=compression_sweep"]))
    with pytest.raises(QAConfigError, match="distilled3.compression.distil"):
        instantiate(settings).check_steps(variants["distilled3"].steps, "study.variants.distilled3")


def test_paper_a_config_loads_squad_and_newsqa_from_local_stand_ins(tmp_path):
    from hydra.utils import instantiate

    from trusteq.variants import build_variants

    hub = tmp_path / "squad_v2"
    write_jsonl(hub / "train.jsonl", qa_records(30, seed=1))
    write_jsonl(hub / "validation.jsonl", qa_records(10, seed=2, prefix="dev"))
    news = write_mrqa_jsonl(tmp_path / "NewsQA.jsonl", qa_records(10, seed=4, prefix="news"))
    cfg = compose(
        [
            "experiment=paper_a_ood",
            f"dataset.splits.train.path={hub}",
            f"dataset.splits.test.path={hub}",
            f"dataset.splits.ood_newsqa={{path:'{news}',format:null}}",
        ]
    )
    assert cfg.train.learning_rate == 3e-5 and cfg.train.max_length == 384
    assert (
        cfg.task.doc_stride == 128
        and cfg.task.n_best == 20
        and cfg.analyses.ood.ood_splits == ["ood_newsqa"]
    )
    data = instantiate(cfg.dataset).load()
    assert len(data["test"]) == 10 and data["ood_newsqa"].answerable.all()
    variants = build_variants(cfg)
    assert list(variants)[0] == "bert_large" and len(variants) == 7
    assert cfg.study.noise_floor == "bert_large_seed43"
    assert variants["bert_large_seed43"].seed == 43
    assert variants["bert_tiny"].backbone.name_or_path == "google/bert_uncased_L-2_H-128_A-2"
