"""The login providers of the ``[auth]`` section of the secrets file, checked before use.

Streamlit's ``st.login`` reads ``[auth]`` itself; this module only lists the providers for
the login page and refuses a section Streamlit would fail on later (in the middle of a
login) or that would be unsafe: a missing ``redirect_uri`` or ``cookie_secret``, a short
cookie secret, a provider without its client id, secret or metadata URL, a provider name
with an underscore (Streamlit cannot route those).

Shapes accepted (Streamlit's own)::

    [auth]                      # one unnamed provider
    redirect_uri = "https://doppel.example.com/oauth2callback"
    cookie_secret = "…"
    client_id = "…"
    client_secret = "…"
    server_metadata_url = "https://login.example.com/.well-known/openid-configuration"

    [auth.okta]                 # or any number of named ones (client_id etc. inside)
    display_name = "Okta"       # Doppel's addition: the button's label (Authlib ignores it)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
SHARED_KEYS = frozenset({"redirect_uri", "cookie_secret", "expose_tokens", "client_kwargs", *PROVIDER_KEYS})
MIN_COOKIE_SECRET_CHARS = 32
CALLBACK_PATH = "/oauth2callback"


class AuthConfigError(ValueError):
    """The ``[auth]`` section is incomplete or unsafe; the message names the key."""


@dataclass(frozen=True)
class Provider:
    """One configured identity provider: the name ``st.login`` takes and the button's label."""

    name: str  # "default" for the unnamed one
    label: str


def configured_providers(auth_section: Mapping[str, Any]) -> list[Provider]:
    """The providers of a parsed ``[auth]`` section, checked; ``AuthConfigError`` when unusable."""
    section = dict(auth_section)
    for key in ("redirect_uri", "cookie_secret"):
        if not section.get(key):
            raise AuthConfigError(f"the [auth] section of the secrets file has no {key}")
    redirect_uri = str(section["redirect_uri"])
    if not redirect_uri.startswith(("http://", "https://")) or not redirect_uri.split("?")[0].endswith(CALLBACK_PATH):
        raise AuthConfigError(
            f"[auth] redirect_uri must be the workbench's absolute URL ending in {CALLBACK_PATH}, got {redirect_uri!r}"
        )
    if len(str(section["cookie_secret"])) < MIN_COOKIE_SECRET_CHARS:
        raise AuthConfigError(
            f"[auth] cookie_secret must be at least {MIN_COOKIE_SECRET_CHARS} random characters "
            "(python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    providers: list[Provider] = []
    if any(key in section for key in PROVIDER_KEYS):
        _check_provider("default", section, where="[auth]")
        providers.append(Provider("default", str(section.get("display_name") or "Single sign-on")))
    for name, value in section.items():
        if name in SHARED_KEYS or name == "display_name" or not isinstance(value, Mapping):
            continue
        if "_" in name:
            raise AuthConfigError(f"[auth.{name}]: provider names cannot contain '_' (Streamlit cannot route them)")
        _check_provider(name, value, where=f"[auth.{name}]")
        providers.append(Provider(name, str(value.get("display_name") or name.replace("-", " ").title())))
    if not providers:
        raise AuthConfigError(
            "the [auth] section of the secrets file configures no provider: add client_id, client_secret and "
            "server_metadata_url to [auth] or to an [auth.<name>] table"
        )
    return providers


def _check_provider(name: str, section: Mapping[str, Any], *, where: str) -> None:
    missing = [key for key in PROVIDER_KEYS if not section.get(key)]
    if missing:
        raise AuthConfigError(f"{where} lacks {', '.join(missing)} (provider {name!r})")
    url = str(section["server_metadata_url"])
    if not url.startswith(("http://", "https://")):
        raise AuthConfigError(f"{where} server_metadata_url must be an absolute http(s) URL, got {url!r}")


def secret_values(auth_section: Mapping[str, Any]) -> list[str]:
    """The secret strings of an ``[auth]`` section (cookie and client secrets), for log redaction."""
    values = [auth_section.get("cookie_secret"), auth_section.get("client_secret")]
    values += [v.get("client_secret") for v in auth_section.values() if isinstance(v, Mapping)]
    return [str(v) for v in values if v]
