"""Explanation speed: trusteq's attribution producers against straightforward library use.

The same fine-tuned classifier explains the same held-out movie sentences twice:

- trusteq: `LimeAttribution` / `ShapAttribution` (perturbations batched, memoised, inference mode);
- naive LIME: `LimeTextExplainer(bow=False, split_expression=split_words, mask_string="")`
  (trusteq's words and its default `mask: remove`) with a classifier function that runs one text
  per forward pass: the same samples for the same seed, so the same explanation;
- naive SHAP: `shap.Explainer` on a `transformers` text-classification pipeline with default
  settings (Partition, shap's Text masker on the tokenizer's pieces with `[MASK]`, `top_k=None`
  so every class is scored), `max_evals` as given;
- optionally (`--naive-shap-words`) `shap.Explainer` with trusteq's word masker and a one text per
  forward pass model function: shap's own Partition run on the same game, for the results check.

Reported per explainer: explanations per second, the ratio, and the forward-pass bound, i.e. the
model evaluations the explainer asked for divided by the model's raw batched throughput on the same
(unperturbed) sentences, measured right before and after each run (the machine may be shared);
plus the top-10 Jaccard of each sentence's words between the two runs (naive SHAP's piece values
summed into trusteq's words). Deleting words shortens the texts, so an explainer can beat the bound.

    .venv/bin/python benchmarks/explain_speed.py --n 50
    .venv/bin/python benchmarks/explain_speed.py --n 10 --skip-naive-shap   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from trusteq.characteristics.attribution_agreement import top_k_words  # noqa: E402
from trusteq.data import TextSplit, stratified_sample_indices  # noqa: E402
from trusteq.producers.explain import LimeAttribution, ShapAttribution  # noqa: E402
from trusteq.producers.explain.base import example_seed  # noqa: E402
from trusteq.producers.explain.words import (  # noqa: E402
    SegmentedInput,
    aggregate_to_words,
    split_words,
    token_word_index,  # noqa: E402
)


def find_checkpoint(explicit: str | None) -> tuple[Path, str]:
    """A fine-tuned HF folder: the argument, else the quick-start reference in the cache."""
    if explicit:
        return Path(explicit), "given on the command line"
    candidates = []
    for meta_path in sorted((REPO / ".cache/trusteq/checkpoints").glob("*/meta.json")):
        meta = json.loads(meta_path.read_text())
        if (meta_path.parent / "model.safetensors").is_file():
            rank = (meta.get("variant") != "reference", meta.get("study") != "quickstart")
            candidates.append((rank, meta_path.parent, meta))
    if not candidates:
        raise SystemExit(
            "no fine-tuned checkpoint under .cache/trusteq/checkpoints; run `make quickstart` "
            "(or pass --checkpoint /path/to/hf_folder)"
        )
    _, folder, meta = min(candidates, key=lambda item: item[0])
    return folder, f"cache: {meta.get('study')}/{meta.get('variant')} ({folder.name})"


def load_sentences(n: int) -> TextSplit:
    """`n` stratified test sentences of the offline movie corpus (already downloaded)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(REPO / "conf/dataset/vader_movies.yaml")
    cfg.cache_dir = str(REPO / ".cache/trusteq/data")
    test = instantiate(cfg).load()["test"]
    return test.select(stratified_sample_indices(test.labels, n, seed=0))


def raw_throughput(model, tokenizer, texts, batch_size, max_length, repeats=3) -> float:
    """Sentences per second of batched, length-sorted, inference-mode forward passes.

    The sentences are repeated to at least 4 batches; the best of `repeats` passes counts.
    """
    order = sorted(list(texts) * -(-4 * batch_size // len(texts)), key=len, reverse=True)
    best = 0.0
    with torch.inference_mode():
        for _ in range(repeats):
            started = time.perf_counter()
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                model(
                    **tokenizer(
                        batch,
                        truncation=True,
                        max_length=max_length,
                        padding=True,
                        return_tensors="pt",
                    )
                )
            best = max(best, len(order) / (time.perf_counter() - started))
    return best


def run_trusteq(producer, model, tokenizer, data) -> dict:
    with tempfile.TemporaryDirectory() as resume:
        started = time.perf_counter()
        arrays, records = producer.produce(
            model, tokenizer, data, ["negative", "positive"], {"accelerator": "cpu"}, Path(resume)
        )
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "requests": records["totals"]["model_requests"],
        "evaluated": records["totals"]["model_evals"],
        "forward_passes": records["totals"]["forward_passes_this_run"],
        "attributions": arrays["attributions"],
    }


def run_naive_lime(model, tokenizer, data, num_samples, max_length) -> dict:
    from lime.lime_text import LimeTextExplainer

    requests = 0

    def one_text_at_a_time(texts):
        nonlocal requests
        requests += len(texts)
        rows = []
        with torch.no_grad():
            for text in texts:
                encoded = tokenizer(
                    text, truncation=True, max_length=max_length, return_tensors="pt"
                )
                rows.append(torch.softmax(model(**encoded).logits, -1)[0].numpy())
        return np.array(rows)

    values = []
    started = time.perf_counter()
    for index, (text, label) in enumerate(zip(data.text_a, data.labels, strict=True)):
        words = split_words(text)
        explainer = LimeTextExplainer(
            bow=False,
            split_expression=split_words,
            mask_string="",  # trusteq's default `mask: remove`: hidden words are deleted
            random_state=example_seed(0, index),
        )
        explanation = explainer.explain_instance(
            text,
            one_text_at_a_time,
            labels=(int(label),),
            num_features=len(words),
            num_samples=num_samples,
        )
        row = np.zeros(len(words))
        for position, weight in explanation.local_exp[int(label)]:
            row[position] = weight
        values.append(row)
    return {"seconds": time.perf_counter() - started, "requests": requests, "values": values}


def run_naive_shap(model, tokenizer, data, max_evals, max_length) -> dict:
    import shap
    from transformers import pipeline

    classifier = pipeline(
        "text-classification",
        model=model,
        tokenizer=tokenizer,
        top_k=None,
        device=-1,
        truncation=True,
        max_length=max_length,
    )
    requests = 0
    original_call = shap.models.TransformersPipeline.__call__

    def counting_call(self, strings):
        nonlocal requests
        requests += len(strings)
        return original_call(self, strings)

    shap.models.TransformersPipeline.__call__ = counting_call
    try:
        explainer = shap.Explainer(classifier)
        values = []
        started = time.perf_counter()
        for text, label in zip(data.text_a, data.labels, strict=True):
            explanation = explainer([text], max_evals=max_evals, silent=True)
            pieces = np.asarray(explanation.values[0])[:, int(label)]
            encoded = tokenizer(
                text, truncation=True, max_length=max_length, return_offsets_mapping=True
            )
            instance = SegmentedInput.from_texts(text)
            index = token_word_index(encoded["offset_mapping"], encoded.sequence_ids(), instance)
            values.append(aggregate_to_words(pieces, index, len(instance)))
        seconds = time.perf_counter() - started
    finally:
        shap.models.TransformersPipeline.__call__ = original_call
    return {"seconds": seconds, "requests": requests, "values": values}


def word_masks(tokenizer, instance: SegmentedInput, mask: str):
    """trusteq's replacement of each hidden word (`ExplainContext.word_masks`)."""
    from trusteq.producers.explain.base import ExplainContext

    token = "" if mask == "remove" else tokenizer.mask_token
    return ExplainContext(None, tokenizer, None, None, token).word_masks(instance)


def run_naive_shap_words(model, tokenizer, data, max_evals, max_length, mask) -> dict:
    """shap.Explainer with trusteq's word masker but one text per forward pass (same algorithm)."""
    import shap

    from trusteq.producers.explain.shap_explainer import WordMasker

    requests, values = 0, []
    started = time.perf_counter()
    for index, (text, label) in enumerate(zip(data.text_a, data.labels, strict=True)):
        instance = SegmentedInput.from_texts(text)
        masks = word_masks(tokenizer, instance, mask)

        def one_text_at_a_time(samples, instance=instance, masks=masks):
            nonlocal requests
            requests += len(samples)
            rows = []
            with torch.no_grad():
                for sample in samples:
                    keep = np.frombuffer(sample, dtype=bool)
                    (perturbed,) = instance.perturb(keep, masks)
                    encoded = tokenizer(
                        perturbed, truncation=True, max_length=max_length, return_tensors="pt"
                    )
                    rows.append(torch.softmax(model(**encoded).logits, -1)[0].numpy())
            return np.array(rows)

        explainer = shap.Explainer(one_text_at_a_time, WordMasker(instance), algorithm="partition")
        np.random.seed(example_seed(0, index))
        explanation = explainer(["instance"], max_evals=max_evals, silent=True)
        values.append(np.asarray(explanation.values[0])[:, int(label)])
    return {"seconds": time.perf_counter() - started, "requests": requests, "values": values}


def top10_jaccard(ours: np.ndarray, naive: list[np.ndarray]) -> float:
    scores = []
    for row, reference in zip(ours, naive, strict=True):
        mine, theirs = set(top_k_words(row, 10)), set(top_k_words(reference, 10))
        scores.append(len(mine & theirs) / len(mine | theirs))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="held-out sentences explained")
    parser.add_argument("--lime-samples", type=int, default=500)
    parser.add_argument("--shap-evals", type=int, default=500, help="shap's default is 500")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--partition-batch",
        type=int,
        default=None,
        help="trusteq SHAP Partition nodes per round (default: the config's)",
    )
    parser.add_argument(
        "--shap-mask",
        choices=("mask_token", "remove"),
        default="mask_token",
        help="trusteq SHAP's perturbation (mask_token: as shap's Text masker and the configs)",
    )
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch intra-op threads (0 = torch's default, all cores; 1 helps on a shared, "
        "busy 2-core machine where a 2-thread pool collapses)",
    )
    parser.add_argument("--checkpoint", default=None, help="fine-tuned HF folder")
    parser.add_argument("--skip-naive-lime", action="store_true")
    parser.add_argument("--skip-naive-shap", action="store_true")
    parser.add_argument(
        "--naive-shap-words",
        action="store_true",
        help="also run naive SHAP on trusteq's word masker (same algorithm, one text per pass)",
    )
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    folder, source = find_checkpoint(args.checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    data = load_sentences(args.n)
    words = [len(split_words(text)) for text in data.text_a]
    print(
        f"model: {folder} ({source}); {args.n} test sentences, {np.mean(words):.1f} words "
        f"on average; torch threads {torch.get_num_threads()}"
    )

    # One-time costs outside the clocks: shap's numba compilation, lazy imports.
    warm = data.select([0])
    common = {
        "n_examples": None,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "progress": False,
    }
    for producer in (
        LimeAttribution(num_samples=20, **common),
        ShapAttribution(max_evals=20, **common),
    ):
        run_trusteq(producer, model, tokenizer, warm)
    if not args.skip_naive_shap:
        run_naive_shap(model, tokenizer, warm, 20, args.max_length)

    shap_options = {"mask": args.shap_mask}
    if args.partition_batch:
        shap_options["partition_batch"] = args.partition_batch
    throughput = raw_throughput(model, tokenizer, data.text_a, args.batch_size, args.max_length)
    print(f"raw batched forward: {throughput:.1f} sentences/s (batch {args.batch_size})")
    results = {"n": args.n, "raw_sentences_per_s": throughput, "checkpoint": str(folder)}
    explainers = {
        "LIME": (
            LimeAttribution(num_samples=args.lime_samples, **common),
            None
            if args.skip_naive_lime
            else lambda: run_naive_lime(model, tokenizer, data, args.lime_samples, args.max_length),
        ),
        "SHAP": (
            ShapAttribution(max_evals=args.shap_evals, **shap_options, **common),
            None
            if args.skip_naive_shap
            else lambda: run_naive_shap(model, tokenizer, data, args.shap_evals, args.max_length),
        ),
    }
    if args.naive_shap_words:
        explainers["SHAP (word masker)"] = (
            ShapAttribution(max_evals=args.shap_evals, **shap_options, **common),
            lambda: run_naive_shap_words(
                model, tokenizer, data, args.shap_evals, args.max_length, args.shap_mask
            ),
        )
    rows = []

    def measure():
        return raw_throughput(model, tokenizer, data.text_a, args.batch_size, args.max_length)

    for name, (producer, naive_run) in explainers.items():
        before = measure()
        ours = run_trusteq(producer, model, tokenizer, data)
        throughput = (before + measure()) / 2
        bound = ours["requests"] / throughput
        row = {
            "explainer": name,
            "raw_sentences_per_s": throughput,
            "trusteq_per_s": args.n / ours["seconds"],
            "trusteq_s": ours["seconds"],
            "trusteq_requests": ours["requests"],
            "trusteq_evaluated": ours["evaluated"],
            "trusteq_bound_s": bound,
            "trusteq_vs_bound": ours["seconds"] / bound,
        }
        if naive_run is not None:
            before = measure()
            naive = naive_run()
            naive_bound = naive["requests"] / ((before + measure()) / 2)
            row |= {
                "naive_per_s": args.n / naive["seconds"],
                "naive_s": naive["seconds"],
                "naive_requests": naive["requests"],
                "naive_bound_s": naive_bound,
                "naive_vs_bound": naive["seconds"] / naive_bound,
                "speedup": naive["seconds"] / ours["seconds"],
                "top10_jaccard": top10_jaccard(ours["attributions"], naive["values"]),
            }
        rows.append(row)
        print(json.dumps(row, indent=1))
    results["rows"] = rows

    print(
        "\n| explainer | trusteq expl/s | naive expl/s | speed-up | trusteq / bound | "
        "naive / bound | evaluations asked (trusteq, naive) | top-10 Jaccard |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:

        def cell(key, fmt="{:.2f}", row=row):
            return fmt.format(row[key]) if key in row else "n/a"

        print(
            f"| {row['explainer']} | {cell('trusteq_per_s')} | {cell('naive_per_s')} | "
            f"{cell('speedup', '{:.1f}x')} | {cell('trusteq_vs_bound')} | "
            f"{cell('naive_vs_bound')} | {row['trusteq_requests']}, "
            f"{row.get('naive_requests', 'n/a')} | {cell('top10_jaccard')} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
