"""Deep links that survive the login: open ``/quality?report=…`` logged out, land there after.

The OIDC round trip (``st.login`` -> provider -> ``/oauth2callback``) always ends on the
app's home page in a new Streamlit session, so neither the URL nor ``st.session_state``
survives it. Before ``st.login`` the gate stores the requested page and query parameters
in the shared cache (Redis in production, so any app replica can pick it up) under a key
derived from this browser's XSRF cookie, which the login does not change; the first run
after the login takes it back out (one use, ``DOPPEL_LOGIN_TARGET_TTL_S`` at most) and
switches to that page with those parameters.

Only an app page and plain parameters are kept: the page must be one the navigation knows,
parameter names are short identifiers, values are short, and a ``share`` token is never
stored. There is no URL to redirect to, so there is nothing to turn into an open redirect.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from infra.cache.shared import SharedCache, open_cache
from infra.settings import get_settings

XSRF_COOKIE = "_streamlit_xsrf"
CACHE_PREFIX = "login-target:"
MAX_PARAMS = 10
MAX_VALUE_CHARS = 200
NEVER_KEPT = frozenset({"share", "code", "state"})
_PARAM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_PAGE = re.compile(r"[A-Za-z0-9_-]{0,64}")


@dataclass(frozen=True)
class DeepLink:
    """A page of the app (its url path, ``""`` for the default page) and its query parameters."""

    page: str
    params: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        return json.dumps({"page": self.page, "params": [list(p) for p in self.params]}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> "DeepLink | None":
        try:
            data = json.loads(raw)
            return deep_link_from(str(data["page"]), dict(data["params"]))
        except (ValueError, KeyError, TypeError):
            return None


def deep_link_from(page: str, query: Mapping[str, str | Iterable[str]]) -> DeepLink | None:
    """The deep link worth restoring for ``page`` and ``query``, or None (home page, no parameters).

    Unsafe or oversized parameters are dropped, not stored; a page name that is not a plain
    url path gives None.
    """
    page = (page or "").strip("/")
    if not _PAGE.fullmatch(page):
        return None
    params: list[tuple[str, str]] = []
    for name, value in query.items():
        if name in NEVER_KEPT or not _PARAM_NAME.fullmatch(str(name)):
            continue
        if not isinstance(value, str):
            value = next(iter(value), "") if value else ""
        if len(value) > MAX_VALUE_CHARS or any(ord(c) < 32 for c in value):
            continue
        params.append((str(name), value))
        if len(params) >= MAX_PARAMS:
            break
    if not page and not params:
        return None
    return DeepLink(page=page, params=tuple(params))


def browser_key(cookies: Mapping[str, str]) -> str | None:
    """A stable, opaque key for this browser: the SHA-256 of its XSRF token (None without one).

    Streamlit's XSRF cookie (``2|mask|masked-token|timestamp``) is re-masked on each page
    load but carries the same token until the browser drops it; the login keeps it.
    """
    raw = (cookies.get(XSRF_COOKIE) or "").strip("\"'")
    try:
        if raw.startswith("2|"):
            _, mask_hex, masked_hex, _ts = raw.split("|")
            mask, masked = binascii.a2b_hex(mask_hex), binascii.a2b_hex(masked_hex)
            if len(mask) != 4 or not masked:
                return None
            token = bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
        elif raw:
            token = raw.encode("utf-8")
        else:
            return None
    except (ValueError, binascii.Error):
        return None
    return hashlib.sha256(b"doppel-login-target:" + token).hexdigest()


def remember(key: str, link: DeepLink, *, cache: SharedCache | None = None) -> None:
    """Keep ``link`` for the browser ``key`` until its login completes (or the TTL passes)."""
    (cache or open_cache()).set(CACHE_PREFIX + key, link.to_json(), ttl_s=get_settings().login_target_ttl_s)


def take(key: str, *, cache: SharedCache | None = None) -> DeepLink | None:
    """The link kept for ``key``, removed so it is used once; None when there is none."""
    cache = cache or open_cache()
    raw = cache.get(CACHE_PREFIX + key)
    if raw is None:
        return None
    cache.delete(CACHE_PREFIX + key)
    return DeepLink.from_json(raw)
