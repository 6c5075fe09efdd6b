"""Connection strings and queries are checked before anything connects or runs."""

from __future__ import annotations

import pytest

from engine.data.connections import check_connection_url
from engine.data.sql_guard import check_read_only_query
from engine.errors import ConfigError, InputError, SourceUnavailableError, UnsafeConnectionError

PUBLIC_IP = "93.184.216.34"  # a global unicast address: no DNS lookup needed


def test_plain_schemes_map_to_the_supported_drivers():
    assert check_connection_url(f"postgresql://u@{PUBLIC_IP}/db").drivername == "postgresql+psycopg"
    assert check_connection_url(f"mysql://u@{PUBLIC_IP}/db").drivername == "mysql+pymysql"
    assert check_connection_url(f"mariadb://u@{PUBLIC_IP}/db").drivername == "mysql+pymysql"


def test_postgres_url_is_pinned_to_the_checked_address():
    url = check_connection_url("postgresql://postgres@localhost:5432/test", allow_private=True)
    assert url.query["hostaddr"] in ("127.0.0.1", "::1")
    assert url.host == "localhost"


def test_mysql_url_is_pinned_to_the_checked_address():
    url = check_connection_url("mysql://root@localhost:3306/test", allow_private=True)
    assert url.query["hostaddr"] in ("127.0.0.1", "::1")
    assert url.host == "localhost"


@pytest.mark.parametrize("port", [0, 70000, -1])
def test_ports_outside_the_tcp_range_are_refused(port: int):
    with pytest.raises(UnsafeConnectionError, match=rf"database port {port} is outside 1-65535"):
        check_connection_url(f"mysql://u@{PUBLIC_IP}:{port}/db")


def test_password_survives_the_check():
    url = check_connection_url(f"mysql://u:s3cret@{PUBLIC_IP}:3306/db")
    assert url.password == "s3cret"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///etc/passwd", "driver 'sqlite' is not allowed"),
        ("postgresql+psycopg2://u@h/db", r"driver 'postgresql\+psycopg2' is not allowed"),
        ("mssql+pyodbc://u@h/db", r"driver 'mssql\+pyodbc' is not allowed"),
        ("not a url at all", "not a database URL"),
    ],
)
def test_other_drivers_and_garbage_are_refused(url: str, message: str):
    with pytest.raises(UnsafeConnectionError, match=message):
        check_connection_url(url)


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.7", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", r"shared \(carrier-grade NAT\)"),
        ("[::1]", "loopback"),
        ("[fe80::1]", "link-local"),
        ("[fd00::1]", "unique-local"),
        ("[::ffff:10.0.0.1]", "IPv4-mapped embedding of a private"),
    ],
)
def test_non_public_addresses_are_refused_by_default(host: str, kind: str):
    with pytest.raises(UnsafeConnectionError, match=rf"is an? {kind} address; private, loopback, link-local and other non-public addresses are refused"):
        check_connection_url(f"postgresql://u@{host}:5432/db")


def test_names_are_resolved_and_every_address_checked():
    with pytest.raises(UnsafeConnectionError, match=r"'localhost' resolves to (127\.0\.0\.1|::1), a loopback address"):
        check_connection_url("postgresql://u@localhost/db")


def test_allow_private_lets_a_loopback_host_through():
    assert check_connection_url("postgresql://u@127.0.0.1/db", allow_private=True).host == "127.0.0.1"


def test_unspecified_and_multicast_addresses_are_always_refused():
    with pytest.raises(UnsafeConnectionError, match=r"'0\.0\.0\.0' is an unspecified address, which is never a server"):
        check_connection_url("postgresql://u@0.0.0.0/db", allow_private=True)
    with pytest.raises(UnsafeConnectionError, match="multicast"):
        check_connection_url("postgresql://u@224.0.0.1/db", allow_private=True)


def test_host_off_the_allow_list_is_refused():
    with pytest.raises(UnsafeConnectionError, match=rf"'{PUBLIC_IP}' is not on the allowed-hosts list \(db\.example\.com, 10\.0\.0\.0/8\)"):
        check_connection_url(f"postgresql://u@{PUBLIC_IP}/db", allowed_hosts=["db.example.com", "10.0.0.0/8"])


def test_cidr_entry_allows_its_addresses_even_private_ones():
    url = check_connection_url("postgresql://u@10.1.2.3/db", allowed_hosts=["10.1.0.0/16"])
    assert url.host == "10.1.2.3"


def test_cidr_entry_covers_a_resolved_name():
    assert check_connection_url("postgresql://u@localhost/db", allowed_hosts=["127.0.0.0/8", "::1/128"]).host == "localhost"


def test_host_name_entry_alone_does_not_allow_a_private_address():
    with pytest.raises(UnsafeConnectionError, match="'localhost' resolves to .* loopback address"):
        check_connection_url("postgresql://u@localhost/db", allowed_hosts=["localhost"])


def test_allowed_public_address_passes_the_list():
    assert check_connection_url(f"mysql://u@{PUBLIC_IP}/db", allowed_hosts=[f"{PUBLIC_IP}/32"]).host == PUBLIC_IP


def test_unresolvable_host_is_source_unavailable():
    with pytest.raises(SourceUnavailableError, match=r"'doppel-no-such-host\.invalid' could not be resolved"):
        check_connection_url("postgresql://u:pw@doppel-no-such-host.invalid/db")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@%2Fvar%2Frun%2Fpostgresql/db",
        "postgresql://u@/db?host=/var/run/postgresql",
        f"postgresql://u@{PUBLIC_IP}/db?host=/tmp",
        f"mysql://u@{PUBLIC_IP}/db?unix_socket=/run/mysqld/mysqld.sock",
    ],
)
def test_unix_sockets_are_refused(url: str):
    with pytest.raises(UnsafeConnectionError, match="Unix socket"):
        check_connection_url(url, allow_private=True)


def test_missing_host_is_refused():
    with pytest.raises(UnsafeConnectionError, match="no host in postgresql:///db"):
        check_connection_url("postgresql:///db", allow_private=True)


@pytest.mark.parametrize(
    "option",
    ["service=prod", "servicefile=/etc/pg_service.conf", "passfile=/root/.pgpass", "sslkey=/etc/ssl/key.pem",
     "sslcert=/etc/ssl/cert.pem", "sslrootcert=/etc/ssl/ca.pem", "sslcrl=/etc/ssl/crl.pem", "sslcrldir=/etc/ssl"],
)
def test_libpq_options_that_read_server_files_are_refused(option: str):
    key = option.split("=")[0]
    with pytest.raises(UnsafeConnectionError, match=rf"option '{key}' is refused: it .*(file|service)"):
        check_connection_url(f"postgresql://u@{PUBLIC_IP}/db?{option}")


@pytest.mark.parametrize(
    "option",
    ["local_infile=1", "read_default_file=/etc/mysql/my.cnf", "ssl_key=/k.pem", "ssl_cert=/c.pem", "ssl_ca=/ca.pem", "client_flag=128"],
)
def test_mysql_options_that_read_server_files_are_refused(option: str):
    key = option.split("=")[0]
    with pytest.raises(UnsafeConnectionError, match=rf"option '{key}' is refused: it .*(file|INFILE)"):
        check_connection_url(f"mysql://u@{PUBLIC_IP}/db?{option}")


def test_unknown_options_are_refused_with_the_allowed_list():
    with pytest.raises(UnsafeConnectionError, match=r"option 'krbsrvname' is not allowed .* allowed options: application_name"):
        check_connection_url(f"postgresql://u@{PUBLIC_IP}/db?krbsrvname=x")


def test_harmless_options_pass():
    url = check_connection_url(f"postgresql://u@{PUBLIC_IP}/db?sslmode=require&connect_timeout=5")
    assert url.query["sslmode"] == "require"


def test_warehouse_without_its_extra_names_the_extra():
    with pytest.raises(ConfigError, match=r"pip install 'doppel\[snowflake\]'"):
        check_connection_url("snowflake://u:p@account/db")


def test_refusal_messages_never_show_the_password():
    with pytest.raises(UnsafeConnectionError) as caught:
        check_connection_url("sqlite://u:hunter2-secret@h/db")
    assert "hunter2-secret" not in str(caught.value)


# ------------------------------------------------------------------------- query guard


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM players",
        "select id from players;",
        "  (SELECT 1) UNION (SELECT 2)",
        "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
        "SELECT 'DELETE FROM x; DROP TABLE y' AS note",
        'SELECT "update", "insert" FROM t',
        "SELECT comment, start, release FROM notes",
        "SELECT $body$ DROP TABLE x; $body$ AS text",
        "SELECT E'it\\'s; DELETE' AS s",
        "SELECT 1 -- ; DROP TABLE x\n",
        "SELECT /* ; DELETE */ 1",
        "SELECT * FROM t FETCH FIRST 5 ROWS ONLY",
    ],
)
def test_read_only_selects_pass(query: str):
    assert check_read_only_query(query, dialect="postgresql")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM players", "starts with DELETE"),
        ("SELECT 1; DROP TABLE players", "more than one statement"),
        ("SELECT 1;; ", "more than one statement"),
        ("INSERT INTO t SELECT 1", "starts with INSERT"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "DELETE is not allowed"),
        ("WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM u", "UPDATE is not allowed"),
        ("SELECT * INTO copy FROM t", r"SELECT \.\.\. INTO creates a table"),
        ("SELECT * FROM t FOR UPDATE", "FOR UPDATE locks rows"),
        ("SELECT * FROM t FOR SHARE", "FOR SHARE locks rows"),
        ("SELECT * FROM t FOR NO KEY UPDATE", "FOR NO KEY UPDATE locks rows"),
        ("SELECT pg_read_file('/etc/passwd')", r"pg_read_file\(\) is not on the allow-list of pure functions"),
        ("SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(a int)", r"dblink\(\)"),
        ("CREATE TABLE t (a int)", "starts with CREATE"),
        ("TRUNCATE players", "starts with TRUNCATE"),
        ("SET statement_timeout = 0", "starts with SET"),
        ("COMMIT", "starts with COMMIT"),
        ("SELECT 'unterminated", "unterminated string"),
        ("SELECT 1 /* open", "unterminated comment"),
        ("   ", "the query is empty"),
        ("-- nothing", "only comments"),
    ],
)
def test_writes_and_tricks_are_refused(query: str, message: str):
    with pytest.raises(InputError, match=message):
        check_read_only_query(query, dialect="postgresql")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT 1 /*! ; DROP TABLE t */", "executable comment"),
        ("SELECT * FROM t INTO OUTFILE '/tmp/x'", "INTO"),
        ("SELECT * FROM t LOCK IN SHARE MODE", "FOR SHARE locks rows"),
        ("SELECT LOAD_FILE('/etc/passwd')", r"load_file\(\)"),
        ("SELECT 1 # comment\n; DELETE FROM t", "more than one statement"),
    ],
)
def test_mysql_specific_tricks_are_refused(query: str, message: str):
    with pytest.raises(InputError, match=message):
        check_read_only_query(query, dialect="mysql")


def test_mysql_backslash_escapes_and_backticks_are_understood():
    assert check_read_only_query("SELECT 'it\\'s; DROP', `delete` FROM t # ; DROP TABLE t", dialect="mysql")


def test_trailing_semicolon_and_comment_are_cut():
    assert check_read_only_query("SELECT 1 ; -- done", dialect="postgresql") == "SELECT 1"
