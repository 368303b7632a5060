"""Content-hash keys for cache entries.

A key is the sha256 of the canonical JSON of everything that defines an entry's contents (model
weights identity, compression steps, data fingerprint, seed, training recipe, a format version)
and of nothing else (batch size at inference, device, threads, progress bars).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: Bump when the layout or meaning of cached tensors changes; old entries are then ignored.
FORMAT_VERSION = 1


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace; raises TypeError for non-JSON values."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def content_key(kind: str, ingredients: dict[str, Any], length: int = 20) -> str:
    """The cache key of an entry of `kind` made from `ingredients`.

    Args:
        kind: entry kind (`checkpoint`, `outputs`); part of the hash.
        ingredients: JSON-able description of what defines the entry.
        length: number of hex characters kept (20 hex = 80 bits).

    Returns:
        A lowercase hex string.
    """
    payload = canonical_json({"kind": kind, "format": FORMAT_VERSION, **ingredients})
    return hashlib.sha256(payload.encode()).hexdigest()[:length]
