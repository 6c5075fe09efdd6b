"""Completion events: an in-app notification, and a signed POST to each of the tenant's webhooks.

The notification is written in the transaction that finishes the job, so it exists exactly
when the job's final state does. Webhooks go out after that commit, from a small pool of
background threads (a slow receiver never holds up a worker), with a few retries on network
errors and 5xx answers.

Each POST carries a JSON body and three headers:

- ``X-Doppel-Event``: ``job.succeeded``, ``job.failed`` or ``job.cancelled``;
- ``X-Doppel-Timestamp``: Unix seconds when it was signed;
- ``X-Doppel-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``b"<timestamp>." + body`` with the
  webhook's secret (``infra.services.notifications.webhook_signature``). The receiver
  recomputes it, compares in constant time and rejects old timestamps.

Webhook URLs come from tenants, so by default they may not point at private, loopback or
link-local addresses (``DOPPEL_ALLOW_PRIVATE_WEBHOOK_HOSTS`` lifts this for closed networks
and tests).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from infra.db import TenantSession
from infra.db.models import Job
from infra.services.notifications import notify, webhook_signature, webhooks_for
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


def check_webhook_host(url: str, *, allow_private: bool) -> None:
    """Refuse a webhook URL whose host resolves to a private, loopback or link-local address."""
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"webhook URL {url!r} has no host")
    if allow_private:
        return
    for info in socket.getaddrinfo(host, None):
        address = ipaddress.ip_address(info[4][0])
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified):
            raise ValueError(f"webhook host {host!r} resolves to the non-public address {address}; refused")


def signed_request(delivery: WebhookDelivery, *, timestamp: int | None = None) -> urllib.request.Request:
    """The POST for ``delivery``, signed at ``timestamp`` (default: now)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = webhook_signature(delivery.secret, delivery.body, timestamp=timestamp)
    return urllib.request.Request(
        delivery.url,
        data=delivery.body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "doppel-webhooks/1",
            "X-Doppel-Event": delivery.event,
            "X-Doppel-Timestamp": str(timestamp),
            "X-Doppel-Signature": f"sha256={signature}",
        },
    )


def deliver(delivery: WebhookDelivery, *, settings: Settings) -> bool:
    """POST ``delivery`` with retries; True once the receiver answered 2xx."""
    try:
        check_webhook_host(delivery.url, allow_private=settings.allow_private_webhook_hosts)
    except (ValueError, OSError) as err:
        logger.warning("webhook %s not sent: %s", delivery.webhook_id, err)
        return False
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        try:
            with _opener.open(signed_request(delivery), timeout=settings.webhook_timeout_s) as answer:
                if 200 <= answer.status < 300:
                    return True
        except urllib.error.HTTPError as err:
            if err.code < 500:  # the receiver refused it; sending again will not help
                logger.warning("webhook %s refused with HTTP %d", delivery.webhook_id, err.code)
                return False
            logger.info("webhook %s: HTTP %d (attempt %d)", delivery.webhook_id, err.code, attempt)
        except (urllib.error.URLError, OSError) as err:
            logger.info("webhook %s: %s (attempt %d)", delivery.webhook_id, err, attempt)
        if attempt < WEBHOOK_ATTEMPTS:
            time.sleep(WEBHOOK_BACKOFF_S * 2 ** (attempt - 1))
    logger.warning("webhook %s not delivered after %d attempts", delivery.webhook_id, WEBHOOK_ATTEMPTS)
    return False


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: one could lead to an address the host check refused."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhooks")


def send_in_background(deliveries: list[WebhookDelivery], *, settings: Settings) -> list[Future[bool]]:
    """Queue the deliveries on the background pool; the futures say whether each got through."""
    return [_pool.submit(deliver, d, settings=settings) for d in deliveries]


__all__ = ["WebhookDelivery", "check_webhook_host", "deliver", "job_finished", "send_in_background", "signed_request"]
