"""Word-substitution attacks (TextAttack 0.3.11) as per-variant, resumable producers.

- :mod:`~trusteq.producers.attack.recipes`: PWWS, WordNet-constrained (offline default),
  DeepWordBug and BERT-Attack with a configurable masked LM (``conf/attack/*.yaml``);
- :mod:`~trusteq.producers.attack.producer`: :class:`AttackProducer` (per example: success /
  failed / skipped, queries, words changed, the adversarial text) and
  :class:`AttackTransferProducer` (a variant on another variant's adversarial texts);
- :mod:`~trusteq.producers.attack.environment`: the offline NLTK data folder and a download-free
  ``import textattack``.

TextAttack itself is imported only when an attack is built.
"""

from trusteq.producers.attack.producer import (
    FAILED,
    SKIPPED,
    STATUSES,
    SUCCESS,
    AttackError,
    AttackProducer,
    AttackTransferProducer,
    decode_utf8,
    encode_utf8,
)
from trusteq.producers.attack.recipes import (
    PWWS,
    AttackConfigError,
    BertAttack,
    DeepWordBug,
    Recipe,
    WordNetConstrained,
)

__all__ = [
    "FAILED",
    "PWWS",
    "SKIPPED",
    "STATUSES",
    "SUCCESS",
    "AttackConfigError",
    "AttackError",
    "AttackProducer",
    "AttackTransferProducer",
    "BertAttack",
    "DeepWordBug",
    "Recipe",
    "WordNetConstrained",
    "decode_utf8",
    "encode_utf8",
]
