"""Paper-scale cost plan: time the papers' exact architectures per example, extrapolate to their N.

Builds randomly initialised models with the exact shapes of Paper A's and Paper B's lineups (no
weights needed: cost depends on shape, not on values), times one forward pass (inference), one
forward + backward pass and one AdamW step (fine-tuning) per example at the papers' sequence
lengths, and multiplies by the papers' protocol sizes with the cost model below. Each model runs
in its own subprocess (clean peak memory), single-threaded by default (`--threads`).

    nice -n 10 .venv/bin/python benchmarks/paper_scale.py --json paper_scale.json
    .venv/bin/python benchmarks/paper_scale.py --models bert_tiny bert_mini --lengths 64  # quick
    .venv/bin/python benchmarks/paper_scale.py --device cuda --batch 32 --threads 8      # GPU

Cost model (per model; t_f(L) = measured seconds per example of a forward pass at sequence length
L; t_fb(L) = forward + backward per example + one AdamW step / 32 (one step per batch of 32); see
experiments/paper_scale/README.md):

    Paper A (BERT-large, BERT-base, DistilBERT, BERT-Medium, BERT-Mini, BERT-Tiny)
      SQuAD 2.0 fine-tuning   3 epochs × 132,000 train features × t_fb(384)
      SQuAD 2.0 dev inference 12,200 dev features × t_f(384) (errors and [CLS] embeddings at once)
      deep-kNN bank           132,000 train features × t_f(384) (Sun et al. use training features)
      NewsQA OOD inference    12,600 features (4,212 questions × ~3 windows) × t_f(384)
      IMDB fine-tuning        2 epochs × 25,000 reviews × t_fb(512)
      BERT-Attack on IMDB     1,000 reviews × 151 queries × t_f(512)
    Paper B (BERT-base, DistilBERT, BERT-Medium, BERT-Mini, BERT-Tiny)
      SNLI fine-tuning        5 epochs × (549,367 train × t_fb(L) + 9,842 dev × t_f(L))
      SNLI test               9,824 × t_f(L)
      QQP fine-tuning         10 epochs × (363,846 train × t_fb(L) + 40,430 dev × t_f(L))
      QQP test                40,430 × t_f(L)
      explanations, SNLI      1,000 pairs × 3 seeds × (LIME 1,000 + SHAP Partition 500) × t_f(Lx)
      explanations, QQP       1,000 pairs × 3 seeds × (LIME 500 + SHAP Permutation 100) × t_f(Lx)
    with L = 512 as the authors' code pads (max length 512) or L = 64 with dynamic padding (SNLI
    and QQP pairs are ~40 tokens), and Lx = 64 (perturbed copies of the explained pair).

Memory: inference = the process's peak resident set while timing the forward pass at batch 1;
fine-tuning at batch 32 = 16 bytes × parameters (fp32 weights, gradients, two AdamW moments) +
32 × the per-example activation memory measured at batch 1 (peak during backward minus the
weights, gradients and optimiser state already held).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

#: name -> (layers, hidden, heads, intermediate, kind): the base models and Google's miniatures.
ARCHITECTURES = {
    "bert_large": (24, 1024, 16, 4096, "bert"),
    "bert_base": (12, 768, 12, 3072, "bert"),
    "distilbert": (6, 768, 12, 3072, "distilbert"),
    "bert_medium": (8, 512, 8, 2048, "bert"),
    "bert_mini": (4, 256, 4, 1024, "bert"),
    "bert_tiny": (2, 128, 2, 512, "bert"),
}
PAPER_A = ["bert_large", "bert_base", "distilbert", "bert_medium", "bert_mini", "bert_tiny"]
PAPER_B = ["bert_base", "distilbert", "bert_medium", "bert_mini", "bert_tiny"]

#: Protocol sizes (examples) and counts; see the module docstring and the README for sources.
PROTOCOL = {
    "squad_train_features": 132_000,
    "squad_epochs": 3,
    "squad_dev_features": 12_200,
    "newsqa_features": 12_600,
    "imdb_train": 25_000,
    "imdb_epochs": 2,
    "attack_examples": 1_000,
    "attack_queries": 151,
    "snli_train": 549_367,
    "snli_dev": 9_842,
    "snli_test": 9_824,
    "snli_epochs": 5,
    "qqp_train": 363_846,
    "qqp_dev": 40_430,
    "qqp_test": 40_430,
    "qqp_epochs": 10,
    "explain_examples": 1_000,
    "explain_seeds": 3,
    "lime_snli": 1_000,
    "shap_snli": 500,
    "lime_qqp": 500,
    "shap_qqp": 100,
}


def build(name: str, task: str):
    """A randomly initialised model of `name`'s architecture; `task` = "qa" or "cls"."""
    import torch
    from transformers import (
        BertConfig,
        BertForQuestionAnswering,
        BertForSequenceClassification,
        DistilBertConfig,
        DistilBertForQuestionAnswering,
        DistilBertForSequenceClassification,
    )

    layers, hidden, heads, intermediate, kind = ARCHITECTURES[name]
    labels = 2 if task == "qa" else 3  # QA heads: start and end logits
    torch.manual_seed(0)
    if kind == "distilbert":
        config = DistilBertConfig(
            n_layers=layers, dim=hidden, n_heads=heads, hidden_dim=intermediate, num_labels=labels
        )
        cls = (
            DistilBertForQuestionAnswering if task == "qa" else DistilBertForSequenceClassification
        )
    else:
        config = BertConfig(
            num_hidden_layers=layers,
            hidden_size=hidden,
            num_attention_heads=heads,
            intermediate_size=intermediate,
            num_labels=labels,
        )
        cls = BertForQuestionAnswering if task == "qa" else BertForSequenceClassification
    return cls(config)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def run_child(name: str, lengths: list[int], args) -> dict:
    """Time one model at every length: forward (inference) and a full training step, per example."""
    import torch

    torch.set_num_threads(args.threads)
    task = "qa" if name == "bert_large" else "cls"
    model = build(name, task).to(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    rows = []
    built_rss = _rss_mb()
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if args.device.startswith("cuda") and args.bf16
        else torch.autocast("cpu", enabled=False)
    )
    for length in lengths:
        ids = torch.randint(1000, 30000, (args.batch, length), device=args.device)
        mask = torch.ones_like(ids)
        model.eval()
        forward, forward_cpu = [], []
        with torch.inference_mode(), autocast:
            for _ in range(args.repeats + 1):
                _sync(args.device)
                started, started_cpu = time.perf_counter(), time.process_time()
                model(input_ids=ids, attention_mask=mask)
                _sync(args.device)
                forward.append(time.perf_counter() - started)
                forward_cpu.append(time.process_time() - started_cpu)
        forward_rss = _rss_mb()
        model.train()
        optimiser = torch.optim.AdamW(model.parameters(), lr=1e-5)
        if task == "qa":
            targets = {
                "start_positions": torch.zeros(args.batch, dtype=torch.long, device=args.device),
                "end_positions": torch.zeros(args.batch, dtype=torch.long, device=args.device),
            }
        else:
            targets = {"labels": torch.zeros(args.batch, dtype=torch.long, device=args.device)}
        step, step_cpu, opt, opt_cpu = [], [], [], []
        for _ in range(args.repeats + 1):
            _sync(args.device)
            started, started_cpu = time.perf_counter(), time.process_time()
            with autocast:
                loss = model(input_ids=ids, attention_mask=mask, **targets).loss
            loss.backward()
            _sync(args.device)
            step.append(time.perf_counter() - started)
            step_cpu.append(time.process_time() - started_cpu)
            started, started_cpu = time.perf_counter(), time.process_time()
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
            _sync(args.device)
            opt.append(time.perf_counter() - started)
            opt_cpu.append(time.process_time() - started_cpu)
        del optimiser
        train_rss = _rss_mb()
        peak_gpu = None
        if args.device.startswith("cuda"):
            peak_gpu = torch.cuda.max_memory_allocated() / 2**20
            torch.cuda.reset_peak_memory_stats()
        # The first call of each kind is a warm-up. On a CPU shared with other jobs, wall time
        # includes waiting for a core; the CPU time of a single-threaded run does not, so the
        # plan uses the fastest timed run of `--clock` (default: cpu on CPU, wall on CUDA).
        clock = args.clock or ("wall" if args.device.startswith("cuda") else "cpu")
        use_forward = forward_cpu if clock == "cpu" else forward
        use_step = step_cpu if clock == "cpu" else step
        use_opt = opt_cpu if clock == "cpu" else opt
        # One AdamW step per optimisation batch: per example it costs step / train_batch.
        backward = min(use_step[1:]) / args.batch
        rows.append(
            {
                "model": name,
                "task": task,
                "length": length,
                "batch": args.batch,
                "clock": clock,
                "forward_s_per_example": min(use_forward[1:]) / args.batch,
                "forward_backward_s_per_example": backward,
                "optimizer_s_per_step": min(use_opt[1:]),
                "train_batch": args.train_batch,
                "train_step_s_per_example": backward + min(use_opt[1:]) / args.train_batch,
                "forward_runs_s": forward,
                "train_runs_s": step,
                "forward_runs_cpu_s": forward_cpu,
                "train_runs_cpu_s": step_cpu,
                "optimizer_runs_s": opt,
                "optimizer_runs_cpu_s": opt_cpu,
                "params": n_params,
                "built_rss_mb": built_rss,
                "forward_peak_rss_mb": forward_rss,
                "train_peak_rss_mb": train_rss,
                "peak_gpu_mb": peak_gpu,
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"rows": rows}


def _time(rows: dict, model: str, length: int, kind: str) -> float:
    """Seconds per example of `kind` at `length` (scaled from BERT-base when not measured)."""
    key = (model, length)
    if key in rows:
        return rows[key][kind]
    # BERT-large at 512: BERT-large(384) × BERT-base(512) / BERT-base(384).
    known = [ln for (m, ln) in rows if m == model]
    if not known or ("bert_base", length) not in rows:
        return float("nan")
    near = max(known)
    return (
        rows[(model, near)][kind]
        * rows[("bert_base", length)][kind]
        / rows[("bert_base", near)][kind]
    )


def forward_flops(model: str, length: int) -> float:
    """Analytic forward FLOPs per example: 2·L·(non-embedding weights) + 4·layers·L²·hidden."""
    layers, hidden, _, intermediate, _ = ARCHITECTURES[model]
    weights = layers * (4 * hidden * hidden + 2 * hidden * intermediate)
    return 2.0 * length * weights + 4.0 * layers * length * length * hidden


def _stages(paper: str, tf, tb) -> dict[str, float]:
    """Seconds per stage of `paper` ("A", "B512", "B64") from per-example costs tf(L), tb(L)."""
    p = PROTOCOL
    if paper == "A":
        return {
            "squad_finetune": p["squad_epochs"] * p["squad_train_features"] * tb(384),
            "squad_dev": p["squad_dev_features"] * tf(384),
            "deep_knn_bank": p["squad_train_features"] * tf(384),
            "newsqa_ood": p["newsqa_features"] * tf(384),
            "imdb_finetune": p["imdb_epochs"] * p["imdb_train"] * tb(512),
            "bert_attack": p["attack_examples"] * p["attack_queries"] * tf(512),
        }
    padded = int(paper[1:])
    n_explain = p["explain_examples"] * p["explain_seeds"]
    return {
        "snli_finetune": p["snli_epochs"]
        * (p["snli_train"] * tb(padded) + p["snli_dev"] * tf(padded)),
        "snli_test": p["snli_test"] * tf(padded),
        "qqp_finetune": p["qqp_epochs"] * (p["qqp_train"] * tb(padded) + p["qqp_dev"] * tf(padded)),
        "qqp_test": p["qqp_test"] * tf(padded),
        "explain_snli": n_explain * (p["lime_snli"] + p["shap_snli"]) * tf(64),
        "explain_qqp": n_explain * (p["lime_qqp"] + p["shap_qqp"]) * tf(64),
    }


def plan(rows_list: list[dict], threads: int, gpu_tflops: float = 200.0) -> dict:
    """Hours and memory for each paper's protocol.

    `hours`: measured per-example times × protocol sizes (on the measuring device, `threads`
    threads). `flop_hours`: analytic FLOPs (:func:`forward_flops`, training = 3 × forward) at a
    sustained `gpu_tflops` (an assumption, not a measurement: 200 TFLOP/s is about a quarter of
    an H200's dense bf16 peak).
    """
    rows = {(r["model"], r["length"]): {**r} for r in rows_list}
    hours, flop_hours = {}, {}
    for paper, lineup in (("A", PAPER_A), ("B512", PAPER_B), ("B64", PAPER_B)):
        for model in lineup:

            def tf(length, m=model):
                return _time(rows, m, length, "forward_s_per_example")

            def tb(length, m=model):
                return _time(rows, m, length, "train_step_s_per_example")

            def ff(length, m=model):
                return forward_flops(m, length) / (gpu_tflops * 1e12)

            def fb(length, m=model):
                return 3 * forward_flops(m, length) / (gpu_tflops * 1e12)

            hours[(paper, model)] = {k: v / 3600 for k, v in _stages(paper, tf, tb).items()}
            flop_hours[(paper, model)] = {k: v / 3600 for k, v in _stages(paper, ff, fb).items()}
    memory = {}
    for model in PAPER_A:
        measured = sorted(
            (r for (m, _), r in rows.items() if m == model), key=lambda r: r["length"]
        )
        if not measured:
            continue
        first, top = measured[0], measured[-1]
        weights_mb = top["params"] * 4 / 2**20
        per_example = max(0.0, top["train_peak_rss_mb"] - top["built_rss_mb"] - 3 * weights_mb)
        memory[model] = {
            "params_M": top["params"] / 1e6,
            "length": top["length"],
            # ru_maxrss only grows: the first length's forward ran before any training step.
            "inference_length": first["length"],
            "inference_peak_rss_mb_batch1": first["forward_peak_rss_mb"],
            "train_state_mb": 16 * top["params"] / 2**20,
            "activation_mb_per_example": per_example,
            "train_batch32_estimate_mb": 16 * top["params"] / 2**20 + 32 * per_example,
        }
    return {
        "threads": threads,
        "gpu_tflops_assumed": gpu_tflops,
        "hours": {f"{paper}:{model}": stages for (paper, model), stages in hours.items()},
        "flop_hours": {f"{paper}:{model}": st for (paper, model), st in flop_hours.items()},
        "memory": memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=PAPER_A, choices=list(ARCHITECTURES))
    parser.add_argument(
        "--lengths",
        type=int,
        nargs="+",
        default=None,
        help="default: 384 for BERT-large; 64, 384, 512 for the others",
    )
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs after one warm-up")
    parser.add_argument(
        "--train-batch", type=int, default=32, help="fine-tuning batch: one AdamW step per batch"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast on CUDA")
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), help="time used by the plan (default cpu on CPU)"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per model")
    parser.add_argument("--json", type=Path, help="write measurements and plan to this file")
    parser.add_argument(
        "--from-json", type=Path, nargs="+", help="no timing: merge these results, print the plan"
    )
    parser.add_argument(
        "--gpu-tflops", type=float, default=200.0, help="assumed sustained TFLOP/s (FLOP estimate)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-lengths", type=int, nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args.child_lengths, args)))
        return
    rows = []
    if args.from_json:
        merged: dict = {}
        for path in args.from_json:
            for row in json.loads(path.read_text())["rows"]:
                merged[(row["model"], row["length"])] = row
        rows = list(merged.values())
    for model in [] if args.from_json else args.models:
        lengths = args.lengths or ([384] if model == "bert_large" else [64, 384, 512])
        command = [
            sys.executable,
            __file__,
            "--child",
            model,
            "--child-lengths",
            *map(str, lengths),
        ]
        command += ["--batch", str(args.batch), "--repeats", str(args.repeats)]
        command += ["--train-batch", str(args.train_batch)]
        command += ["--threads", str(args.threads), "--device", args.device]
        command += ["--bf16"] if args.bf16 else []
        command += ["--clock", args.clock] if args.clock else []
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=args.timeout, check=True
            )
        except subprocess.TimeoutExpired:
            print(f"{model}: over {args.timeout:.0f} s", flush=True)
            continue
        except subprocess.CalledProcessError as error:
            print(f"{model}: failed\n{error.stderr[-2000:]}", flush=True)
            continue
        found = json.loads(done.stdout.strip().splitlines()[-1])["rows"]
        rows += found
        for row in found:
            print(
                f"{model:12s} L={row['length']:4d} "
                f"forward {row['forward_s_per_example'] * 1e3:9.1f} ms/ex  "
                f"train step {row['train_step_s_per_example'] * 1e3:9.1f} ms/ex  "
                f"peak RSS {row['train_peak_rss_mb']:7.0f} MB",
                flush=True,
            )
    result = {"device": args.device, "threads": args.threads, "batch": args.batch, "rows": rows}
    result["protocol"] = PROTOCOL
    result["plan"] = plan(rows, args.threads, args.gpu_tflops)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print_plan(result["plan"])


def print_plan(result: dict) -> None:
    print(f"\nHours on the measuring device ({result['threads']} thread(s)), per model and stage\n")
    for paper in ("A", "B512", "B64"):
        entries = {
            k.split(":", 1)[1]: v for k, v in result["hours"].items() if k.startswith(paper + ":")
        }
        if not entries:
            continue
        stages = list(next(iter(entries.values())))
        print(f"Paper {paper}")
        gpu = f"GPU h at {result['gpu_tflops_assumed']:.0f} TFLOP/s (FLOP estimate)"
        print("| model | " + " | ".join(stages) + f" | total | {gpu} |")
        print("|---|" + "---|" * (len(stages) + 2))
        grand = flop_grand = 0.0
        for model, values in entries.items():
            total = sum(values.values())
            flops = sum(result["flop_hours"][f"{paper}:{model}"].values())
            grand += total
            flop_grand += flops
            cells = " | ".join(f"{values[s]:,.1f}" for s in stages)
            print(f"| {model} | {cells} | {total:,.1f} | {flops:,.2f} |")
        print(f"| all | {' | '.join('' for _ in stages)} | {grand:,.1f} | {flop_grand:,.2f} |\n")
    print(
        "| model | params (M) | inference peak RSS, batch 1 (MB) | AdamW state (MB) "
        "| activations per example (MB) | fine-tuning at batch 32 (MB) |"
    )
    print("|---|---|---|---|---|---|")
    for model, m in result["memory"].items():
        print(
            f"| {model} (L={m['length']}) | {m['params_M']:.1f} "
            f"| {m['inference_peak_rss_mb_batch1']:,.0f} (L={m['inference_length']}) | "
            f"{m['train_state_mb']:,.0f} | {m['activation_mb_per_example']:,.0f} | "
            f"{m['train_batch32_estimate_mb']:,.0f} |"
        )


if __name__ == "__main__":
    main()
