"""Chunked writing of generated rows to Parquet, CSV or NDJSON, on a local path or s3://.

Rows arrive as a sequence of frames and leave as they come: each frame becomes a Parquet row
group, or lines of CSV / NDJSON, so memory holds one frame (plus, for S3, one multipart part
of ``part_bytes``), never the whole output. Nothing is left half-written: a local file is
written under a temporary name in the same folder and renamed when complete; an S3 object is
a multipart upload that is completed at the end or aborted on error (a small output goes up
as one ``put_object``).

S3: ``s3://bucket/key`` with boto3's usual credentials; the endpoint (MinIO, a test server)
comes from ``endpoint_url`` or the ``DOPPEL_S3_ENDPOINT_URL`` environment variable.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from engine.data.s3 import ENDPOINT_ENV
from engine.errors import ConfigError, InputError, SourceUnavailableError

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Progress, Synthesizer

FORMATS = ("parquet", "csv", "ndjson")
_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson"}
S3_MIN_PART_BYTES = 5 * 1024 * 1024
DEFAULT_PART_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class WriteResult:
    """What was written: where, in which format, how many rows, chunks and bytes."""

    destination: str
    format: str
    rows: int
    chunks: int
    bytes: int


def infer_format(destination: str | os.PathLike[str], format: str | None = None) -> str:
    """``format`` when given (checked), else from the destination's suffix."""
    if format is not None:
        if format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
        return format
    suffix = Path(str(destination)).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ConfigError(
            f"cannot tell the output format of {str(destination)!r} from its suffix; "
            f"use one of {', '.join(sorted(_SUFFIXES))} or pass format= ({', '.join(FORMATS)})"
        )
    return _SUFFIXES[suffix]


# -- sinks: where the bytes go -------------------------------------------------------------
class _Sink(io.RawIOBase):
    """A write-only byte stream with commit (make the output appear) and abort (leave nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.aborted = False

    def writable(self) -> bool:
        return True

    def commit(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def abort(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class _LocalSink(_Sink):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        if path.is_dir():
            raise InputError(f"{path} is a directory; give a file name to write to")
        # A hidden sibling (same filesystem, so the final rename is atomic), created with the
        # usual permissions (mkstemp would make it owner-only).
        self.tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.part"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.tmp, "xb")  # noqa: SIM115 - closed by commit/abort
        except OSError as err:
            raise InputError(f"cannot write to {path}: {err.strerror or err}") from None

    def write(self, data: Any) -> int:
        if self.aborted:  # late writes (a Parquet footer from a finaliser) go nowhere
            return len(memoryview(data))
        n = self.fh.write(data)
        self.written += n
        return n

    def commit(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.aborted = True
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); ``ConfigError`` when either part is missing."""
    rest = url[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket or not key or key.endswith("/"):
        raise ConfigError(f"{url!r} is not an object URL; expected s3://bucket/path/to/file.parquet")
    return bucket, key


def s3_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client for ``endpoint_url`` (default: ``$DOPPEL_S3_ENDPOINT_URL``, else AWS)."""
    import boto3

    endpoint = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
    return boto3.client("s3", endpoint_url=endpoint)


class _S3Sink(_Sink):
    def __init__(self, url: str, *, endpoint_url: str | None, part_bytes: int) -> None:
        super().__init__()
        self.url = url
        self.bucket, self.key = parse_s3_url(url)
        self.client = s3_client(endpoint_url)
        self.part_bytes = part_bytes
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "error")
            message = err.response.get("Error", {}).get("Message", str(err))
            raise SourceUnavailableError(f"{self.url}: S3 refused {what} ({code}: {message})") from None
        except BotoCoreError as err:
            raise SourceUnavailableError(f"{self.url}: S3 could not be reached for {what} ({err})") from None

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.aborted:
            return len(view)
        self.buffer += view
        self.written += len(view)
        while len(self.buffer) >= self.part_bytes:
            self._upload_part(bytes(self.buffer[: self.part_bytes]))
            del self.buffer[: self.part_bytes]
        return len(view)

    def _upload_part(self, body: bytes) -> None:
        if self.upload_id is None:
            created = self._call("starting the upload", self.client.create_multipart_upload, Bucket=self.bucket, Key=self.key)
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        answer = self._call(
            f"part {number}", self.client.upload_part, Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def commit(self) -> None:
        if self.upload_id is None:
            self._call("the upload", self.client.put_object, Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            return
        if self.buffer:
            self._upload_part(bytes(self.buffer))
            self.buffer.clear()
        self._call(
            "completing the upload",
            self.client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    def abort(self) -> None:
        self.aborted = True
        self.buffer.clear()
        if self.upload_id is not None:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            except Exception:  # noqa: BLE001 - best effort while another error propagates
                pass


# -- the writer ----------------------------------------------------------------------------
class ChunkedWriter:
    """Write frames one at a time to a Parquet, CSV or NDJSON file on disk or S3.

    Use as a context manager: the output appears complete on a clean exit and not at all if
    the block raises. Every frame must have the first frame's schema.

    >>> with ChunkedWriter("out.parquet") as writer:  # doctest: +SKIP
    ...     for frame in model.iter_samples(1_000_000, batch_rows=100_000):
    ...         writer.write(frame)
    """

    def __init__(
        self,
        destination: str | os.PathLike[str],
        *,
        format: str | None = None,
        endpoint_url: str | None = None,
        part_bytes: int = DEFAULT_PART_BYTES,
    ) -> None:
        self.destination = str(destination)
        self.format = infer_format(destination, format)
        if not isinstance(part_bytes, int) or part_bytes < S3_MIN_PART_BYTES:
            raise ConfigError(f"part_bytes must be at least {S3_MIN_PART_BYTES:,} (S3's smallest multipart part); got {part_bytes!r}")
        self.endpoint_url = endpoint_url
        self.part_bytes = part_bytes
        self.rows = 0
        self.chunks = 0
        self._sink: _Sink | None = None
        self._schema: pl.Schema | None = None
        self._parquet: Any = None
        self._closed = False
        self.result: WriteResult | None = None  # set by close()

    def __enter__(self) -> ChunkedWriter:
        self._open()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _open(self) -> None:
        if self._sink is None:
            if self.destination.startswith("s3://"):
                self._sink = _S3Sink(self.destination, endpoint_url=self.endpoint_url, part_bytes=self.part_bytes)
            else:
                self._sink = _LocalSink(Path(self.destination))

    def write(self, frame: pl.DataFrame) -> None:
        """Append one frame's rows."""
        if self._closed:
            raise ConfigError(f"the writer for {self.destination} is closed")
        self._open()
        assert self._sink is not None
        if self._schema is None:
            self._schema = frame.schema
        elif frame.schema != self._schema:
            raise InputError(f"chunk {self.chunks + 1} has schema {dict(frame.schema)}; the first chunk had {dict(self._schema)}")
        if self.format == "parquet":
            self._write_parquet(frame)
        elif self.format == "csv":
            buffer = io.BytesIO()
            frame.write_csv(buffer, include_header=self.chunks == 0)
            self._sink.write(buffer.getbuffer())
        else:
            buffer = io.BytesIO()
            frame.write_ndjson(buffer)
            self._sink.write(buffer.getbuffer())
        self.rows += frame.height
        self.chunks += 1

    def _write_parquet(self, frame: pl.DataFrame) -> None:
        import pyarrow.parquet as pq

        table = frame.to_arrow()
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self._sink, table.schema, compression="zstd")
        self._parquet.write_table(table, row_group_size=max(1, table.num_rows))

    def close(self) -> WriteResult:
        """Finish the output (an empty frame's header / schema when nothing was written)."""
        if self._closed:
            raise ConfigError(f"the writer for {self.destination} is already closed")
        self._open()
        assert self._sink is not None
        try:
            if self.format == "parquet":
                if self._parquet is None:
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    empty = pl.DataFrame(schema=self._schema).to_arrow() if self._schema is not None else pa.table({})
                    self._parquet = pq.ParquetWriter(self._sink, empty.schema)
                self._parquet.close()
            elif self.format == "csv" and self.chunks == 0 and self._schema is not None:
                buffer = io.BytesIO()
                pl.DataFrame(schema=self._schema).write_csv(buffer)
                self._sink.write(buffer.getbuffer())
            self._sink.commit()
        except BaseException:
            self._sink.abort()
            raise
        finally:
            self._closed = True
        self.result = WriteResult(self.destination, self.format, self.rows, self.chunks, self._sink.written)
        return self.result

    def abort(self) -> None:
        """Drop everything written so far; the destination is left as it was."""
        if self._closed:
            return
        self._closed = True
        if self._sink is not None:
            self._sink.abort()
        if self._parquet is not None:
            parquet, self._parquet = self._parquet, None
            try:
                parquet.close()  # releases it; its footer goes nowhere
            except Exception:  # noqa: BLE001 - already failing; the sink is gone
                pass


def write_frames(
    frames: Iterable[pl.DataFrame],
    destination: str | os.PathLike[str],
    *,
    format: str | None = None,
    endpoint_url: str | None = None,
    part_bytes: int = DEFAULT_PART_BYTES,
) -> WriteResult:
    """Write every frame of ``frames`` (consumed one at a time) to ``destination``."""
    writer = ChunkedWriter(destination, format=format, endpoint_url=endpoint_url, part_bytes=part_bytes)
    with writer:
        for frame in frames:
            writer.write(frame)
    assert writer.result is not None
    return writer.result


def write_sample(
    model: Synthesizer,
    destination: str | os.PathLike[str],
    *,
    n: int,
    seed: int | None = None,
    conditions: str | dict[str, Any] | None = None,
    format: str | None = None,
    batch_rows: int = 65_536,
    endpoint_url: str | None = None,
    part_bytes: int = DEFAULT_PART_BYTES,
    on_progress: Callable[[Progress], None] | None = None,
) -> WriteResult:
    """Generate ``n`` rows with ``model`` and stream them to ``destination`` in chunks.

    The file holds exactly ``model.sample(n, seed=seed, conditions=conditions)``'s rows, but
    only ``batch_rows`` of them are in memory at a time.

    >>> write_sample(model, "s3://bucket/adult-synthetic.parquet", n=1_000_000, seed=7)  # doctest: +SKIP
    """
    from engine.models.base import Progress

    if on_progress is not None and not callable(on_progress):
        raise ConfigError("on_progress must be a callable taking a Progress, or None")
    frames = model.iter_samples(n, batch_rows=batch_rows, seed=seed, conditions=conditions)
    chunks_total = -(-n // batch_rows) if n else 0

    def reported() -> Iterable[pl.DataFrame]:
        done = 0
        for i, frame in enumerate(frames, start=1):
            yield frame
            done += frame.height
            if on_progress is not None:
                on_progress(Progress("sample", 0, 0, i, chunks_total, {}, None, done / n if n else 1.0))

    return write_frames(reported(), destination, format=format, endpoint_url=endpoint_url, part_bytes=part_bytes)


__all__ = ["FORMATS", "ChunkedWriter", "WriteResult", "infer_format", "parse_s3_url", "s3_client", "write_frames", "write_sample"]
