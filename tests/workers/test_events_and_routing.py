"""Completion events (notification, signed webhook to a real local HTTP server), queues per tier, torchrun."""

from __future__ import annotations

import hmac
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dramatiq
import polars as pl
import pytest

from engine.errors import ConfigError
from infra.db import tenant_session
from infra.jobs.broker import FamilyQueues, get_broker
from infra.jobs.routing import actor_name, expand_queues, queue_for, queue_priority
from infra.records.notifications import add_webhook, list_notifications, webhook_signature
from infra.usecases.generation import submit_generation
from tests.workers.conftest import Embedded, job_settings
from tests.workers.support import new_tenant, tenant_with_model, wait_for, wait_for_state
from workers.events import WebhookDelivery, deliver
from workers.tasks import ACTORS
from workers.training import child_command


@dataclass
class Receiver:
    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on loopback that records every POST and answers 204."""
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/doppel", received)
    server.shutdown()
    server.server_close()


def test_a_finished_job_notifies_the_tenant_and_posts_a_signed_webhook(
    embedded: Embedded, adult: pl.DataFrame, tiny_model_bytes: bytes, receiver: Receiver
) -> None:
    tenant, ana, stored = tenant_with_model(embedded.database, embedded.store, adult, tiny_model_bytes)
    with tenant_session(tenant, database=embedded.database) as session:
        add_webhook(session, url=receiver.url, secret="whsec-test", events=["job.succeeded"], actor="ana")

    job = submit_generation(tenant, model_version_id=stored.model_version_id, n_rows=50, actor=ana,
                            database=embedded.database)
    assert wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=60).state == "succeeded"
    wait_for(lambda: receiver.requests, timeout=20, what="the webhook POST")

    headers, body = receiver.requests[0]
    timestamp = int(headers["X-Doppel-Timestamp"])
    expected = "sha256=" + webhook_signature("whsec-test", body, timestamp=timestamp)
    assert hmac.compare_digest(headers["X-Doppel-Signature"], expected)
    assert headers["X-Doppel-Event"] == "job.succeeded"
    event = json.loads(body)
    assert (event["tenant"], event["job"]["id"], event["job"]["state"]) == (tenant, job.id, "succeeded")
    assert event["job"]["result"]["n_rows"] == 50
    with tenant_session(tenant, database=embedded.database) as session:
        assert [(n.kind, n.job_id) for n in list_notifications(session)] == [("job.succeeded", job.id)]


def test_webhooks_to_private_addresses_are_refused_unless_allowed(tmp_path: Path, receiver: Receiver) -> None:
    delivery = WebhookDelivery(webhook_id="w1", url=receiver.url, secret="s", event="job.failed", body=b"{}")

    assert deliver(delivery, settings=job_settings(tmp_path, allow_private_webhook_hosts=False)) is False
    assert receiver.requests == []
    assert deliver(delivery, settings=job_settings(tmp_path, allow_private_webhook_hosts=True)) is True
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("url", ["http://100.64.1.1/hook", "http://[2002:7f00:1::]/hook", "http://[::ffff:10.0.0.1]/hook"])
def test_webhooks_to_shared_or_embedded_private_addresses_are_not_sent(tmp_path: Path, url: str) -> None:
    delivery = WebhookDelivery(webhook_id="w2", url=url, secret="s", event="job.failed", body=b"{}")

    assert deliver(delivery, settings=job_settings(tmp_path, allow_private_webhook_hosts=False)) is False


@pytest.mark.parametrize("port", ["0", "70000"])
def test_a_webhook_url_with_a_port_outside_the_tcp_range_is_refused_at_registration(embedded: Embedded, port: str) -> None:
    tenant = new_tenant(embedded.database)
    with pytest.raises(ConfigError, match=rf"port {port} is outside 1-65535"):
        with tenant_session(tenant, database=embedded.database) as session:
            add_webhook(session, url=f"https://hooks.example.com:{port}/doppel", secret="s", actor="ana")


def test_each_tier_has_its_own_queue_and_higher_tiers_have_higher_priority() -> None:
    assert [queue_for("train", tier=t) for t in ("enterprise", "business", "starter")] == [
        "gpu.enterprise", "gpu.business", "gpu.starter"]
    assert queue_for("generate", tier="starter") == "cpu.starter"
    assert queue_for("generate", tier="starter", family="gpu") == "gpu.starter"
    priorities = [ACTORS[actor_name("train", q)].priority for q in expand_queues(["gpu"])]
    assert priorities == sorted(priorities) and len(set(priorities)) == 4, "enterprise, business, starter, untiered"
    assert ACTORS["train_model:gpu.enterprise"].queue_name == "gpu.enterprise"
    assert priorities[0] == queue_priority("gpu.enterprise") == 0


def test_a_worker_started_for_a_family_consumes_all_of_its_tier_queues() -> None:
    broker = get_broker()
    worker = dramatiq.Worker(broker, queues={"gpu"}, worker_threads=1)

    FamilyQueues().before_worker_boot(broker, worker)  # what `dramatiq workers.tasks -Q gpu` runs at boot

    assert worker.consumer_whitelist == {"gpu", "gpu.enterprise", "gpu.business", "gpu.starter"}
    assert expand_queues(["gpu.enterprise", "cpu"]) == [
        "gpu.enterprise", "cpu.enterprise", "cpu.business", "cpu.starter", "cpu"]


def test_training_actors_have_the_training_time_limit_and_stop_on_shutdown() -> None:
    train, generate = ACTORS["train_model:gpu.starter"], ACTORS["generate_dataset:cpu.starter"]
    assert train.options["time_limit"] > generate.options["time_limit"] >= 600_000
    assert train.options["notify_shutdown"] is True


def test_a_distributed_job_is_launched_with_torchrun() -> None:
    command = child_command(Path("/tmp/spec.json"), distributed=True, nproc_per_node=4)

    assert command == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4",
                       "-m", "workers.train_child", "/tmp/spec.json"]
    assert child_command(Path("/tmp/spec.json"), distributed=False)[1:] == ["-m", "workers.train_child", "/tmp/spec.json"]
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs GPUs"):
            child_command(Path("/tmp/spec.json"), distributed=True)
