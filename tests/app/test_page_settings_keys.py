"""The Settings page's API keys: made with a name and scopes, the token shown once, listed, revoked."""

from __future__ import annotations

import pytest

from infra.usecases.api_keys import ApiKeyError, authenticate_api_key, list_api_keys
from tests.app.page_support import act_as, button, no_traceback, open_page, texts


def _create(at, name: str, scopes: list[str]):
    at.text_input(key="settings_api_key_name").input(name)
    at.multiselect(key="settings_api_key_scopes").set_value(scopes)
    at.run()
    button(at, "Create key").click()
    at.run()
    no_traceback(at)
    return at


def test_a_new_key_s_token_is_shown_once_and_works(app_env, monkeypatch):
    act_as(monkeypatch, app_env, "member")
    at = _create(open_page("settings"), "pipeline", ["read", "generate"])
    assert any("Copy it now" in s and "cannot be shown again" in s for s in texts(at.success))
    token = next(c.value for c in at.code if c.value.startswith("dpk_"))
    principal = authenticate_api_key(token)
    assert principal.role == "member" and principal.scopes == ("read", "generate")
    again = open_page("settings")  # a new visit: the list, never the token
    assert not [c for c in again.code if c.value.startswith("dpk_")]
    table = next(df.value for df in again.dataframe if "scopes" in df.value.columns)
    row = table[table["name"] == "pipeline"].iloc[0]  # AppTest gives pandas frames
    assert row["scopes"] == "read, generate" and row["last used (UTC)"] != "never" and row["revoked"] == ""


def test_a_revoked_key_is_refused_and_shown_as_revoked(app_env, monkeypatch):
    actor = act_as(monkeypatch, app_env, "member")
    at = _create(open_page("settings"), "to-revoke", ["read"])
    token = next(c.value for c in at.code if c.value.startswith("dpk_"))
    key_id = next(k.id for k in list_api_keys(app_env.tenant, actor=actor) if k.name == "to-revoke" and not k.revoked)
    at.selectbox(key="settings_api_key_revoke_pick").set_value(key_id)
    at.run()
    button(at, "Revoke").click()
    at.run()
    no_traceback(at)
    with pytest.raises(ApiKeyError):
        authenticate_api_key(token)
    table = next(df.value for df in at.dataframe if "scopes" in df.value.columns)
    assert table[table["name"] == "to-revoke"]["revoked"].iloc[-1] != ""


def test_a_viewer_can_only_make_read_keys(app_env, monkeypatch):
    act_as(monkeypatch, app_env, "viewer")
    at = open_page("settings")
    no_traceback(at)
    assert at.multiselect(key="settings_api_key_scopes").options == ["read: list and read datasets, models, jobs, reports"]
