"""Stream-decompress gzip and zstd with a hard cap on the decompressed size.

A small compressed file can expand to gigabytes (a "zip bomb"), so nothing here inflates a
whole file and measures it afterwards. The compressed bytes are fed in small pieces, every
output chunk is counted, and :class:`LimitExceededError` is raised as soon as the running
total passes ``max_decompressed_bytes``. For gzip the output of each step is bounded by zlib's
``max_length``; zstd's decompression object has no such bound, so its input is fed in 2 KiB
pieces, which bounds one step's output to what 2 KiB of zstd can encode.

Truncated and corrupt streams raise :class:`InputError` naming the source; multi-member gzip
files and multi-frame zstd files are read to the end.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from engine.errors import InputError, LimitExceededError

_GZIP_IN = 64 * 1024
_GZIP_OUT = 256 * 1024
_ZSTD_IN = 2 * 1024


def _gzip_chunks(raw: BinaryIO, label: str) -> Iterator[bytes]:
    obj = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    fed = False
    carry = b""
    while True:
        if carry:  # bytes after the end of a member: the next member (or padding)
            data, carry = carry, b""
        elif not obj.eof and obj.unconsumed_tail:  # input held back by the output bound
            data = obj.unconsumed_tail
        else:
            data = raw.read(_GZIP_IN)
        if not data:
            if fed and not obj.eof:
                raise InputError(f"{label}: the gzip data is truncated (the file ends in the middle of the stream)")
            return
        if obj.eof:
            if not data.strip(b"\x00"):
                continue  # zero padding after the last member
            obj = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out = obj.decompress(data, _GZIP_OUT)
        except zlib.error as exc:
            raise InputError(f"{label}: corrupt gzip data ({exc})") from None
        fed = True
        if out:
            yield out
        if obj.eof:
            carry = obj.unused_data


def _zstd_chunks(raw: BinaryIO, label: str) -> Iterator[bytes]:
    import zstandard

    dctx = zstandard.ZstdDecompressor()
    obj = dctx.decompressobj()
    fed = False
    carry = b""
    while True:
        if carry:
            data, carry = carry, b""
        else:
            data = raw.read(_ZSTD_IN)
        if not data:
            if fed and not obj.eof:
                raise InputError(f"{label}: the zstd data is truncated (the file ends in the middle of a frame)")
            return
        if obj.eof:
            if not data.strip(b"\x00"):
                continue
            obj = dctx.decompressobj()
        try:
            out = obj.decompress(data)
        except zstandard.ZstdError as exc:
            raise InputError(f"{label}: corrupt zstd data ({exc})") from None
        fed = True
        if out:
            yield out
        if obj.eof:
            carry = obj.unused_data


class CappedReader(io.RawIOBase):
    """A read-only stream over decompressed chunks that refuses to pass a byte cap."""

    def __init__(
        self,
        chunks: Iterator[bytes],
        *,
        cap: int | None,
        label: str,
        on_close: Callable[[], None],
    ) -> None:
        super().__init__()
        self._chunks = chunks
        self._cap = cap
        self._label = label
        self._on_close = on_close
        self._buffer = memoryview(b"")
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not len(self._buffer):
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self.produced += len(chunk)
            if self._cap is not None and self.produced > self._cap:
                raise LimitExceededError(
                    f"{self._label} decompresses to more than {self._cap:,} bytes "
                    "(max_decompressed_bytes); reading stopped there"
                )
            self._buffer = memoryview(chunk)
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._on_close()
        super().close()


def open_decompressed(raw: BinaryIO, *, compression: str, cap: int | None, label: str) -> BinaryIO:
    """A buffered binary stream of ``raw`` decompressed, capped at ``cap`` bytes.

    Closing the returned stream closes ``raw``.
    """
    if compression == "gzip":
        chunks = _gzip_chunks(raw, label)
    elif compression == "zstd":
        chunks = _zstd_chunks(raw, label)
    else:  # pragma: no cover - callers pass only detected kinds
        raise ValueError(f"unknown compression {compression!r}")
    return io.BufferedReader(CappedReader(chunks, cap=cap, label=label, on_close=raw.close), 1 << 16)


def read_all_capped(stream: BinaryIO, *, cap: int | None, label: str, what: str) -> bytes:
    """Read a whole stream into memory, refusing to go past ``cap`` bytes."""
    buffer = bytearray()
    while chunk := stream.read(1 << 20):
        buffer += chunk
        if cap is not None and len(buffer) > cap:
            raise LimitExceededError(f"{label} is larger than {cap:,} bytes ({what}); reading stopped there")
    return bytes(buffer)
