"""The decompressed bytes of a source, re-openable as often as a reader needs them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from engine.data.decompress import open_decompressed, read_all_capped
from engine.data.sources import ByteSource
from engine.errors import LimitExceededError

HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Payload:
    """A :class:`ByteSource` seen through its compression (gzip, zstd or none)."""

    source: ByteSource
    compression: str | None
    max_decompressed_bytes: int | None

    @property
    def label(self) -> str:
        return self.source.label

    def open(self) -> BinaryIO:
        """A fresh stream of the decompressed bytes; the caller closes it."""
        raw = self.source.open()
        if self.compression is None:
            return raw
        return open_decompressed(
            raw, compression=self.compression, cap=self.max_decompressed_bytes, label=self.label
        )

    def head(self, n_bytes: int = HEAD_BYTES) -> tuple[bytes, bool]:
        """The first ``n_bytes`` decompressed bytes, and whether they are the whole payload."""
        if self.compression is None:
            head = self.source.head(n_bytes + 1)
        else:
            with self.open() as stream:
                head = stream.read(n_bytes + 1)
        return head[:n_bytes], len(head) <= n_bytes

    def read_all(self, cap: int | None = None) -> bytes:
        """All decompressed bytes in memory, bounded by ``max_decompressed_bytes`` (or by a
        tighter ``cap``, counted while reading, for readers that need a multiple of the text)."""
        if self.compression is None and self.source.data is not None:
            if cap is not None and len(self.source.data) > cap:
                raise LimitExceededError(
                    f"{self.label} is larger than {cap:,} bytes (max_decompressed_bytes); nothing was read"
                )
            return self.source.data
        with self.open() as stream:
            limit = self.max_decompressed_bytes if self.compression else None
            if cap is not None:
                limit = cap if limit is None else min(cap, limit)
            return read_all_capped(stream, cap=limit, label=self.label, what="max_decompressed_bytes")

    @property
    def local_path(self) -> str | None:
        """The path of an uncompressed local file, for readers that open paths natively."""
        if self.compression is None and self.source.path is not None:
            return str(self.source.path)
        return None
