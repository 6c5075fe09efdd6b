"""Generation: chunked writing and oversampling, on top of trained models.

The sampling calls themselves are methods of every model (``model.sample``,
``model.iter_samples``, ``model.stream``); the condition language and the row sources they
use live below the models (``engine.models.conditions``, ``engine.models.row_source``).
This package uses models, and no model uses it:

- ``writer``: ``ChunkedWriter`` / ``write_sample`` to Parquet, CSV, NDJSON, local or s3://;
- ``rebalance``: oversample a minority class.
"""

from engine.generation.rebalance import rebalance
from engine.generation.writer import ChunkedWriter, WriteResult, write_frames, write_sample

__all__ = [
    "ChunkedWriter",
    "WriteResult",
    "rebalance",
    "write_frames",
    "write_sample",
]
