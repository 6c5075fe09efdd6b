"""What only the S3 backend does: multipart uploads, presigned links, foreign objects, errors.

All against moto's S3 server on loopback (see conftest.py), over real HTTP.
"""

from __future__ import annotations

import hashlib
import socket
import urllib.request

import pytest

from infra.settings import Settings
from infra.storage import (
    CorruptObjectError,
    InvalidKeyError,
    ObjectNotFoundError,
    S3Store,
    StorageError,
    TransientStorageError,
    open_store,
    open_tenant_store,
)
from infra.storage.s3 import MIN_PART_BYTES, make_s3_client

MiB = 1024 * 1024


@pytest.fixture
def store(s3_server) -> S3Store:  # type: ignore[no-untyped-def]
    """An S3 store whose multipart threshold is tiny, so that multipart is exercised cheaply."""
    return S3Store.from_url(
        f"s3://{s3_server.new_bucket()}/objects", client=s3_server.client, multipart_threshold=64 * 1024, part_size=5 * MiB
    )


def _etag(store: S3Store, key: str) -> str:
    return store.client.head_object(Bucket=store.bucket, Key=store.prefix + key)["ETag"].strip('"')


# -- multipart -------------------------------------------------------------------------------

def test_objects_at_or_over_the_threshold_go_up_in_parts_of_at_least_5_mib(store: S3Store) -> None:
    payload = hashlib.sha256(b"seed").digest() * (11 * MiB // 32)  # 11 MiB -> parts of 5, 5, 1

    info = store.put_bytes("models/1/weights.safetensors", payload)

    assert _etag(store, "models/1/weights.safetensors").endswith("-3")
    assert store.get_bytes("models/1/weights.safetensors") == payload
    assert info.sha256 == hashlib.sha256(payload).hexdigest() == store.stat("models/1/weights.safetensors").sha256


def test_objects_under_the_threshold_go_up_in_one_put(store: S3Store) -> None:
    store.put_bytes("small.json", b"{}" * 1000)

    assert "-" not in _etag(store, "small.json")


def test_a_streamed_writer_over_the_threshold_uploads_in_parts_on_commit(store: S3Store) -> None:
    with store.open_write("generated/1/rows.csv", content_type="text/csv") as out:
        for i in range(200):
            out.write(f"{i},".encode() * 1000)
        assert store.list() == []  # staged, not visible

    assert _etag(store, "generated/1/rows.csv").endswith("-1")  # under 5 MiB: one (last) part
    assert store.stat("generated/1/rows.csv").content_type == "text/csv"
    assert store.get_bytes("generated/1/rows.csv").startswith(b"0,0,0,")


def test_a_multipart_upload_that_fails_is_aborted_and_leaves_nothing(store: S3Store) -> None:
    class FailsAfterOnePart:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int) -> bytes:
            self.calls += 1
            if self.calls > 1:
                raise OSError("disk read failed")
            return b"x" * n

    with pytest.raises(OSError, match="disk read failed"):
        store._upload("big.bin", FailsAfterOnePart(), size=20 * MiB, sha256="0" * 64, content_type=None)  # type: ignore[arg-type]

    assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
    assert not store.exists("big.bin")


def test_the_part_size_is_never_below_the_s3_minimum(s3_server) -> None:  # type: ignore[no-untyped-def]
    store = S3Store(bucket="b", client=s3_server.client, part_size=1024)

    assert store.part_size == MIN_PART_BYTES


# -- presigned links -------------------------------------------------------------------------

def test_a_presigned_link_downloads_the_object_without_credentials(store: S3Store) -> None:
    store.put_bytes("reports/3/report.html", b"<h1>Quality report</h1>", content_type="text/html")

    url = store.presigned_url("reports/3/report.html", expires_s=300, filename="adult report.html")
    with urllib.request.urlopen(url, timeout=10) as response:  # plain HTTP, no AWS signing code
        body = response.read()
        disposition = response.headers["Content-Disposition"]

    assert body == b"<h1>Quality report</h1>"
    assert disposition == 'attachment; filename="adult report.html"'
    assert "X-Amz-Expires=300" in url


def test_a_tenant_presigned_link_points_inside_the_tenant(store: S3Store) -> None:
    acme = store.for_tenant("acme")
    acme.put_bytes("r.csv", b"a,b\n1,2\n")

    url = acme.presigned_url("r.csv")

    assert "/objects/tenants/acme/r.csv?" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"a,b\n1,2\n"


def test_no_link_is_signed_for_a_missing_object(store: S3Store) -> None:
    with pytest.raises(ObjectNotFoundError):
        store.presigned_url("nothing-here.csv")


# -- objects and buckets the store did not make ---------------------------------------------

def test_an_object_written_by_another_tool_has_no_checksum_and_is_refused(store: S3Store) -> None:
    store.client.put_object(Bucket=store.bucket, Key=store.prefix + "foreign.csv", Body=b"a,b\n")

    assert store.list() == ["foreign.csv"]
    with pytest.raises(CorruptObjectError, match="no SHA-256 metadata"):
        store.get_bytes("foreign.csv")


def test_a_missing_bucket_is_named_in_the_error(s3_server) -> None:  # type: ignore[no-untyped-def]
    store = S3Store.from_url("s3://doppel-no-such-bucket/x", client=s3_server.client)

    with pytest.raises(StorageError, match="bucket 'doppel-no-such-bucket' does not exist"):
        store.put_bytes("a", b"1")


def test_an_unreachable_endpoint_is_a_transient_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    store = S3Store.from_url("s3://bucket", client=make_s3_client(endpoint_url=f"http://127.0.0.1:{port}"))

    with pytest.raises(TransientStorageError, match="could not be reached"):
        store.exists("a")


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "gs://bucket/x"])
def test_store_urls_that_name_no_bucket_or_an_unknown_scheme_are_refused(url: str) -> None:
    with pytest.raises(StorageError, match="expected"):
        open_store(url, settings=Settings(s3_endpoint_url="http://127.0.0.1:1"))


def test_a_store_prefix_follows_the_key_rules() -> None:
    with pytest.raises(InvalidKeyError):
        S3Store.from_url("s3://bucket/../other", client=object())


# -- selection by settings -------------------------------------------------------------------

def test_open_store_builds_an_s3_store_from_the_settings(s3_server) -> None:  # type: ignore[no-untyped-def]
    bucket = s3_server.new_bucket()
    settings = Settings(
        storage_url=f"s3://{bucket}/prod",
        s3_endpoint_url=s3_server.endpoint,
        storage_multipart_threshold_bytes=8 * MiB,
        storage_presign_expiry_s=120,
    )

    store = open_store(settings=settings)
    tenant_store = open_tenant_store("acme", settings=settings)
    tenant_store.put_bytes("x.txt", b"via settings")

    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.multipart_threshold, store.presign_expiry_s) == (bucket, "prod/", 8 * MiB, 120)
    assert store.list() == ["tenants/acme/x.txt"]
    assert "X-Amz-Expires=120" in tenant_store.presigned_url("x.txt")


def test_checksum_metadata_names_match_whatever_their_case(store: S3Store) -> None:
    # Go servers (rclone serve s3) canonicalise header names: X-Amz-Meta-Sha256.
    head = {"Metadata": {"Sha256": "ab" * 32, "Size": "3"}, "ContentLength": 3}

    info = store._info_from_head("k", head)

    assert (info.sha256, info.size) == ("ab" * 32, 3)
