"""The OOD analysis on synthetic cached outputs (a fake context: no study, no model)."""

from __future__ import annotations

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from trusteq.analyses.ood import OODAnalysis
from trusteq.ood.metrics import auroc
from trusteq.ood.scorers import DeepKNN, EnergyScore, MaxSoftmaxProbability
from trusteq.testing.tiny import compose

SIZES = {"train": 120, "validation": 60, "test": 80, "ood_a": 40, "ood_b": 30}


class FakeContext:
    """What OODAnalysis reads from an AnalysisContext."""

    def __init__(self, arrays, reference="ref", noise_floor="ref_seed"):
        self.arrays = arrays
        self.variants = list(arrays)
        self.reference, self.noise_floor = reference, noise_floor
        compare = {"n_resamples": 30, "confidence": 0.95, "bootstrap_seed": 0}
        self.compare = OmegaConf.create(compare)
        self.producers = {}

    def outputs(self, variant, split):
        return self.arrays[variant][split]

    def meta(self, variant, split):
        return {"ids": [f"{split}:{i}" for i in range(SIZES[split])]}


def _variant(seed: int, noise: float) -> dict[str, dict[str, np.ndarray]]:
    base = np.random.default_rng(0)
    rng = np.random.default_rng(seed)
    splits = {}
    for split, n in SIZES.items():
        ood = split.startswith("ood")
        direction = np.eye(8)[1 if ood else 0] * 2.0  # in- and out-of-distribution directions
        centre = 0.7 * base.normal(size=(n, 8)) + direction
        logits = base.normal(size=(n, 2)) * (1.0 if ood else 3.0)
        splits[split] = {
            "logits": logits + noise * rng.normal(size=logits.shape),
            "embeddings_cls": centre + noise * rng.normal(size=centre.shape),
            "targets": np.zeros(n, dtype=np.int64),
        }
    return splits


@pytest.fixture(scope="module")
def result_and_context():
    arrays = {"ref": _variant(1, 0.1), "ref_seed": _variant(2, 0.1), "small": _variant(3, 1.5)}
    context = FakeContext(arrays)
    analysis = OODAnalysis(
        {"msp": MaxSoftmaxProbability(), "energy": EnergyScore(), "knn": DeepKNN(k=5)},
        ood_splits=["ood_a", "ood_b"],
        ks=[1, 5, 20],
    )
    return analysis.run(context), context


def test_metrics_match_direct_computation(result_and_context):
    result, context = result_and_context
    train = context.outputs("small", "train")
    scorer = DeepKNN(k=5)
    expected = auroc(
        scorer.score(context.outputs("small", "test"), train),
        scorer.score(context.outputs("small", "ood_b"), train),
    )
    assert result.variant_metrics["small"]["auroc.knn.ood_b"] == pytest.approx(expected)
    table = result.tables["metrics.csv"]
    assert len(table) == 3 * 3 * 2
    row = table[(table.variant == "small") & (table.scorer == "knn") & (table.split == "ood_b")]
    assert row["auroc"].item() == pytest.approx(expected)
    assert result.summary["ref"]["auroc_knn"] > 0.9  # OOD shifted along one direction
    # The validation threshold keeps >= 95% of validation inputs.
    for variant in context.variants:
        threshold = result.variant_metrics[variant]["threshold.knn"]
        scores = scorer.score(
            context.outputs(variant, "validation"), context.outputs(variant, "train")
        )
        assert np.mean(scores <= threshold) >= 0.95


def test_matrices_and_noise_floor_ordering(result_and_context):
    result, _ = result_and_context
    assert set(result.matrices) == {
        f"ood_flag_{kind}.{scorer}"
        for kind in ("jaccard", "chance_jaccard", "kappa")
        for scorer in ("msp", "energy", "knn")
    }
    jaccard = result.matrices["ood_flag_jaccard.knn"]
    i, floor, small = (jaccard.variants.index(v) for v in ("ref", "ref_seed", "small"))
    assert jaccard.value[i, floor] > jaccard.value[i, small]  # the noisier variant flags others
    n_flagged = 80 + 40 + 30
    assert jaccard.metadata["n_examples"] == n_flagged


def test_curve_and_tables(result_and_context):
    result, _ = result_and_context
    curve = result.tables["flag_agreement_vs_k.csv"]
    assert sorted(curve.k.unique()) == [1, 5, 20] and len(curve) == 9
    assert curve.loc[curve.variant == "ref", "jaccard"].eq(1.0).all()
    assert set(result.tables["flag_agreement.csv"].split) == {"all", "ood_a", "ood_b"}
    assert set(result.figures) == {"auroc.png", "flag_agreement_vs_k.png"}
    assert result.study_metrics["n.ood_b"] == 30


def test_required_splits_and_config():
    cfg = compose(["experiment=quickstart"])  # the quick-start declares analyses.ood
    analysis = instantiate(cfg.analyses.ood)
    assert analysis.required_splits() == [
        "validation",
        "test",
        "ood_tweets",
        "ood_amazon",
        "ood_nyt",
        "ood_newsgroups",
        "train",
    ]
    assert analysis.curve_scorer == "knn" and isinstance(analysis.scorers["knn"], DeepKNN)
    no_knn = OODAnalysis({"msp": MaxSoftmaxProbability()}, ood_splits=["ood_a"])
    assert "train" not in no_knn.required_splits() and no_knn.curve_scorer is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"scorers": {}}, "scorers"),
        ({"ood_splits": []}, "ood_splits"),
        ({"ood_splits": ["test"]}, "ood_splits"),
        ({"tpr": 1.0}, "tpr"),
        ({"ks": [0, 5]}, "ks"),
        ({"curve_scorer": "msp"}, "curve_scorer"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    arguments = {
        "scorers": {"msp": MaxSoftmaxProbability(), "knn": DeepKNN()},
        "ood_splits": ["ood_a"],
        **kwargs,
    }
    with pytest.raises(ValueError, match=rf"analyses\.<name>\.{field}"):
        OODAnalysis(**arguments)


def test_k_above_the_training_split_is_a_config_error():
    arrays = {"ref": _variant(1, 0.1), "ref_seed": _variant(2, 0.1)}
    analysis = OODAnalysis({"knn": DeepKNN(k=5)}, ood_splits=["ood_a"], ks=[1, 500])
    with pytest.raises(ValueError, match=r"k = 500 exceeds the 120 examples of split 'train'"):
        analysis.run(FakeContext(arrays))
