"""Every conf/characteristic/*.yaml, and the analyses' attribution family, obeys the contract
its class declares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from scipy.special import softmax

from trusteq.characteristics.attribution_agreement import attribution_family
from trusteq.characteristics.base import PairwiseCharacteristic, as_characteristics

CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf" / "characteristic"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
N_EXAMPLES, N_CLASSES, WIDTH, MAX_WORDS = 200, 3, 16, 24


def _outputs(seed: int, shared: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    targets = shared["targets"] if shared else rng.integers(0, N_CLASSES, N_EXAMPLES)
    logits = rng.normal(size=(N_EXAMPLES, N_CLASSES)) * 2.0
    if shared:
        logits += shared["logits"]  # correlated with the first model, as variants are
    probs = softmax(logits, axis=1)
    # Word attributions `(N, W_max)`, NaN-padded beyond each example's 3..W_max words (some
    # below K = 10, so `min(K, W)` is exercised), correlated with the first model's.
    if shared:
        attributions = shared["attributions"] + rng.normal(size=(N_EXAMPLES, MAX_WORDS))
    else:
        attributions = rng.normal(size=(N_EXAMPLES, MAX_WORDS))
        words = rng.integers(3, MAX_WORDS + 1, N_EXAMPLES)
        attributions[np.arange(MAX_WORDS)[None, :] >= words[:, None]] = np.nan
    return {
        "attributions": attributions,
        "logits": logits.astype(np.float32),
        "probs": probs.astype(np.float32),
        "preds": probs.argmax(axis=1).astype(np.int64),
        "targets": targets.astype(np.int64),
        "embeddings_cls": rng.normal(size=(N_EXAMPLES, WIDTH)).astype(np.float32),
        "embeddings_mean": rng.normal(size=(N_EXAMPLES, WIDTH)).astype(np.float32),
    }


A = _outputs(0)
B = _outputs(1, shared=A)


def _characteristics() -> list[tuple[str, PairwiseCharacteristic]]:
    cases = []
    for path in CONFIGS:
        config = OmegaConf.load(path)
        assert next(iter(config)) == "_target_", f"{path.name}: _target_ must come first"
        for char in as_characteristics(instantiate(config)):
            cases.append((f"{path.stem}:{char.name}", char))
    # Built by `analyses.attribution`, not from conf/characteristic: the same contract holds.
    for char in as_characteristics(attribution_family()):
        cases.append((f"attribution:{char.name}", char))
    return cases


CASES = _characteristics()


def test_every_config_yields_a_characteristic():
    assert CONFIGS, f"no configs in {CONFIG_DIR}"
    assert {case_id.split(":")[0] for case_id, _ in CASES} == {path.stem for path in CONFIGS} | {
        "attribution"
    }


@pytest.fixture(params=CASES, ids=[case_id for case_id, _ in CASES])
def char(request) -> PairwiseCharacteristic:
    return request.param[1]


def test_declared_metadata(char):
    assert isinstance(char.name, str) and char.name
    assert char.requires and all(key in A for key in char.requires)
    low, high = char.bounds
    assert low < high
    assert char.identity_value is None or low <= char.identity_value <= high


def test_identity(char):
    if char.identity_value is None:
        pytest.skip(f"{char.name} declares no identity value")
    assert char(A, A) == pytest.approx(char.identity_value)


def test_symmetry(char):
    if not char.symmetric:
        pytest.skip(f"{char.name} is not symmetric")
    assert char(A, B) == pytest.approx(char(B, A))


def test_bounds(char):
    low, high = char.bounds
    for a, b in [(A, B), (B, A), (A, A)]:
        assert low - 1e-12 <= char(a, b) <= high + 1e-12


def test_chunking_invariance(char):
    if not char.chunkable:
        pytest.skip(f"{char.name} is not chunkable")
    whole = char(A, B)
    char.reset()
    for rows in np.array_split(np.arange(N_EXAMPLES), 3):
        char.update({k: v[rows] for k, v in A.items()}, {k: v[rows] for k, v in B.items()})
    assert char.compute() == pytest.approx(whole, abs=1e-12)
    char.reset()


def test_determinism(char):
    assert char(A, B) == char(A, B)


def test_statistics_and_totals_are_vectorised(char):
    statistics = char.statistics(char.prepare(A), char.prepare(B))
    assert statistics.ndim == 2 and statistics.shape[0] == N_EXAMPLES
    weights = np.random.default_rng(0).multinomial(N_EXAMPLES, np.full(N_EXAMPLES, 0.005), (4, 2))
    values = char.from_totals(weights @ statistics)
    assert values.shape == (4, 2)
    assert values[1, 0] == pytest.approx(float(char.from_totals(weights[1, 0] @ statistics)))


def test_perfect_models_give_a_bounded_value_or_an_explained_nan(char):
    """Issue 10: where a value is undefined (e.g. neither model errs) it is NaN with a reason."""
    perfect = dict(A, preds=A["targets"].copy())
    perfect["probs"] = np.eye(N_CLASSES, dtype=np.float32)[A["targets"]] * 0.98 + 0.02 / N_CLASSES
    value = char(perfect, perfect)
    if np.isnan(value):
        statistics = char.statistics(char.prepare(perfect), char.prepare(perfect))
        assert hasattr(char, "undefined_reason"), f"{char.name}: NaN without undefined_reason"
        assert char.undefined_reason(statistics.sum(axis=0))
    else:
        low, high = char.bounds
        assert low - 1e-12 <= value <= high + 1e-12
