"""trusteq: do compressed models keep the trust properties of their reference?"""

from __future__ import annotations

__version__ = "0.1.0"
