"""kNN agreement (Paper A): do two models put the same examples next to each other?

Neighbours are found with faiss on L2-normalised float32 vectors (inner product = cosine
similarity), searched in chunks of queries, so no N×N matrix is ever held. Below
``approximate_threshold`` examples (default 200,000) the search is exact (a flat index); from there
on ``index: auto`` switches to an approximate index (IVF by default, or HNSW;
:class:`SearchSettings`) and measures its neighbour-set recall against exact search on a random
sample of queries, reported with every value computed from it
(:attr:`KNNAgreement.search_reports`, ``metadata()["knn_search"]``).
Neighbour lists are found once per model at the largest K and reused for every smaller K
(:meth:`KNNAgreement.prepare`, :func:`knn_agreement_curve`). On a ``faiss-gpu`` build with a
visible GPU, flat and IVF indexes are moved to the GPU unless ``use_gpu: false``.

Over 400 lines: exact, HNSW and IVF neighbour search (CPU and GPU) with their recall check are
shared by kNN agreement, mutual kNN and deep-kNN OOD; the search lives beside the metric that
defines its contract.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import faiss
import numpy as np

from trusteq.characteristics.base import CharacteristicFamily, Outputs, PairwiseCharacteristic

Embedding = Literal["embeddings_cls", "embeddings_mean"]
IndexKind = Literal["exact", "hnsw", "ivf", "auto"]

#: Queries per faiss search call: bounds the (chunk, K) result and faiss' scratch memory.
DEFAULT_CHUNK_SIZE = 4096
#: `index: auto` searches exactly below this many examples, approximately (HNSW) from it on.
DEFAULT_APPROXIMATE_THRESHOLD = 200_000
#: GPU flat and IVF indexes return at most this many neighbours per query (faiss limit).
GPU_MAX_K = 2048


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """How neighbours are searched: exact, or an approximate faiss index with measured recall.

    Runtime-only in spirit (the neighbours are the same up to the approximation), but the recall
    is reported beside every value so that a reader can judge the approximation.

    Attributes:
        index: ``"exact"`` (flat index), ``"hnsw"`` (``IndexHNSWFlat``; CPU only in faiss),
            ``"ivf"`` (``IndexIVFFlat``, k-means cells; GPU when available) or ``"auto"`` (exact
            below ``approximate_threshold`` examples, else ``auto_approximate``).
        approximate_threshold: N from which ``auto`` searches approximately, >= 2.
            Defaults (IVF, ``nprobe`` 16, ``probe: cell``) were measured on 2 shared CPU cores:
            N = 1M, D = 768 in 11 min with sampled recall 1.00 on clustered stand-in data
            (experiments/scale/README.md); on structureless random vectors any approximate
            index fails (IVF recall 0.07 at N = 50k), which the reported recall shows.
        auto_approximate: the approximate index ``auto`` picks, ``"hnsw"`` or ``"ivf"``.
        hnsw_m: HNSW graph degree M (faiss default 32).
        hnsw_ef_construction: HNSW build beam width.
        hnsw_ef_search: HNSW search beam width (raised to K + 1 when smaller).
        ivf_nlist: IVF cells; None = ``round(4 √N)``, at most N / 39 (faiss' minimum training
            points per cell).
        ivf_nprobe: IVF cells visited per query.
        ivf_probe: on CPU, ``"query"`` (faiss' IVF search: each query visits its own ``nprobe``
            nearest cells) or ``"cell"`` (the queries of one cell are searched together, as one
            matrix product, against the ``nprobe`` cells nearest to that cell's centroid:
            several times faster on CPU for the same ``nprobe``, recall slightly lower for
            queries near a cell's border; the measured recall says how much). GPU: always
            ``"query"``.
        ivf_train_size: k-means training points, None = ``min(N, 32 · nlist)``.
        ivf_train_iterations: k-means iterations.
        recall_queries: queries (sampled without replacement, seeded) searched exactly to measure
            the approximate index's recall; 0 skips the measurement (recall NaN).
        use_gpu: ``"auto"`` (GPU when ``faiss.get_num_gpus() > 0``), True (require one) or False.
        seed: seed of the recall sample and of the IVF k-means.
    """

    index: IndexKind = "auto"
    approximate_threshold: int = DEFAULT_APPROXIMATE_THRESHOLD
    auto_approximate: Literal["hnsw", "ivf"] = "ivf"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 64
    hnsw_ef_search: int = 128
    ivf_nlist: int | None = None
    ivf_nprobe: int = 16
    ivf_probe: Literal["query", "cell"] = "cell"
    ivf_train_size: int | None = None
    ivf_train_iterations: int = 10
    recall_queries: int = 1000
    use_gpu: bool | Literal["auto"] = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.index not in ("exact", "hnsw", "ivf", "auto"):
            raise ValueError(f"index must be exact, hnsw, ivf or auto, got {self.index!r}")
        if self.auto_approximate not in ("hnsw", "ivf"):
            raise ValueError(f"auto_approximate must be hnsw or ivf, got {self.auto_approximate!r}")
        if self.approximate_threshold < 2:
            raise ValueError(
                f"approximate_threshold must be >= 2, got {self.approximate_threshold}"
            )
        if self.ivf_probe not in ("query", "cell"):
            raise ValueError(f"ivf_probe must be query or cell, got {self.ivf_probe!r}")
        if self.use_gpu not in ("auto", True, False):
            raise ValueError(f"use_gpu must be auto, true or false, got {self.use_gpu!r}")
        positive = ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "ivf_nprobe")
        for name in (*positive, "ivf_train_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.recall_queries < 0:
            raise ValueError(f"recall_queries must be >= 0, got {self.recall_queries}")

    @classmethod
    def from_any(cls, value: SearchSettings | Mapping[str, Any] | None) -> SearchSettings:
        """Settings from a mapping (e.g. a Hydra node), an instance, or None (the defaults).

        Raises:
            TypeError: an unknown field.
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        return cls(**{str(key): _plain(item) for key, item in dict(value).items()})

    def resolve(self, n_examples: int) -> Literal["exact", "hnsw", "ivf"]:
        """The index actually used for N examples."""
        if self.index != "auto":
            return self.index
        return "exact" if n_examples < self.approximate_threshold else self.auto_approximate

    def gpu(self) -> bool:
        """Whether indexes go to the GPU.

        Raises:
            RuntimeError: ``use_gpu: true`` but faiss sees no GPU (a CPU build, or no device).
        """
        available = faiss.get_num_gpus() > 0
        if self.use_gpu is True and not available:
            raise RuntimeError(
                "use_gpu: true but faiss sees no GPU; install the gpu extra (pip uninstall -y "
                "faiss-cpu && pip install faiss-gpu) on a machine with CUDA"
            )
        return available and self.use_gpu is not False

    def as_dict(self) -> dict[str, Any]:
        """JSON-able fields."""
        return dataclasses.asdict(self)

    def tag(self) -> str:
        """Short digest of the settings (distinguishes prepared neighbour lists)."""
        text = json.dumps(self.as_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


def _plain(value: Any) -> Any:
    """Hydra's DictConfig/ListConfig leaves as plain Python values."""
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(value):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf ships with hydra-core
        pass
    return value


@dataclasses.dataclass
class NeighbourSearch:
    """Neighbour lists and how they were found.

    Attributes:
        neighbours: shape `(N, K)`, int64; see :func:`knn_indices`.
        index: the index used, ``"exact"``, ``"hnsw"`` or ``"ivf"``.
        recall: mean neighbour-set recall ``|approx_i ∩ exact_i| / K`` over ``recall_queries``
            sampled queries, in [0, 1]; 1.0 for exact search; NaN when not measured.
        recall_queries: number of queries the recall was measured on (N for exact search).
        seconds: wall time of the search (index build included, recall measurement excluded).
        recall_seconds: wall time of the recall measurement.
        on_gpu: whether the index ran on a GPU.
        params: the index parameters used (nlist, nprobe, M, efSearch, ...).
    """

    neighbours: np.ndarray
    index: str
    recall: float
    recall_queries: int
    seconds: float
    recall_seconds: float = 0.0
    on_gpu: bool = False
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """JSON-able summary (no neighbour lists)."""
        return {
            "index": self.index,
            "recall": self.recall,
            "recall_queries": self.recall_queries,
            "n_examples": int(self.neighbours.shape[0]),
            "k": int(self.neighbours.shape[1]),
            "seconds": self.seconds,
            "recall_seconds": self.recall_seconds,
            "on_gpu": self.on_gpu,
            "params": self.params,
        }


def exact_index(dim: int, metric: Literal["ip", "l2"] = "ip", gpu: bool = True) -> faiss.Index:
    """An exact (flat, brute-force) faiss index, moved to every GPU when faiss sees one.

    On CPU builds (``faiss-cpu``) ``faiss.get_num_gpus()`` is 0 and the plain CPU index is
    returned, so results and tests do not change. GPU flat indexes search at most K = 2048.

    Args:
        dim: D, the vector width.
        metric: ``"ip"`` (inner product; cosine on unit vectors) or ``"l2"`` (squared L2).
        gpu: False keeps the index on the CPU even when a GPU is visible.

    Returns:
        An empty ``IndexFlatIP`` / ``IndexFlatL2`` (or its GPU counterpart).

    Raises:
        ValueError: unknown ``metric``.
    """
    if metric not in ("ip", "l2"):
        raise ValueError(f"metric must be 'ip' or 'l2', got {metric!r}")
    index = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
    if gpu and faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_all_gpus(index)
    return index


def _normalised(embeddings: np.ndarray, k: int) -> np.ndarray:
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must have shape (N, D), got shape {embeddings.shape}")
    n_examples = embeddings.shape[0]
    if not 1 <= k <= n_examples - 1:
        raise ValueError(f"k must lie in [1, N - 1] = [1, {n_examples - 1}], got k = {k}")
    vectors = np.array(embeddings, dtype=np.float32, order="C", copy=True)
    if not np.isfinite(vectors).all():
        raise ValueError("embeddings contain NaN or infinite values")
    faiss.normalize_L2(vectors)
    return vectors


def _drop_self(found: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """First K results per row that are neither the query itself nor faiss' -1 padding.

    Returns:
        ``(neighbours (n, K), complete (n,) bool)``; incomplete rows hold -1 in the gaps.
    """
    keep = (found != queries[:, None]) & (found >= 0)
    keep &= np.cumsum(keep, axis=1) <= k
    complete = keep.sum(axis=1) == k
    neighbours = np.full((len(found), k), -1, dtype=np.int64)
    rows, cols = np.nonzero(keep)
    ranks = np.cumsum(keep, axis=1)[rows, cols] - 1
    neighbours[rows, ranks] = found[rows, cols]
    return neighbours, complete


def _search(index: faiss.Index, vectors: np.ndarray, queries: np.ndarray, k: int, chunk_size: int):
    """Search ``vectors[queries]`` in chunks; K + 1 results per query, self dropped."""
    neighbours = np.empty((len(queries), k), dtype=np.int64)
    complete = np.empty(len(queries), dtype=bool)
    for start in range(0, len(queries), chunk_size):
        rows = queries[start : start + chunk_size]
        _, found = index.search(vectors[rows], k + 1)
        neighbours[start : start + len(rows)], complete[start : start + len(rows)] = _drop_self(
            found, rows, k
        )
    return neighbours, complete


def _exact_rows(vectors, queries, k, chunk_size, gpu) -> np.ndarray:
    index = exact_index(vectors.shape[1], "ip", gpu=gpu and k + 1 <= GPU_MAX_K)
    index.add(vectors)
    neighbours, _ = _search(index, vectors, queries, k, chunk_size)
    return neighbours


def _approximate_index(kind: str, vectors: np.ndarray, k: int, settings: SearchSettings, gpu: bool):
    n_examples, dim = vectors.shape
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.hnsw_ef_construction
        index.add(vectors)
        index.hnsw.efSearch = max(settings.hnsw_ef_search, k + 1)
        params = {
            "M": settings.hnsw_m,
            "efConstruction": settings.hnsw_ef_construction,
            "efSearch": int(index.hnsw.efSearch),
        }
        return index, params, False
    nlist = settings.ivf_nlist or round(4 * math.sqrt(n_examples))
    nlist = int(max(1, min(nlist, n_examples // 39)))
    nprobe = min(settings.ivf_nprobe, nlist)
    train_size = min(n_examples, settings.ivf_train_size or 32 * nlist)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = settings.seed
    index.cp.niter = settings.ivf_train_iterations
    index.cp.max_points_per_centroid = max(1, -(-train_size // nlist))
    rng = np.random.default_rng(settings.seed)
    sample = np.sort(rng.choice(n_examples, size=train_size, replace=False))
    index.train(vectors[sample])
    on_gpu = gpu and k + 1 <= GPU_MAX_K and nprobe <= GPU_MAX_K
    params = {"nlist": nlist, "nprobe": nprobe, "train_size": train_size}
    params["train_iterations"] = settings.ivf_train_iterations
    if on_gpu:
        index = faiss.index_cpu_to_all_gpus(index)
        index.add(vectors)
        faiss.ParameterSpace().set_index_parameter(index, "nprobe", nprobe)
        return index, params, True
    index.nprobe = nprobe
    return index, params, False


def _ivf_search_preassigned(index, vectors: np.ndarray, k: int, chunk_size: int):
    """CPU IVF: assign every vector to its cells once, for both adding and probing.

    ``index.add`` and ``index.search`` would each scan the N × nlist centroid similarities;
    here one quantizer search gives every vector's ``nprobe`` nearest cells: the first is where it
    is stored, all are where it looks (faiss.contrib.ivf_tools; the same arithmetic as
    ``add`` + ``search``).
    """
    from faiss.contrib.ivf_tools import add_preassigned, search_preassigned

    n_examples = len(vectors)
    cells = np.empty((n_examples, index.nprobe), dtype=np.int64)
    cell_sims = np.empty((n_examples, index.nprobe), dtype=np.float32)
    for start in range(0, n_examples, chunk_size):
        stop = min(start + chunk_size, n_examples)
        cell_sims[start:stop], cells[start:stop] = index.quantizer.search(
            vectors[start:stop], index.nprobe
        )
    add_preassigned(index, vectors, np.ascontiguousarray(cells[:, 0]))
    neighbours = np.empty((n_examples, k), dtype=np.int64)
    complete = np.empty(n_examples, dtype=bool)
    for start in range(0, n_examples, chunk_size):
        stop = min(start + chunk_size, n_examples)
        _, found = search_preassigned(
            index, vectors[start:stop], k + 1, cells[start:stop], cell_sims[start:stop]
        )
        rows = np.arange(start, stop)
        neighbours[start:stop], complete[start:stop] = _drop_self(found, rows, k)
    return neighbours, complete


def _ivf_search_by_cell(index, vectors: np.ndarray, k: int, chunk_size: int):
    """CPU IVF, one matrix product per cell: the cell's members against its probed cells.

    Every vector goes to its nearest centroid (its cell); each cell's probe list is the
    ``index.nprobe`` centroids nearest to its own centroid (itself first). The members of a cell
    are scored against every member of its probed cells with one BLAS product, then the K + 1
    best are kept and the query itself dropped. Only the trained coarse quantizer of ``index`` is
    used; nothing is added to the index.
    """
    n_examples = len(vectors)
    quantizer = index.quantizer
    nlist, nprobe = int(index.nlist), int(index.nprobe)
    assign = np.empty(n_examples, dtype=np.int64)
    for start in range(0, n_examples, chunk_size):
        stop = min(start + chunk_size, n_examples)
        assign[start:stop] = quantizer.search(vectors[start:stop], 1)[1][:, 0]
    centroids = quantizer.reconstruct_n(0, nlist)
    probes = quantizer.search(np.ascontiguousarray(centroids, dtype=np.float32), nprobe)[1]
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(nlist + 1))
    members = [order[bounds[c] : bounds[c + 1]] for c in range(nlist)]
    neighbours = np.full((n_examples, k), -1, dtype=np.int64)
    complete = np.zeros(n_examples, dtype=bool)
    for cell in range(nlist):
        queries = members[cell]
        if len(queries) == 0:
            continue
        candidates = np.concatenate([members[p] for p in probes[cell] if p >= 0])
        take = min(k + 1, len(candidates))
        for start in range(0, len(queries), chunk_size):
            rows = queries[start : start + chunk_size]
            sims = vectors[rows] @ vectors[candidates].T
            part = np.argpartition(-sims, take - 1, axis=1)[:, :take]
            ranked = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
            found = candidates[np.take_along_axis(part, ranked, axis=1)]
            if take < k + 1:
                found = np.pad(found, ((0, 0), (0, k + 1 - take)), constant_values=-1)
            neighbours[rows], complete[rows] = _drop_self(found, rows, k)
    return neighbours, complete


def knn_search(
    embeddings: np.ndarray,
    k: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    settings: SearchSettings | Mapping[str, Any] | None = None,
) -> NeighbourSearch:
    """The K nearest neighbours of every example by cosine similarity, and how they were found.

    Exact search as in :func:`knn_indices`, or (``settings.resolve(N)`` = hnsw / ivf) an
    approximate faiss index over the same normalised vectors. Rows the approximate index leaves
    short of K other examples (faiss pads with -1) are searched again exactly. The recall of an
    approximate search is measured on ``settings.recall_queries`` random queries against exact
    search: ``mean_i |approx_i ∩ exact_i| / K`` (near-ties at rank K can lower it slightly).

    Args:
        embeddings: shape `(N, D)`, float.
        k: K, in ``[1, N − 1]``.
        chunk_size: queries per search call.
        settings: a :class:`SearchSettings`, a mapping of its fields, or None (defaults: exact
            below 200,000 examples).

    Returns:
        A :class:`NeighbourSearch`; ``neighbours`` has shape `(N, K)`, int64.

    Raises:
        ValueError: embeddings not 2-D, non-finite, K outside ``[1, N − 1]``, or bad settings.
        RuntimeError: ``use_gpu: true`` without a GPU build and device.

    Examples:
        >>> embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> found = knn_search(embeddings, k=1, settings={"index": "hnsw", "recall_queries": 4})
        >>> found.neighbours.ravel().tolist(), found.index, found.recall
        ([1, 0, 3, 2], 'hnsw', 1.0)
    """
    settings = SearchSettings.from_any(settings)
    vectors = _normalised(embeddings, k)
    n_examples = len(vectors)
    kind = settings.resolve(n_examples)
    gpu = settings.gpu()
    everyone = np.arange(n_examples)
    started = time.perf_counter()
    if kind == "exact":
        neighbours = _exact_rows(vectors, everyone, k, chunk_size, gpu)
        seconds = time.perf_counter() - started
        on_gpu = gpu and k + 1 <= GPU_MAX_K
        return NeighbourSearch(neighbours, "exact", 1.0, n_examples, seconds, 0.0, on_gpu)
    index, params, on_gpu = _approximate_index(kind, vectors, k, settings, gpu)
    if kind == "ivf" and not on_gpu and settings.ivf_probe == "cell":
        neighbours, complete = _ivf_search_by_cell(index, vectors, k, chunk_size)
        params["probe"] = "cell"
    elif kind == "ivf" and not on_gpu:
        neighbours, complete = _ivf_search_preassigned(index, vectors, k, chunk_size)
    else:
        neighbours, complete = _search(index, vectors, everyone, k, chunk_size)
    del index
    short = np.flatnonzero(~complete)
    if len(short):
        neighbours[short] = _exact_rows(vectors, short, k, chunk_size, gpu)
    params["rows_searched_again_exactly"] = int(len(short))
    seconds = time.perf_counter() - started
    recall, n_queries, recall_seconds = float("nan"), 0, 0.0
    if settings.recall_queries > 0:
        started = time.perf_counter()
        rng = np.random.default_rng(settings.seed)
        n_queries = min(settings.recall_queries, n_examples)
        queries = np.sort(rng.choice(n_examples, size=n_queries, replace=False))
        exact = _exact_rows(vectors, queries, k, chunk_size, gpu)
        recall = float(np.mean(neighbour_recall(neighbours[queries], exact)))
        recall_seconds = time.perf_counter() - started
    return NeighbourSearch(
        neighbours, kind, recall, n_queries, seconds, recall_seconds, on_gpu, params
    )


def neighbour_recall(found: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Per-query recall of a neighbour list against the exact one, ``|F_i ∩ E_i| / K``.

    Args:
        found: shape `(n, K)`, int, distinct indices per row (e.g. an approximate search).
        exact: shape `(n, K)`, int, distinct indices per row (exact search).

    Returns:
        shape `(n,)`, float64 in [0, 1].

    Raises:
        ValueError: shapes differ.

    Examples:
        >>> neighbour_recall(np.array([[1, 2], [0, 3]]), np.array([[2, 1], [2, 3]])).tolist()
        [1.0, 0.5]
    """
    if found.shape != exact.shape:
        raise ValueError(f"neighbour arrays differ in shape: {found.shape} vs {exact.shape}")
    merged = np.sort(np.concatenate([found, exact], axis=1), axis=1)
    return np.count_nonzero(merged[:, 1:] == merged[:, :-1], axis=1) / found.shape[1]


def knn_indices(
    embeddings: np.ndarray,
    k: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    settings: SearchSettings | Mapping[str, Any] | None = None,
) -> np.ndarray:
    """The K nearest neighbours of every example by cosine similarity, the example itself excluded.

    Exact search (``faiss.IndexFlatIP`` on L2-normalised copies, on GPU when faiss sees one; zero
    vectors stay zero and are similar to nothing) unless ``settings`` pick an approximate index
    (see :func:`knn_search`, which also returns the measured recall). Each query asks for K + 1
    results and drops itself; if duplicates of an example push it out of its own K + 1 results,
    the last result is dropped instead, so every row holds K distinct other examples. Rows are
    ordered by decreasing similarity, so the first K' columns are the K' nearest neighbours for
    any K' <= K (up to ties).

    Args:
        embeddings: shape `(N, D)`, float.
        k: K, in ``[1, N − 1]``.
        chunk_size: queries per search call.
        settings: see :class:`SearchSettings` (default: exact below 200,000 examples).

    Returns:
        shape `(N, K)`, int64 indices into ``embeddings``.

    Raises:
        ValueError: embeddings not 2-D, non-finite, or K outside ``[1, N − 1]``.

    Examples:
        >>> embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> knn_indices(embeddings, k=1).ravel().tolist()
        [1, 0, 3, 2]
    """
    return knn_search(embeddings, k, chunk_size, settings).neighbours


def neighbour_jaccard(neighbours_a: np.ndarray, neighbours_b: np.ndarray) -> np.ndarray:
    """Per-example Jaccard coefficient of two neighbour sets.

    Args:
        neighbours_a: shape `(N, K)`, int, distinct indices per row.
        neighbours_b: shape `(N, K)`, int, distinct indices per row.

    Returns:
        shape `(N,)`, float64 in [0, 1]: ``|A_i ∩ B_i| / |A_i ∪ B_i|``.

    Raises:
        ValueError: shapes differ.

    Examples:
        >>> neighbour_jaccard(np.array([[1, 2], [0, 2]]), np.array([[2, 1], [2, 3]])).tolist()
        [1.0, 0.3333333333333333]
    """
    if neighbours_a.shape != neighbours_b.shape:
        raise ValueError(
            f"neighbour arrays differ in shape: {neighbours_a.shape} vs {neighbours_b.shape}"
        )
    k = neighbours_a.shape[1]
    # Rows hold distinct indices, so a shared index shows up as two equal neighbours after sorting.
    merged = np.sort(np.concatenate([neighbours_a, neighbours_b], axis=1), axis=1)
    intersection = np.count_nonzero(merged[:, 1:] == merged[:, :-1], axis=1)
    return intersection / (2 * k - intersection)


def _capped_k(k: int, n_examples: int) -> int:
    if n_examples < 2:
        raise ValueError(f"kNN agreement needs at least 2 examples, got N = {n_examples}")
    if k > n_examples - 1:
        warnings.warn(
            f"k = {k} exceeds N - 1 = {n_examples - 1}; using k = {n_examples - 1} instead",
            stacklevel=3,
        )
        return n_examples - 1
    return k


def _check_ks(ks: Iterable[int]) -> list[int]:
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be a non-empty list of integers >= 1, got {ks}")
    return ks


def knn_agreement_curve(
    embeddings_a: np.ndarray,
    embeddings_b: np.ndarray,
    ks: Iterable[int],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    search: SearchSettings | Mapping[str, Any] | None = None,
) -> dict[int, float]:
    """Neighbour-set agreement at several K, searching once per model at the largest K.

    The data of Paper A's "agreement vs K" plot (arXiv 2407.13174, Fig. 1 a, b). A K above N − 1
    is capped at N − 1 with a warning.

    Args:
        embeddings_a: shape `(N, D_a)`, the first model's embeddings.
        embeddings_b: shape `(N, D_b)`, the second model's embeddings of the same examples.
        ks: the K values, each >= 1.
        chunk_size: queries per search call.
        search: neighbour search settings (:class:`SearchSettings`; default exact below 200k).

    Returns:
        ``{K: agreement}``, agreement in [0, 1], keyed by the requested K.

    Raises:
        ValueError: N differs, N < 2, or a K < 1.

    Examples:
        >>> embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> knn_agreement_curve(embeddings, embeddings, ks=[1, 2])
        {1: 1.0, 2: 1.0}
    """
    ks = _check_ks(ks)
    n_examples = len(embeddings_a)
    if len(embeddings_b) != n_examples:
        raise ValueError(f"embeddings differ in N: {len(embeddings_a)} vs {len(embeddings_b)}")
    capped = {k: _capped_k(k, n_examples) for k in ks}
    search_k = max(capped.values())
    neighbours_a = knn_indices(embeddings_a, search_k, chunk_size, search)
    neighbours_b = knn_indices(embeddings_b, search_k, chunk_size, search)
    return {
        k: float(np.mean(neighbour_jaccard(neighbours_a[:, :kc], neighbours_b[:, :kc])))
        for k, kc in capped.items()
    }


class KNNAgreement(PairwiseCharacteristic):
    r"""Mean Jaccard of the two models' K-nearest-neighbour sets.

    .. math:: \mathrm{agree}_K(a, b) = \frac{1}{N} \sum_i
        \frac{|\mathcal N^a_K(i) \cap \mathcal N^b_K(i)|}
             {|\mathcal N^a_K(i) \cup \mathcal N^b_K(i)|}

    with :math:`\mathcal N^m_K(i)` the K nearest other examples of example i by cosine similarity
    of model m's embeddings (see :func:`knn_indices`). Rai et al. 2024, arXiv 2407.13174, Sec. 4
    (Paper A; last-layer [CLS] vectors in the authors' code); a mutual-kNN variant is studied by
    Huh et al. 2024, "The Platonic Representation Hypothesis", arXiv 2405.07987.

    Not chunkable: neighbours are searched among all N examples, so ``statistics`` needs the full
    outputs; bootstrap intervals hold the neighbour sets fixed. Per-example statistics:
    ``[jaccard_i, 1]``. A K above N − 1 is capped at N − 1 with a warning. Value in [0, 1]; higher
    means more alike; 1 on identical inputs.

    From ``search.approximate_threshold`` examples on (200,000 by default) the neighbours come from
    an approximate index; each :meth:`prepare` appends the search's report (index, measured
    recall vs exact search, seconds) to :attr:`search_reports`, and :meth:`metadata` carries them
    (``knn_search``: the worst recall and one report per prepared model, in prepare order, i.e.
    the matrix's variant order).

    Args:
        k: K, number of neighbours, >= 1.
        embedding: which cached embedding to use, shape `(N, D)`.
        search_k: search this many neighbours in :meth:`prepare` (>= k) so that members of a
            family with several K share one search; defaults to ``k``.
        chunk_size: queries per faiss search call.
        search: neighbour search settings, a :class:`SearchSettings` or a mapping of its fields
            (``index: exact|hnsw|ivf|auto``, ``approximate_threshold``, ...); None = defaults.

    Raises:
        ValueError: ``k < 1`` or ``search_k < k``.

    Examples:
        >>> a = {"embeddings_cls": np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])}
        >>> b = {"embeddings_cls": np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]])}
        >>> KNNAgreement(k=1)(a, b)
        0.0
    """

    name = "knn_agreement"
    symmetric = True
    identity_value = 1.0
    higher_is_better = True
    bounds = (0.0, 1.0)
    chunkable = False

    def __init__(
        self,
        k: int = 10,
        embedding: Embedding = "embeddings_cls",
        search_k: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        search: SearchSettings | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        search_k = k if search_k is None else search_k
        if search_k < k:
            raise ValueError(f"search_k must be >= k, got search_k = {search_k} < k = {k}")
        self.k = int(k)
        self.embedding = str(embedding)
        self.search_k = int(search_k)
        self.chunk_size = int(chunk_size)
        self._settings = SearchSettings.from_any(search)
        self.search = self._settings.as_dict()
        self.requires = (self.embedding,)
        self.name = f"knn_agreement_k{self.k}"
        # The summary shows K = 10 (Paper A's Fig. 1 reads K = 10 too).
        self.summary_column = f"knn_k{self.k}" if self.k == 10 else None
        #: One :meth:`NeighbourSearch.report` per prepared model (recall beside every value).
        self.search_reports: list[dict[str, Any]] = []

    @property
    def _cache_key(self) -> str:
        key = f"knn_indices/{self.embedding}/k{self.search_k}"
        return key if self._settings == SearchSettings() else f"{key}/{self._settings.tag()}"

    @property
    def recall(self) -> float | None:
        """The worst measured recall over the prepared models (1.0 if all exact; None if none)."""
        values = [report["recall"] for report in self.search_reports]
        return float(min(values)) if values else None

    def prepare(self, outputs: Outputs) -> Outputs:
        """Add this model's neighbour lists at ``search_k`` (kept if already there).

        The search's report (index, recall, seconds) is stored beside the lists (key
        ``<lists key>/report``) and appended to :attr:`search_reports`.
        """
        report_key = f"{self._cache_key}/report"
        if self._cache_key in outputs:
            report = outputs.get(report_key)
            if report is not None:
                self.search_reports.append(json.loads(str(report)))
            return outputs
        embeddings = outputs[self.embedding]
        search_k = _capped_k(self.search_k, len(embeddings))
        found = knn_search(embeddings, search_k, self.chunk_size, self._settings)
        report = found.report()
        self.search_reports.append(report)
        return {
            **outputs,
            self._cache_key: found.neighbours,
            report_key: np.array(json.dumps(report)),
        }

    def _neighbours(self, outputs: Outputs) -> np.ndarray:
        n_examples = len(outputs[self.embedding])
        k = _capped_k(self.k, n_examples)
        cached = outputs.get(self._cache_key)
        if cached is not None and cached.shape[0] == n_examples and cached.shape[1] >= k:
            return cached[:, :k]
        found = knn_search(outputs[self.embedding], k, self.chunk_size, self._settings)
        self.search_reports.append(found.report())
        return found.neighbours

    def metadata(self) -> dict[str, Any]:
        """Declared contract and parameters, plus ``knn_search``: how neighbours were found.

        ``knn_search`` = ``{"recall_min": worst recall or None, "indexes": [...], "reports":
        [one report per prepared model]}``.
        """
        return {
            **super().metadata(),
            "knn_search": {
                "recall_min": self.recall,
                "indexes": sorted({report["index"] for report in self.search_reports}),
                "reports": list(self.search_reports),
            },
        }

    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example ``[jaccard, 1]``, shape `(N, 2)`; needs all N examples."""
        jaccard = neighbour_jaccard(self._neighbours(a), self._neighbours(b))
        return np.stack([jaccard, np.ones_like(jaccard)], axis=1)

    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Mean Jaccard from totals `(..., 2)`."""
        return totals[..., 0] / totals[..., 1]


def knn_agreement_family(
    ks: Iterable[int] = (1, 5, 10, 20, 50),
    embedding: Embedding = "embeddings_cls",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    search: SearchSettings | Mapping[str, Any] | None = None,
) -> CharacteristicFamily:
    """One :class:`KNNAgreement` per K, sharing one neighbour search per model at the largest K.

    The matrix runner turns the family into one V×V matrix per K (names ``knn_agreement_k{K}``).

    Args:
        ks: the K values, each >= 1.
        embedding: which cached embedding to use.
        chunk_size: queries per faiss search call.
        search: neighbour search settings (:class:`SearchSettings`), shared by every member.

    Returns:
        A family named ``knn_agreement``.

    Raises:
        ValueError: an empty ``ks`` or a K < 1.

    Examples:
        >>> [member.name for member in knn_agreement_family(ks=[1, 5])]
        ['knn_agreement_k1', 'knn_agreement_k5']
    """
    return neighbour_family(KNNAgreement, "knn_agreement", ks, embedding, chunk_size, search)


def neighbour_family(
    member: type[KNNAgreement],
    name: str,
    ks: Iterable[int],
    embedding: Embedding = "embeddings_cls",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    search: SearchSettings | Mapping[str, Any] | None = None,
) -> CharacteristicFamily:
    """One `member` per K, all searching neighbours once per model at the largest K.

    Raises:
        ValueError: an empty ``ks`` or a K < 1.
    """
    ks = _check_ks(ks)
    search_k = max(ks)
    settings = SearchSettings.from_any(search)
    members = [
        member(k, embedding, search_k=search_k, chunk_size=chunk_size, search=settings) for k in ks
    ]
    return CharacteristicFamily(name, members)
