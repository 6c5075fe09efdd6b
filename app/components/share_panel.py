"""Share a quality report: create a signed, expiring, read-only link, list the report's links, revoke one.

The links are ``auth.share_links``' (a 256-bit token, stored hashed, resolved without login
by ``app.shared_report``); this panel only asks for the lifetime, shows the new link once —
the token cannot be shown again, only its hash is kept — and lists the report's links.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import streamlit as st

from app.components.acting import acting, attempt
from auth.report_sharing import report_links, revoke_report_link, share_report

LIFETIMES: dict[str, timedelta] = {
    "1 hour": timedelta(hours=1),
    "1 day": timedelta(days=1),
    "7 days": timedelta(days=7),
    "30 days": timedelta(days=30),
}
NEW_LINK_KEY = "quality_new_share_link"


def share_url(token: str, *, page_url: str | None) -> str:
    """The link that opens a report: the app's address with ``?share=<token>``."""
    if page_url:
        parts = urlsplit(page_url)
        return urlunsplit((parts.scheme, parts.netloc, "/", f"share={token}", ""))
    return f"/?share={token}"


def share_panel(report_id: str) -> None:
    """Create a link for ``report_id``, show a new one, list and revoke the others.

    ``report_id`` is the page's one selected report: the link made here opens that report.
    """
    who = acting()
    st.caption("A share link opens this one report, read-only, without signing in, until it expires or is revoked. "
               "It shows quality figures of the synthetic data, never real rows.")
    if who.allows("member"):
        cells = st.columns([2, 1], vertical_alignment="bottom")
        lifetime = cells[0].selectbox("Link expires after", list(LIFETIMES), index=2, key="share_lifetime")
        if cells[1].button("Create share link", key="share_create", icon=":material/link:"):
            token = attempt("creating the share link", share_report, who.tenant, report_id=report_id,
                            expires_in=LIFETIMES[lifetime], actor=who.actor)
            if token is not None:
                st.session_state[NEW_LINK_KEY] = (report_id, share_url(token, page_url=st.context.url))
    new = st.session_state.get(NEW_LINK_KEY)
    if new and new[0] == report_id:
        st.success("Share link created. Copy it now: it cannot be shown again.", icon=":material/link:")
        st.code(new[1], language=None)
        st.link_button("Open the shared view", new[1], icon=":material/open_in_new:")
    links = attempt("listing the share links", report_links, who.tenant, report_id=report_id, actor=who.actor) or []
    if links:
        st.markdown("**Links to this report**")
        for link in links:
            row = st.columns([4, 1], vertical_alignment="center")
            row[0].caption(f"Created {link.created_at:%Y-%m-%d %H:%M} UTC · expires {link.expires_at:%Y-%m-%d %H:%M} "
                           f"UTC · {link.state}")
            if link.state == "active" and who.allows("member") and row[1].button(
                    "Revoke", key=f"share_revoke_{link.id}", icon=":material/link_off:"):
                if attempt("revoking the share link", revoke_report_link, who.tenant, link_id=link.id,
                           actor=who.actor) is not None:
                    st.rerun()


__all__ = ["LIFETIMES", "share_panel", "share_url"]
