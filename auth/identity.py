"""The identity of a workbench session: tenant, role and user, as the login gate admitted them.

``auth.gate.admit`` stores one ``Identity`` in ``st.session_state`` per session (re-checked on
every run); ``app.identity.current_identity()`` hands it to the pages. Plain data, no
Streamlit import, so services and tests can build one.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.records.authz import Actor, role_allows
from infra.tenant_ids import LOCAL_TENANT

LOCAL_MODE_BANNER = (
    "Single-user local mode: no login provider is configured, so everyone who can reach this "
    "address works as the same local user. Configure OIDC login in the secrets file before "
    "sharing the workbench."
)
IDENTITY_KEY = "doppel_identity"
LOCAL_ACTOR_KEY = "doppel_local_actor"


@dataclass(frozen=True)
class Identity:
    """The tenant this session's data belongs to, the user's role there, and who the user is."""

    tenant: str
    local_mode: bool
    role: str = "owner"
    user_id: str | None = None
    label: str = "local user"
    tenant_name: str = "Local"

    def allows(self, at_least: str) -> bool:
        """Whether the user's role is ``at_least`` or higher (for showing or hiding controls)."""
        return role_allows(self.role, at_least=at_least)


LOCAL_IDENTITY = Identity(tenant=LOCAL_TENANT, local_mode=True)


def actor_of(identity: Identity) -> Actor | None:
    """The ``Actor`` the services take for a signed-in identity (None in local mode)."""
    if identity.local_mode or identity.user_id is None:
        return None
    return Actor(user_id=identity.user_id, label=identity.label)
