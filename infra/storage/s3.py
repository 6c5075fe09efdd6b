"""The production object store: an S3 bucket (AWS S3, MinIO, GCS interop, rclone serve s3).

URL: ``s3://bucket/optional/prefix``; the endpoint comes from ``DOPPEL_S3_ENDPOINT_URL``
(empty for AWS), the region from ``DOPPEL_S3_REGION``, credentials from boto3's usual chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a web identity token, an instance role).

- **Checksum**: the SHA-256 and size of the bytes travel as object metadata
  (``x-amz-meta-sha256``, ``x-amz-meta-size``), set when the object is created, and are
  verified when it is read.
- **Atomic writes**: an object appears only when its ``PutObject`` or
  ``CompleteMultipartUpload`` succeeds. A writer stages bytes in a spooled temporary file
  (memory, then disk) while hashing them, and uploads on commit: the checksum must be known
  before the object is created, because S3 metadata cannot be added afterwards.
- **Multipart**: objects of ``multipart_threshold`` bytes or more are uploaded in parts of
  ``part_size`` bytes (at least 5 MiB, S3's minimum); a failed upload is aborted, so no parts
  are left to bill.
- **Presigned links**: ``presigned_url`` signs a GET that needs no credentials until it expires.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlparse

from infra.storage.base import COPY_CHUNK_BYTES, ObjectInfo, ObjectReader, ObjectStore, ObjectWriter, sha256_hex
from infra.storage.errors import (
    CorruptObjectError,
    ObjectNotFoundError,
    StorageError,
    TransientStorageError,
)
from infra.storage.keys import validate_prefix

MIN_PART_BYTES = 5 * 1024 * 1024
"""S3 refuses parts smaller than 5 MiB, except the last."""
MAX_PARTS = 10_000
CHECKSUM_METADATA = "sha256"
SIZE_METADATA = "size"  # recorded too, so that a truncated object is named as such

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
_TRANSIENT_CODES = {
    "500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
    "RequestTimeTooSkewed", "Throttling", "ThrottlingException", "RequestLimitExceeded",
}


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix ("" or ending in "/")."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> "S3Location":
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise StorageError(f"{url!r} is not an S3 store URL; expected s3://bucket or s3://bucket/prefix")
        prefix = parsed.path.strip("/")
        if prefix:
            validate_prefix(prefix)
            prefix += "/"
        return cls(bucket=parsed.netloc, prefix=prefix)


def make_s3_client(*, endpoint_url: str = "", region: str = "") -> Any:
    """A boto3 S3 client with retries, SigV4 and, for custom endpoints, path-style addressing."""
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    session = boto3.session.Session()  # sessions are not thread-safe; clients are
    return session.client(
        "s3", endpoint_url=endpoint_url or None, region_name=region or session.region_name or "us-east-1", config=config
    )


class S3Store(ObjectStore):
    """Objects in one bucket under one key prefix (see the module docstring)."""

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        client: Any,
        multipart_threshold: int = 64 * 1024 * 1024,
        part_size: int = 16 * 1024 * 1024,
        presign_expiry_s: int = 3600,
    ) -> None:
        if multipart_threshold <= 0:
            raise StorageError(f"multipart_threshold must be positive, got {multipart_threshold}")
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.client = client
        self.multipart_threshold = multipart_threshold
        self.part_size = max(part_size, MIN_PART_BYTES)
        self.presign_expiry_s = presign_expiry_s
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint_url: str = "",
        region: str = "",
        client: Any = None,
        multipart_threshold: int = 64 * 1024 * 1024,
        part_size: int = 16 * 1024 * 1024,
        presign_expiry_s: int = 3600,
    ) -> "S3Store":
        location = S3Location.parse(url)
        return cls(
            bucket=location.bucket,
            prefix=location.prefix,
            client=client or make_s3_client(endpoint_url=endpoint_url, region=region),
            multipart_threshold=multipart_threshold,
            part_size=part_size,
            presign_expiry_s=presign_expiry_s,
        )

    # -- helpers
    def _full_key(self, key: str) -> str:
        return self.prefix + self._check_key(key)

    def _call(self, what: str, key: str | None, fn: Any, **kwargs: Any) -> Any:
        """Call boto3, turning its errors into storage errors that say what failed."""
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionError as BotoConnectionError
        from botocore.exceptions import ReadTimeoutError, ResponseStreamingError

        where = f"{self.url}/{key}" if key else self.url
        try:
            return fn(**kwargs)
        except ClientError as err:
            error = err.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = str(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            message = error.get("Message") or code or status
            if code in _NOT_FOUND_CODES or (status == "404" and code != "NoSuchBucket"):
                raise ObjectNotFoundError(f"no object {key!r} in {self.url}") from None
            if code == "NoSuchBucket":
                raise StorageError(f"{self.url}: bucket {self.bucket!r} does not exist; create it or fix DOPPEL_STORAGE_URL") from None
            if code in _TRANSIENT_CODES or status in _TRANSIENT_CODES:
                raise TransientStorageError(f"{where}: S3 failed temporarily on {what} ({code or status}: {message})") from err
            raise StorageError(f"{where}: S3 refused {what} ({code or status}: {message})") from None
        except (BotoConnectionError, ReadTimeoutError, ResponseStreamingError) as err:
            raise TransientStorageError(f"{where}: S3 could not be reached for {what} ({err})") from err
        except BotoCoreError as err:
            raise StorageError(f"{where}: {what} failed ({err})") from None

    def _info_from_head(self, key: str, head: dict[str, Any]) -> ObjectInfo:
        # Header names are case-insensitive; some servers (Go's net/http) send X-Amz-Meta-Sha256.
        metadata = {name.lower(): value for name, value in (head.get("Metadata") or {}).items()}
        sha = metadata.get(CHECKSUM_METADATA)
        if not sha:
            raise CorruptObjectError(
                f"{self.url}/{key}: the object has no SHA-256 metadata; it was not written by Doppel's store"
            )
        return ObjectInfo(
            key=key,
            size=int(metadata.get(SIZE_METADATA) or head["ContentLength"]),
            sha256=sha,
            content_type=head.get("ContentType"),
            modified=head.get("LastModified"),
        )

    # -- writing
    def open_write(self, key: str, *, content_type: str | None = None) -> ObjectWriter:
        return _S3Writer(self, key, content_type=content_type)

    def put_bytes(self, key: str, data: bytes | bytearray | memoryview, *, content_type: str | None = None) -> ObjectInfo:
        """Upload from memory without staging a copy."""
        import io

        self._check_key(key)
        view = memoryview(data).cast("B")
        return self._upload(key, io.BytesIO(view), size=view.nbytes, sha256=sha256_hex(view), content_type=content_type)

    def put_file(self, key: str, path: str | os.PathLike[str], *, content_type: str | None = None) -> ObjectInfo:
        """Hash the file, then upload it from disk (no staging copy)."""
        import hashlib

        self._check_key(key)
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(COPY_CHUNK_BYTES):
                digest.update(chunk)
            size = fh.tell()
            fh.seek(0)
            return self._upload(key, fh, size=size, sha256=digest.hexdigest(), content_type=content_type)

    def _upload(self, key: str, body: IO[bytes], *, size: int, sha256: str, content_type: str | None) -> ObjectInfo:
        full_key = self._full_key(key)
        extra: dict[str, Any] = {"Metadata": {CHECKSUM_METADATA: sha256, SIZE_METADATA: str(size)}}
        if content_type:
            extra["ContentType"] = content_type
        if size < self.multipart_threshold:
            self._call("PutObject", key, self.client.put_object, Bucket=self.bucket, Key=full_key, Body=body, ContentLength=size, **extra)
        else:
            self._multipart(key, full_key, body, size=size, extra=extra)
        return ObjectInfo(key=key, size=size, sha256=sha256, content_type=content_type)

    def _multipart(self, key: str, full_key: str, body: IO[bytes], *, size: int, extra: dict[str, Any]) -> None:
        part_size = max(self.part_size, -(-size // MAX_PARTS))
        created = self._call("CreateMultipartUpload", key, self.client.create_multipart_upload, Bucket=self.bucket, Key=full_key, **extra)
        upload_id = created["UploadId"]
        try:
            parts = []
            number = 1
            while chunk := body.read(part_size):
                answer = self._call(
                    f"UploadPart {number}", key, self.client.upload_part,
                    Bucket=self.bucket, Key=full_key, UploadId=upload_id, PartNumber=number, Body=chunk,
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                number += 1
            self._call(
                "CompleteMultipartUpload", key, self.client.complete_multipart_upload,
                Bucket=self.bucket, Key=full_key, UploadId=upload_id, MultipartUpload={"Parts": parts},
            )
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - the original error matters; a lifecycle rule sweeps leftovers
                pass
            raise

    # -- reading and the rest
    def open(self, key: str) -> ObjectReader:
        answer = self._call("GetObject", key, self.client.get_object, Bucket=self.bucket, Key=self._full_key(key))
        info = self._info_from_head(key, answer)
        return _S3Reader(self, answer["Body"], info=info, where=f"{self.url}/{key}")

    def stat(self, key: str) -> ObjectInfo:
        head = self._call("HeadObject", key, self.client.head_object, Bucket=self.bucket, Key=self._full_key(key))
        return self._info_from_head(key, head)

    def exists(self, key: str) -> bool:
        try:
            self._call("HeadObject", key, self.client.head_object, Bucket=self.bucket, Key=self._full_key(key))
        except ObjectNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        self._call("DeleteObject", key, self.client.delete_object, Bucket=self.bucket, Key=self._full_key(key))

    def _iter_listing(self, prefix: str) -> list[dict[str, Any]]:
        validate_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        entries: list[dict[str, Any]] = []

        def collect() -> None:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                entries.extend(page.get("Contents", []))

        self._call("ListObjectsV2", None, collect)
        return sorted(entries, key=lambda entry: entry["Key"])

    def list(self, prefix: str = "") -> list[str]:
        return [entry["Key"][len(self.prefix) :] for entry in self._iter_listing(prefix)]

    def list_info(self, prefix: str = "") -> list[ObjectInfo]:
        """One HEAD per object after the listing (S3 listings carry no metadata)."""
        infos = []
        for key in self.list(prefix):
            try:
                infos.append(self.stat(key))
            except ObjectNotFoundError:
                continue  # deleted while listing
        return infos

    def total_size(self, prefix: str = "") -> int:
        """From the listing alone: no HEAD per object."""
        return sum(int(entry["Size"]) for entry in self._iter_listing(prefix))

    @property
    def supports_presigned_urls(self) -> bool:
        return True

    def presigned_url(self, key: str, *, expires_s: int | None = None, filename: str | None = None) -> str:
        if not self.exists(key):
            raise ObjectNotFoundError(f"no object {key!r} in {self.url}")
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full_key(key)}
        if filename:
            safe = filename.replace('"', "").replace("\\", "")
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        return self._call(
            "presigning", key, self.client.generate_presigned_url,
            ClientMethod="get_object", Params=params, ExpiresIn=int(expires_s or self.presign_expiry_s),
        )


class _S3Reader(ObjectReader):
    """Maps errors while streaming the body to ``TransientStorageError``."""

    def __init__(self, store: S3Store, raw: Any, *, info: ObjectInfo, where: str) -> None:
        super().__init__(raw, info=info, where=where)
        self._store = store

    def _read_raw(self, n: int) -> bytes:
        return self._store._call("reading the body", self.info.key, self._raw.read, amt=n)


class _S3Writer(ObjectWriter):
    """Stages into a spooled temporary file while hashing; uploads on commit."""

    def __init__(self, store: S3Store, key: str, *, content_type: str | None) -> None:
        super().__init__(key)
        store._check_key(key)
        self._store = store
        self._content_type = content_type
        self._spool = tempfile.SpooledTemporaryFile(max_size=min(store.multipart_threshold, 8 * 1024 * 1024))

    def _write_chunk(self, view: memoryview) -> None:
        self._spool.write(view)

    def _publish(self, *, sha256: str, size: int) -> ObjectInfo:
        self._spool.seek(0)
        try:
            return self._store._upload(self.key, self._spool, size=size, sha256=sha256, content_type=self._content_type)  # type: ignore[arg-type]
        finally:
            self._spool.close()

    def _discard(self) -> None:
        spool = getattr(self, "_spool", None)
        if spool is not None:
            spool.close()


__all__ = ["S3Location", "S3Store", "make_s3_client", "MIN_PART_BYTES"]
