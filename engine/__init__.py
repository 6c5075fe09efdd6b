"""Doppel's engine: read, profile, encode, train, generate and assess synthetic tables.

Importable on its own in a notebook: importing it loads no Streamlit, no database driver and
starts no thread. Heavy submodules (torch, SQLAlchemy) load on first use of the call that
needs them, through the lazy attribute table below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.errors import (
    ConfigError,
    DoppelError,
    InputError,
    LimitExceededError,
    SourceUnavailableError,
    UnsafeConnectionError,
)
from engine.version import __version__

# public name -> "module:attribute"; resolved on first access (PEP 562).
_LAZY = {
    "read": "engine.data.files:read",
    "scan": "engine.data.files:scan",
    "split": "engine.splitting:split",
    "read_sql": "engine.data.sql:read_sql",
    "read_sql_tables": "engine.data.sql:read_sql_tables",
    "read_tables": "engine.data.tables:read_tables",
    "split_tables": "engine.relational.split:split_tables",
    "profile": "engine.profiling:profile",
    "profile_tables": "engine.profiling:profile_tables",
    "Profile": "engine.profiling:Profile",
    "DataTransformer": "engine.transform:DataTransformer",
    "assess": "engine.quality.assess:assess",
    "assess_tables": "engine.quality.schema_report:assess_tables",
    "SchemaReport": "engine.quality.schema_report:SchemaReport",
    "QualityReport": "engine.quality.report:QualityReport",
    "train": "engine.training:train",
    "Privacy": "engine.privacy.config:Privacy",
    "load_model": "engine.loading:load_model",
    "train_tables": "engine.relational.train:train_tables",
    "RelationalModel": "engine.relational.model:RelationalModel",
    "train_sequences": "engine.sequences.train:train_sequences",
    "SequenceModel": "engine.sequences.model:SequenceModel",
    "assess_sequences": "engine.quality.sequences.assess:assess_sequences",
    "SequenceReport": "engine.quality.sequences.report:SequenceReport",
    "split_sequences": "engine.sequence_split:split_sequences",
    "Synthesizer": "engine.models.base:Synthesizer",
    "rebalance": "engine.generation.rebalance:rebalance",
    "S3Credentials": "engine.data.s3:S3Credentials",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from engine.data.files import read, scan
    from engine.data.s3 import S3Credentials
    from engine.data.sql import read_sql, read_sql_tables
    from engine.data.tables import read_tables
    from engine.generation.rebalance import rebalance
    from engine.models.base import Synthesizer
    from engine.loading import load_model
    from engine.relational.model import RelationalModel
    from engine.relational.train import train_tables
    from engine.relational.split import split_tables
    from engine.sequences.model import SequenceModel
    from engine.sequences.train import train_sequences
    from engine.quality.sequences.assess import assess_sequences
    from engine.quality.sequences.report import SequenceReport
    from engine.sequence_split import split_sequences
    from engine.privacy.config import Privacy
    from engine.profiling import Profile, profile, profile_tables
    from engine.quality.assess import assess
    from engine.quality.report import QualityReport
    from engine.quality.schema_report import SchemaReport, assess_tables
    from engine.training import train
    from engine.splitting import split
    from engine.transform import DataTransformer


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    module_name, attr = target.split(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ConfigError",
    "DoppelError",
    "InputError",
    "LimitExceededError",
    "SourceUnavailableError",
    "UnsafeConnectionError",
    "__version__",
    *_LAZY,
]
