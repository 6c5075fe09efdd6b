"""Issue 14, security 1: an S3 import reads only what the tenant's own credentials may read.

The platform keeps every tenant's datasets in its own bucket (``tenants/<tenant>/datasets/…``)
on a real S3 server (moto's server mode on loopback), and the server's environment holds AWS
credentials that could read all of it. Tenant A, with its own credentials saved by its admin,
tries to import what is not A's. Every attempt is refused before anything is read, nothing is
imported (no dataset, no version, no object under A), and the refusals that concern the
platform's own objects read exactly like a missing object, so that they reveal nothing.

Runs on the embedded SQLite and on PostgreSQL with row-level security (app role).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import text

from engine.data.s3 import parse_s3_path
from engine.errors import InputError, UnsafeConnectionError
from infra.db import Database, tenant_session
from infra.records import catalog, tenancy
from infra.records.authz import Actor, PermissionDeniedError
from infra.records.members import grant_at_login
from infra.storage import open_tenant_store
from infra.usecases import dataset_store, s3_sources
from tests.engine.data_fixtures import moto_s3_endpoint
from tests.infra.db_fixtures import migrated_postgres, migrated_sqlite

SECRET = "tenant-a-secret-0123456789abcdefXYZ"
KEY_ID = "AKIATENANTA0000WXYZ"
STORAGE_PREFIX = "doppel"


@dataclass(frozen=True)
class Platform:
    """The running platform: its S3 server and buckets, and two tenants with an admin each."""

    endpoint: str
    client: object  # boto3 client with the server's own (environment) credentials
    platform_bucket: str
    a_bucket: str
    other_bucket: str
    a: str
    b: str
    a_admin: Actor
    a_member: Actor
    b_object_key: str  # B's stored dataset, as a full key in the platform bucket
    database: Database


def _clear_caches() -> None:
    from infra.settings import get_settings
    from infra.storage import get_store

    get_settings.cache_clear()
    get_store.cache_clear()


def _tenant_with(database: Database, prefix: str) -> tuple[str, dict[str, Actor]]:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    actors = {}
    with tenant_session(name, database=database) as s:
        tenancy.ensure_tenant(s, display_name=name.upper(), actor="test")
        for role in ("admin", "member"):
            user = tenancy.ensure_user(s, subject=f"test|{name}-{role}", email=f"{role}@{name}.test")
            grant_at_login(s, user_id=user.id, role=role, reason="test seed")
            actors[role] = Actor(user_id=user.id, label=f"{role}@{name}.test")
    return name, actors


def _people_csv(datasets: Path) -> bytes:
    frame = pl.read_csv(datasets / "adult.csv", n_rows=200)
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def platform(request: pytest.FixtureRequest, datasets: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Platform]:
    from infra.storage.s3 import make_s3_client

    folder = tmp_path_factory.mktemp("s3-import")
    with moto_s3_endpoint() as endpoint, pytest.MonkeyPatch.context() as patch:
        if request.param == "sqlite":
            backend = migrated_sqlite(folder)
        else:
            backend = migrated_postgres(database=f"doppel_sec_s3_{uuid.uuid4().hex[:8]}",
                                        owner_role="doppel_meta_owner", app_role="doppel_meta_app")
        with backend as setup:
            database = setup if isinstance(setup, Database) else setup.database
            client = make_s3_client(endpoint_url=endpoint)
            token = uuid.uuid4().hex[:8]
            buckets = {name: f"{name}-{token}" for name in ("doppel-platform", "tenant-a-data", "someone-else")}
            for bucket in buckets.values():
                client.create_bucket(Bucket=bucket)
            people = _people_csv(datasets)
            client.put_object(Bucket=buckets["tenant-a-data"], Key="people.csv", Body=people)
            client.put_object(Bucket=buckets["someone-else"], Key="people.csv", Body=people)
            client.put_object(Bucket=buckets["doppel-platform"], Key="exports/everyone.csv", Body=people)
            for name, value in {
                "DOPPEL_DATA_DIR": str(folder), "DOPPEL_DATABASE_URL": database.url,
                "DOPPEL_STORAGE_URL": f"s3://{buckets['doppel-platform']}/{STORAGE_PREFIX}",
                "DOPPEL_S3_ENDPOINT_URL": endpoint, "DOPPEL_ALLOW_PRIVATE_S3_ENDPOINTS": "true",
                "DOPPEL_SECRET_KEY": uuid.uuid4().hex * 2,
            }.items():
                patch.setenv(name, value)
            _clear_caches()
            a, a_actors = _tenant_with(database, "a")
            b, b_actors = _tenant_with(database, "b")
            stored = dataset_store.store_upload(b, data=people, filename="b-customers.csv",
                                                dataset_name="b-customers", actor=b_actors["member"])
            with tenant_session(b, database=database) as s:
                object_key = catalog.get_dataset_version(s, stored.version_id).object_key
            b_key = f"{STORAGE_PREFIX}/tenants/{b}/{object_key}"
            client.head_object(Bucket=buckets["doppel-platform"], Key=b_key)  # B's data really is there
            try:
                yield Platform(endpoint, client, buckets["doppel-platform"], buckets["tenant-a-data"],
                               buckets["someone-else"], a, b, a_actors["admin"], a_actors["member"], b_key, database)
            finally:
                _clear_caches()


def save_a_credentials(p: Platform, *, allowed: tuple[str, ...] = ()) -> None:
    s3_sources.save_credentials(p.a, access_key_id=KEY_ID, secret_access_key=SECRET, endpoint_url=p.endpoint,
                                allowed_buckets=allowed, actor=p.a_admin)


@pytest.fixture
def clean_a(platform: Platform) -> Iterator[Platform]:
    """Tenant A with no S3 credentials and no dataset, before and after each case."""
    s3_sources.remove_credentials(platform.a, actor=platform.a_admin)
    yield platform
    s3_sources.remove_credentials(platform.a, actor=platform.a_admin)
    for dataset in dataset_store.list_datasets(platform.a, actor=platform.a_member):
        dataset_store.delete_dataset(platform.a, dataset_id=dataset.id, confirm_name=dataset.name,
                                     actor=platform.a_member)


def _blank(message: str, uri: str, bucket: str) -> str:
    return message.replace(uri, "<uri>").replace(f"'{bucket}'", "'<bucket>'")


MISSING = "like a missing object"
NOT_ALLOWED = "not on the allow-list"
NO_CREDENTIALS = "no credentials"
UNSAFE_ENDPOINT = "endpoint refused"


@dataclass(frozen=True)
class Case:
    name: str
    path: str  # {platform}, {PLATFORM}, {a_bucket}, {other}, {b_key}, {b} are filled in
    credentials: str  # "saved", "allow-list: own bucket", "none", "saved, private endpoints off"
    expected: str


CASES = [
    Case("a: tenant B's stored dataset, by its key in the platform bucket",
         "s3://{platform}/{b_key}", "saved", MISSING),
    Case("b: the platform bucket, any key", "s3://{platform}/exports/everyone.csv", "saved", MISSING),
    Case("c: the platform bucket in upper case", "s3://{PLATFORM}/{b_key}", "saved", MISSING),
    Case("c: the platform bucket as s3a://", "s3a://{platform}/{b_key}", "saved", MISSING),
    Case("c: the platform bucket with trailing dots", "s3://{platform}../exports/everyone.csv", "saved", MISSING),
    Case("c: the platform bucket, upper-case S3A scheme, trailing slash in the key",
         "S3A://{PLATFORM}./exports//everyone.csv", "saved", MISSING),
    Case("c: the platform's tenant namespace inside another bucket, through dot segments",
         "s3://{a_bucket}/x/../{b_key}", "saved", MISSING),
    Case("a: B's key when A's allow-list does not hold the platform bucket",
         "s3://{platform}/{b_key}", "allow-list: own bucket", NOT_ALLOWED),
    Case("d: a bucket not on A's allow-list", "s3://{other}/people.csv", "allow-list: own bucket", NOT_ALLOWED),
    Case("e: A without credentials while the server's environment has AWS keys",
         "s3://{other}/people.csv", "none", NO_CREDENTIALS),
    Case("e: A without credentials, A's own bucket", "s3://{a_bucket}/people.csv", "none", NO_CREDENTIALS),
    Case("f: A's endpoint on loopback while private endpoints are refused",
         "s3://{a_bucket}/people.csv", "saved, private endpoints off", UNSAFE_ENDPOINT),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_an_import_that_is_not_the_tenants_own_is_refused(case: Case, clean_a: Platform):
    p = clean_a
    if case.credentials.startswith("saved"):
        save_a_credentials(p)
    elif case.credentials == "allow-list: own bucket":
        save_a_credentials(p, allowed=(p.a_bucket,))
    path = case.path.format(platform=p.platform_bucket, PLATFORM=p.platform_bucket.upper(), a_bucket=p.a_bucket,
                            other=p.other_bucket, b_key=p.b_object_key, b=p.b)
    platform_objects = sorted(o["Key"] for o in p.client.list_objects_v2(Bucket=p.platform_bucket)["Contents"])

    expected_error = UnsafeConnectionError if case.expected == UNSAFE_ENDPOINT else InputError
    with pytest.MonkeyPatch.context() as patch, pytest.raises(expected_error) as refused:
        if case.credentials == "saved, private endpoints off":
            patch.setenv("DOPPEL_ALLOW_PRIVATE_S3_ENDPOINTS", "false")
        _clear_caches()
        dataset_store.store_s3_object(p.a, path=path, dataset_name="stolen", actor=p.a_member)
    _clear_caches()
    message = str(refused.value)

    if case.expected == MISSING:
        target = parse_s3_path(path)  # the canonical form the import checks and would read
        with pytest.raises(InputError) as missing:
            dataset_store.store_s3_object(p.a, path=f"s3://{p.a_bucket}/no-such-file.csv", dataset_name="x",
                                          actor=p.a_member)
        assert _blank(message, target.uri, target.bucket) == _blank(
            str(missing.value), f"s3://{p.a_bucket}/no-such-file.csv", p.a_bucket)
    elif case.expected == NOT_ALLOWED:
        assert "is not among the buckets this workspace may import from" in message
    elif case.expected == NO_CREDENTIALS:
        assert "ask an admin to add S3 credentials in Settings" in message
    else:
        assert "S3 endpoint '127.0.0.1' is a loopback address" in message
    said = message.replace(path, "<path>").replace(parse_s3_path(path).uri, "<path>")
    assert p.b not in said and "tenants/" not in said  # nothing beyond what was typed

    assert dataset_store.list_datasets(p.a, actor=p.a_member) == []  # no dataset, no version
    assert open_tenant_store(p.a).list("") == []  # nothing stored under A
    assert sorted(o["Key"] for o in p.client.list_objects_v2(Bucket=p.platform_bucket)["Contents"]) == platform_objects


def test_the_tenants_own_bucket_imports_with_its_own_credentials(clean_a: Platform):
    p = clean_a
    save_a_credentials(p, allowed=(p.a_bucket,))
    stored = dataset_store.store_s3_object(p.a, path=f"S3://{p.a_bucket.upper()}/people.csv", dataset_name="people",
                                           actor=p.a_member)
    assert stored.created and stored.n_rows == 200
    [dataset] = dataset_store.list_datasets(p.a, actor=p.a_member)
    assert dataset.latest.source == {"kind": "s3", "path": f"s3://{p.a_bucket}/people.csv"}


def test_the_secret_is_encrypted_at_rest_and_never_shown(clean_a: Platform):
    p = clean_a
    save_a_credentials(p)
    with tenant_session(p.a, database=p.database) as s:
        row = s.execute(text("SELECT * FROM s3_sources")).mappings().one()
    stored_text = " ".join(str(value) for value in row.values())
    assert SECRET not in stored_text and KEY_ID not in stored_text
    view = s3_sources.describe(p.a, actor=p.a_member)
    assert view is not None and view.key_id_label == "…WXYZ" and SECRET not in repr(view)


def test_only_an_admin_saves_or_removes_credentials(clean_a: Platform):
    p = clean_a
    with pytest.raises(PermissionDeniedError):
        s3_sources.save_credentials(p.a, access_key_id=KEY_ID, secret_access_key=SECRET, actor=p.a_member)
    save_a_credentials(p)
    with pytest.raises(PermissionDeniedError):
        s3_sources.remove_credentials(p.a, actor=p.a_member)


def test_another_tenants_credentials_are_not_used(clean_a: Platform):
    """B saves credentials; A has none: A's import is refused, B's row is invisible to A."""
    p = clean_a
    with tenant_session(p.b, database=p.database) as s:
        admin = tenancy.ensure_user(s, subject=f"test|{p.b}-admin")
        b_admin = Actor(user_id=admin.id, label=f"admin@{p.b}.test")
    s3_sources.save_credentials(p.b, access_key_id="AKIATENANTB", secret_access_key="b-secret",
                                endpoint_url=p.endpoint, actor=b_admin)
    try:
        assert s3_sources.describe(p.a, actor=p.a_member) is None
        with pytest.raises(InputError, match="ask an admin to add S3 credentials"):
            dataset_store.store_s3_object(p.a, path=f"s3://{p.a_bucket}/people.csv", dataset_name="x",
                                          actor=p.a_member)
    finally:
        s3_sources.remove_credentials(p.b, actor=b_admin)


@pytest.mark.parametrize("storage_url", ["s3://doppel-platform/doppel", "S3://Doppel-Platform/doppel/",
                                         "s3a://doppel-platform./doppel//", "s3://DOPPEL-PLATFORM/Doppel"])
def test_the_platform_bucket_is_recognised_however_the_storage_url_spells_it(storage_url):
    from infra.settings import Settings

    location = s3_sources.platform_location(Settings(storage_url=storage_url))
    assert location == s3_sources.PlatformLocation(bucket="doppel-platform", tenants_prefix="doppel/tenants/")


def test_a_local_object_store_has_no_platform_bucket(tmp_path):
    from infra.settings import Settings

    assert s3_sources.platform_location(Settings(storage_url=tmp_path.as_uri())) is None
