"""Approximate neighbour search (HNSW, IVF) against exact search and scikit-learn."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from trusteq.characteristics.knn_agreement import (
    KNNAgreement,
    SearchSettings,
    knn_agreement_family,
    knn_search,
    neighbour_recall,
)
from trusteq.characteristics.matrix import pairwise_matrices
from trusteq.characteristics.mutual_knn import mutual_knn_family


def _clustered(n: int, dim: int = 24, clusters: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)) * 3
    return (centres[rng.integers(0, clusters, n)] + rng.normal(size=(n, dim))).astype(np.float32)


def _sklearn(embeddings: np.ndarray, k: int) -> np.ndarray:
    model = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(embeddings)
    return model.kneighbors(return_distance=False)


def test_recall_by_hand():
    found = np.array([[1, 2, 3], [4, 5, 6]])
    exact = np.array([[3, 2, 9], [7, 8, 0]])
    assert neighbour_recall(found, exact).tolist() == [2 / 3, 0.0]
    with pytest.raises(ValueError):
        neighbour_recall(found, exact[:, :2])


@pytest.mark.parametrize("index", ["hnsw", "ivf"])
def test_approximate_close_to_exact_and_recall_measured(index):
    embeddings = _clustered(3000)
    k = 10
    found = knn_search(embeddings, k, settings={"index": index, "recall_queries": 3000})
    reference = _sklearn(embeddings, k)  # independent exact reference
    true_recall = float(np.mean(neighbour_recall(found.neighbours, reference)))
    assert found.index == index and found.recall_queries == 3000
    # All queries sampled: the reported recall is the recall against sklearn (float ties aside).
    assert found.recall == pytest.approx(true_recall, abs=0.01)
    assert true_recall >= 0.9
    # Rows: K distinct other examples.
    rows = found.neighbours
    assert rows.shape == (3000, k) and rows.min() >= 0
    assert not (rows == np.arange(3000)[:, None]).any()
    assert all(len(set(row)) == k for row in rows.tolist())


def test_sampled_recall_estimates_full_recall():
    embeddings = _clustered(4000, seed=1)
    settings = {"index": "ivf", "ivf_nprobe": 2, "recall_queries": 400, "seed": 3}
    found = knn_search(embeddings, 10, settings=settings)
    full = float(np.mean(neighbour_recall(found.neighbours, _sklearn(embeddings, 10))))
    assert found.recall_queries == 400
    assert found.recall < 1.0  # two cells of ~50 cannot find every neighbour
    assert found.recall == pytest.approx(full, abs=0.06)  # ~4 standard errors at n = 400


def test_auto_switches_at_threshold():
    embeddings = _clustered(500)
    below = knn_search(embeddings, 5, settings={"approximate_threshold": 501})
    at = knn_search(embeddings, 5, settings={"approximate_threshold": 500})
    assert below.index == "exact" and below.recall == 1.0
    assert at.index == "ivf" and 0.0 <= at.recall <= 1.0
    hnsw = knn_search(
        embeddings, 5, settings={"approximate_threshold": 2, "auto_approximate": "hnsw"}
    )
    assert hnsw.index == "hnsw"
    assert SearchSettings().resolve(199_999) == "exact"
    assert SearchSettings().resolve(200_000) == "ivf"


def test_ivf_short_rows_are_searched_again_exactly():
    # One probed cell of a tiny IVF holds fewer than K + 1 points: faiss pads with -1.
    embeddings = _clustered(400, clusters=10)
    settings = {"index": "ivf", "ivf_nlist": 10, "ivf_nprobe": 1, "recall_queries": 0}
    found = knn_search(embeddings, 60, settings=settings)
    assert found.neighbours.min() >= 0
    assert np.isnan(found.recall) and found.recall_queries == 0
    assert found.params["rows_searched_again_exactly"] > 0
    assert all(len(set(row)) == 60 for row in found.neighbours.tolist())


def test_bad_settings():
    with pytest.raises(ValueError, match="index"):
        SearchSettings(index="annoy")
    with pytest.raises(TypeError):
        SearchSettings.from_any({"nprobe": 3})
    with pytest.raises(ValueError, match="recall_queries"):
        SearchSettings(recall_queries=-1)


@pytest.mark.skipif(faiss.get_num_gpus() > 0, reason="checks the CPU-only build")
def test_use_gpu_true_without_gpu_raises():
    with pytest.raises(RuntimeError, match="faiss-gpu"):
        knn_search(_clustered(50), 3, settings={"index": "exact", "use_gpu": True})


def test_characteristic_reports_recall_beside_values():
    a = {"embeddings_cls": _clustered(1500, seed=0)}
    b = {"embeddings_cls": a["embeddings_cls"] + 0.3 * _clustered(1500, seed=5)}
    search = {"index": "auto", "approximate_threshold": 1000, "recall_queries": 300}
    exact_family = knn_agreement_family(ks=[5, 10])
    approx_family = knn_agreement_family(ks=[5, 10], search=search)
    exact = pairwise_matrices(exact_family, {"a": a, "b": b}, n_resamples=0)
    approx = pairwise_matrices(approx_family, {"a": a, "b": b}, n_resamples=0)
    for e, p in zip(exact, approx, strict=True):
        assert p.value[0, 1] == pytest.approx(e.value[0, 1], abs=0.05)
        report = p.metadata["knn_search"]
        assert report["indexes"] == ["ivf"]
        assert len(report["reports"]) == 2  # one per variant, even for the member reusing lists
        assert 0.9 <= report["recall_min"] <= 1.0
        assert e.metadata["knn_search"]["recall_min"] == 1.0
        assert e.metadata["knn_search"]["indexes"] == ["exact"]
    mutual = mutual_knn_family(ks=[10], search=search)
    (result,) = pairwise_matrices(mutual, {"a": a, "b": b}, n_resamples=0)
    assert result.metadata["knn_search"]["indexes"] == ["ivf"]
    # The settings are part of the characteristic's parameters (JSON-able).
    assert KNNAgreement(k=3, search=search).params()["search"]["approximate_threshold"] == 1000


def test_config_instantiates_with_search_settings():
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from trusteq.testing.tiny import CONF_DIR

    for name in ("knn_agreement", "mutual_knn"):
        cfg = OmegaConf.load(CONF_DIR / "characteristic" / f"{name}.yaml")
        family = instantiate(cfg)
        member = next(iter(family))
        assert member.search == SearchSettings().as_dict()  # the yaml spells out the defaults


def test_ivf_cell_probe_close_to_exact_and_to_query_probe():
    embeddings = _clustered(3000, seed=2)
    reference = _sklearn(embeddings, 10)
    base = {"index": "ivf", "recall_queries": 3000, "ivf_nprobe": 8}
    by_cell = knn_search(embeddings, 10, settings={**base, "ivf_probe": "cell"})
    by_query = knn_search(embeddings, 10, settings={**base, "ivf_probe": "query"})
    assert by_cell.params["probe"] == "cell"
    true_recall = float(np.mean(neighbour_recall(by_cell.neighbours, reference)))
    assert by_cell.recall == pytest.approx(true_recall, abs=0.01)
    assert true_recall >= 0.9
    assert by_cell.recall <= by_query.recall + 0.02  # per-query probes are the better set
    rows = by_cell.neighbours
    assert rows.min() >= 0 and not (rows == np.arange(len(rows))[:, None]).any()
    assert all(len(set(row)) == 10 for row in rows.tolist())


def test_ivf_cell_probe_pads_short_cells_exactly():
    embeddings = _clustered(400, clusters=10)
    settings = {"index": "ivf", "ivf_nlist": 10, "ivf_nprobe": 1, "ivf_probe": "cell"}
    found = knn_search(embeddings, 60, settings={**settings, "recall_queries": 0})
    assert found.neighbours.min() >= 0
    assert found.params["rows_searched_again_exactly"] > 0
    assert all(len(set(row)) == 60 for row in found.neighbours.tolist())
