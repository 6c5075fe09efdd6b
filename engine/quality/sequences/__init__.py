"""Quality of synthetic histories (issue 19): ``engine.assess_sequences`` and its ``SequenceReport``.

``assess`` orchestrates; ``histories`` checks and lays out the long tables; ``temporal``,
``windows`` and ``entity_privacy`` compute the figures; ``gates`` judges them; ``report`` holds
them. Submodules load on first use, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "assess_sequences": "engine.quality.sequences.assess:assess_sequences",
    "SequenceReport": "engine.quality.sequences.report:SequenceReport",
    "SequenceQualityConfig": "engine.quality.sequences.config:SequenceQualityConfig",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'engine.quality.sequences' has no attribute {name!r}")
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)


__all__ = list(_LAZY)
