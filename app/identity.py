"""Who is using the workbench, and in which tenant.

Until OIDC login lands (``auth/``), the workbench runs in single-user local mode: everyone is
the local user of the one local tenant, and every page shows a banner saying so. A secrets
file that configures a login provider (an ``[auth]`` section) is refused rather than ignored,
so that a deployment never serves data without the login it was configured with.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from infra.services.tenants import LOCAL_TENANT

LOCAL_MODE_BANNER = (
    "Single-user local mode: no login provider is configured, so everyone who can reach this "
    "address works as the same local user. Configure OIDC login in the secrets file before "
    "sharing the workbench."
)
LOGIN_NOT_SUPPORTED = (
    "This secrets file configures a login provider ([auth]), but this version of the workbench "
    "cannot sign users in yet. Remove the [auth] section to run in single-user local mode."
)


@dataclass(frozen=True)
class Identity:
    """The tenant this session's data belongs to, and whether it is the single local user."""

    tenant: str
    local_mode: bool


def login_configured() -> bool:
    """Whether the secrets configure a login provider (an ``[auth]`` section)."""
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets


def current_identity() -> Identity:
    """The identity of this session: the local user of the local tenant in local mode."""
    return Identity(tenant=LOCAL_TENANT, local_mode=True)
