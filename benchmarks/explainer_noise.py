"""Explainer noise: how many model evaluations an explanation needs before it is stable enough
to compare two models with (issue 13).

For LIME and SHAP (Partition, Permutation), at model-evaluation budgets from 100 to 4,000 per
explanation, on the quick-start's fine-tuned reference and one compressed variant (layers3, a
real checkpoint), the same held-out sentences are explained under two explainer seeds. Reported
per explainer and budget:

- **explainer floor**: top-10 Jaccard of the reference with *itself* under the other explainer
  seed (1 = the explainer gives the same top-10 words every time; `trusteq`'s cross-seed floor);
- **variant vs reference, cross seed**: top-10 Jaccard of the variant (seed s) with the reference
  (seed 1 - s), averaged over s: the value a verdict compares with the floor;
- **same seed**: the variant vs the reference under the same seed (Paper B's protocol);
- seconds per explanation (wall clock, trusteq's batched producers; the machine may be shared:
  the load average is recorded), and the evaluations the explainer asked for.

Each sentence's statistic is bootstrapped over sentences (percentile 95% interval, 2,000
resamples, `scipy.stats.bootstrap`). SHAP Partition is deterministic (its tree is fixed by the
masker's word order; the seed changes nothing), so its floor is 1 by construction and it runs once.

Results go to a JSON file (one record per explainer, budget, model and seed, so an interrupted run
resumes) and a figure:

    .venv/bin/python benchmarks/explainer_noise.py --n 16 \\
        --json experiments/interpretability/explainer_noise.json \\
        --figure experiments/interpretability/explainer_noise.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from trusteq.characteristics.attribution_agreement import top_k_words  # noqa: E402
from trusteq.producers.explain import LimeAttribution, ShapAttribution  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from explain_speed import load_sentences, run_trusteq  # noqa: E402

BUDGETS = (100, 250, 500, 1000, 2000, 4000)
EXPLAINERS = ("lime", "shap_permutation", "shap_partition")
K = 10


def quickstart_checkpoint(variant: str) -> Path:
    """The quick-start checkpoint of `variant` in the local cache with the best validation score
    (a tiny test study may also have left entries named `quickstart` there)."""
    import ast

    found = []
    for meta_path in (REPO / ".cache/trusteq/checkpoints").glob("*/meta.json"):
        meta = json.loads(meta_path.read_text())
        if meta.get("study") == "quickstart" and meta.get("variant") == variant:
            score = ast.literal_eval(str(meta.get("train_metrics", "{}"))).get("best_score", 0)
            found.append((float(score), meta_path.parent))
    if not found:
        raise SystemExit(
            f"no quick-start checkpoint of {variant!r} under .cache/trusteq/checkpoints; "
            "run `make quickstart` first"
        )
    return max(found)[1]


def producer(explainer: str, budget: int, seed: int, batch_size: int):
    common = {"n_examples": None, "batch_size": batch_size, "progress": False, "seed": seed}
    if explainer == "lime":
        return LimeAttribution(num_samples=budget, **common)
    algorithm = explainer.removeprefix("shap_")
    return ShapAttribution(algorithm=algorithm, max_evals=budget, **common)


def explain(explainer, budget, seed, model, tokenizer, data, batch_size) -> dict:
    """One producer run (`explain_speed.run_trusteq`), JSON-able, with the machine's load."""
    result = run_trusteq(producer(explainer, budget, seed, batch_size), model, tokenizer, data)
    return {
        "seconds": result["seconds"],
        "requests": int(result["requests"]),
        "evaluated": int(result["evaluated"]),
        "load_1min": os.getloadavg()[0],
        "attributions": np.asarray(result["attributions"]).tolist(),
    }


def jaccards(a: list, b: list, k: int = K) -> np.ndarray:
    """Per-sentence top-`k` Jaccard of two `(N, W_max)` NaN-padded attribution arrays."""
    scores = []
    for row_a, row_b in zip(np.asarray(a, float), np.asarray(b, float), strict=True):
        top_a, top_b = set(top_k_words(row_a, k)), set(top_k_words(row_b, k))
        scores.append(len(top_a & top_b) / len(top_a | top_b))
    return np.asarray(scores)


def tail_share(a: list, first: int = 6, last: int = 10) -> float:
    """Mean over sentences of the |attribution| at ranks `first`..`last` relative to rank 1.

    Small values mean the lower half of a top-10 set is made of words the model barely uses,
    whose order is decided by the explainer's noise: the floor cannot reach 1 at any budget.
    """
    shares = []
    for row in np.asarray(a, float):
        magnitude = np.sort(np.abs(row[~np.isnan(row)]))[::-1]
        if len(magnitude) >= last and magnitude[0] > 0:
            shares.append(float(magnitude[first - 1 : last].mean() / magnitude[0]))
    return float(np.mean(shares)) if shares else float("nan")


def interval(per_sentence: np.ndarray) -> list[float]:
    from scipy.stats import bootstrap

    if np.ptp(per_sentence) == 0:
        value = float(per_sentence[0])
        return [value, value, value]
    result = bootstrap(
        (per_sentence,), np.mean, n_resamples=2000, method="percentile", random_state=0
    )
    low, high = result.confidence_interval
    return [float(per_sentence.mean()), float(low), float(high)]


def summarise(records: dict, explainers=EXPLAINERS, budgets=BUDGETS) -> list[dict]:
    rows = []
    for explainer in explainers:
        for budget in budgets:

            def get(model, seed, explainer=explainer, budget=budget):
                if explainer == "shap_partition":
                    seed = 0
                return records.get(f"{explainer}/{budget}/{model}/{seed}")

            ref0, ref1, var0, var1 = (
                get("reference", 0),
                get("reference", 1),
                get("variant", 0),
                get("variant", 1),
            )
            if None in (ref0, ref1, var0, var1):
                continue
            floor = jaccards(ref0["attributions"], ref1["attributions"])
            cross = (
                jaccards(var0["attributions"], ref1["attributions"])
                + jaccards(var1["attributions"], ref0["attributions"])
            ) / 2
            same = (
                jaccards(var0["attributions"], ref0["attributions"])
                + jaccards(var1["attributions"], ref1["attributions"])
            ) / 2
            n = len(floor)
            rows.append(
                {
                    "explainer": explainer,
                    "budget": budget,
                    "floor": interval(floor),
                    "floor_by_k": {
                        k: float(jaccards(ref0["attributions"], ref1["attributions"], k).mean())
                        for k in (1, 3, 5, 10)
                    },
                    "tail_share_6_10": tail_share(ref0["attributions"]),
                    "variant_cross_seed": interval(cross),
                    "variant_same_seed": interval(same),
                    "floor_minus_variant": interval(floor - cross),
                    "seconds_per_explanation": ref0["seconds"] / n,
                    "evaluations_asked": ref0["requests"] / n,
                    "evaluations_run": ref0["evaluated"] / n,
                    "load_1min": ref0["load_1min"],
                }
            )
    return rows


def print_table(rows: list[dict]) -> None:
    """The results as a Markdown table."""

    def fmt(values):
        return f"{values[0]:.3f} [{values[1]:.2f}, {values[2]:.2f}]"

    print(
        "\n| explainer | budget | evaluations run | floor (top-10) | floor top-1 / 3 / 5 | "
        "rank 6-10 / rank 1 | variant vs ref (cross seed) | same seed | s / explanation |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        by_k = row.get("floor_by_k", {})
        small = " / ".join(f"{by_k.get(k, by_k.get(str(k), float('nan'))):.2f}" for k in (1, 3, 5))
        print(
            f"| {row['explainer']} | {row['budget']} | {row['evaluations_run']:.0f} | "
            f"{fmt(row['floor'])} | {small} | {row.get('tail_share_6_10', float('nan')):.2f} | "
            f"{fmt(row['variant_cross_seed'])} | {fmt(row['variant_same_seed'])} | "
            f"{row['seconds_per_explanation']:.2f} |"
        )


def figure(rows: list[dict], path: Path, variant: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"lime": "tab:blue", "shap_permutation": "tab:orange", "shap_partition": "tab:green"}
    for explainer in EXPLAINERS:
        mine = [row for row in rows if row["explainer"] == explainer]
        if not mine:
            continue
        budgets = [row["budget"] for row in mine]
        for key, style, label in (
            ("floor", "-", "floor (reference vs itself, other seed)"),
            ("variant_cross_seed", "--", f"{variant} vs reference (cross seed)"),
        ):
            values = np.array([row[key] for row in mine])
            axes[0].plot(
                budgets,
                values[:, 0],
                style,
                marker="o",
                color=colours[explainer],
                label=f"{explainer}: {label}",
            )
            axes[0].fill_between(
                budgets, values[:, 1], values[:, 2], color=colours[explainer], alpha=0.12
            )
        axes[1].plot(
            budgets,
            [row["evaluations_run"] for row in mine],
            marker="o",
            color=colours[explainer],
            label=explainer,
        )
    axes[0].axhline(0.9, color="grey", lw=0.8, ls=":")
    axes[0].set(
        xscale="log",
        xlabel="model evaluations per explanation (budget)",
        ylabel=f"top-{K} Jaccard (higher = same words)",
        ylim=(0, 1.02),
        title=f"Explainer floor vs {variant}-vs-reference (95% CI)",
    )
    axes[0].legend(fontsize=6.5, loc="lower right")
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="model evaluations per explanation (budget)",
        ylabel="distinct model calls per explanation",
        title="Cost: distinct model calls (repeats scored once)",
    )
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=16, help="held-out sentences explained")
    parser.add_argument("--variant", default="layers3", help="quick-start checkpoint to compare")
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    parser.add_argument("--explainers", nargs="+", default=list(EXPLAINERS), choices=EXPLAINERS)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--json", required=True, help="results (resumed if present)")
    parser.add_argument("--figure", default=None)
    parser.add_argument(
        "--report-only", action="store_true", help="recompute the table and figure from --json"
    )
    args = parser.parse_args()
    if args.report_only:
        state = json.loads(Path(args.json).read_text())
        budgets = sorted({int(key.split("/")[1]) for key in state["records"]})
        state["rows"] = summarise(state["records"], tuple(args.explainers), budgets)
        Path(args.json).write_text(json.dumps(state))
        print_table(state["rows"])
        if args.figure:
            figure(state["rows"], Path(args.figure), state["variant"])
        return

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    explainers, budgets = tuple(args.explainers), tuple(sorted(args.budgets))
    if args.threads:
        torch.set_num_threads(args.threads)
    folders = {"reference": quickstart_checkpoint("reference")}
    folders["variant"] = quickstart_checkpoint(args.variant)
    models = {
        name: (
            AutoModelForSequenceClassification.from_pretrained(folder).eval(),
            AutoTokenizer.from_pretrained(folder),
        )
        for name, folder in folders.items()
    }
    data = load_sentences(args.n)
    path = Path(args.json)
    state = json.loads(path.read_text()) if path.is_file() else {}
    if state.get("n") not in (None, args.n) or state.get("variant") not in (None, args.variant):
        raise SystemExit(f"{path}: made with n={state.get('n')}, variant={state.get('variant')}")
    state |= {
        "n": args.n,
        "variant": args.variant,
        "checkpoints": {name: str(folder) for name, folder in folders.items()},
        "torch_threads": torch.get_num_threads(),
        "cpu": os.cpu_count(),
    }
    records = state.setdefault("records", {})
    # One-time costs outside the clocks (numba compilation of shap, lazy imports).
    for explainer in explainers:
        explain(explainer, 20, 0, *models["reference"], data.select([0]), args.batch_size)
    jobs = [
        (explainer, budget, model, seed)
        for budget in budgets
        for explainer in explainers
        for model in ("reference", "variant")
        for seed in ((0,) if explainer == "shap_partition" else (0, 1))
    ]
    for done, (explainer, budget, model, seed) in enumerate(jobs, 1):
        key = f"{explainer}/{budget}/{model}/{seed}"
        if key in records:
            continue
        record = explain(explainer, budget, seed, *models[model], data, args.batch_size)
        records[key] = record
        state["rows"] = summarise(
            records, EXPLAINERS, sorted({int(k.split("/")[1]) for k in records})
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)  # atomic: an interrupted run keeps what was finished
        print(
            f"[{done}/{len(jobs)}] {key}: {record['seconds'] / args.n:.2f} s/explanation "
            f"(load {record['load_1min']:.1f})",
            flush=True,
        )
    rows = summarise(records, EXPLAINERS, sorted({int(k.split("/")[1]) for k in records}))
    print_table(rows)
    if args.figure:
        figure(rows, Path(args.figure), args.variant)


if __name__ == "__main__":
    main()
