"""The attribution analysis makes no noise floor of an explainer that ignores its seed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from trusteq.analyses.attribution import AttributionAgreement
from trusteq.analyses.base import AnalysisContext

N, W = 12, 8
VARIANTS = ["reference", "small"]


class FakeView:
    """The cache view of a study: two LIME seeds (two entries), two SHAP Partition seeds that
    the pipeline keyed alike (one entry), for a reference and one variant."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.variants, self.reference, self.noise_floor = VARIANTS, "reference", None
        self.entries = {}
        for variant in VARIANTS:
            names = (("lime", "l0"), ("lime_seed1", "l1"), ("shap", "s"), ("shap_seed1", "s"))
            for name, key in names:
                arrays = {
                    "attributions": rng.normal(size=(N, W)),
                    "example_index": np.arange(N),
                    "labels": np.zeros(N, dtype=np.int64),
                    "explained_class": np.zeros(N, dtype=np.int64),
                }
                if key == "s" and (variant, "shap") in self.entries:
                    arrays = self.entries[variant, "shap"][1][0]  # one entry, read twice
                words = [f"w{j}" for j in range(W)]
                examples = [{"id": f"x{i}", "words": words} for i in range(N)]
                meta = {"seconds": 1.0, "records": {"examples": examples, "label_names": ["a"]}}
                self.entries[variant, name] = (f"{variant}-{key}", (arrays, meta))
        self.producers = dict.fromkeys(["lime", "lime_seed1", "shap", "shap_seed1"], "test")

    def produced(self, variant, producer):
        return self.entries[variant, producer][1]

    def produced_key(self, variant, producer):
        return self.entries[variant, producer][0]


def test_seed_replicates_with_one_cache_key_make_no_floor():
    view = FakeView()
    context = AnalysisContext(
        view, SimpleNamespace(n_resamples=50, confidence=0.95, bootstrap_seed=0)
    )
    analysis = AttributionAgreement(
        {"lime": ["lime", "lime_seed1"], "shap": ["shap", "shap_seed1"]},
        k_values=[3],
        agreement_k=[3],
        summary_k=3,
    )
    result = analysis.run(context)
    assert "attribution_lime_jaccard_k3_cross_seed" in result.matrices
    assert "attribution_shap_jaccard_k3_cross_seed" not in result.matrices
    table = result.tables["agreement.csv"]
    assert set(table[table.explainer == "lime"].n_seeds) == {2}
    assert set(table[table.explainer == "shap"].n_seeds) == {1}
    small = result.variant_metrics["small"]
    assert {"lime.jaccard_k3.seed_var", "lime.jaccard_k3.seed_floor"} <= set(small)
    assert not [key for key in small if key.startswith("shap.") and "seed" in key]
    assert "lime.jaccard_k3.noise_floor" in result.study_metrics
    assert not [key for key in result.study_metrics if key.startswith("shap.")]
    # the value itself is still there, and is the mean over the one explanation
    assert 0.0 <= small["shap.jaccard_k3"] <= 1.0
