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
  or unspecified addresses (every address ``getaddrinfo`` returns is checked), unless
  ``allow_private=True`` or a CIDR entry of the allow-list covers the address. A host-name
  entry alone does not allow a private address: DNS can point any name at 169.254.169.254;
- Unix-socket connections (a host that is a path, no host at all for PostgreSQL, or a
  ``host=``/``unix_socket=`` option);
- options that make the client read files on the Doppel server: libpq ``service``,
  ``servicefile``, ``passfile``, ``sslkey``, ``sslcert``, ``sslrootcert``, ``sslcrl``,
  ``sslcrldir``, ``sslpassword``; MySQL ``local_infile``, ``client_flag``, ``read_default_file``,
  ``read_default_group``, ``ssl_key``, ``ssl_cert``, ``ssl_ca``, ``ssl_capath``; Snowflake
  ``private_key_file``; BigQuery ``credentials_path`` — and any option not on the driver's
  short list of harmless ones.

The returned URL uses the canonical driver and, for PostgreSQL, pins ``hostaddr`` to the
address that was checked, so a DNS answer that changes between the check and the connection
(DNS rebinding) cannot redirect it. Passwords never appear in messages.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from engine.errors import ConfigError, SourceUnavailableError, UnsafeConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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


@dataclass(frozen=True)
class _Rule:
    """One allow-list entry: a host name, a host-name suffix, or an address block."""

    host: str | None = None
    suffix: str | None = None
    network: IPNetwork | None = None


def _parse_allowed(allowed_hosts: Iterable[str]) -> list[_Rule]:
    if isinstance(allowed_hosts, str):
        allowed_hosts = [part for part in allowed_hosts.replace(",", " ").split() if part]
    rules = []
    for entry in allowed_hosts:
        text = str(entry).strip().lower()
        if not text:
            continue
        try:
            rules.append(_Rule(network=ipaddress.ip_network(text, strict=False)))
            continue
        except ValueError:
            pass
        if text.startswith("*."):
            rules.append(_Rule(suffix=text[1:]))
        elif text.startswith("."):
            rules.append(_Rule(suffix=text))
        else:
            rules.append(_Rule(host=text.rstrip(".")))
    return rules


def _address_kind(address: IPAddress) -> str | None:
    """Why an address is not a public one ('loopback', 'private', ...), or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _address_kind(address.ipv4_mapped)
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address in ipaddress.ip_network("100.64.0.0/10"):
        return "shared (carrier-grade NAT)"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _resolve(host: str, port: int | None) -> list[IPAddress]:
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port or None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SourceUnavailableError(f"database host '{host}' could not be resolved ({exc})") from None
    addresses: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]
        address = ipaddress.ip_address(text)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise SourceUnavailableError(f"database host '{host}' resolved to no address")
    return addresses


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


def _host_matches(host: str, rules: list[_Rule]) -> bool:
    name = host.lower().rstrip(".")
    for rule in rules:
        if rule.host is not None and name == rule.host:
            return True
        if rule.suffix is not None and name.endswith(rule.suffix):
            return True
    return False


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

    rules = _parse_allowed(allowed_hosts)
    vendor_endpoint = driver in ("snowflake", "bigquery")
    addresses: list[IPAddress] = []
    if not vendor_endpoint:
        addresses = _resolve(host, parsed.port or _DEFAULT_PORTS.get(driver))
    if rules:
        name_ok = _host_matches(host, rules)
        networks = [rule.network for rule in rules if rule.network is not None]
        address_ok = bool(addresses) and all(any(a in net for net in networks) for a in addresses)
        if not (name_ok or address_ok):
            raise UnsafeConnectionError(
                f"database host '{host}' is not on the allowed-hosts list ({', '.join(map(str, allowed_hosts))})"
            )
    networks = [rule.network for rule in rules if rule.network is not None]
    for address in addresses:
        kind = _address_kind(address)
        if kind is None:
            continue
        article = "an" if kind[0] in "aeiou" else "a"
        if _literal_address(host) == address:
            subject = f"database host '{host}' is {article} {kind} address"
        else:
            subject = f"database host '{host}' resolves to {address}, {article} {kind} address"
        if kind in ("unspecified", "multicast"):
            raise UnsafeConnectionError(f"{subject}, which is never a database")
        if allow_private or any(address in net for net in networks):
            continue
        raise UnsafeConnectionError(
            f"{subject}; private, loopback and link-local databases are refused unless allowed "
            "(allow_private=True, or list their CIDR block in the allowed hosts)"
        )

    checked = parsed.set(drivername=driver)
    if driver == "postgresql+psycopg" and addresses:
        checked = checked.update_query_dict({"hostaddr": str(addresses[0])})
    return checked
