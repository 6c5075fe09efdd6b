"""Queues and actors: which queue a job goes to, and which actor runs it there.

Two queue families, ``gpu`` (training, large generation) and ``cpu`` (generation,
assessment), each split by tenant tier:

    gpu.enterprise  gpu.business  gpu.starter  gpu
    cpu.enterprise  cpu.business  cpu.starter  cpu

A tenant's jobs go to its tier's queue. Every (kind, queue) pair has its own Dramatiq actor
whose ``priority`` is the tier's (``infra.records.quotas.TIER_POLICIES``: enterprise 0,
business 10, starter 20; the plain family queue last). A worker that consumes several queues
puts the messages it fetched into one priority queue, so its threads take enterprise work
before business work before starter work. Naming a family (``-Q gpu``) means all of its
queues; naming a tier queue (``-Q gpu.enterprise``) gives that tier a dedicated pool.

This module imports nothing from Dramatiq: the services use it to route, the workers to
declare their actors.
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.db.errors import ConfigError
from infra.db.models import JOB_KINDS, TIERS
from infra.records.quotas import TIER_POLICIES

FAMILIES = ("gpu", "cpu")
"""Queue families: the kind of host that serves them."""

DEFAULT_FAMILY = {"train": "gpu", "generate": "cpu", "assess": "cpu"}
"""Where each job kind runs unless the request asks for another family."""

ACTOR_BASE_NAMES = {"train": "train_model", "generate": "generate_dataset", "assess": "assess_quality"}
"""The actor of each kind on its default family's plain queue; other queues add ``:<queue>``."""

UNTIERED_PRIORITY = max(policy.priority for policy in TIER_POLICIES.values()) + 10
"""Priority of the plain family queues (jobs enqueued without a tier): after every tier."""


def queue_for(kind: str, *, tier: str, family: str | None = None) -> str:
    """The queue of a ``kind`` job of a ``tier`` tenant, e.g. ``gpu.enterprise``."""
    if kind not in JOB_KINDS:
        raise ConfigError(f"unknown job kind {kind!r}: expected one of {', '.join(JOB_KINDS)}")
    if tier not in TIERS:
        raise ConfigError(f"unknown tier {tier!r}: expected one of {', '.join(TIERS)}")
    family = family or DEFAULT_FAMILY[kind]
    if family not in FAMILIES:
        raise ConfigError(f"unknown queue family {family!r}: expected one of {', '.join(FAMILIES)}")
    return f"{family}.{tier}"


def tier_of(queue: str) -> str | None:
    """``gpu.business`` -> ``business``; ``gpu`` -> None."""
    _, _, tier = queue.partition(".")
    return tier or None


def all_queues(family: str) -> list[str]:
    """Every queue of ``family``, highest priority first (tiers by priority, then the plain queue)."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown queue family {family!r}: expected one of {', '.join(FAMILIES)}")
    tiers = sorted(TIERS, key=lambda t: TIER_POLICIES[t].priority)
    return [f"{family}.{tier}" for tier in tiers] + [family]


def expand_queues(names: Iterable[str]) -> list[str]:
    """Queue names with each family name (``gpu``) replaced by all of its queues; order kept."""
    out: list[str] = []
    for name in names:
        for queue in all_queues(name) if name in FAMILIES else [name]:
            if queue not in out:
                out.append(queue)
    return out


def queue_priority(queue: str) -> int:
    """Dramatiq priority of the actors on ``queue`` (lower runs first)."""
    tier = tier_of(queue)
    if tier is None:
        return UNTIERED_PRIORITY
    if tier not in TIER_POLICIES:
        raise ConfigError(f"queue {queue!r} names an unknown tier {tier!r}")
    return TIER_POLICIES[tier].priority


def actor_name(kind: str, queue: str) -> str:
    """The actor that runs ``kind`` jobs from ``queue`` (``train_model``, ``train_model:gpu.starter``)."""
    if kind not in ACTOR_BASE_NAMES:
        raise ConfigError(f"unknown job kind {kind!r}: expected one of {', '.join(ACTOR_BASE_NAMES)}")
    base = ACTOR_BASE_NAMES[kind]
    return base if queue == DEFAULT_FAMILY[kind] else f"{base}:{queue}"


def routes() -> list[tuple[str, str]]:
    """Every (kind, queue) pair a worker declares an actor for."""
    return [(kind, queue) for kind in JOB_KINDS for family in FAMILIES for queue in all_queues(family)]


__all__ = [
    "ACTOR_BASE_NAMES",
    "DEFAULT_FAMILY",
    "FAMILIES",
    "UNTIERED_PRIORITY",
    "actor_name",
    "all_queues",
    "expand_queues",
    "queue_for",
    "queue_priority",
    "routes",
    "tier_of",
]
