"""Share a quality report: create a signed, expiring, read-only link, list the report's links, revoke one.

The links are ``auth.share_links``' (a 256-bit token, stored hashed, resolved without login
by ``app.shared_report``); this panel only asks for the lifetime, shows the new link once —
the token cannot be shown again, only its hash is kept — and lists the report's links.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import streamlit as st

from app.components.acting import acting, attempt
from auth.share_links import create_share_link, list_share_links, revoke_share_link
from infra.db import tenant_session
from infra.db.types import utcnow
from infra.services.authz import Actor

LIFETIMES: dict[str, timedelta] = {
    "1 hour": timedelta(hours=1),
    "1 day": timedelta(days=1),
    "7 days": timedelta(days=7),
    "30 days": timedelta(days=30),
}
NEW_LINK_KEY = "quality_new_share_link"


@dataclass(frozen=True)
class LinkRow:
    id: str
    created_at: datetime
    expires_at: datetime
    revoked: bool

    @property
    def state(self) -> str:
        if self.revoked:
            return "revoked"
        return "expired" if self.expires_at <= utcnow() else "active"


def share_url(token: str, *, page_url: str | None) -> str:
    """The link that opens a report: the app's address with ``?share=<token>``."""
    if page_url:
        parts = urlsplit(page_url)
        return urlunsplit((parts.scheme, parts.netloc, "/", f"share={token}", ""))
    return f"/?share={token}"


def create_link(tenant: str, *, report_id: str, expires_in: timedelta, actor: Actor) -> str:
    """Issue a link to the report; returns its token (shown once)."""
    with tenant_session(tenant) as session:
        return create_share_link(session, report_id=report_id, expires_in=expires_in, actor=actor)


def links_of(tenant: str, *, report_id: str, actor: Actor) -> list[LinkRow]:
    with tenant_session(tenant) as session:
        return [LinkRow(link.id, link.created_at, link.expires_at, link.revoked_at is not None)
                for link in list_share_links(session, actor=actor, report_id=report_id)]


def revoke_link(tenant: str, *, link_id: str, actor: Actor) -> bool:
    with tenant_session(tenant) as session:
        revoke_share_link(session, link_id=link_id, actor=actor)
    return True


def share_panel(report_id: str) -> None:
    """Create a link for ``report_id``, show a new one, list and revoke the others."""
    who = acting()
    st.caption("A share link opens this one report, read-only, without signing in, until it expires or is revoked. "
               "It shows quality figures of the synthetic data, never real rows.")
    if who.allows("member"):
        cells = st.columns([2, 1], vertical_alignment="bottom")
        lifetime = cells[0].selectbox("Link expires after", list(LIFETIMES), index=2, key="share_lifetime")
        if cells[1].button("Create share link", key="share_create", icon=":material/link:"):
            token = attempt("creating the share link", create_link, who.tenant, report_id=report_id,
                            expires_in=LIFETIMES[lifetime], actor=who.actor)
            if token is not None:
                st.session_state[NEW_LINK_KEY] = (report_id, share_url(token, page_url=st.context.url))
    new = st.session_state.get(NEW_LINK_KEY)
    if new and new[0] == report_id:
        st.success("Share link created. Copy it now: it cannot be shown again.", icon=":material/link:")
        st.code(new[1], language=None)
        st.link_button("Open the shared view", new[1], icon=":material/open_in_new:")
    links = attempt("listing the share links", links_of, who.tenant, report_id=report_id, actor=who.actor) or []
    if links:
        st.markdown("**Links to this report**")
        for link in links:
            row = st.columns([4, 1], vertical_alignment="center")
            row[0].caption(f"Created {link.created_at:%Y-%m-%d %H:%M} UTC · expires {link.expires_at:%Y-%m-%d %H:%M} "
                           f"UTC · {link.state}")
            if link.state == "active" and who.allows("member") and row[1].button(
                    "Revoke", key=f"share_revoke_{link.id}", icon=":material/link_off:"):
                if attempt("revoking the share link", revoke_link, who.tenant, link_id=link.id, actor=who.actor):
                    st.rerun()


__all__ = ["LIFETIMES", "create_link", "links_of", "revoke_link", "share_panel", "share_url"]
