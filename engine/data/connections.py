"""Check a database connection string before anything connects to it.

A connection string typed by a user is an instruction to the Doppel server to open a network
connection, and some driver options read files on that server. :func:`check_connection_url`
refuses, each with a message that names the problem:

- drivers other than PostgreSQL (psycopg 3), MySQL/MariaDB (PyMySQL), and Snowflake, BigQuery
  and Databricks when their optional extras are installed (``sqlite://`` would open a local
  file, for instance);
- hosts not on the allow-list, when one is set (entries are host names, ``*.example.com`` /
  ``.example.com`` suffixes, IP addresses or CIDR blocks);
- hosts that are, or resolve to, private, loopback, link-local, shared, reserved, multicast
  or unspecified addresses, IPv6 embeddings of them included (every address ``getaddrinfo``
  returns is checked; :func:`engine.outbound.address_kind` is the classification), unless
  ``allow_private=True`` or a CIDR entry of the allow-list covers the address. A host-name
  entry alone does not allow a private address: DNS can point any name at 169.254.169.254;
- ports outside 1-65535;
- Unix-socket connections (a host that is a path, no host at all for PostgreSQL, or a
  ``host=``/``unix_socket=`` option);
- options that make the client read files on the Doppel server: libpq ``service``,
  ``servicefile``, ``passfile``, ``sslkey``, ``sslcert``, ``sslrootcert``, ``sslcrl``,
  ``sslcrldir``, ``sslpassword``; MySQL ``local_infile``, ``client_flag``, ``read_default_file``,
  ``read_default_group``, ``ssl_key``, ``ssl_cert``, ``ssl_ca``, ``ssl_capath``; Snowflake
  ``private_key_file``; BigQuery ``credentials_path`` — and any option not on the driver's
  short list of harmless ones.

Addresses, ports and the allow-list are judged by :mod:`engine.outbound`, the one address
policy of every outbound connection, which resolves the host **once**. The returned URL uses
the canonical driver and carries the checked address as ``hostaddr`` for PostgreSQL and
MySQL/MariaDB; :func:`pinned_engine` opens connections to exactly that address (libpq takes
``hostaddr`` itself; for PyMySQL the socket is opened to the address and the driver keeps the
name for TLS, so ``ssl_verify_identity`` still checks the certificate against the name). A DNS
answer that changes between the check and the connection (DNS rebinding) cannot redirect it.
Databricks' driver opens its own HTTPS connections by name and cannot be pinned: use the
allow-list for it. Passwords never appear in messages.
"""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

from engine.errors import ConfigError, UnsafeConnectionError
from engine.outbound import check_addresses, check_port, resolve_destination

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mysql+pymysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "mariadb+pymysql": "mysql+pymysql",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "databricks": "databricks",
}
_EXTRAS = {
    "snowflake": ("snowflake.sqlalchemy", "snowflake"),
    "bigquery": ("sqlalchemy_bigquery", "bigquery"),
    "databricks": ("databricks.sqlalchemy", "databricks"),
}
_DEFAULT_PORTS = {"postgresql+psycopg": 5432, "mysql+pymysql": 3306, "databricks": 443}
#: Drivers whose returned URL carries the checked address as ``hostaddr`` (see :func:`pinned_engine`).
_PINNED_DRIVERS = ("postgresql+psycopg", "mysql+pymysql")

_READS_SERVER_FILE = "makes the client read a file on the Doppel server"
_REFUSED_OPTIONS = {
    "postgresql+psycopg": {
        "service": "names a connection service file entry, which " + _READS_SERVER_FILE,
        "servicefile": _READS_SERVER_FILE,
        "passfile": _READS_SERVER_FILE,
        "sslkey": _READS_SERVER_FILE,
        "sslcert": _READS_SERVER_FILE,
        "sslrootcert": _READS_SERVER_FILE,
        "sslcrl": _READS_SERVER_FILE,
        "sslcrldir": _READS_SERVER_FILE,
        "sslpassword": "unlocks a key file on the Doppel server",
        "host": "sets the host outside the URL's host part; put the host after '@'",
        "hostaddr": "sets the address outside the URL's host part; put the host after '@'",
        "port": "sets the port outside the URL; put it after the host",
        "options": "sets server parameters (it could switch off the read-only transaction)",
    },
    "mysql+pymysql": {
        "local_infile": "lets the server ask for files on the Doppel server (LOAD DATA LOCAL INFILE)",
        "client_flag": "can switch on LOAD DATA LOCAL INFILE, which reads files on the Doppel server",
        "read_default_file": _READS_SERVER_FILE,
        "read_default_group": "reads an option file on the Doppel server",
        "ssl_key": _READS_SERVER_FILE,
        "ssl_cert": _READS_SERVER_FILE,
        "ssl_ca": _READS_SERVER_FILE,
        "ssl_capath": _READS_SERVER_FILE,
        "unix_socket": "connects through a Unix socket on the Doppel server",
        "init_command": "runs a statement outside the read-only transaction",
        "bind_address": "chooses the Doppel server's network interface",
    },
    "snowflake": {
        "private_key_file": _READS_SERVER_FILE,
        "private_key_file_pwd": "unlocks a key file on the Doppel server",
        "host": "overrides the Snowflake endpoint",
        "port": "overrides the Snowflake endpoint",
        "protocol": "overrides the Snowflake endpoint",
    },
    "bigquery": {"credentials_path": _READS_SERVER_FILE},
    "databricks": {},
}
_ALLOWED_OPTIONS = {
    "postgresql+psycopg": {
        "sslmode", "connect_timeout", "application_name", "target_session_attrs", "keepalives",
        "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
        "client_encoding", "channel_binding", "gssencmode", "require_auth", "sslnegotiation",
    },
    "mysql+pymysql": {
        "charset", "connect_timeout", "read_timeout", "write_timeout", "ssl_verify_cert",
        "ssl_verify_identity", "ssl_disabled", "binary_prefix",
    },
    "snowflake": {
        "warehouse", "role", "schema", "database", "application", "login_timeout",
        "network_timeout", "client_session_keep_alive", "authenticator",
    },
    "bigquery": {
        "location", "arraysize", "list_tables_page_size", "maximum_bytes_billed", "priority",
        "use_query_cache", "credentials_base64", "dataset_id",
    },
    "databricks": {"http_path", "catalog", "schema"},
}
_SNOWFLAKE_AUTHENTICATORS = {"snowflake", "oauth", "username_password_mfa", "programmatic_access_token"}


def _check_options(url: URL, driver: str) -> None:
    refused = _REFUSED_OPTIONS[driver]
    allowed = _ALLOWED_OPTIONS[driver]
    for key, value in url.query.items():
        lowered = key.lower()
        values = value if isinstance(value, tuple) else (value,)
        if lowered in ("host", "unix_socket") and any(str(v).startswith(("/", "@")) for v in values):
            raise UnsafeConnectionError(
                f"connection option '{key}' points at a Unix socket ({values[0]}); only TCP connections are allowed"
            )
        if lowered in refused:
            raise UnsafeConnectionError(f"connection option '{key}' is refused: it {refused[lowered]}")
        if lowered not in allowed:
            raise UnsafeConnectionError(
                f"connection option '{key}' is not allowed for {driver}; allowed options: {', '.join(sorted(allowed))}"
            )
        if driver == "snowflake" and lowered == "authenticator" and str(values[0]).lower() not in _SNOWFLAKE_AUTHENTICATORS:
            raise UnsafeConnectionError(
                f"Snowflake authenticator '{values[0]}' is refused: it would open a browser or an "
                f"external identity provider from the Doppel server; use one of {sorted(_SNOWFLAKE_AUTHENTICATORS)}"
            )


def _effective_host(url: URL, driver: str) -> str | None:
    """The host name the driver will connect to (vendor endpoints for Snowflake/BigQuery)."""
    host = (url.host or "").strip()
    if driver == "snowflake":
        if not host:
            return None
        account = host.lower()
        return account if account.endswith("snowflakecomputing.com") else f"{account}.snowflakecomputing.com"
    if driver == "bigquery":
        return "bigquery.googleapis.com"
    return host or None


def check_connection_url(
    url: str | URL,
    *,
    allowed_hosts: Iterable[str] = (),
    allow_private: bool = False,
) -> URL:
    """Refuse unsafe connection strings; return the SQLAlchemy URL to connect with.

    Raises:
        UnsafeConnectionError: the URL is malformed, uses another driver, a refused or unknown
            option, a Unix socket, a host off the allow-list or a non-public address.
        ConfigError: the URL names Snowflake, BigQuery or Databricks but that extra is not
            installed.
        SourceUnavailableError: the host name does not resolve.
    """
    try:
        parsed = url if isinstance(url, URL) else make_url(str(url))
    except (ArgumentError, ValueError) as exc:
        raise UnsafeConnectionError(f"not a database URL ({exc}); expected e.g. postgresql://user@host/db") from None
    safe = parsed.render_as_string(hide_password=True)
    driver = _DRIVERS.get(parsed.drivername.lower())
    if driver is None:
        raise UnsafeConnectionError(
            f"database driver '{parsed.drivername}' is not allowed ({safe}); use postgresql://, "
            "mysql:// (MariaDB too), or snowflake://, bigquery://, databricks:// with their extras"
        )
    if driver in _EXTRAS:
        module, extra = _EXTRAS[driver]
        if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
            raise ConfigError(f"{driver}:// needs the optional extra: pip install 'doppel[{extra}]'")
    _check_options(parsed, driver)

    raw_host = (parsed.host or "").strip()
    if raw_host.startswith(("/", "@")) or "/" in raw_host or "%2f" in raw_host.lower():
        raise UnsafeConnectionError(f"host '{raw_host}' is a Unix socket path; only TCP connections are allowed")
    host = _effective_host(parsed, driver)
    if host is None:
        raise UnsafeConnectionError(
            f"no host in {safe}: without one the driver connects through a local Unix socket or "
            "to the Doppel server itself; give the database's host name"
        )

    port = parsed.port or _DEFAULT_PORTS.get(driver)
    if parsed.port is not None:
        check_port(parsed.port, purpose="database")
    destination = None
    if port is None:  # Snowflake, BigQuery: the vendor's endpoint; only the allow-list applies
        check_addresses(host, [], purpose="database host", allowed=allowed_hosts)
    else:
        destination = resolve_destination(host, port, purpose="database host", allow_private=allow_private,
                                          allowed=allowed_hosts)

    checked = parsed.set(drivername=driver)
    if destination is not None and driver in _PINNED_DRIVERS:
        checked = checked.update_query_dict({"hostaddr": destination.address})
    return checked


def _connect_pymysql_to(address: str, port: int) -> Any:
    """A ``do_connect`` hook: open the socket to ``address``, then let PyMySQL speak over it.

    PyMySQL keeps the URL's host name as ``Connection.host``, which it passes as
    ``server_hostname`` when it upgrades the socket to TLS, so certificate verification and SNI
    use the name while the TCP connection goes to the checked address.
    """

    def connect(dialect: Any, connection_record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]) -> Any:
        dbapi = dialect.loaded_dbapi
        timeout = cparams.get("connect_timeout", 10)
        try:
            sock = socket.create_connection((address, port), timeout)
        except OSError as exc:
            raise dbapi.err.OperationalError(
                2003, f"Can't connect to MySQL server on {cparams.get('host')!r} at {address}:{port} ({exc})"
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        connection = dbapi.connect(*cargs, **cparams, defer_connect=True)
        connection.connect(sock=sock)  # closes the socket itself when the handshake fails
        return connection

    return connect


def pinned_engine(url: URL, **kwargs: Any) -> Engine:
    """An SQLAlchemy engine for a URL returned by :func:`check_connection_url`.

    Its connections go to the address the check judged (the URL's ``hostaddr``), never to a
    second DNS answer for the host name. ``kwargs`` go to :func:`sqlalchemy.create_engine`.
    """
    address = url.query.get("hostaddr")
    if url.drivername != "mysql+pymysql" or address is None:
        return sa.create_engine(url, **kwargs)
    if isinstance(address, tuple):
        raise UnsafeConnectionError("the URL names more than one hostaddr; pass it through check_connection_url")
    bare = url.difference_update_query(["hostaddr"])
    engine = sa.create_engine(bare, **kwargs)
    event.listen(engine, "do_connect", _connect_pymysql_to(str(address), bare.port or _DEFAULT_PORTS["mysql+pymysql"]))
    return engine
