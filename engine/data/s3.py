"""Fetch one object from S3 or an S3-compatible store (MinIO, GCS interop) through boto3.

The endpoint is the ``s3_endpoint_url`` argument, else the ``DOPPEL_S3_ENDPOINT_URL``
environment variable, else AWS. Credentials come from boto3's usual chain (environment,
profile, instance role). The object's size is checked with a HEAD request before any byte is
downloaded, and the download stops as soon as it passes ``max_bytes``.
"""

from __future__ import annotations

import os

from engine.errors import InputError, LimitExceededError, SourceUnavailableError

_CHUNK = 1 << 20
ENDPOINT_ENV = "DOPPEL_S3_ENDPOINT_URL"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into (bucket, key); InputError when either part is missing."""
    rest = uri[5:] if uri.lower().startswith("s3://") else ""
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise InputError(f"{uri}: expected s3://bucket/key with both a bucket and a key")
    return bucket, key


def fetch_s3_object(uri: str, *, endpoint_url: str | None, max_bytes: int | None) -> bytes:
    """Download ``uri`` into memory, refusing objects larger than ``max_bytes``."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket, key = parse_s3_uri(uri)
    endpoint = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 2}),
    )
    where = f" at {endpoint}" if endpoint else ""
    try:
        head = client.head_object(Bucket=bucket, Key=key)
        size = int(head.get("ContentLength", 0))
        if max_bytes is not None and size > max_bytes:
            raise LimitExceededError(
                f"{uri} is {size:,} bytes, over the limit of {max_bytes:,} bytes (max_bytes); "
                "nothing was downloaded"
            )
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        buffer = bytearray()
        try:
            while chunk := body.read(_CHUNK):
                buffer += chunk
                if max_bytes is not None and len(buffer) > max_bytes:
                    raise LimitExceededError(
                        f"{uri} is over the limit of {max_bytes:,} bytes (max_bytes); "
                        f"the download stopped after {len(buffer):,} bytes"
                    )
        finally:
            body.close()
        return bytes(buffer)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in {"404", "NoSuchKey", "NotFound"}:
            raise InputError(f"{uri}: no such object in bucket '{bucket}'{where}") from None
        if code == "NoSuchBucket":
            raise InputError(f"{uri}: bucket '{bucket}' does not exist{where}") from None
        if code in {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
            raise SourceUnavailableError(
                f"{uri}: the object store{where} refused access ({code}); check the credentials"
            ) from None
        raise SourceUnavailableError(f"{uri}: the object store{where} answered with error {code}") from None
    except NoCredentialsError:
        raise SourceUnavailableError(
            f"{uri}: no S3 credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "or configure a profile)"
        ) from None
    except BotoCoreError as exc:
        raise SourceUnavailableError(f"{uri}: could not reach the object store{where}: {exc}") from None
