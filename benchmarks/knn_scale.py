"""kNN search at scale: trusteq's `knn_indices` (faiss, chunked) vs scikit-learn brute force.

Each (method, N) case runs in its own subprocess on the same random unit vectors (seeded), so the
peak resident memory (`resource.getrusage(...).ru_maxrss`) is that case's alone; the table also
shows the peak minus the memory held just before the search (the data and imports). Both methods
exclude each example from its own neighbours; the agreement column is the fraction of examples
whose K-neighbour *sets* are identical (near-ties at rank K can differ in float32).

    .venv/bin/python benchmarks/knn_scale.py                    # N = 10k, 50k, 100k; D 768; K 10
    .venv/bin/python benchmarks/knn_scale.py --sizes 2000 5000  # quick check
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

METHODS = ("trusteq", "sklearn")


def unit_vectors(n_examples: int, dim: int, seed: int = 0) -> np.ndarray:
    """Random unit vectors, shape `(N, D)`, float32."""
    vectors = np.random.default_rng(seed).standard_normal((n_examples, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def run_child(method: str, n_examples: int, dim: int, k: int, out: Path) -> dict[str, float]:
    """One case, in this process: search, save the neighbours, return time and memory."""
    vectors = unit_vectors(n_examples, dim)
    if method == "trusteq":
        from trusteq.characteristics.knn_agreement import knn_indices

        def search() -> np.ndarray:
            return knn_indices(vectors, k)
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
    return {"seconds": seconds, "peak_rss_mb": peak, "search_rss_mb": peak - before}


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
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_child(args.child[0], int(args.child[1]), args.dim, args.k, args.out)
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
                try:
                    done = subprocess.run(
                        command, capture_output=True, text=True, timeout=args.timeout, check=True
                    )
                except subprocess.TimeoutExpired:
                    print(f"N={n_examples} {method}: over {args.timeout:.0f} s", flush=True)
                    continue
                result = json.loads(done.stdout.strip().splitlines()[-1])
                found[method] = np.load(out)
                rows.append({"N": n_examples, "method": method, **result})
                print(json.dumps(rows[-1]), flush=True)
            if len(found) == 2:
                agreement = same_sets(found["trusteq"], found["sklearn"])
                for row in rows[-2:]:
                    row["identical_sets"] = agreement
    print(f"\nD = {args.dim}, K = {args.k}, random unit vectors (seed 0)\n")
    print("| N | method | time (s) | peak RSS (MB) | added by the search (MB) | identical sets |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        agreement = row.get("identical_sets")
        shown = f"{agreement:.4f}" if agreement is not None else "n/a"
        print(
            f"| {row['N']:,} | {row['method']} | {row['seconds']:.1f} | {row['peak_rss_mb']:.0f} "
            f"| {row['search_rss_mb']:.0f} | {shown} |"
        )


if __name__ == "__main__":
    main()
