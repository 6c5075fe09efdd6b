"""Who is using the workbench, in which tenant, with which role.

The login gate (``auth.gate.admit``, called by ``app/main.py`` before any page) decides it and
keeps it in the session: with a login provider configured (an ``[auth]`` section in the
secrets) it is the signed-in user, their chosen tenant and their role there, re-read from the
database on every run; without one the workbench runs in single-user local mode — everyone is
the owner of the one local tenant — and every page shows a banner saying so.

Pages and the app's helpers read it with ``current_identity()`` and pass ``identity.tenant``
(and ``current_actor()``) to the services; the tenant never comes from a widget or a URL.
"""

from __future__ import annotations

import streamlit as st

from auth.gate import auth_section
from auth.identity import (  # noqa: F401  (re-exported for pages)
    IDENTITY_KEY,
    LOCAL_ACTOR_KEY,
    LOCAL_IDENTITY,
    LOCAL_MODE_BANNER,
    Identity,
    actor_of,
)
from infra.records.authz import Actor


class NotSignedInError(RuntimeError):
    """A page asked for the identity before the login gate admitted the session (a bug)."""


def login_configured() -> bool:
    """Whether the secrets configure a login provider (an ``[auth]`` section)."""
    return auth_section() is not None


def current_identity() -> Identity:
    """The identity the login gate admitted for this session (local mode: the local user)."""
    identity = st.session_state.get(IDENTITY_KEY)
    if isinstance(identity, Identity):
        return identity
    if not login_configured():
        return LOCAL_IDENTITY
    raise NotSignedInError("no signed-in identity in this session: the login gate must run first")


def current_actor() -> Actor:
    """The acting user, for services that check roles and write the audit log.

    In local mode the local user is created (owner of the local tenant) on first use.
    """
    identity = current_identity()
    actor = actor_of(identity)
    if actor is not None:
        return actor
    actor = st.session_state.get(LOCAL_ACTOR_KEY)
    if not isinstance(actor, Actor):
        from auth.provisioning import ensure_local_user

        actor = st.session_state[LOCAL_ACTOR_KEY] = ensure_local_user()
    return actor
