"""What every workbench page starts from: who acts in which workspace, and how a call fails in words.

``acting()`` gives the tenant (from the login, never from a widget or the URL) and the acting
user that the services take. ``attempt(action, call, ...)`` runs one service call and turns
any exception into the one plain message a page shows (``app.failures``): never a traceback.
``start_here`` is the "what to do first" box of an empty page, with a link to the page where
that happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import streamlit as st

from app.failures import show_error, user_message
from app.identity import Identity, current_actor, current_identity
from app.pages_registry import PAGE_SPECS, page
from infra.records.authz import Actor

T = TypeVar("T")


@dataclass(frozen=True)
class Acting:
    """The session's workspace (tenant), the acting user, and their identity (role, local mode)."""

    tenant: str
    actor: Actor
    identity: Identity

    def allows(self, role: str) -> bool:
        return self.identity.allows(role)


def acting() -> Acting:
    """The workspace and user of this session (local mode: the local owner of the local workspace)."""
    identity = current_identity()
    return Acting(tenant=identity.tenant, actor=current_actor(), identity=identity)


def attempt(action: str, call: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | None:
    """``call(*args, **kwargs)``, or None after showing why it failed.

    ``action`` says what was being done ("starting the training"), for the message of an
    unexpected error; an error raised on purpose (``DoppelError``) shows its own message.
    """
    try:
        return call(*args, **kwargs)
    except Exception as err:  # every failure reaches the page as a message, never a traceback
        show_error(user_message(err, action=action))
        return None


def start_here(text: str, *, go_to: str | None = None, label: str | None = None, icon: str = ":material/info:") -> None:
    """The box an empty page shows: what to do first, and a link to the page where it is done."""
    st.info(f"**Start here:** {text}", icon=icon)
    if go_to is not None and _visible(go_to):
        target = page(go_to)
        st.page_link(target, label=label or f"Go to {target.title}", icon=":material/arrow_forward:")


def link_to(url_path: str, label: str, *, icon: str = ":material/arrow_forward:") -> None:
    """A link to another workbench page (none when the session's role does not see that page)."""
    if _visible(url_path):
        st.page_link(page(url_path), label=label, icon=icon)


def _visible(url_path: str) -> bool:
    spec = next(s for s in PAGE_SPECS if s.url_path == url_path)
    return current_identity().allows(spec.least_role)


__all__ = ["Acting", "acting", "attempt", "link_to", "start_here"]
