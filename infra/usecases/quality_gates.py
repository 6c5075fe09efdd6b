"""A tenant's quality-gate thresholds: the defaults of DESIGN.md, overridden per tenant by an admin.

The overrides are one small JSON document in the tenant's object-store namespace
(``settings/quality_gates.json``: ``{"gates": {"column_distance": {"threshold": 0.1,
"severity": "block", "enabled": true}, ...}}``), checked with the engine's own
``QualityConfig.from_mapping`` before it is written, and every change is audited. Assessments
requested from the workbench pass them as the run's ``config``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from engine.quality.config import QualityConfig
from infra.db import tenant_session
from infra.records.audit import record_event
from infra.records.authz import Actor, require_permission
from infra.storage import open_tenant_store

GATES_KEY = "settings/quality_gates.json"

GATE_DESCRIPTIONS: dict[str, str] = {
    "column_distance": "Fidelity: the largest per-column distribution distance (KS for numbers and dates, "
                       "total variation for categories) must stay below the threshold.",
    "correlation_difference": "Fidelity: the largest absolute difference between the real and synthetic "
                              "correlation matrices must stay below the threshold.",
    "utility_ratio": "Utility: a model trained on synthetic data and tested on real data must score at least "
                     "this share of one trained on real data.",
    "membership_inference": "Privacy: a membership-inference attack's advantage over guessing must stay below "
                            "the threshold.",
    "exact_copies": "Privacy: the share of synthetic rows that copy a training row, beyond what the holdout "
                    "also matches, must not exceed the threshold.",
}


@dataclass(frozen=True)
class GateSetting:
    """One gate as a tenant runs it."""

    name: str
    threshold: float
    severity: str
    enabled: bool
    default_threshold: float
    default_severity: str

    @property
    def changed(self) -> bool:
        return (self.threshold, self.severity, self.enabled) != (self.default_threshold, self.default_severity, True)


def _overrides(tenant: str) -> dict[str, Any]:
    store = open_tenant_store(tenant)
    if not store.exists(GATES_KEY):
        return {}
    document = json.loads(store.get_bytes(GATES_KEY))
    return dict(document.get("gates") or {})


def tenant_quality_config(tenant: str) -> dict[str, Any]:
    """The assessment ``config`` of the tenant's gate overrides (empty: the defaults)."""
    overrides = _overrides(tenant)
    return {"gates": overrides} if overrides else {}


def gate_settings(tenant: str) -> list[GateSetting]:
    """Every gate with the tenant's threshold, severity and whether it is on, next to the default."""
    defaults = QualityConfig().gates
    current = QualityConfig.from_mapping(tenant_quality_config(tenant) or None).gates
    return [
        GateSetting(name=name, threshold=gate.threshold, severity=gate.severity, enabled=gate.enabled,
                    default_threshold=defaults[name].threshold, default_severity=defaults[name].severity)
        for name, gate in current.items()
    ]


def set_gate_settings(tenant: str, *, gates: dict[str, dict[str, Any]], actor: Actor) -> list[GateSetting]:
    """Replace the tenant's overrides with ``gates`` (name -> threshold/severity/enabled); admin only.

    Raises the engine's ``ConfigError`` (unknown gate, bad value) before anything is written.
    """
    QualityConfig.from_mapping({"gates": gates})  # validates every entry
    defaults = QualityConfig().gates
    kept = {
        name: {"threshold": float(g.get("threshold", defaults[name].threshold)),
               "severity": g.get("severity", defaults[name].severity), "enabled": bool(g.get("enabled", True))}
        for name, g in gates.items()
    }
    kept = {name: g for name, g in kept.items()
            if (g["threshold"], g["severity"], g["enabled"]) != (defaults[name].threshold, defaults[name].severity, True)}
    with tenant_session(tenant) as session:
        require_permission(session, actor, "gate.change")
        previous = _overrides(tenant)
        record_event(session, actor=actor.label, action="quality_gates.set", object_type="tenant",
                     object_id=tenant, details={"from": previous, "to": kept})
        store = open_tenant_store(tenant)  # written last: a failed write rolls the audit entry back
        if kept:
            store.put_bytes(GATES_KEY, json.dumps({"gates": kept}, sort_keys=True).encode(),
                            content_type="application/json")
        elif store.exists(GATES_KEY):
            store.delete(GATES_KEY)
    return gate_settings(tenant)


__all__ = ["GATES_KEY", "GATE_DESCRIPTIONS", "GateSetting", "gate_settings", "set_gate_settings",
           "tenant_quality_config"]
