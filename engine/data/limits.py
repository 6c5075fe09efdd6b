"""The reader's own limits: what ``engine.read`` refuses when its caller sets no cap.

A small hostile file must never take the process down (a Rust allocation failure aborts
Python outright, with no exception to catch), so the engine bounds every size by what it
actually decodes, and has finite defaults of its own. The platform passes its own caps
(``infra.settings``); a notebook user gets these.

- :data:`DEFAULT_MAX_DECOMPRESSED_BYTES` (2 GiB): the default ``max_decompressed_bytes`` of
  ``engine.read``/``engine.scan``. It bounds the decompressed text of gzip/zstd payloads, the
  decoded column data of Parquet (counted batch by batch as it is decoded, not taken from the
  footer), and the cells of a CSV once parsed into memory. ``None`` passed explicitly lifts it.
- :data:`JSON_PARSE_FACTOR`: JSON and NDJSON documents are parsed whole by polars, which
  needs several times the text's size while it works (measured: about 8x for a document with
  one huge string). The text may therefore be at most ``max_decompressed_bytes`` divided by
  this factor.
- :data:`CSV_PARSE_FACTOR` and :data:`CELL_BYTES`: a CSV's cells are held as polars strings
  (:data:`CELL_BYTES` per cell besides the text that does not fit in the cell), then cleaned
  and typed, which needs about 2.5 times the cells at its peak (measured: 50 MB of one-digit
  cells held 0.45 GiB of cells and peaked at 1.1 GiB). The cells may therefore take at most
  ``max_decompressed_bytes`` divided by :data:`CSV_PARSE_FACTOR`, so the whole read stays
  within about ``max_decompressed_bytes`` of memory.
- :data:`MAX_RECORD_BYTES` (64 MiB): the longest CSV record (one row, all its cells) and the
  longest CSV header line.
- :data:`MAX_JSON_DEPTH` (512): JSON nested deeper is refused when diagnosing it.
"""

from __future__ import annotations

DEFAULT_MAX_DECOMPRESSED_BYTES = 2 * 1024**3
JSON_PARSE_FACTOR = 8
CSV_PARSE_FACTOR = 3
CELL_BYTES = 16
MAX_RECORD_BYTES = 64 * 1024**2
MAX_JSON_DEPTH = 512

