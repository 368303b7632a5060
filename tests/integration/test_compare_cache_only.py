"""Compare reads the study manifest and the entries only; prediction files compare the same way."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from trusteq.testing.tiny import compose, tiny_bert_folder, tiny_overrides, write_sentiment_csvs


@pytest.fixture(scope="module")
def inferred(tmp_path_factory):
    """A tiny study trained and inferred on its own copies of the model and data."""
    from trusteq.pipeline.study import Study
    from trusteq.runs import compare_and_log

    root = tmp_path_factory.mktemp("cache-only")
    model = tiny_bert_folder(root / "model")
    files = write_sentiment_csvs(root / "data", {"train": 96, "validation": 32, "test": 48})
    cfg = compose(tiny_overrides(root, model, files) + ["logger=none"])
    study = Study(cfg)
    study.train()
    study.infer()
    return cfg, root, compare_and_log(cfg)


#: Facts of the model itself (size, speed): not in prediction files.
MODEL_FACTS = {"params_M", "nonzero_M", "size_MB", "bits_per_weight", "linear_sparsity"}
MODEL_FACTS |= {"ms_per_ex", "ex_per_s", "description"}


def _same(first, second, names=None, facts=True):
    names = names or first.pairwise
    for name in names:
        np.testing.assert_allclose(
            second.pairwise[name].value, first.pairwise[name].value, atol=1e-9, err_msg=name
        )
        np.testing.assert_allclose(
            second.pairwise[name].ci_low, first.pairwise[name].ci_low, atol=1e-9, err_msg=name
        )
    columns = [c for c in first.summary.columns if facts or c not in MODEL_FACTS]
    pd.testing.assert_frame_equal(
        second.summary[columns], first.summary[columns], check_dtype=False
    )


def test_compare_needs_no_data_checkpoint_weights_or_model(inferred, monkeypatch):
    import trusteq.pipeline.models as train_module
    from trusteq.runs import compare_and_log

    cfg, root, first = inferred
    # Move away everything compare must not need: data files, checkpoints, backbone weights.
    for name in ("data", "model", "cache/checkpoints"):
        shutil.move(root / name, root / f"{name.replace('/', '_')}-moved")
    try:

        def no_model(*args, **kwargs):
            raise AssertionError("compare built a model")

        monkeypatch.setattr(train_module.Models, "get", no_model)
        second = compare_and_log(cfg)
    finally:
        for name in ("data", "model", "cache/checkpoints"):
            shutil.move(root / f"{name.replace('/', '_')}-moved", root / name)
    _same(first, second)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "npz"])
def test_exported_entries_import_to_identical_matrices(inferred, tmp_path, fmt):
    from trusteq.compare import open_view
    from trusteq.compare.imports import export_predictions, import_predictions
    from trusteq.runs import compare_and_log

    cfg, root, first = inferred
    folder = export_predictions(open_view(cfg), "test", tmp_path / "exported", fmt=fmt)
    view = import_predictions(folder, tmp_path / "cache")
    assert view.variants == list(first.summary.index)
    second = compare_and_log(cfg, view)  # the same characteristics, read from the files
    _same(first, second, facts=False)
    assert (tmp_path / "cache" / "manifests").is_dir()


def _write(folder, name, rows):
    pd.DataFrame(rows).to_json(folder / f"{name}.jsonl", orient="records", lines=True)


def _spec(folder, **extra):
    import yaml

    (folder / "study.yaml").write_text(
        yaml.safe_dump({"name": "ext", "reference": "ref", "label_names": ["neg", "pos"], **extra})
    )


def _rows(n=6, shift=0.0):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(n, 2)) + shift
    return {
        "id": [f"e{i}" for i in range(n)],
        "logits": logits.tolist(),
        "label": (["neg", "pos"] * n)[:n],
    }


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(id=[f"x{i}" for i in range(6)]), "ids differ from the reference"),
        (
            lambda r: r.update(id=r["id"][:5], logits=r["logits"][:5], label=r["label"][:5]),
            "N = 5 vs 6",
        ),
        (lambda r: r.pop("logits"), "needs a 'logits' or a 'probs' column"),
        (lambda r: r.pop("id"), "no 'id' column"),
        (lambda r: r["logits"].__setitem__(2, [float("nan"), 0.0]), "non-finite values"),
        (
            lambda r: r.update(probs=[[0.7, 0.7]] * 6, logits=None) or r.pop("logits"),
            "not a probability distribution",
        ),
        (lambda r: r["label"].__setitem__(1, "neutral"), "not one of label_names"),
        (lambda r: r["label"].__setitem__(1, 5), r"outside \[0, 2\)"),
    ],
)
def test_bad_prediction_files_are_refused_naming_file_and_column(tmp_path, mutate, message):
    from trusteq.compare.imports import PredictionsError, import_predictions

    _spec(tmp_path)
    _write(tmp_path, "ref", _rows())
    bad = _rows(shift=0.3)
    mutate(bad)
    _write(tmp_path, "other", bad)
    with pytest.raises(PredictionsError, match=message) as error:
        import_predictions(tmp_path, tmp_path / "cache")
    assert "other.jsonl" in str(error.value)


def test_missing_study_yaml_and_unknown_reference(tmp_path):
    from trusteq.compare.imports import PredictionsError, import_predictions

    _write(tmp_path, "ref", _rows())
    with pytest.raises(PredictionsError, match="study.yaml: missing"):
        import_predictions(tmp_path, tmp_path / "cache")
    _spec(tmp_path, reference="nope")
    with pytest.raises(PredictionsError, match="reference names variant 'nope'"):
        import_predictions(tmp_path, tmp_path / "cache")
