"""Issue 14, items 3 and 4: one address policy for every outbound connection, no check-then-connect.

Every address a tenant can make Doppel connect to (a database URL, a webhook URL, an S3
endpoint) is judged by ``engine.outbound``: the table below is refused the same way by all
three, with a message that names the address class or the port. Then the DNS-rebinding attack
itself: a name that answers a public address to the check and 127.0.0.1 afterwards must never
reach the local MariaDB, PostgreSQL or a loopback HTTP receiver.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

import engine
from engine.data.connections import check_connection_url, pinned_engine
from engine.errors import SourceUnavailableError, UnsafeConnectionError
from engine.outbound import resolve_destination
from infra.settings import Settings
from tests.conftest import MARIADB_URL, POSTGRES_URL
from workers import events
from workers.events import WebhookDelivery, check_webhook_url, deliver

PUBLIC = "93.184.216.34"  # a global unicast literal: never connected to here
TEREDO_OF_10_0_0_1 = "2001:0:4136:e378:8000:63bf:f5ff:fffe"  # server 65.54.227.120, client ~f5ff:fffe = 10.0.0.1

# (case, host as written in a URL, port, what the refusal names)
REFUSED = [
    ("shared address space (CGNAT)", "100.64.1.1", 443, r"shared \(carrier-grade NAT\)"),
    ("6to4 of loopback", "[2002:7f00:1::]", 443, "6to4 embedding of a loopback address"),
    ("6to4 of a private address", "[2002:c0a8:101::]", 443, "6to4 embedding of a private address"),
    ("IPv4-mapped loopback", "[::ffff:127.0.0.1]", 443, "IPv4-mapped embedding of a loopback address"),
    ("IPv4-compatible loopback", "[::127.0.0.1]", 443, "IPv4-compatible embedding of a loopback address"),
    ("NAT64 of loopback", "[64:ff9b::7f00:1]", 443, "NAT64 embedding of a loopback address"),
    ("local-use NAT64", "[64:ff9b:1::a00:1]", 443, r"local-use NAT64 \(64:ff9b:1::/48\)"),
    ("Teredo of a private client", f"[{TEREDO_OF_10_0_0_1}]", 443, "Teredo embedding of a private address"),
    ("unspecified", "0.0.0.0", 443, "unspecified address, which is never a server"),
    ("'this network'", "0.1.2.3", 443, r"'this network' \(0\.0\.0\.0/8\)"),
    ("cloud metadata", "169.254.169.254", 443, "link-local address"),
    ("benchmarking", "198.18.0.1", 443, "benchmarking address"),
    ("documentation", "192.0.2.10", 443, "documentation address"),
    ("reserved class E", "240.0.0.1", 443, r"reserved \(240\.0\.0\.0/4\)"),
    ("broadcast", "255.255.255.255", 443, "broadcast address, which is never a server"),
    ("multicast", "224.0.0.1", 443, "multicast address, which is never a server"),
    ("unique-local", "[fd00::1]", 443, "unique-local address"),
    ("site-local", "[fec0::1]", 443, "site-local address"),
    ("name resolving to loopback", "localhost", 443, "resolves to (127.0.0.1|::1), a loopback address"),
    ("port 0", PUBLIC, 0, "port 0 is outside 1-65535"),
    ("port 70000", PUBLIC, 70000, "port 70000 is outside 1-65535"),
    ("port -1", PUBLIC, -1, "port -1 is outside 1-65535"),
]
PASSES = [
    ("public IPv4", PUBLIC, PUBLIC),
    ("public IPv6", "[2001:4860:4860::8888]", "2001:4860:4860::8888"),
    ("6to4 of a public address", "[2002:5db8:d822::1]", "2002:5db8:d822::1"),
    ("IPv4-mapped public address", f"[::ffff:{PUBLIC}]", PUBLIC),
]


def _database(host: str, port: int) -> str:
    return str(check_connection_url(f"mysql://u@{host}:{port}/db").query["hostaddr"])


def _database_postgres(host: str, port: int) -> str:
    return str(check_connection_url(f"postgresql://u@{host}:{port}/db").query["hostaddr"])


def _webhook(host: str, port: int) -> str:
    return check_webhook_url(f"https://{host}:{port}/hooks/doppel").address


def _s3_endpoint(host: str, port: int) -> str:
    return resolve_destination(host, port, purpose="S3 endpoint").address


SURFACES: dict[str, Callable[[str, int], str]] = {
    "mysql URL": _database,
    "postgresql URL": _database_postgres,
    "webhook URL": _webhook,
    "S3 endpoint": _s3_endpoint,
}


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize(("case", "host", "port", "refusal"), REFUSED, ids=[c[0] for c in REFUSED])
def test_every_outbound_surface_refuses_the_same_addresses(surface: str, case: str, host: str, port: int,
                                                           refusal: str) -> None:
    with pytest.raises(UnsafeConnectionError, match=refusal):
        SURFACES[surface](host, port)


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize(("case", "host", "address"), PASSES, ids=[c[0] for c in PASSES])
def test_public_addresses_pass_every_surface_and_are_the_address_used(surface: str, case: str, host: str,
                                                                      address: str) -> None:
    assert SURFACES[surface](host, 443) == address


# ------------------------------------------------------------------- DNS rebinding, for real

REBIND_NAME = "rebind.doppel.test"
UNREACHABLE = "192.0.2.1"  # TEST-NET-1: nothing answers there
TEST_NET = ["192.0.2.0/24"]  # allow-listed by CIDR so that the first answer passes the check


@dataclass
class Resolver:
    """Answers ``first`` for REBIND_NAME the first time and ``then`` afterwards; other names as usual."""

    first: str
    then: str
    lookups: list[str] = field(default_factory=list)


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], Resolver]:
    real = socket.getaddrinfo

    def install(first: str, then: str) -> Resolver:
        resolver = Resolver(first, then)

        def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
            if host != REBIND_NAME:
                return real(host, port, *args, **kwargs)
            answer = resolver.first if not resolver.lookups else resolver.then
            resolver.lookups.append(answer)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer, int(port or 0)))]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return resolver

    return install


def test_a_rebinding_name_never_reaches_the_local_mariadb(rebinding: Callable[[str, str], Resolver]) -> None:
    resolver = rebinding(UNREACHABLE, "127.0.0.1")
    url = make_url(MARIADB_URL).set(host=REBIND_NAME).render_as_string(hide_password=False)

    with pytest.raises(SourceUnavailableError, match=rf"could not be reached.*{UNREACHABLE}"):
        engine.read_sql(url, table="mysql.user", allowed_hosts=TEST_NET)
    assert resolver.lookups == [UNREACHABLE], "one lookup, and the connection went to its answer"


def test_a_rebinding_name_never_reaches_the_local_postgresql(rebinding: Callable[[str, str], Resolver]) -> None:
    resolver = rebinding(UNREACHABLE, "127.0.0.1")
    url = make_url(POSTGRES_URL).set(host=REBIND_NAME).render_as_string(hide_password=False)

    with pytest.raises(SourceUnavailableError, match="could not be reached"):
        engine.read_sql(url, query="SELECT usename FROM pg_user", allowed_hosts=TEST_NET)
    assert resolver.lookups == [UNREACHABLE]


def test_mysql_connects_to_the_checked_address_and_keeps_the_name_for_tls(
    rebinding: Callable[[str, str], Resolver],
) -> None:
    resolver = rebinding("127.0.0.1", UNREACHABLE)  # the checked answer is the real server
    checked = check_connection_url(make_url(MARIADB_URL).set(host=REBIND_NAME), allow_private=True)

    pinned = pinned_engine(checked)
    try:
        with pinned.connect() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar() == 1
            # PyMySQL passes Connection.host as server_hostname when it starts TLS.
            assert connection.connection.dbapi_connection.host == REBIND_NAME
    finally:
        pinned.dispose()
    assert resolver.lookups == ["127.0.0.1"]


@dataclass
class Receiver:
    port: int
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on loopback that records every POST and answers 204."""
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append(dict(self.headers))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(server.server_address[1], received)
    server.shutdown()
    server.server_close()


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path, webhook_timeout_s=1.0, **overrides)  # type: ignore[arg-type]


def test_a_rebinding_webhook_host_never_reaches_a_loopback_receiver(
    tmp_path: Path, receiver: Receiver, rebinding: Callable[[str, str], Resolver], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "WEBHOOK_BACKOFF_S", 0.0)
    resolver = rebinding(UNREACHABLE, "127.0.0.1")
    delivery = WebhookDelivery(webhook_id="w-rebind", url=f"http://{REBIND_NAME}:{receiver.port}/hooks",
                               secret="s", event="job.failed", body=b"{}")

    assert deliver(delivery, settings=_settings(tmp_path, webhook_allowed_hosts=TEST_NET)) is False
    assert receiver.requests == []
    assert resolver.lookups == [UNREACHABLE], "one lookup per delivery, retries included"


def test_a_webhook_goes_to_the_checked_address_with_the_name_in_host(
    tmp_path: Path, receiver: Receiver, rebinding: Callable[[str, str], Resolver],
) -> None:
    resolver = rebinding("127.0.0.1", UNREACHABLE)
    delivery = WebhookDelivery(webhook_id="w-pinned", url=f"http://{REBIND_NAME}:{receiver.port}/hooks",
                               secret="s", event="job.failed", body=b"{}")

    assert deliver(delivery, settings=_settings(tmp_path, allow_private_webhook_hosts=True)) is True
    assert [r["Host"] for r in receiver.requests] == [f"{REBIND_NAME}:{receiver.port}"]
    assert resolver.lookups == ["127.0.0.1"]


def test_a_webhook_redirect_is_not_followed(tmp_path: Path, receiver: Receiver) -> None:
    redirected: list[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            redirected.append(self.path)
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        delivery = WebhookDelivery(webhook_id="w-redirect", url=f"http://127.0.0.1:{server.server_address[1]}/a",
                                   secret="s", event="job.failed", body=b"{}")
        assert deliver(delivery, settings=_settings(tmp_path, allow_private_webhook_hosts=True)) is False
    finally:
        server.shutdown()
        server.server_close()
    assert redirected == ["/a"] and receiver.requests == []


def _certificate_chain(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for ``name`` only (no IP address): (ca, cert, key) files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "doppel test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return files


@pytest.mark.parametrize(("certificate_name", "delivered"), [(REBIND_NAME, True), ("someone-else.doppel.test", False)])
def test_https_webhooks_verify_the_name_while_connecting_to_the_checked_address(
    tmp_path: Path, rebinding: Callable[[str, str], Resolver], monkeypatch: pytest.MonkeyPatch,
    certificate_name: str, delivered: bool,
) -> None:
    ca, cert, key = _certificate_chain(tmp_path, certificate_name)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the test CA is the only trusted one
    monkeypatch.setattr(events, "WEBHOOK_BACKOFF_S", 0.0)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    names: list[str | None] = []
    tls.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment]
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    resolver = rebinding("127.0.0.1", UNREACHABLE)
    port = server.server_address[1]
    try:
        delivery = WebhookDelivery(webhook_id="w-tls", url=f"https://{REBIND_NAME}:{port}/hooks",
                                   secret="s", event="job.failed", body=b"{}")
        assert deliver(delivery, settings=_settings(tmp_path, allow_private_webhook_hosts=True)) is delivered
    finally:
        server.shutdown()
        server.server_close()
    assert resolver.lookups == ["127.0.0.1"]
    assert names and set(names) == {REBIND_NAME}, "SNI carries the name, not the address"
    assert seen == ([f"{REBIND_NAME}:{port}"] if delivered else [])
