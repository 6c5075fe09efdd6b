"""The object store's promises, checked on both backends: a local folder and a real S3 server.

Every test runs twice (``local`` and ``s3``); the S3 store talks to moto's server on loopback
over HTTP, with a key prefix, so prefix handling is exercised too.
"""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest

import engine
from infra.storage import (
    CorruptObjectError,
    InvalidKeyError,
    ObjectNotFoundError,
    ObjectStore,
    StorageError,
    UnsupportedOperationError,
)
from tests.infra.storage_fixtures import make_store, tamper


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    s3_server = request.getfixturevalue("s3_server") if request.param == "s3" else None
    return make_store(request.param, tmp_path=tmp_path, s3_server=s3_server)


# -- round trips ---------------------------------------------------------------------------

def test_put_bytes_then_get_bytes_returns_the_same_bytes_and_their_checksum(store: ObjectStore) -> None:
    info = store.put_bytes("reports/1/report.json", b'{"passed": true}', content_type="application/json")

    assert store.get_bytes("reports/1/report.json") == b'{"passed": true}'
    assert info.size == 16
    assert info.sha256 == hashlib.sha256(b'{"passed": true}').hexdigest()
    assert store.stat("reports/1/report.json").sha256 == info.sha256
    assert store.stat("reports/1/report.json").content_type == "application/json"


def test_a_real_dataset_file_round_trips_through_put_file_and_get_file(store: ObjectStore, datasets: Path, tmp_path: Path) -> None:
    source = datasets / "adult.csv"
    info = store.put_file("datasets/adult/v1/adult.csv", source)

    copy = store.get_file("datasets/adult/v1/adult.csv", tmp_path / "download" / "adult.csv")

    assert copy.read_bytes() == source.read_bytes()
    assert info.size == source.stat().st_size == store.size("datasets/adult/v1/adult.csv")


def test_a_frame_written_into_a_writer_reads_back_identical(store: ObjectStore, datasets: Path) -> None:
    frame = engine.read(datasets / "adult.csv").head(2_000)

    with store.open_write("generated/1/part-0.parquet") as out:
        frame.write_parquet(out)

    assert engine.read(store.get_bytes("generated/1/part-0.parquet"), name="part-0.parquet").equals(frame)


def test_put_stream_accepts_a_file_object_or_an_iterable_of_chunks(store: ObjectStore) -> None:
    store.put_stream("a/from-file", io.BytesIO(b"x" * 3_000_000))
    store.put_stream("a/from-chunks", (bytes([i]) * 1000 for i in range(10)))

    assert store.get_bytes("a/from-file") == b"x" * 3_000_000
    assert store.get_bytes("a/from-chunks") == b"".join(bytes([i]) * 1000 for i in range(10))


def test_open_streams_the_object_and_verifies_it_at_the_end(store: ObjectStore) -> None:
    payload = bytes(range(256)) * 4096
    store.put_bytes("blob", payload)

    with store.open("blob") as reader:
        chunks = [reader.read(10_000) for _ in range(200)]
        assert reader.read() == b""
        assert reader.verified
    assert b"".join(chunks) == payload


def test_an_empty_object_is_an_object(store: ObjectStore) -> None:
    store.put_bytes("empty", b"")

    assert store.exists("empty")
    assert store.get_bytes("empty") == b""


def test_writing_a_key_again_replaces_the_object(store: ObjectStore) -> None:
    store.put_bytes("model/latest.json", b"v1")
    store.put_bytes("model/latest.json", b"version two")

    assert store.get_bytes("model/latest.json") == b"version two"
    assert store.size("model/latest.json") == len(b"version two")


# -- existence, listing, deletion ----------------------------------------------------------

def test_a_missing_key_is_reported_as_not_found(store: ObjectStore) -> None:
    assert not store.exists("nope/missing.bin")
    with pytest.raises(ObjectNotFoundError, match="missing.bin"):
        store.get_bytes("nope/missing.bin")
    with pytest.raises(ObjectNotFoundError):
        store.stat("nope/missing.bin")


def test_delete_removes_the_object_and_deleting_twice_is_fine(store: ObjectStore) -> None:
    store.put_bytes("tmp/a", b"1")

    store.delete("tmp/a")
    store.delete("tmp/a")

    assert not store.exists("tmp/a")
    assert store.list() == []


def test_list_matches_a_plain_string_prefix_and_is_sorted(store: ObjectStore) -> None:
    for key in ["datasets/2/v1/data.csv", "datasets/10/v1/data.csv", "dataset-notes.txt", "models/1/model.json"]:
        store.put_bytes(key, key.encode())

    assert store.list() == ["dataset-notes.txt", "datasets/10/v1/data.csv", "datasets/2/v1/data.csv", "models/1/model.json"]
    assert store.list("datasets/") == ["datasets/10/v1/data.csv", "datasets/2/v1/data.csv"]
    assert store.list("dataset") == ["dataset-notes.txt", "datasets/10/v1/data.csv", "datasets/2/v1/data.csv"]
    assert store.list("datasets/1") == ["datasets/10/v1/data.csv"]
    assert store.list("reports/") == []


def test_list_info_and_total_size_count_the_bytes_under_a_prefix(store: ObjectStore) -> None:
    store.put_bytes("t/a", b"abc")
    store.put_bytes("t/b", b"defgh")
    store.put_bytes("u/c", b"zz")

    infos = store.list_info("t/")

    assert [(i.key, i.size) for i in infos] == [("t/a", 3), ("t/b", 5)]
    assert store.total_size("t/") == 8
    assert store.total_size() == 10


def test_delete_prefix_removes_a_folder_of_objects_and_refuses_an_empty_prefix(store: ObjectStore) -> None:
    store.put_bytes("gen/1/a", b"1")
    store.put_bytes("gen/1/b", b"2")
    store.put_bytes("gen/2/a", b"3")

    assert store.delete_prefix("gen/1/") == 2
    assert store.list() == ["gen/2/a"]
    with pytest.raises(StorageError, match="non-empty prefix"):
        store.delete_prefix("")


# -- keys ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "key",
    ["", "../escape", "a/../../b", "/etc/passwd", "a//b", "a/./b", ".hidden", "a/.doppel.lock", "a\\b", "a\x00b", "a/"],
)
def test_keys_that_could_escape_or_are_malformed_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKeyError):
        store.put_bytes(key, b"x")
    with pytest.raises(InvalidKeyError):
        store.get_bytes(key)
    assert store.list() == []


def test_a_listing_prefix_follows_the_key_rules(store: ObjectStore) -> None:
    with pytest.raises(InvalidKeyError, match="'..'"):
        store.list("../")


# -- tenants -------------------------------------------------------------------------------

def test_a_tenant_sees_only_its_own_namespace(store: ObjectStore) -> None:
    acme, globex = store.for_tenant("acme"), store.for_tenant("globex")
    acme.put_bytes("datasets/1/data.csv", b"acme rows")
    globex.put_bytes("datasets/1/data.csv", b"globex rows")

    assert acme.get_bytes("datasets/1/data.csv") == b"acme rows"
    assert globex.get_bytes("datasets/1/data.csv") == b"globex rows"
    assert acme.list() == ["datasets/1/data.csv"]
    assert store.list() == ["tenants/acme/datasets/1/data.csv", "tenants/globex/datasets/1/data.csv"]
    acme.delete("datasets/1/data.csv")
    assert globex.exists("datasets/1/data.csv")


def test_a_tenant_key_cannot_climb_into_another_tenant(store: ObjectStore) -> None:
    store.for_tenant("globex").put_bytes("secret.csv", b"globex only")
    acme = store.for_tenant("acme")

    with pytest.raises(InvalidKeyError):
        acme.get_bytes("../globex/secret.csv")
    with pytest.raises(InvalidKeyError):
        acme.list("../")
    with pytest.raises(ObjectNotFoundError):
        acme.get_bytes("tenants/globex/secret.csv")


def test_a_tenant_view_reports_keys_relative_to_the_tenant(store: ObjectStore) -> None:
    acme = store.for_tenant("acme")
    with acme.open_write("models/3/model.json") as out:
        out.write(b"{}")

    assert out.info is not None and out.info.key == "models/3/model.json"
    assert acme.stat("models/3/model.json").key == "models/3/model.json"
    assert [i.key for i in acme.list_info()] == ["models/3/model.json"]


def test_an_invalid_tenant_name_is_refused(store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="invalid tenant"):
        store.for_tenant("../acme")


# -- checksums -------------------------------------------------------------------------------

def test_bytes_changed_behind_the_stores_back_are_reported_as_corrupt(store: ObjectStore) -> None:
    store.put_bytes("models/7/weights.safetensors", b"A" * 100_000)
    tamper(store, "models/7/weights.safetensors", b"A" * 99_999 + b"B")

    with pytest.raises(CorruptObjectError, match="SHA-256"):
        store.get_bytes("models/7/weights.safetensors")


def test_a_truncated_object_is_reported_as_corrupt(store: ObjectStore, tmp_path: Path) -> None:
    store.put_bytes("data.bin", b"0123456789" * 1000)
    tamper(store, "data.bin", b"0123456789" * 999)

    with pytest.raises(CorruptObjectError, match="read 9990 bytes but 10000"):
        store.get_bytes("data.bin")
    with pytest.raises(CorruptObjectError):
        store.get_file("data.bin", tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()  # a failed download leaves no file either


def test_corruption_in_a_tenant_object_is_caught_through_the_tenant_view(store: ObjectStore) -> None:
    acme = store.for_tenant("acme")
    acme.put_bytes("r.json", b"[1, 2, 3]")
    tamper(acme, "r.json", b"[1, 2, 4]")

    with pytest.raises(CorruptObjectError):
        acme.get_bytes("r.json")


# -- atomic writes -------------------------------------------------------------------------

def test_an_exception_mid_stream_leaves_no_object_and_nothing_listed(store: ObjectStore) -> None:
    with pytest.raises(RuntimeError, match="generator failed"):
        with store.open_write("generated/5/rows.csv") as out:
            out.write(b"id,age\n" + b"1,40\n" * 10_000)
            raise RuntimeError("generator failed")

    assert not store.exists("generated/5/rows.csv")
    assert store.list() == []
    assert store.total_size() == 0


def test_a_failing_source_leaves_the_previous_version_in_place(store: ObjectStore) -> None:
    store.put_bytes("generated/5/rows.csv", b"complete v1")

    def chunks():  # type: ignore[no-untyped-def]
        yield b"partial v2"
        raise OSError("source went away")

    with pytest.raises(OSError):
        store.put_stream("generated/5/rows.csv", chunks())

    assert store.get_bytes("generated/5/rows.csv") == b"complete v1"
    assert store.list() == ["generated/5/rows.csv"]


def test_a_writer_closed_without_commit_publishes_nothing(store: ObjectStore) -> None:
    writer = store.open_write("abandoned.bin")
    writer.write(b"half")
    writer.close()

    assert not store.exists("abandoned.bin")
    with pytest.raises(StorageError, match="aborted"):
        writer.commit()


def test_readers_see_the_old_object_until_the_new_one_is_committed(store: ObjectStore) -> None:
    store.put_bytes("dataset.csv", b"old complete object")
    writer = store.open_write("dataset.csv")
    writer.write(b"new object, first half ")

    assert store.get_bytes("dataset.csv") == b"old complete object"
    writer.write(b"and second half")
    writer.commit()
    assert store.get_bytes("dataset.csv") == b"new object, first half and second half"


def test_concurrent_writers_and_readers_only_ever_see_whole_objects(store: ObjectStore) -> None:
    versions = [bytes([65 + i]) * (50_000 + 1_000 * i) for i in range(4)]
    store.put_bytes("hot/key", versions[0])
    seen: list[bytes] = []
    errors: list[BaseException] = []

    def write(version: bytes) -> None:
        try:
            for _ in range(5):
                store.put_bytes("hot/key", version)
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    def read() -> None:
        try:
            for _ in range(15):
                seen.append(store.get_bytes("hot/key"))
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=write, args=(v,)) for v in versions] + [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(seen) == 30 and all(value in versions for value in seen)
    assert store.get_bytes("hot/key") in versions


# -- links -----------------------------------------------------------------------------------

def test_presigned_links_exist_exactly_where_the_backend_supports_them(store: ObjectStore) -> None:
    store.put_bytes("r.html", b"<html></html>")
    if store.supports_presigned_urls:
        assert store.presigned_url("r.html").startswith("http")
    else:
        with pytest.raises(UnsupportedOperationError, match="no download links"):
            store.presigned_url("r.html")
