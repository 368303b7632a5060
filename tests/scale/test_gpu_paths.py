"""GPU paths: faiss on the GPU for kNN, `trainer=gpu` end to end, paper_scale on CUDA.

Marked `gpu` (and `scale`, as everything in tests/scale): skipped without a CUDA device, and the
faiss tests also without a faiss-gpu build (`pip uninstall -y faiss-cpu && pip install
faiss-gpu-cu12`, see pyproject's `gpu` extra). `benchmarks/gpu_suite.sh` runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gpu

REPO = Path(__file__).resolve().parents[2]


def _cuda() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return torch.cuda.is_available()


def _faiss_gpus() -> int:
    import faiss

    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


needs_cuda = pytest.mark.skipif(not _cuda(), reason="needs a CUDA device")
needs_faiss_gpu = pytest.mark.skipif(
    _faiss_gpus() == 0, reason="needs faiss-gpu and a visible GPU (faiss.get_num_gpus() > 0)"
)


@needs_faiss_gpu
@pytest.mark.parametrize("index", ["exact", "ivf"])
def test_faiss_gpu_search_matches_cpu(index):
    from trusteq.characteristics.knn_agreement import knn_search, neighbour_recall

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 64)) * 3
    embeddings = (centres[rng.integers(0, 50, 20_000)] + rng.normal(size=(20_000, 64))).astype(
        np.float32
    )
    settings = {"index": index, "recall_queries": 2000}
    on_gpu = knn_search(embeddings, 10, settings={**settings, "use_gpu": True})
    on_cpu = knn_search(embeddings, 10, settings={**settings, "use_gpu": False})
    assert on_gpu.on_gpu and not on_cpu.on_gpu
    overlap = float(np.mean(neighbour_recall(on_gpu.neighbours, on_cpu.neighbours)))
    assert overlap >= (0.999 if index == "exact" else 0.95)
    assert on_gpu.recall >= 0.95


@needs_cuda
def test_trainer_gpu_study_end_to_end(tmp_path, tiny_model_dir, tiny_data_files, cli):
    study = cli.study(tmp_path, tiny_model_dir, tiny_data_files)
    run = cli.run(
        "trusteq-infer", ["-m", "variant=reference,int8", "trainer=gpu", *study], tmp_path
    )
    assert run.returncode == 0, cli.combined(run)[-4000:]
    compared = cli.run("trusteq-compare", ["trainer=gpu", *study], tmp_path)
    assert compared.returncode == 0, cli.combined(compared)[-4000:]
    # The runtime is not in any key: a CPU compare reads the same entries.
    again = cli.run("trusteq-compare", ["trainer=cpu", *study], tmp_path)
    assert again.returncode == 0, cli.combined(again)[-4000:]


@needs_cuda
def test_paper_scale_on_cuda(tmp_path):
    out = tmp_path / "paper_scale.json"
    command = [sys.executable, str(REPO / "benchmarks" / "paper_scale.py"), "--device", "cuda"]
    command += ["--models", "bert_tiny", "bert_mini", "--lengths", "64", "--batch", "8"]
    command += ["--bf16", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert {row["model"] for row in rows} == {"bert_tiny", "bert_mini"}
    assert all(row["peak_gpu_mb"] > 0 for row in rows)
