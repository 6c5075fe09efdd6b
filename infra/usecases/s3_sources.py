"""A workspace's S3 credentials, and the one gate every import from S3 passes.

An ``s3://`` path typed by a user is an instruction to the server to read an object. Read with
the server's own identity, it would reach whatever the server can read: the platform's bucket
(every tenant's stored datasets under ``tenants/<tenant>/``) and any other bucket of the
server's account. So an import never uses the server's credentials or endpoint:

- a workspace admin stores the workspace's **own** credentials (access key id, secret, optional
  endpoint and region) and optionally the buckets imports may read; the key id and secret are
  sealed with the server's key (``infra.secret_box``) and never shown again: pages see the key
  id's last 4 characters;
- :func:`import_access` is what ``dataset_store.store_s3_object`` calls before reading: it parses
  the path into its canonical form (the form that is then read), refuses a workspace without
  credentials and a bucket off the allow-list, passes the endpoint through the one address
  policy (``engine.outbound``; for ``http://`` the checked address is the one connected to),
  and refuses the platform's own bucket, the platform's tenant namespace in any bucket and an
  endpoint that names the platform's bucket as a host, with exactly the error of a missing
  object, so that a refusal says nothing about what exists;
- the engine then reads with exactly the returned :class:`~engine.data.s3.S3Credentials`
  (no ``AWS_*`` variable, no ``~/.aws`` file, no instance role).

Saving and removing credentials needs the admin role; describing them ``data.view``; an import
``data.upload`` (member).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

from engine.data.s3 import S3Credentials, S3Path, canonical_bucket, check_bucket_name, missing_object_error, parse_s3_path
from engine.errors import InputError, SourceUnavailableError
from engine.outbound import resolve_destination, url_port
from infra.db import tenant_session
from infra.db.models import S3Source
from infra.records.audit import record_event
from infra.records.authz import Actor, require_permission, require_role
from infra.secret_box import open_sealed, seal
from infra.settings import Settings, get_settings
from infra.storage.keys import TENANTS_ROOT

PURPOSE = "S3 endpoint"
MISSING_CREDENTIALS = (
    "this workspace has no S3 credentials: ask an admin to add S3 credentials in Settings "
    "(S3 credentials); imports from S3 read with the workspace's own credentials only"
)
_REGION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?")
_KEY_ID = re.compile(r"[!-~]{1,128}")  # printable ASCII, no spaces
MAX_SECRET_CHARS = 512
MAX_ALLOWED_BUCKETS = 100


@dataclass(frozen=True)
class S3SourceView:
    """What pages show of a workspace's S3 credentials: never the secret, only the key id's end."""

    key_id_hint: str
    endpoint_url: str | None
    region: str | None
    allowed_buckets: tuple[str, ...]
    updated_at: datetime
    updated_by: str | None

    @property
    def key_id_label(self) -> str:
        """``…WXYZ``: how the page names the stored key."""
        return f"…{self.key_id_hint}"


@dataclass(frozen=True)
class ImportAccess:
    """A checked import: the canonical path to read and the credentials to read it with."""

    path: S3Path
    credentials: S3Credentials


@dataclass(frozen=True)
class PlatformLocation:
    """Where the platform keeps its own objects: the bucket and the tenants' key prefix."""

    bucket: str
    tenants_prefix: str  # e.g. "doppel/tenants/" (lower case)


@dataclass(frozen=True)
class _Endpoint:
    scheme: str
    host: str
    port: int | None

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}"


# ------------------------------------------------------------------------------------ parsing


def parse_bucket_list(text: str | Iterable[str] | None) -> list[str]:
    """Bucket names from text (commas, spaces or lines between them) or a list, canonical and checked."""
    if text is None:
        return []
    items = re.split(r"[\s,;]+", text) if isinstance(text, str) else [str(t) for t in text]
    buckets = [check_bucket_name(item) for item in items if item and item.strip()]
    buckets = list(dict.fromkeys(buckets))
    if len(buckets) > MAX_ALLOWED_BUCKETS:
        raise InputError(f"at most {MAX_ALLOWED_BUCKETS} buckets can be allowed; {len(buckets)} were given")
    return buckets


def _parse_endpoint(text: str | None) -> _Endpoint | None:
    value = (text or "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(f"{PURPOSE} {value!r}: write it as https://host[:port] (or http:// on a closed network)")
    if "@" in parts.netloc:
        raise InputError(f"{PURPOSE} {value!r}: no user name or password in the URL; enter the keys in their fields")
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise InputError(f"{PURPOSE} {value!r}: only a scheme, a host and a port, no path or query")
    if not parts.hostname:
        raise InputError(f"{PURPOSE} {value!r} has no host")
    return _Endpoint(scheme=scheme, host=parts.hostname.rstrip("."), port=url_port(parts.netloc, purpose=PURPOSE))


def _parse_region(text: str | None) -> str | None:
    value = (text or "").strip().lower()
    if value and not _REGION.fullmatch(value):
        raise InputError(f"S3 region {text!r} is not a region name (like eu-west-1: letters, digits and hyphens)")
    return value or None


def platform_location(settings: Settings) -> PlatformLocation | None:
    """The platform's bucket and tenants' prefix when its object store is S3 (None for a folder)."""
    url = (settings.storage_url or "").strip()
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("s3", "s3a", "s3n"):
        return None
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    tenants = f"{prefix}/{TENANTS_ROOT}/" if prefix else f"{TENANTS_ROOT}/"
    return PlatformLocation(bucket=canonical_bucket(bucket), tenants_prefix=tenants.lower())


def _key_forms(key: str) -> set[str]:
    """The key as S3-compatible servers may read it: as given, unquoted, dot segments resolved."""
    forms = set()
    for text in (key, unquote(key)):
        forms.add(text.lower())
        forms.add(posixpath.normpath("/" + text).lstrip("/").lower())
    return forms


def _reaches_platform(path: S3Path, endpoint: _Endpoint | None, location: PlatformLocation | None) -> bool:
    if location is None:
        return False
    if path.bucket == location.bucket:
        return True
    if endpoint is not None and endpoint.host.lower().startswith(location.bucket + "."):
        return True  # a virtual-hosted endpoint of the platform's bucket
    root = location.tenants_prefix
    return any(form.startswith(root) or form == root.rstrip("/") for form in _key_forms(path.key))


# ---------------------------------------------------------------------------------- use cases


def _view(row: S3Source) -> S3SourceView:
    return S3SourceView(key_id_hint=row.key_id_hint, endpoint_url=row.endpoint_url, region=row.region,
                        allowed_buckets=tuple(row.allowed_buckets or ()), updated_at=row.updated_at,
                        updated_by=row.updated_by)


def describe(tenant: str, *, actor: Actor) -> S3SourceView | None:
    """The workspace's stored S3 credentials as pages show them (no secret), or None."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.view")
        row = session.get(S3Source, session.tenant)
        return _view(row) if row is not None else None


def save_credentials(
    tenant: str,
    *,
    access_key_id: str,
    secret_access_key: str,
    actor: Actor,
    endpoint_url: str | None = None,
    region: str | None = None,
    allowed_buckets: str | Iterable[str] | None = None,
    settings: Settings | None = None,
) -> S3SourceView:
    """Store (or replace) the workspace's S3 credentials; admin only.

    An empty ``secret_access_key`` keeps the stored secret when the key id is unchanged. The
    endpoint must pass the address policy now (it is checked again at every import).
    """
    settings = settings or get_settings()
    key_id = (access_key_id or "").strip()
    if not _KEY_ID.fullmatch(key_id):
        raise InputError("enter the access key id (printable characters, no spaces, at most 128)")
    secret = (secret_access_key or "").strip()
    if len(secret) > MAX_SECRET_CHARS:
        raise InputError(f"the secret access key is longer than {MAX_SECRET_CHARS} characters")
    endpoint = _parse_endpoint(endpoint_url)
    region_name = _parse_region(region)
    buckets = parse_bucket_list(allowed_buckets)
    if endpoint is not None:
        resolve_destination(endpoint.host, endpoint.port, purpose=PURPOSE,
                            default_port=443 if endpoint.scheme == "https" else 80,
                            allow_private=settings.allow_private_s3_endpoints)
    with tenant_session(tenant) as session:
        require_role(session, actor, at_least="admin", action="change the workspace's S3 credentials")
        row = session.get(S3Source, session.tenant)
        if not secret:
            stored = open_sealed(row.sealed_credentials, context=session.tenant, settings=settings) if row else {}
            if stored.get("access_key_id") != key_id:
                raise InputError("enter the secret access key")
            secret = stored["secret_access_key"]
        sealed = seal({"access_key_id": key_id, "secret_access_key": secret}, context=session.tenant,
                      settings=settings)
        if row is None:
            row = S3Source(tenant_id=session.tenant, key_id_hint=key_id[-4:], sealed_credentials=sealed)
            session.add(row)
        row.key_id_hint, row.sealed_credentials = key_id[-4:], sealed
        row.endpoint_url = endpoint.url if endpoint else None
        row.region, row.allowed_buckets, row.updated_by = region_name, buckets, actor.label
        session.flush()
        record_event(session, actor=actor.label, action="s3_source.saved", object_type="s3_source",
                     details={"key_id_hint": row.key_id_hint, "endpoint_url": row.endpoint_url,
                              "region": row.region, "allowed_buckets": buckets})
        return _view(row)


def remove_credentials(tenant: str, *, actor: Actor) -> bool:
    """Delete the workspace's S3 credentials (admin only); False when there were none."""
    with tenant_session(tenant) as session:
        require_role(session, actor, at_least="admin", action="change the workspace's S3 credentials")
        row = session.get(S3Source, session.tenant)
        if row is None:
            return False
        session.delete(row)
        record_event(session, actor=actor.label, action="s3_source.removed", object_type="s3_source",
                     details={"key_id_hint": row.key_id_hint})
        return True


def import_access(tenant: str, *, path: str, actor: Actor, settings: Settings | None = None) -> ImportAccess:
    """Check an import of ``path`` for the workspace and return what to read it with.

    Raises:
        InputError: the path is not an S3 path; the workspace has no S3 credentials; the
            bucket is not on the workspace's allow-list; or, worded exactly as a missing
            object, the path reaches the platform's own objects.
        UnsafeConnectionError: the stored endpoint is refused by the address policy.
        PermissionDeniedError: the user may not import data.
    """
    settings = settings or get_settings()
    text = (path or "").strip()
    try:
        s3_path = parse_s3_path(text)
    except InputError:
        if "://" not in text or text.split("://", 1)[0].lower() not in ("s3", "s3a", "s3n"):
            raise InputError(f"{text!r} is not an S3 path: write it as s3://bucket/folder/file.csv") from None
        raise
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.upload")
        row = session.get(S3Source, session.tenant)
        if row is None:
            raise InputError(MISSING_CREDENTIALS)
        stored = open_sealed(row.sealed_credentials, context=session.tenant, settings=settings)
        endpoint_text, region, allowed = row.endpoint_url, row.region, list(row.allowed_buckets or ())
    if allowed and s3_path.bucket not in allowed:
        raise InputError(
            f"bucket '{s3_path.bucket}' is not among the buckets this workspace may import from "
            f"({', '.join(allowed)}); an admin can change the list in Settings (S3 credentials)"
        )
    endpoint = _parse_endpoint(endpoint_text)
    connect_url = None
    if endpoint is not None:
        destination = resolve_destination(endpoint.host, endpoint.port, purpose=PURPOSE,
                                          default_port=443 if endpoint.scheme == "https" else 80,
                                          allow_private=settings.allow_private_s3_endpoints)
        # Plain http connects to the checked address itself (no second DNS answer can differ);
        # https keeps the name, which TLS verifies.
        connect_url = f"http://{destination.netloc}" if endpoint.scheme == "http" else endpoint.url
    if _reaches_platform(s3_path, endpoint, platform_location(settings)):
        raise missing_object_error(s3_path.uri, s3_path.bucket, connect_url)
    if not stored.get("access_key_id") or not stored.get("secret_access_key"):
        raise SourceUnavailableError("the workspace's stored S3 credentials are incomplete; an admin must enter them again")
    credentials = S3Credentials(access_key_id=stored["access_key_id"], secret_access_key=stored["secret_access_key"],
                                region=region, endpoint_url=connect_url)
    return ImportAccess(path=s3_path, credentials=credentials)


__all__ = [
    "ImportAccess",
    "MISSING_CREDENTIALS",
    "PlatformLocation",
    "S3SourceView",
    "describe",
    "import_access",
    "parse_bucket_list",
    "platform_location",
    "remove_credentials",
    "save_credentials",
]
