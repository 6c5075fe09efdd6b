"""Quality assessment of synthetic data: fidelity, utility and privacy, with gates and a report.

``engine.assess(real=, synthetic=, holdout=, target=)`` (``engine.quality.assess``) returns a
``QualityReport`` (``engine.quality.report``). The pillars live in ``fidelity``, ``utility`` and
``privacy``; ``gates`` turns their numbers into a verdict; ``html`` renders the page.
Submodules load on first use, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "assess": "engine.quality.assess:assess",
    "QualityReport": "engine.quality.report:QualityReport",
    "QualityConfig": "engine.quality.config:QualityConfig",
    "GateResult": "engine.quality.gates:GateResult",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'engine.quality' has no attribute {name!r}")
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)


__all__ = list(_LAZY)
