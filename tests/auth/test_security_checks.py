"""Security checks: CSV exports, secrets in logs, the launcher's login checks, XSRF and upload
limits, deep links kept across the login, and per-tenant rate limits on a real Redis."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import polars as pl
import pytest

from app.launcher import LauncherError, streamlit_command
from auth import deep_links, redaction
from auth.providers import AuthConfigError, configured_providers
from infra.cache import MemoryCache
from infra.exports import csv_bytes, neutralise_cell, neutralise_frame
from infra.records.rate_limits import RateLimit, RateLimitExceededError, count_request

MIB = 1024 * 1024
GOOD_AUTH = """
[auth]
redirect_uri = "http://127.0.0.1:8501/oauth2callback"
cookie_secret = "0123456789abcdef0123456789abcdef"
[auth.acme]
display_name = "Acme SSO"
client_id = "doppel"
client_secret = "s3cr3t-client-value"
server_metadata_url = "http://127.0.0.1:9400/.well-known/openid-configuration"
"""


# --- CSV / spreadsheet exports --------------------------------------------------------------


@pytest.mark.parametrize("cell", ["=1+1", "+SUM(A1)", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\rx", "\x00x",
                                  '=HYPERLINK("http://evil.test","click")'])
def test_a_cell_that_starts_a_formula_gets_an_apostrophe(cell):
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize("value", ["Paris", "a=b", "", " =1", 42, -3.5, None])
def test_other_values_are_left_alone(value):
    assert neutralise_cell(value) == value


def test_a_frame_is_neutralised_in_its_text_columns_and_names_only():
    frame = pl.DataFrame({"name": ["=cmd()", "Ana", None, "-1"], "balance": [-10, 5, 0, -1], "=evil": ["x"] * 4})
    safe = neutralise_frame(frame)
    assert safe["name"].to_list() == ["'=cmd()", "Ana", None, "'-1"]
    assert safe["balance"].to_list() == [-10, 5, 0, -1]
    assert safe.columns == ["name", "balance", "'=evil"]


def test_csv_bytes_reads_back_with_no_cell_starting_a_formula():
    frame = pl.DataFrame({"a": ["@x", "\t=y", "ok"], "n": [1, 2, 3]})
    cells = pl.read_csv(io.BytesIO(csv_bytes(frame)))["a"].to_list()
    assert cells == ["'@x", "'\t=y", "ok"]


# --- secrets never logged ------------------------------------------------------------------


def test_the_redactor_blanks_configured_secrets_share_tokens_and_url_passwords():
    logger = logging.getLogger(f"doppel.test.redaction.{id(object())}")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    redaction.install(["s3cr3t-client-value"], logger=logger)
    logger.warning("token exchange with client_secret=%s failed", "s3cr3t-client-value")
    logger.warning("opened /?share=%s", "Ab3dEf6hIj9kLmNoPqRsTuVwXyZ0123456789abcdefg")
    logger.warning("db at postgresql+psycopg://doppel_app:hunter2hunter2@db:5432/doppel")
    try:
        raise RuntimeError("boom with s3cr3t-client-value inside")
    except RuntimeError:
        logger.exception("failed")
    output = stream.getvalue()
    assert "s3cr3t-client-value" not in output and "hunter2hunter2" not in output
    assert "Ab3dEf6hIj9kLmNoPqRsTuVwXyZ" not in output
    assert output.count(redaction.REDACTED) >= 4 and "doppel_app:" in output


def test_secret_values_of_every_provider_are_collected():
    import tomllib

    from auth.providers import secret_values

    section = tomllib.loads(GOOD_AUTH)["auth"]
    assert set(secret_values(section)) == {"0123456789abcdef0123456789abcdef", "s3cr3t-client-value"}


# --- the launcher and Streamlit's own protections ------------------------------------------


def launch(tmp_path: Path, secrets: str | None, **environ: str) -> list[str]:
    path = tmp_path / "secrets.toml"
    if secrets is not None:
        path.write_text(secrets)
    return streamlit_command([], environ=environ, max_upload_bytes=50 * MIB, secrets_file=path)


def test_a_complete_auth_section_is_accepted_and_passed_to_streamlit(tmp_path):
    argv = launch(tmp_path, GOOD_AUTH)
    assert f"--secrets.files={tmp_path / 'secrets.toml'}" in argv and argv[:3] == [sys.executable, "-m", "streamlit"]


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (GOOD_AUTH.replace('cookie_secret = "0123456789abcdef0123456789abcdef"', 'cookie_secret = "short"'), "cookie_secret"),
        (GOOD_AUTH.replace("/oauth2callback", "/callback"), "oauth2callback"),
        (GOOD_AUTH.replace('client_secret = "s3cr3t-client-value"\n', ""), "lacks client_secret"),
        (GOOD_AUTH.replace("[auth.acme]", "[auth.acme_corp]"), "cannot contain '_'"),
        (GOOD_AUTH + '\n[access]\ndefault_role = "superuser"\n', "default_role"),
    ],
)
def test_an_unusable_login_configuration_stops_the_launch(tmp_path, broken, message):
    with pytest.raises(LauncherError, match=message):
        launch(tmp_path, broken)


def test_a_secrets_file_named_by_the_environment_is_checked_too(tmp_path):
    other = tmp_path / "elsewhere.toml"
    other.write_text(GOOD_AUTH.replace("/oauth2callback", "/nope"))
    with pytest.raises(LauncherError, match="oauth2callback"):
        launch(tmp_path, None, STREAMLIT_SECRETS_FILES=str(other))


def test_xsrf_protection_is_on_and_uploads_are_capped(tmp_path):
    argv = launch(tmp_path, GOOD_AUTH)
    assert "--server.enableXsrfProtection=true" in argv
    assert "--server.maxUploadSize=50" in argv
    assert "--client.showErrorDetails=none" in argv


def test_the_built_in_table_export_is_off_at_launch(tmp_path):
    """No "Download as CSV" (or copy) on st.dataframe / st.data_editor: it would write formulas as they are."""
    assert "--client.disableDataExport=true" in launch(tmp_path, GOOD_AUTH)


def test_the_entry_script_switches_the_table_export_off_however_it_was_started(tmp_path, monkeypatch):
    """``streamlit run app/main.py`` without the launcher, or with the option turned off, still gets it
    off before anything is drawn (the entry script sets it and starts its run again)."""
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    from app.data_export import OPTION
    from tests.app.page_support import MAIN_SCRIPT, clear_caches

    monkeypatch.setenv("DOPPEL_DATA_DIR", str(tmp_path))  # local mode's state in a private folder
    monkeypatch.delenv("DOPPEL_DATABASE_URL", raising=False)
    clear_caches()
    before = config.get_option(OPTION)
    config.set_option(OPTION, False)
    try:
        at = AppTest.from_file(MAIN_SCRIPT, default_timeout=60).run()
        assert config.get_option(OPTION) is True
        assert not at.exception
    finally:
        config.set_option(OPTION, before)
        clear_caches()


def test_providers_are_listed_with_their_labels():
    import tomllib

    providers = configured_providers(tomllib.loads(GOOD_AUTH)["auth"])
    assert [(p.name, p.label) for p in providers] == [("acme", "Acme SSO")]


def test_an_auth_section_without_a_provider_is_refused():
    with pytest.raises(AuthConfigError, match="no provider"):
        configured_providers({"redirect_uri": "http://x.test/oauth2callback", "cookie_secret": "x" * 40})


# --- deep links across the login --------------------------------------------------------------


def test_a_deep_link_keeps_the_page_and_plain_parameters_only():
    link = deep_links.deep_link_from("quality", {"report": "r-1", "share": "tok", "state": "s", "bad key": "x",
                                                 "note": "a" * 500, "job": ["j-1", "j-2"]})
    assert link == deep_links.DeepLink(page="quality", params=(("report", "r-1"), ("job", "j-1")))
    assert deep_links.DeepLink.from_json(link.to_json()) == link


def test_the_home_page_without_parameters_is_not_worth_keeping():
    assert deep_links.deep_link_from("", {}) is None
    assert deep_links.deep_link_from("https://evil.test/x", {"a": "b"}) is None


def test_the_browser_key_is_stable_across_remaskings_of_the_xsrf_token():
    from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

    token = b"0123456789abcdef"
    one = deep_links.browser_key({"_streamlit_xsrf": generate_xsrf_token_string(token)})
    two = deep_links.browser_key({"_streamlit_xsrf": generate_xsrf_token_string(token)})
    other = deep_links.browser_key({"_streamlit_xsrf": generate_xsrf_token_string(b"fedcba9876543210")})
    assert one == two and one != other and one is not None and token.hex() not in one
    assert deep_links.browser_key({}) is None


@pytest.mark.services
def test_a_kept_link_is_taken_once(redis_cache):
    link = deep_links.DeepLink(page="data", params=(("report", "r-9"),))
    deep_links.remember("browser-1", link, cache=redis_cache)
    assert deep_links.take("browser-2", cache=redis_cache) is None
    assert deep_links.take("browser-1", cache=redis_cache) == link
    assert deep_links.take("browser-1", cache=redis_cache) is None


# --- rate limits per tenant (real Redis) -----------------------------------------------------


@pytest.mark.services
def test_the_request_past_the_limit_is_refused_with_when_to_retry(redis_cache):
    limit = RateLimit(max_requests=3, window_s=60)
    clock = lambda: 999_999_970.0  # noqa: E731  (10 s into a 60 s window)
    assert [count_request("acme", limit=limit, cache=redis_cache, clock=clock).used for _ in range(3)] == [1, 2, 3]
    with pytest.raises(RateLimitExceededError, match=r"may make 3 every minute .* Try again in 50 seconds") as refused:
        count_request("acme", limit=limit, cache=redis_cache, clock=clock)
    assert refused.value.retry_after_s == 50


@pytest.mark.services
def test_one_tenants_requests_do_not_count_against_another(redis_cache):
    limit = RateLimit(max_requests=1, window_s=60)
    clock = lambda: 2_000_000_000.0  # noqa: E731
    count_request("acme", limit=limit, cache=redis_cache, clock=clock)
    assert count_request("globex", limit=limit, cache=redis_cache, clock=clock).used == 1
    with pytest.raises(RateLimitExceededError):
        count_request("acme", limit=limit, cache=redis_cache, clock=clock)


@pytest.mark.services
def test_the_counter_expires_with_its_window(redis_cache):
    limit = RateLimit(max_requests=1, window_s=60)
    count_request("acme", limit=limit, cache=redis_cache, clock=lambda: 3_000_000_000.0)
    key = f"{redis_cache.namespace}:t:acme:ratelimit:generate:3000000000"
    assert 0 < redis_cache._client.pttl(key) <= 61_000
    assert count_request("acme", limit=limit, cache=redis_cache, clock=lambda: 3_000_000_061.0).used == 1


def test_no_limit_when_the_setting_is_zero():
    cache = MemoryCache(namespace="unlimited")
    for _ in range(5):
        assert count_request("acme", limit=RateLimit(max_requests=0, window_s=60), cache=cache).limit == 0
