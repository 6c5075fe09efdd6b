"""engine.read of s3:// URIs against a real moto S3 server on loopback."""

from __future__ import annotations

import socket

import polars as pl
import pytest

import engine
from engine.errors import InputError, LimitExceededError, SourceUnavailableError
from tests.engine.data_fixtures import S3Server


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "doppel-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "doppel-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("DOPPEL_S3_ENDPOINT_URL", raising=False)


def test_s3_object_reads_like_the_local_file(s3_server: S3Server, adult_frame: pl.DataFrame):
    frame = engine.read(f"s3://{s3_server.bucket}/raw/adult.csv", s3_endpoint_url=s3_server.endpoint)
    assert frame.equals(adult_frame)


def test_gzipped_s3_object_is_decompressed(s3_server: S3Server):
    frame = engine.read(f"s3://{s3_server.bucket}/raw/adult.csv.gz", s3_endpoint_url=s3_server.endpoint)
    assert frame.shape == (32561, 15)


def test_endpoint_comes_from_the_environment(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DOPPEL_S3_ENDPOINT_URL", s3_server.endpoint)
    assert engine.read(f"s3://{s3_server.bucket}/raw/adult.csv", n=10).height == 10


def test_s3_object_over_the_size_limit_is_refused_before_download(s3_server: S3Server):
    uri = f"s3://{s3_server.bucket}/raw/adult.csv"
    with pytest.raises(LimitExceededError, match=r"adult\.csv is 3,811,655 bytes, over the limit of 1,000 bytes .* nothing was downloaded"):
        engine.read(uri, s3_endpoint_url=s3_server.endpoint, max_bytes=1000)


def test_missing_s3_key_is_named(s3_server: S3Server):
    uri = f"s3://{s3_server.bucket}/raw/missing.csv"
    with pytest.raises(InputError, match=r"raw/missing\.csv: no such object in bucket"):
        engine.read(uri, s3_endpoint_url=s3_server.endpoint)


def test_missing_bucket_is_named(s3_server: S3Server):
    with pytest.raises(InputError, match=r"s3://no-such-bucket-doppel/x\.csv: "):
        engine.read("s3://no-such-bucket-doppel/x.csv", s3_endpoint_url=s3_server.endpoint)


def test_uri_without_a_key_is_refused():
    with pytest.raises(InputError, match=r"expected s3://bucket/key"):
        engine.read("s3://just-a-bucket")


def test_unreachable_endpoint_is_source_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SourceUnavailableError, match=r"could not reach the object store at http://127\.0\.0\.1"):
        engine.read("s3://bucket/adult.csv", s3_endpoint_url=f"http://127.0.0.1:{port}")
