"""Generation: conditions, rejection sampling, chunked writing, oversampling.

The sampling calls themselves are methods of every model (``model.sample``,
``model.iter_samples``, ``model.stream``); this package holds what they share:

- ``conditions``: the safe condition language (expression string or dict -> polars filter);
- ``sampling``: ``RowSource``, exact-size takes with rejection and adaptive round sizes;
- ``writer``: ``ChunkedWriter`` / ``write_sample`` to Parquet, CSV, NDJSON, local or s3://;
- ``rebalance``: oversample a minority class.
"""

from engine.generation.conditions import ConditionSet, InfeasibleConditionError, parse_conditions
from engine.generation.rebalance import rebalance
from engine.generation.sampling import RowSource
from engine.generation.writer import ChunkedWriter, WriteResult, write_frames, write_sample

__all__ = [
    "ChunkedWriter",
    "ConditionSet",
    "InfeasibleConditionError",
    "RowSource",
    "WriteResult",
    "parse_conditions",
    "rebalance",
    "write_frames",
    "write_sample",
]
