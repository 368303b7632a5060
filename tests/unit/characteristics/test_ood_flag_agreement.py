"""Flag-set agreement against Python sets and sklearn's Cohen's kappa."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from trusteq.characteristics.ood_flag_agreement import flag_agreement, flags_as_outputs


def test_values_match_sets_chance_and_sklearn_kappa():
    rng = np.random.default_rng(0)
    ref = rng.random(300) < 0.3
    small = np.where(rng.random(300) < 0.7, ref, rng.random(300) < 0.3)
    result = flag_agreement({"ref": ref, "small": small}, n_resamples=50, seed=1)
    set_ref, set_small = set(np.flatnonzero(ref)), set(np.flatnonzero(small))
    jaccard = len(set_ref & set_small) / len(set_ref | set_small)
    assert result["jaccard"].value[0, 1] == pytest.approx(jaccard)
    p, q = ref.mean(), small.mean()
    assert result["chance_jaccard"].value[0, 1] == pytest.approx(p * q / (p + q - p * q))
    assert result["kappa"].value[0, 1] == pytest.approx(cohen_kappa_score(ref, small))
    assert result["jaccard"].ci_low[0, 1] <= jaccard <= result["jaccard"].ci_high[0, 1]
    assert [r.name for r in result.values()] == [
        "ood_flag_jaccard",
        "ood_flag_chance_jaccard",
        "ood_flag_kappa",
    ]


def test_names_and_pseudo_outputs():
    flags = np.array([True, False, True])
    pseudo = flags_as_outputs(flags)
    assert (pseudo["preds"] != pseudo["targets"]).tolist() == flags.tolist()
    result = flag_agreement({"a": flags, "b": flags}, n_resamples=0, suffix=".knn")
    assert result["kappa"].name == "ood_flag_kappa.knn"
    np.testing.assert_allclose(result["jaccard"].value, 1.0)
