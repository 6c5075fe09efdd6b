"""The login gate: nothing of the workbench runs for a session the gate has not admitted.

``app/main.py`` calls ``admit(pages)`` before ``st.navigation(...).run()``:

- no ``[auth]`` section in the secrets: single-user local mode (the embedded default); the
  identity is the local owner of the local tenant and the page shows a banner;
- an ``[auth]`` section that is incomplete or unsafe, or ``[access]`` rules that do not
  parse: an error naming the problem, and nothing else;
- not signed in: the sign-in page (one button per provider) and nothing else; the page and
  query parameters that were asked for are kept (``auth.deep_links``) and restored after
  the login by ``restore_deep_link``;
- signed in: the claims go through ``auth.provisioning.sign_in`` once per session. No tenant:
  the "no access" page, nothing else. Several: the tenant picker until one is chosen (kept in
  the session; only tenants of the sign-in can be chosen). The role in the chosen tenant is
  re-read from the database on every run, so a removal or demotion takes effect at once.

The gate stores the admitted ``auth.identity.Identity`` in ``st.session_state``; pages read it
through ``app.identity.current_identity()``.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import streamlit as st

from auth import deep_links, redaction
from auth.identity import IDENTITY_KEY, LOCAL_IDENTITY, Identity
from auth.providers import AuthConfigError, Provider, configured_providers, secret_values
from auth.provisioning import SignIn, sign_in, tenant_access
from auth.rules import AccessRules, AccessRulesError, ClaimsError, subject_of
from engine.errors import DoppelError

logger = logging.getLogger(__name__)

SIGN_IN_KEY = "doppel_sign_in"
TENANT_KEY = "doppel_tenant"
DEEP_LINK_CHECKED_KEY = "doppel_deep_link_checked"
_REDACTION_INSTALLED: list[tuple[str, ...]] = []

NO_ACCESS_TITLE = "No access to Doppel"
PICKER_TITLE = "Choose a workspace"
SIGN_IN_TITLE = "Sign in to Doppel"


def auth_section() -> Mapping[str, Any] | None:
    """The ``[auth]`` table of the secrets, or None when there is none (local mode)."""
    if not st.secrets.load_if_toml_exists() or "auth" not in st.secrets:
        return None
    section = st.secrets["auth"]
    return section.to_dict() if hasattr(section, "to_dict") else dict(section)


def access_rules() -> AccessRules:
    """The ``[access]`` rules of the secrets (no table: rules that admit nobody)."""
    section = st.secrets.get("access") if st.secrets.load_if_toml_exists() else None
    return AccessRules.from_mapping(section.to_dict() if hasattr(section, "to_dict") else section)


def admit(pages: Sequence[Any]) -> Identity:
    """The identity of this session, or stop the script after the page that stands in its way.

    ``pages`` are the ``st.Page`` objects of the app, used only to read which page a
    signed-out visitor asked for (to land there after the login).
    """
    section = auth_section()
    if section is None:
        st.session_state[IDENTITY_KEY] = LOCAL_IDENTITY
        return LOCAL_IDENTITY
    try:
        providers = configured_providers(section)
        rules = access_rules()
    except (AuthConfigError, AccessRulesError) as err:
        _stop_with_error(f"Login is misconfigured: {err}. Fix the secrets file and restart the workbench.")
    _install_redaction(section)

    if not st.user.get("is_logged_in"):
        _forget_session()
        _sign_in_page(providers, pages)
    claims = st.user.to_dict()
    signed = _session_sign_in(claims, rules)
    if not signed.tenants:
        _no_access_page(signed)

    chosen = st.session_state.get(TENANT_KEY)
    if len(signed.tenants) == 1:
        chosen = signed.tenants[0].tenant
    if signed.access_to(chosen or "") is None:
        _picker_page(signed)
    assert chosen is not None and signed.user_id is not None
    access = tenant_access(chosen, user_id=signed.user_id)
    if access is None:  # removed from the tenant since the sign-in: work it out again
        st.session_state.pop(SIGN_IN_KEY, None)
        st.session_state.pop(TENANT_KEY, None)
        st.rerun()
    identity = Identity(
        tenant=access.tenant, local_mode=False, role=access.role, user_id=signed.user_id,
        label=signed.label, tenant_name=access.display_name,
    )
    st.session_state[IDENTITY_KEY] = identity
    return identity


def _session_sign_in(claims: Mapping[str, Any], rules: AccessRules) -> SignIn:
    provider = str(claims.get("provider") or "") or None
    kept = st.session_state.get(SIGN_IN_KEY)
    try:
        if isinstance(kept, SignIn) and kept.subject == subject_of(claims, provider=provider):
            return kept
        signed = sign_in(claims, rules=rules, provider=provider)
    except ClaimsError as err:
        _stop_with_error(f"The identity provider's answer cannot be used: {err}.", logout=True)
    except DoppelError as err:
        _stop_with_error(f"Signing in failed: {err}", logout=True)
    except Exception:  # a bug or an outage of ours: never a traceback on the page
        logger.exception("sign-in failed for a user of provider %s", claims.get("provider"))
        _stop_with_error("Signing in failed because of a problem on our side. Please try again in a moment.",
                         logout=True)
    st.session_state[SIGN_IN_KEY] = signed
    st.session_state.pop(TENANT_KEY, None)
    return signed


def _forget_session() -> None:
    for key in (SIGN_IN_KEY, TENANT_KEY, IDENTITY_KEY):
        st.session_state.pop(key, None)


def _sign_in_page(providers: Sequence[Provider], pages: Sequence[Any]) -> NoReturn:
    requested = deep_links.deep_link_from(_requested_page(pages), st.query_params.to_dict())
    st.title(SIGN_IN_TITLE)
    st.write("Doppel makes synthetic data for your team. Sign in with your organisation's account to continue.")
    for provider in providers:
        label = f"Sign in with {_plain(provider.label)}"
        if st.button(label, key=f"doppel-login-{provider.name}", type="primary", icon=":material/login:"):
            key = deep_links.browser_key(st.context.cookies)
            if key is not None and requested is not None:
                deep_links.remember(key, requested)
            st.login(None if provider.name == "default" else provider.name)
    st.stop()


def _requested_page(pages: Sequence[Any]) -> str:
    """The url path of the page the signed-out visitor asked for ("" for the default page)."""
    if not pages:
        return ""
    return st.navigation(list(pages), position="hidden").url_path


def _no_access_page(signed: SignIn) -> NoReturn:
    st.title(NO_ACCESS_TITLE)
    st.error(
        f"You are signed in as {_code(signed.label)}, but this account is not a member of any Doppel "
        "workspace. Ask your workspace admin to invite this e-mail address, or sign in with "
        "another account.",
        icon=":material/block:",
    )
    _logout_button()
    st.stop()


def _picker_page(signed: SignIn) -> NoReturn:
    st.title(PICKER_TITLE)
    st.write(f"Signed in as {_code(signed.label)}. Your account belongs to several workspaces; pick one to work in.")
    for access in signed.tenants:
        if st.button(f"{_plain(access.display_name)} — {access.role}", key=f"doppel-tenant-{access.tenant}"):
            st.session_state[TENANT_KEY] = access.tenant
            st.rerun()
    _logout_button()
    st.stop()


def account_sidebar(identity: Identity) -> None:
    """Who is signed in, the workspace and role, a workspace switcher and the logout button."""
    if identity.local_mode:
        return
    signed = st.session_state.get(SIGN_IN_KEY)
    with st.sidebar:
        st.caption(f"Signed in as {_code(identity.label)}")
        st.caption(f"Workspace **{_plain(identity.tenant_name)}** · role **{identity.role}**")
        if isinstance(signed, SignIn) and len(signed.tenants) > 1:
            names = {access.tenant: f"{access.display_name} ({access.role})" for access in signed.tenants}
            picked = st.selectbox(
                "Switch workspace", options=list(names), index=list(names).index(identity.tenant),
                format_func=names.__getitem__, key="doppel-switch-tenant",
            )
            if picked != identity.tenant and signed.access_to(picked) is not None:
                st.session_state[TENANT_KEY] = picked
                st.rerun()
        _logout_button()


def _logout_button() -> None:
    if st.button("Log out", key="doppel-logout", icon=":material/logout:"):
        _forget_session()
        st.logout()
        st.stop()  # the browser is on its way to the provider's logout; show nothing more


def restore_deep_link(pages_by_path: Mapping[str, Any]) -> None:
    """After the login, switch once to the page and parameters kept before it (if any).

    Also follows a ``?page=<url path>`` parameter to that page (the form report links use).
    A page the user's role does not offer falls back to the default page with the parameters.
    """
    if not st.session_state.get(DEEP_LINK_CHECKED_KEY):
        st.session_state[DEEP_LINK_CHECKED_KEY] = True
        key = deep_links.browser_key(st.context.cookies)
        link = deep_links.take(key) if key else None
        if link is not None:
            params = dict(link.params)
            target = link.page or params.get("page", "")
            params.pop("page", None)
            page = pages_by_path.get(target) or pages_by_path.get("")
            if page is not None:
                st.switch_page(page, query_params=params or None)
    wanted = st.query_params.get("page")
    if wanted and wanted in pages_by_path:
        params = {k: v for k, v in st.query_params.to_dict().items() if k != "page"}
        st.switch_page(pages_by_path[wanted], query_params=params or None)


def _stop_with_error(message: str, *, logout: bool = False) -> NoReturn:
    st.error(message, icon=":material/error:")
    if logout:
        _logout_button()
    st.stop()


def _install_redaction(section: Mapping[str, Any]) -> None:
    secrets = tuple(secret_values(section))
    if _REDACTION_INSTALLED and _REDACTION_INSTALLED[0] == secrets:
        return
    _REDACTION_INSTALLED[:] = [secrets]
    for name in ("", "streamlit"):
        redaction.install(secrets, logger=logging.getLogger(name))


def _plain(text: object) -> str:
    """Text from claims or the database shown literally inside Streamlit Markdown.

    Every ASCII punctuation character is backslash-escaped (CommonMark allows it), which
    disarms emphasis, links, images, HTML, Streamlit's ``:directives:`` and ``$`` math.
    """
    return "".join("\\" + c if c in string.punctuation else c for c in " ".join(str(text).split()))


def _code(text: object) -> str:
    """Text from the identity provider (an e-mail, a name) as an inline code span.

    A code span shows its content literally and is never turned into a link, unlike escaped
    text, which GitHub-flavoured Markdown still auto-links (``www.example.com``).
    """
    return "`" + " ".join(str(text).replace("`", "'").split()) + "`"
