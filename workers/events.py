"""Completion events: an in-app notification, and a signed POST to each of the tenant's webhooks.

The notification is written in the transaction that finishes the job, so it exists exactly
when the job's final state does. Webhooks go out after that commit, from a small pool of
background threads (a slow receiver never holds up a worker), with a few retries on network
errors and 5xx answers.

Each POST carries a JSON body and three headers:

- ``X-Doppel-Event``: ``job.succeeded``, ``job.failed`` or ``job.cancelled``;
- ``X-Doppel-Timestamp``: Unix seconds when it was signed;
- ``X-Doppel-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``b"<timestamp>." + body`` with the
  webhook's secret (``infra.records.notifications.webhook_signature``). The receiver
  recomputes it, compares in constant time and rejects old timestamps.

Webhook URLs come from tenants, so they go through :mod:`engine.outbound`, the address policy
of every outbound connection: by default they may not point at private, loopback, link-local,
shared or other non-public addresses, IPv6 embeddings of them included
(``DOPPEL_ALLOW_PRIVATE_WEBHOOK_HOSTS`` lifts this for closed networks and tests;
``DOPPEL_WEBHOOK_ALLOWED_HOSTS`` restricts receivers to an allow-list). The host is resolved
**once** per delivery and the POST goes to that checked address (the name is kept for the
``Host`` header, SNI and certificate verification), so a DNS answer that changes after the
check cannot send it to loopback. Redirects are never followed, and no proxy is used.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from engine.errors import DoppelError, UnsafeConnectionError
from engine.outbound import Destination, resolve_destination, url_port
from infra.db import TenantSession
from infra.db.models import Job
from infra.records.notifications import notify, webhook_signature, webhooks_for
from infra.settings import Settings

logger = logging.getLogger(__name__)

WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF_S = 1.0
_TITLES = {"succeeded": "finished", "failed": "failed", "cancelled": "was cancelled"}
_KIND_NAMES = {"train": "Training", "generate": "Generation", "assess": "Assessment"}


@dataclass(frozen=True)
class WebhookDelivery:
    """One signed POST to send once the job's final state is committed."""

    webhook_id: str
    url: str
    secret: str
    event: str
    body: bytes


def job_finished(session: TenantSession, job: Job) -> list[WebhookDelivery]:
    """Notify the tenant's members that ``job`` ended, and prepare its webhook deliveries."""
    state = job.state
    event = f"job.{state}"
    title = f"{_KIND_NAMES.get(job.kind, job.kind)} job {_TITLES.get(state, state)}"
    body = job.error_message if state == "failed" and job.error_message else ""
    notify(session, kind=event, title=title, body=body or "", job_id=job.id)
    payload = {
        "event": event,
        "tenant": job.tenant_id,
        "job": {
            "id": job.id,
            "kind": job.kind,
            "state": state,
            "attempts": job.attempts,
            "result": job.result,
            "error": job.error_message if state == "failed" else None,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        },
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    data = json.dumps(payload, sort_keys=True, default=str).encode()
    return [WebhookDelivery(webhook_id=h.id, url=h.url, secret=h.secret, event=event, body=data)
            for h in webhooks_for(session, event=event)]


_DEFAULT_PORTS = {"http": 80, "https": 443}


def check_webhook_url(url: str, *, allow_private: bool = False, allowed: Iterable[str] = ()) -> Destination:
    """Resolve a webhook URL's host once and judge it; the :class:`Destination` to POST to.

    Raises:
        UnsafeConnectionError: not an http(s) URL, no host, a port outside 1-65535, a host off
            ``allowed``, or an address the outbound policy refuses.
        SourceUnavailableError: the host name does not resolve.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeConnectionError(f"webhook URL {url!r} must be an http or https URL")
    if not parts.hostname:
        raise UnsafeConnectionError(f"webhook URL {url!r} has no host")
    port = url_port(parts.netloc, purpose="webhook")
    return resolve_destination(parts.hostname, port, purpose="webhook host", default_port=_DEFAULT_PORTS[scheme],
                               allow_private=allow_private, allowed=allowed)


def check_webhook_host(url: str, *, allow_private: bool) -> None:
    """Refuse a webhook URL the outbound address policy refuses (see :func:`check_webhook_url`)."""
    check_webhook_url(url, allow_private=allow_private)


def signed_headers(delivery: WebhookDelivery, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers of the POST for ``delivery``, signed at ``timestamp`` (default: now)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = webhook_signature(delivery.secret, delivery.body, timestamp=timestamp)
    return {
        "Content-Type": "application/json",
        "User-Agent": "doppel-webhooks/1",
        "X-Doppel-Event": delivery.event,
        "X-Doppel-Timestamp": str(timestamp),
        "X-Doppel-Signature": f"sha256={signature}",
    }


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to the checked address; ``Host:`` carries the name from the URL."""

    def __init__(self, destination: Destination, *, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._address = destination.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked address; SNI, certificate verification and ``Host:`` use the name."""

    def __init__(self, destination: Destination, *, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(destination.host, destination.port, timeout=timeout, context=self._tls)
        self._address = destination.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def post_to(destination: Destination, url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
    """POST ``body`` to ``url`` over a connection to ``destination.address``; the HTTP status.

    The connection never resolves the name again and never follows a redirect (a 3xx is
    returned as it is): a redirect could lead to an address the policy refused.
    """
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kind = _PinnedHTTPSConnection if parts.scheme.lower() == "https" else _PinnedHTTPConnection
    connection = kind(destination, timeout=timeout)
    try:
        connection.request("POST", target, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read(64 * 1024)
        return answer.status
    finally:
        connection.close()


def deliver(delivery: WebhookDelivery, *, settings: Settings) -> bool:
    """POST ``delivery`` with retries; True once the receiver answered 2xx."""
    try:
        destination = check_webhook_url(delivery.url, allow_private=settings.allow_private_webhook_hosts,
                                        allowed=settings.webhook_allowed_hosts)
    except DoppelError as err:
        logger.warning("webhook %s not sent: %s", delivery.webhook_id, err)
        return False
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        try:
            status = post_to(destination, delivery.url, delivery.body, signed_headers(delivery),
                             timeout=settings.webhook_timeout_s)
        except (http.client.HTTPException, OSError) as err:
            logger.info("webhook %s: %s (attempt %d)", delivery.webhook_id, err, attempt)
        else:
            if 200 <= status < 300:
                return True
            if status < 500:  # refused, or a redirect we do not follow; sending again will not help
                logger.warning("webhook %s answered HTTP %d; not delivered", delivery.webhook_id, status)
                return False
            logger.info("webhook %s: HTTP %d (attempt %d)", delivery.webhook_id, status, attempt)
        if attempt < WEBHOOK_ATTEMPTS:
            time.sleep(WEBHOOK_BACKOFF_S * 2 ** (attempt - 1))
    logger.warning("webhook %s not delivered after %d attempts", delivery.webhook_id, WEBHOOK_ATTEMPTS)
    return False


_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhooks")


def send_in_background(deliveries: list[WebhookDelivery], *, settings: Settings) -> list[Future[bool]]:
    """Queue the deliveries on the background pool; the futures say whether each got through."""
    return [_pool.submit(deliver, d, settings=settings) for d in deliveries]


__all__ = ["WebhookDelivery", "check_webhook_host", "check_webhook_url", "deliver", "job_finished", "post_to",
           "send_in_background", "signed_headers"]
