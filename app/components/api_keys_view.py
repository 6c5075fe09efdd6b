"""The Settings page's "API keys" section: create a key (name and scopes), see its token once, list, revoke.

The keys are ``infra.usecases.api_keys``' (stored as the SHA-256 of their secret; scopes read <
generate < train < admin, capped by the user's role). The token is kept in the session only
until the next key is made or the page is left, and is shown once with a hint to copy it.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from app.components.acting import Acting, attempt
from app.components.literal_text import markdown_literal
from infra.records.api_keys import ROLE_CEILING, SCOPES
from infra.usecases import api_keys

NEW_TOKEN_KEY = "settings_api_key_new_token"
SCOPE_WORDS = {
    "read": "read: list and read datasets, models, jobs, reports",
    "generate": "generate: also samples, streams, generations, reports",
    "train": "train: also upload data, train and withdraw models",
    "admin": "admin: also privacy budgets",
}


def scopes_for(role: str) -> list[str]:
    """The scopes a user of ``role`` may give a key: up to the role's ceiling."""
    ceiling = ROLE_CEILING.get(role, "read")
    return list(SCOPES[: SCOPES.index(ceiling) + 1])


def api_keys_view(who: Acting) -> None:
    """Create, show once, list and revoke the acting user's API keys (admins: everyone's)."""
    st.caption("A key lets a script, a pipeline or the `doppel` CLI call the REST API as you "
               "(`Authorization: Bearer dpk_...`). Its scopes bound what it may do, and your role here is "
               "checked on every call. Only a hash of the key is stored: it is shown once.")
    allowed = scopes_for(who.identity.role)
    cells = st.columns([2, 3, 1], vertical_alignment="bottom")
    name = cells[0].text_input("Key name", key="settings_api_key_name", placeholder="nightly-pipeline")
    scopes = cells[1].multiselect("Scopes", allowed, default=["read"], key="settings_api_key_scopes",
                                  format_func=lambda s: SCOPE_WORDS.get(s, s))
    if cells[2].button("Create key", key="settings_api_key_create", icon=":material/key:"):
        made = attempt("creating the API key", api_keys.create_api_key, who.tenant, actor=who.actor, name=name,
                       scopes=scopes)
        if made is not None:
            st.session_state[NEW_TOKEN_KEY] = (made[0].name, made[1])
    new = st.session_state.get(NEW_TOKEN_KEY)
    if new:
        st.success(f"Key {markdown_literal(new[0])} created. Copy it now (the copy icon at the right of the box): "
                   "it cannot be shown again.", icon=":material/key:")
        st.code(new[1], language=None)
    keys = attempt("listing the API keys", api_keys.list_api_keys, who.tenant, actor=who.actor) or []
    if not keys:
        st.caption("No API keys yet.")
        return
    st.dataframe(pl.DataFrame({
        "name": [k.name for k in keys],
        "scopes": [", ".join(k.scopes) for k in keys],
        "created (UTC)": [f"{k.created_at:%Y-%m-%d %H:%M}" for k in keys],
        "last used (UTC)": [f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never" for k in keys],
        "revoked": [f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "" for k in keys],
    }), hide_index=True)
    live = {k.id: k for k in keys if not k.revoked}
    if live:
        cells = st.columns([4, 1], vertical_alignment="bottom")
        key_id = cells[0].selectbox("Key to revoke", list(live), key="settings_api_key_revoke_pick",
                                    format_func=lambda i: f"{live[i].name} ({', '.join(live[i].scopes)}, created "
                                                          f"{live[i].created_at:%Y-%m-%d %H:%M})")
        if cells[1].button("Revoke", key="settings_api_key_revoke", icon=":material/block:"):
            if attempt("revoking the API key", _revoke, who, key_id):
                st.session_state.pop(NEW_TOKEN_KEY, None)
                st.toast(f"Revoked {markdown_literal(live[key_id].name)}.", icon=":material/block:")
                st.rerun()


def _revoke(who: Acting, key_id: str) -> bool:
    api_keys.revoke_api_key(who.tenant, actor=who.actor, key_id=key_id)
    return True
