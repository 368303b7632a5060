"""kNN search at scale: trusteq's `knn_indices` (faiss, chunked; exact, HNSW, IVF) vs sklearn.

Each (method, N) case runs in its own subprocess on the same vectors (seeded), so the peak resident
memory (`resource.getrusage(...).ru_maxrss`) is that case's alone; the table also shows the peak
minus the memory held just before the search (the data and imports). Every method excludes each
example from its own neighbours. Methods: `trusteq` (exact faiss flat index), `sklearn` (brute
cosine), `hnsw` and `ivf` (trusteq's approximate indexes, `SearchSettings`); an approximate method
reports its own recall, measured inside `knn_search` on `--recall-queries` sampled queries against
exact search, and, when the exact method ran on the same N, the recall over all N examples.

Data (`--data`): `random` unit vectors (no structure: the worst case for approximate search, every
point is about equally far from every other) or `clustered` (a stand-in for sentence embeddings:
2,000 Gaussian clusters in a 64-dimensional latent space, mapped linearly to D and mixed with
isotropic noise; see `clustered_vectors`).

    .venv/bin/python benchmarks/knn_scale.py                    # N = 10k, 50k, 100k; D 768; K 10
    .venv/bin/python benchmarks/knn_scale.py --sizes 2000 5000  # quick check
    .venv/bin/python benchmarks/knn_scale.py --sizes 200000 --methods hnsw ivf --data clustered
    .venv/bin/python benchmarks/knn_scale.py --sizes 1000000 --methods hnsw --json out.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = ("trusteq", "sklearn", "hnsw", "ivf")
APPROXIMATE = ("hnsw", "ivf")


def unit_vectors(n_examples: int, dim: int, seed: int = 0) -> np.ndarray:
    """Random unit vectors, shape `(N, D)`, float32."""
    vectors = np.random.default_rng(seed).standard_normal((n_examples, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def clustered_vectors(
    n_examples: int, dim: int, seed: int = 0, n_clusters: int = 2000, latent: int = 64
) -> np.ndarray:
    """Unit vectors with sentence-embedding-like structure, shape `(N, D)`, float32.

    Cluster centres ~ N(0, I_latent); a point = its centre + N(0, 0.5² I_latent), mapped to D by a
    fixed Gaussian matrix, plus isotropic N(0, σ²) noise with σ = 0.5 per latent unit spread
    (about a third of the norm), then L2-normalised. Generated in blocks to bound memory.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, latent)).astype(np.float32)
    mixing = (rng.standard_normal((latent, dim)) / np.sqrt(latent)).astype(np.float32)
    out = np.empty((n_examples, dim), dtype=np.float32)
    for start in range(0, n_examples, 100_000):
        stop = min(start + 100_000, n_examples)
        labels = rng.integers(0, n_clusters, size=stop - start)
        points = centres[labels] + 0.5 * rng.standard_normal((stop - start, latent), np.float32)
        block = points @ mixing + 0.5 * rng.standard_normal((stop - start, dim), np.float32)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def make_vectors(kind: str, n_examples: int, dim: int) -> np.ndarray:
    return (
        clustered_vectors(n_examples, dim) if kind == "clustered" else unit_vectors(n_examples, dim)
    )


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def run_child(method: str, n_examples: int, dim: int, k: int, out: Path, args) -> dict:
    """One case, in this process: search, save the neighbours, return time and memory."""
    vectors = make_vectors(args.data, n_examples, dim)
    extra: dict = {}
    if method in ("trusteq", *APPROXIMATE):
        from trusteq.characteristics.knn_agreement import knn_search

        settings = {"index": "exact" if method == "trusteq" else method}
        settings["recall_queries"] = args.recall_queries
        settings.update(json.loads(args.settings))

        def search() -> np.ndarray:
            found = knn_search(vectors, k, settings=settings)
            extra.update(found.report())
            return found.neighbours
    else:
        from sklearn.neighbors import NearestNeighbors

        def search() -> np.ndarray:
            model = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute")
            return model.fit(vectors).kneighbors(return_distance=False)  # self left out

    before = _rss_mb()
    started = time.perf_counter()
    neighbours = search()
    seconds = time.perf_counter() - started
    peak = _rss_mb()
    np.save(out, neighbours.astype(np.int64))
    result = {"seconds": seconds, "peak_rss_mb": peak, "search_rss_mb": peak - before}
    if method in APPROXIMATE:
        result.update(
            sampled_recall=extra["recall"],
            recall_queries=extra["recall_queries"],
            search_seconds=extra["seconds"],
            recall_seconds=extra["recall_seconds"],
            params=extra["params"],
        )
    if "on_gpu" in extra:
        result["on_gpu"] = extra["on_gpu"]
    return result


def full_recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean |found_i ∩ exact_i| / K over all rows."""
    from trusteq.characteristics.knn_agreement import neighbour_recall

    return float(np.mean(neighbour_recall(found, exact)))


def same_sets(first: np.ndarray, second: np.ndarray) -> float:
    """Fraction of rows whose neighbour sets are equal (order ignored)."""
    return float(np.mean(np.all(np.sort(first, axis=1) == np.sort(second, axis=1), axis=1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    parser.add_argument("--data", choices=("random", "clustered"), default="random")
    parser.add_argument("--recall-queries", type=int, default=1000)
    parser.add_argument(
        "--settings", default="{}", help="extra SearchSettings as JSON, e.g. '{\"ivf_nprobe\": 64}'"
    )
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_child(args.child[0], int(args.child[1]), args.dim, args.k, args.out, args)
        print(json.dumps(result))
        return
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for n_examples in args.sizes:
            found = {}
            for method in args.methods:
                out = Path(folder) / f"{method}_{n_examples}.npy"
                command = [sys.executable, __file__, "--child", method, str(n_examples)]
                command += ["--dim", str(args.dim), "--k", str(args.k), "--out", str(out)]
                command += ["--data", args.data, "--recall-queries", str(args.recall_queries)]
                command += ["--settings", args.settings]
                try:
                    done = subprocess.run(
                        command, capture_output=True, text=True, timeout=args.timeout, check=True
                    )
                except subprocess.TimeoutExpired:
                    print(f"N={n_examples} {method}: over {args.timeout:.0f} s", flush=True)
                    rows.append({"N": n_examples, "method": method, "timed_out": args.timeout})
                    continue
                result = json.loads(done.stdout.strip().splitlines()[-1])
                found[method] = np.load(out)
                rows.append({"N": n_examples, "method": method, "data": args.data, **result})
                print(json.dumps(rows[-1]), flush=True)
            exact = found.get("trusteq")
            for row in rows:
                if row["N"] != n_examples or row["method"] not in found or exact is None:
                    continue
                if row["method"] == "sklearn":
                    row["identical_sets"] = same_sets(exact, found["sklearn"])
                elif row["method"] in APPROXIMATE:
                    row["full_recall"] = full_recall(found[row["method"]], exact)
                    row["identical_sets"] = same_sets(exact, found[row["method"]])
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print(f"\nD = {args.dim}, K = {args.k}, {args.data} unit vectors (seed 0)\n")
    print(
        "| N | method | time (s) | peak RSS (MB) | added by the search (MB) | recall (sampled) "
        "| recall (all N) | identical sets vs exact |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "timed_out" in row:
            print(f"| {row['N']:,} | {row['method']} | > {row['timed_out']:.0f} | | | | | |")
            continue
        cells = [row.get(name) for name in ("sampled_recall", "full_recall", "identical_sets")]
        shown = [f"{value:.4f}" if value is not None else "n/a" for value in cells]
        print(
            f"| {row['N']:,} | {row['method']} | {row['seconds']:.1f} | {row['peak_rss_mb']:.0f} "
            f"| {row['search_rss_mb']:.0f} | {' | '.join(shown)} |"
        )


if __name__ == "__main__":
    main()
