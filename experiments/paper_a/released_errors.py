"""Paper A's error comparison from the released SQuAD 2.0 dev error lists, extended.

Adds what the paper lacks: bootstrap intervals, the chance expectation and error consistency κ.

    .venv/bin/python experiments/paper_a/released_errors.py [--data DIR] [--resamples R]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from trusteq.characteristics.chance_error_jaccard import ChanceErrorJaccard
from trusteq.characteristics.error_consistency import ErrorConsistency
from trusteq.characteristics.error_jaccard import ErrorJaccard
from trusteq.characteristics.matrix import pairwise_matrices
from trusteq.data.error_lists import error_outputs, load_error_lists

MODELS = {
    "bert_large": "BERT-large",
    "bert_base": "BERT-base",
    "distil_bert": "DistilBERT",
    "bert_medium": "BERT-Medium",
    "bert_mini": "BERT-Mini",
    "tiny_bert": "Tiny-BERT",
}
N_DEV = 11_873
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "paper_a_squad2_dev_errors"


def main() -> None:
    """Print the pairwise table and the paper's matrix."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    outputs = error_outputs(load_error_lists(args.data, list(MODELS)), N_DEV)
    outputs = {MODELS[name]: value for name, value in outputs.items()}
    jaccard, chance, kappa = pairwise_matrices(
        [ErrorJaccard(), ChanceErrorJaccard(), ErrorConsistency()],
        outputs,
        n_resamples=args.resamples,
        seed=0,
    )
    names = list(outputs)
    rates = {name: float((o["preds"] != o["targets"]).mean()) for name, o in outputs.items()}
    print(f"error rates (N = {N_DEV}): " + ", ".join(f"{n} {r:.3f}" for n, r in rates.items()))
    rows = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            rows.append(
                {
                    "pair": f"{names[i]} / {names[j]}",
                    "error Jaccard": jaccard.value[i, j],
                    "95% CI": f"[{jaccard.ci_low[i, j]:.3f}, {jaccard.ci_high[i, j]:.3f}]",
                    "chance Jaccard": chance.value[i, j],
                    "excess over chance": jaccard.value[i, j] - chance.value[i, j],
                    "kappa": kappa.value[i, j],
                    "kappa 95% CI": f"[{kappa.ci_low[i, j]:.3f}, {kappa.ci_high[i, j]:.3f}]",
                }
            )
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".3f"))
    print("\nerror Jaccard matrix (Paper A's table):")
    upper = np.where(np.triu(np.ones_like(jaccard.value, dtype=bool)), jaccard.value, np.nan)
    print(pd.DataFrame(upper, index=names, columns=names).to_markdown(floatfmt=".3f"))


if __name__ == "__main__":
    main()
