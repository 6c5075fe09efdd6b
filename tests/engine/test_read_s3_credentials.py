"""engine.read with explicit S3Credentials: exactly those credentials, nothing of the machine's.

A recording HTTP server on loopback stands in for an S3 endpoint where the test must see the
request itself (who signed it); the real moto S3 server serves the reads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

import engine
from engine.data.s3 import S3Credentials, parse_s3_path
from engine.errors import ConfigError, InputError
from tests.engine.data_fixtures import S3Server

TENANT_KEY_ID = "AKIATENANTAEXAMPLE01"
SERVER_KEY_ID = "AKIASERVERENVIRONMENT"


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with 404 and keeps its method, path and headers."""

    requests: list[tuple[str, str, dict[str, str]]] = []

    def _answer(self) -> None:
        type(self).requests.append((self.command, self.path, dict(self.headers)))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET = _answer  # noqa: N815 - http.server's names

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list]]:
    _Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own AWS identity, which explicit credentials must ignore (fresh boto3 default session)."""
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # boto3 caches the chain's answer per process
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SERVER_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "server-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "server-session-token")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")


def test_explicit_credentials_sign_with_the_given_key_not_the_environments(recorder, server_environment,
                                                                           monkeypatch, tmp_path):
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = ap-south-1\nendpoint_url = http://127.0.0.1:9\n")
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")  # would make boto3's own chain fail outright
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("DOPPEL_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    endpoint, requests = recorder
    credentials = S3Credentials(access_key_id=TENANT_KEY_ID, secret_access_key="tenant-secret", endpoint_url=endpoint)
    with pytest.raises(InputError, match="no such object"):
        engine.read("s3://tenant-bucket/data.csv", s3_credentials=credentials)
    assert requests, "the request went to the endpoint in the credentials"
    for _method, path, headers in requests:
        authorization = headers.get("Authorization", "")
        assert f"Credential={TENANT_KEY_ID}/" in authorization and "/us-east-1/s3/aws4_request" in authorization
        assert SERVER_KEY_ID not in authorization
        assert "X-Amz-Security-Token" not in headers  # the environment's session token did not leak either
        assert path.startswith("/tenant-bucket/data.csv")


def test_without_credentials_a_notebook_keeps_its_machines_chain(recorder, server_environment):
    endpoint, requests = recorder
    with pytest.raises(InputError, match="no such object"):
        engine.read("s3://tenant-bucket/data.csv", s3_endpoint_url=endpoint)
    assert f"Credential={SERVER_KEY_ID}/" in requests[0][2]["Authorization"]


def test_explicit_credentials_read_from_a_real_s3_server(s3_server: S3Server, adult_frame: pl.DataFrame,
                                                         monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "DOPPEL_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    credentials = S3Credentials(access_key_id=TENANT_KEY_ID, secret_access_key="tenant-secret",
                                endpoint_url=s3_server.endpoint)
    frame = engine.read(f"s3://{s3_server.bucket}/raw/adult.csv", s3_credentials=credentials)
    assert frame.equals(adult_frame)


def test_s3a_and_upper_case_spellings_read_the_same_canonical_object(s3_server: S3Server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "doppel-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "doppel-test-secret")
    spelled = f"S3A://{s3_server.bucket.upper()}./raw/adult.csv"
    assert parse_s3_path(spelled).uri == f"s3://{s3_server.bucket}/raw/adult.csv"
    assert engine.read(spelled, s3_endpoint_url=s3_server.endpoint, n=5).height == 5


def test_credentials_with_a_separate_endpoint_argument_are_refused():
    credentials = S3Credentials(access_key_id=TENANT_KEY_ID, secret_access_key="tenant-secret")
    with pytest.raises(ConfigError, match="inside S3Credentials"):
        engine.read("s3://tenant-bucket/data.csv", s3_credentials=credentials, s3_endpoint_url="http://127.0.0.1:9")


def test_the_secret_never_shows_in_the_credentials_repr():
    credentials = S3Credentials(access_key_id=TENANT_KEY_ID, secret_access_key="tenant-secret", session_token="tok")
    assert "tenant-secret" not in repr(credentials) and "tok" not in repr(credentials)


@pytest.mark.parametrize("uri", ["s3://ab/key.csv", "s3://a..b/key.csv", "s3://-bucket/key.csv", "s3://b_ucket!/k"])
def test_an_invalid_bucket_name_is_refused_with_the_rule(uri):
    with pytest.raises(InputError, match="is not a valid bucket name"):
        parse_s3_path(uri)
