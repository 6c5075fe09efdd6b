"""Profiling: what each column holds, what is personal, how tables link, what to train.

``profile(df)`` describes one table; ``profile_tables({...})`` several related ones plus their
keys. ``results`` holds the shape of the results; every threshold is a
named constant in the module that applies it (``semantic``, ``pii``, ``keys``,
``dependencies``, ``profile_warnings``, ``recommend``).
"""

from __future__ import annotations

from engine.profiling.keys import FK_REPORT_THRESHOLD, DeclaredKeys
from engine.profiling.profiler import profile, profile_tables
from engine.profiling.results import (
    ColumnProfile,
    ForeignKeyCandidate,
    ModelRecommendation,
    PIIFinding,
    Profile,
    ProfileWarning,
    TablesProfile,
)

__all__ = [
    "FK_REPORT_THRESHOLD",
    "ColumnProfile",
    "DeclaredKeys",
    "ForeignKeyCandidate",
    "ModelRecommendation",
    "PIIFinding",
    "Profile",
    "ProfileWarning",
    "TablesProfile",
    "profile",
    "profile_tables",
]

