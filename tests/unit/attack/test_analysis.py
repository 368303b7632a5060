from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from trusteq.analyses.attack import AttackAnalysis, AttackAnalysisError, unary_attack_metrics
from trusteq.producers.attack import AttackProducer, AttackTransferProducer

from .conftest import BagOfWords

LABELS = ["negative", "positive"]


class FakeContext:
    """What AttackAnalysis reads: variants, reference, noise floor, produced entries, cfg."""

    def __init__(self, entries, variants, floor="seed2"):
        self.entries = entries
        self.variants = variants
        self.reference = variants[0]
        self.noise_floor = floor
        self.compare = OmegaConf.create({"n_resamples": 30, "confidence": 0.9, "bootstrap_seed": 0})
        self.producers = {"attack": "test", "transfer_reference": "test"}

    def produced(self, variant, producer):
        return self.entries[variant, producer]


def test_unary_metrics_hand_computed():
    arrays = {
        "status": np.array([0, 0, 1, 2]),
        "queries": np.array([10, 20, 30, 0]),
        "words_changed": np.array([1, 2, 0, 0]),
        "word_count": np.array([10, 10, 10, 10]),
        "seconds": np.array([1.0, 2.0, 3.0, 0.0]),
    }
    metrics = unary_attack_metrics(arrays)
    assert metrics["clean_accuracy"] == pytest.approx(3 / 4)
    assert metrics["accuracy_under_attack"] == pytest.approx(1 / 4)
    assert metrics["attack_success_rate"] == pytest.approx(2 / 3)
    assert metrics["mean_queries"] == pytest.approx(20.0)
    assert metrics["mean_words_perturbed_pct"] == pytest.approx(15.0)
    assert metrics["seconds_per_example"] == pytest.approx(2.0)


def test_analysis_end_to_end_on_tiny_entries(tokenizer, split, recipe, tmp_path):
    models = {
        "reference": BagOfWords(tokenizer),
        "seed2": BagOfWords(tokenizer),
        "small": BagOfWords(tokenizer, ignore=("good",)),
    }
    entries = {}
    for name, model in models.items():
        arrays, records = AttackProducer(recipe, n_examples=None, progress=False).produce(
            model, tokenizer, split, LABELS, {}, tmp_path / name
        )
        entries[name, "attack"] = (arrays, {"records": records})
    transfer = AttackTransferProducer(source_variant="reference")
    for name, model in models.items():
        arrays, records = transfer.produce(
            model,
            tokenizer,
            split,
            LABELS,
            {},
            tmp_path / "t",
            {"attack": entries["reference", "attack"]},
        )
        entries[name, "transfer_reference"] = (arrays, {"records": records})
    context = FakeContext(entries, list(models))
    result = AttackAnalysis(transfer=["transfer_reference"]).run(context)
    jaccard = result.matrices["attack_vulnerable_jaccard"]
    assert jaccard.value[0, 1] == 1.0  # the seed replicate is the same bag of words
    rate = result.matrices["attack_attack_transfer_rate"]
    assert rate.value[0, 0] == 1.0 and rate.value[0, 1] == 1.0
    assert np.isnan(rate.value[1, 0])  # no transfer entry from seed2
    assert result.study_metrics["attack_vulnerable_jaccard.noise_floor"] == 1.0
    assert result.summary["small"]["vuln_j"] <= 1.0
    assert set(result.variant_metrics["small"]) >= {"attack_success_rate", "mean_queries"}
    pairs = result.tables["attack_pairs.csv"]
    assert {"beyond_floor", "reference_floor"} <= set(pairs.columns)
    figure = result.figures["attacked_sentences.png"]
    figure.savefig(tmp_path / "figure.png", dpi=80)
    if __import__("os").environ.get("TRUSTEQ_KEEP_FIGURE"):
        figure.savefig(__import__("os").environ["TRUSTEQ_KEEP_FIGURE"], dpi=110)
    assert (tmp_path / "figure.png").stat().st_size > 1000


def test_undeclared_producer_is_named():
    context = FakeContext({}, ["reference"])
    context.producers = {}
    with pytest.raises(AttackAnalysisError, match="does not declare"):
        AttackAnalysis().run(context)
