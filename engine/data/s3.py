"""Fetch one object from S3 or an S3-compatible store (MinIO, GCS interop) through boto3.

Two ways to say whose object it is:

- **Explicit credentials** (:class:`S3Credentials`): boto3 gets exactly those, and nothing of
  the machine it runs on: no ``AWS_*`` environment variable, no ``~/.aws`` file, no profile,
  no instance role, no configured endpoint. The endpoint and region are the ones in the
  credentials (no endpoint: AWS). This is how the platform reads a tenant's path, so that a
  path can never be read with the server's own identity.
- **No credentials** (a notebook): boto3's usual chain (environment, profile, instance role)
  and the endpoint from the ``s3_endpoint_url`` argument, else the ``DOPPEL_S3_ENDPOINT_URL``
  environment variable, else AWS.

Paths are parsed by :func:`parse_s3_path` into one canonical form (``s3://bucket/key``;
``s3a://`` and ``s3n://`` are the same objects; a bucket name is lower case without trailing
dots, as DNS reads it), and that canonical form is what is both checked by callers and read.
The object's size is checked with a HEAD request before any byte is downloaded, and the
download stops as soon as it passes ``max_bytes``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError, InputError, LimitExceededError, SourceUnavailableError

_CHUNK = 1 << 20
ENDPOINT_ENV = "DOPPEL_S3_ENDPOINT_URL"
SCHEMES = ("s3", "s3a", "s3n")
"""URI schemes naming S3 objects (``s3a``/``s3n`` are Hadoop's spellings of the same objects)."""
DEFAULT_REGION = "us-east-1"
_SCHEME = re.compile(r"^\s*(s3|s3a|s3n)://", re.IGNORECASE)
# S3 and GCS bucket names: lower-case letters, digits, dots, hyphens (GCS: underscores too),
# beginning and ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9](?:[a-z0-9._-]{1,220})[a-z0-9]")


@dataclass(frozen=True)
class S3Credentials:
    """The identity to read ``s3://`` paths with, instead of the machine's own.

    ``endpoint_url``: an S3-compatible endpoint (``https://minio.example.com:9000``); None for
    AWS. ``region``: the signing region; None for ``us-east-1``. The secret and the session
    token never appear in ``repr`` or in a message.
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_url: str | None = None

    def __post_init__(self) -> None:
        for name in ("access_key_id", "secret_access_key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"S3Credentials.{name} must be a non-empty string")
        for name in ("session_token", "region", "endpoint_url"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"S3Credentials.{name} must be a string or None")


@dataclass(frozen=True)
class S3Path:
    """A parsed ``s3://bucket/key``: the bucket in canonical form and the key exactly as given."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        """The canonical ``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"


def is_s3_uri(text: object) -> bool:
    """Whether ``text`` is written as an S3 URI (``s3://``, ``s3a://`` or ``s3n://``, any case)."""
    return isinstance(text, str) and _SCHEME.match(text) is not None


def canonical_bucket(name: str) -> str:
    """A bucket name as S3 resolves it: lower case, without trailing dots (DNS ignores both)."""
    return name.strip().lower().rstrip(".")


def check_bucket_name(name: str, *, label: str | None = None) -> str:
    """``name`` in canonical form (:func:`canonical_bucket`) when it is a valid bucket name.

    Raises :class:`InputError` otherwise, prefixed with ``label`` (e.g. the URI) when given.
    """
    bucket = canonical_bucket(name)
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        prefix = f"{label}: " if label else ""
        raise InputError(
            f"{prefix}{name!r} is not a valid bucket name (3 to 222 letters, digits, dots, hyphens "
            "or underscores, beginning and ending with a letter or digit)"
        )
    return bucket


def parse_s3_path(uri: str) -> S3Path:
    """Parse ``s3://bucket/key`` into its canonical :class:`S3Path`.

    Raises :class:`InputError` when the scheme, the bucket or the key is missing, or when the
    bucket is not a valid bucket name.
    """
    text = (uri or "").strip()
    match = _SCHEME.match(text)
    if match is None:
        raise InputError(f"{uri}: expected s3://bucket/key with both a bucket and a key")
    rest = text[match.end() :]
    raw_bucket, _, key = rest.partition("/")
    if not raw_bucket or not key:
        raise InputError(f"{uri}: expected s3://bucket/key with both a bucket and a key")
    return S3Path(bucket=check_bucket_name(raw_bucket, label=uri), key=key)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into canonical (bucket, key); see :func:`parse_s3_path`."""
    path = parse_s3_path(uri)
    return path.bucket, path.key


def missing_object_error(uri: str, bucket: str, endpoint_url: str | None) -> InputError:
    """The error for an object that does not exist; callers that refuse a path without saying
    why (so that the refusal reveals nothing) raise exactly this one."""
    where = f" at {endpoint_url}" if endpoint_url else ""
    return InputError(f"{uri}: no such object in bucket '{bucket}'{where}")


def _client_config(endpoint: str | None, **extra: Any) -> Any:
    from botocore.config import Config

    return Config(
        connect_timeout=10,
        read_timeout=60,
        retries={"max_attempts": 2},
        signature_version="s3v4",
        s3={"addressing_style": "path"} if endpoint else {},
        **extra,
    )


def _isolated_session() -> Any:
    """A botocore session that reads no ``AWS_*`` variable and no ``~/.aws`` file.

    Every configuration variable keeps its built-in default but loses its environment
    variables, and the config and credentials files are the empty device, so no profile,
    region, endpoint or credential of the machine can be picked up. The CA bundle stays: which
    certificate authorities this machine trusts is not an identity.
    """
    import botocore.session
    from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES

    session_vars = {}
    for name, (config_name, env_names, default, conversion) in BOTOCORE_DEFAUT_SESSION_VARIABLES.items():
        if name == "ca_bundle":
            continue
        if name in ("config_file", "credentials_file"):
            default = os.devnull
        session_vars[name] = (config_name, None, default, conversion)
    return botocore.session.Session(session_vars=session_vars)


def make_client(credentials: S3Credentials | None, *, endpoint_url: str | None) -> Any:
    """An S3 client for ``credentials`` (isolated from the machine), or boto3's chain when None."""
    if credentials is None:
        import boto3

        return boto3.client("s3", endpoint_url=endpoint_url, config=_client_config(None))
    endpoint = credentials.endpoint_url or None
    return _isolated_session().create_client(
        "s3",
        region_name=credentials.region or DEFAULT_REGION,
        endpoint_url=endpoint,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token or None,
        config=_client_config(endpoint, ignore_configured_endpoint_urls=True),
    )


def fetch_s3_object(
    uri: str,
    *,
    endpoint_url: str | None,
    max_bytes: int | None,
    credentials: S3Credentials | None = None,
) -> bytes:
    """Download ``uri`` into memory, refusing objects larger than ``max_bytes``.

    With ``credentials`` the object is read with exactly those (endpoint and region included);
    ``endpoint_url`` must then be None. Without, boto3's chain and ``endpoint_url`` (else
    ``DOPPEL_S3_ENDPOINT_URL``) are used.
    """
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    path = parse_s3_path(uri)
    bucket, key = path.bucket, path.key
    if credentials is not None:
        if endpoint_url:
            raise ConfigError("pass the S3 endpoint inside S3Credentials(endpoint_url=...), not as s3_endpoint_url")
        endpoint = credentials.endpoint_url or None
    else:
        endpoint = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
    client = make_client(credentials, endpoint_url=endpoint)
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
            raise missing_object_error(uri, bucket, endpoint) from None
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


__all__ = [
    "S3Credentials",
    "S3Path",
    "canonical_bucket",
    "check_bucket_name",
    "fetch_s3_object",
    "is_s3_uri",
    "make_client",
    "missing_object_error",
    "parse_s3_path",
    "parse_s3_uri",
]
