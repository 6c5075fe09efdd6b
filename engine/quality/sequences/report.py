"""The quality report of synthetic histories: flat scores, the sequence gates, the per-step reports.

``SequenceReport`` is plain data, like ``QualityReport``: ``to_dict`` / ``to_json`` give a
stable JSON document (``schema`` + ``schema_version``) and ``from_dict`` / ``from_json`` read it
back. ``steps`` and ``entities`` are the single-table reports of the step rows and of the entity
table (context columns); ``figures`` holds every metric's detail (curves, matrices, histograms)
for plots. ``passed``: no gate blocks, among the sequence gates or in the two reports.

``samples`` (optional, empty in reports made before it existed) holds a few histories of each
table for line charts (``history_samples``: at most ``SAMPLE_ENTITIES`` entities of
``SAMPLE_STEPS`` steps each, numeric step columns only), so that the stored document stays small.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.quality.gates import GateResult
from engine.quality.report import QualityReport, jsonable

SEQUENCE_REPORT = "doppel.sequence_quality_report"
SEQUENCE_REPORT_VERSION = 1

SAMPLE_ENTITIES = 3
SAMPLE_STEPS = 300

# the headline scores, in the order the summary prints them
HEADLINE = ("length_ks_similarity", "gap_ks_similarity", "autocorrelation_error", "cross_correlation_error",
            "coherence", "discriminative_score", "discriminative_ceiling", "predictive_score", "predictive_real",
            "dcr_share", "membership_advantage", "step_fidelity", "entity_fidelity")


@dataclass(frozen=True)
class SequenceReport:
    """Quality of synthetic histories (see the module docstring)."""

    scores: Mapping[str, float | None]
    gates: tuple[GateResult, ...]
    figures: Mapping[str, Any]
    inputs: Mapping[str, Any]
    steps: QualityReport | None = None
    entities: QualityReport | None = None
    notes: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    created_at: str = ""
    engine_version: str = ""
    samples: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gates", tuple(self.gates))
        object.__setattr__(self, "notes", tuple(self.notes))

    def _reports(self) -> list[QualityReport]:
        return [r for r in (self.steps, self.entities) if r is not None]

    @property
    def status(self) -> str:
        """"block" if any gate blocks, else "warn" if any warns or is inconclusive, else "pass"."""
        statuses = {g.status for g in self.gates} | {r.status for r in self._reports()}
        if "block" in statuses:
            return "block"
        return "warn" if statuses & {"warn", "inconclusive"} else "pass"

    @property
    def passed(self) -> bool:
        """No gate blocks, among the sequence gates or in the per-step and per-entity reports."""
        return self.status != "block"

    def gate(self, name: str) -> GateResult:
        """The sequence gate called ``name`` (KeyError naming the gates there are otherwise)."""
        for g in self.gates:
            if g.name == name:
                return g
        raise KeyError(f"no sequence gate {name!r}; sequence gates: {[g.name for g in self.gates]}")

    def summary(self) -> str:
        """Plain-text lines: the verdict, the headline scores, one line per gate, the two reports' verdicts."""
        verdict = {"pass": "PASSED", "warn": "PASSED with warnings", "block": "BLOCKED"}[self.status]
        entities = self.inputs.get("entities", {})
        lines = [f"Sequence quality report: {verdict} ({entities.get('real', 0):,} real and "
                 f"{entities.get('synthetic', 0):,} synthetic histories)"]
        shown = ", ".join(f"{k} {self.scores[k]:.3f}" for k in HEADLINE if self.scores.get(k) is not None)
        lines.append(f"Scores: {shown}")
        for g in self.gates:
            value = "n/a" if g.value is None else f"{g.value:.4g}"
            interval = "" if g.lower is None or g.upper is None else f" [{g.lower:.4g}, {g.upper:.4g}]"
            lines.append(f"  [{g.status:>12}] {g.pillar}/{g.name}: {value}{interval} {g.comparison} {g.threshold:g}")
        for label, report in (("Steps", self.steps), ("Entities", self.entities)):
            if report is not None:
                flagged = [f"{g.name} ({g.status})" for g in report.gates if g.failed or g.inconclusive]
                lines.append(f"{label}: {report.status}" + (f"; flagged: {', '.join(flagged)}" if flagged else ""))
        lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ``json.dumps(report.to_dict(), allow_nan=False)`` works."""
        return jsonable({
            "schema": SEQUENCE_REPORT,
            "schema_version": SEQUENCE_REPORT_VERSION,
            "engine_version": self.engine_version,
            "created_at": self.created_at,
            "passed": self.passed,
            "status": self.status,
            "scores": dict(self.scores),
            "gates": [g.to_dict() for g in self.gates],
            "figures": dict(self.figures),
            "inputs": dict(self.inputs),
            "steps": self.steps.to_dict() if self.steps is not None else None,
            "entities": self.entities.to_dict() if self.entities is not None else None,
            "notes": list(self.notes),
            "config": dict(self.config),
            "timings": dict(self.timings),
            "samples": dict(self.samples),
        })

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SequenceReport:
        """Read ``to_dict``'s output (refuses another kind of document or a newer schema version)."""
        if not isinstance(data, Mapping) or data.get("schema") != SEQUENCE_REPORT:
            raise InputError(f"not a Doppel sequence quality report (expected schema {SEQUENCE_REPORT!r})")
        if int(data.get("schema_version", 0)) > SEQUENCE_REPORT_VERSION:
            raise InputError(f"sequence quality report version {data.get('schema_version')} is newer than this "
                             f"engine's ({SEQUENCE_REPORT_VERSION}); upgrade Doppel to read it")
        return cls(
            scores=dict(data["scores"]),
            gates=tuple(GateResult.from_dict(g) for g in data["gates"]),
            figures=data.get("figures", {}),
            inputs=data.get("inputs", {}),
            steps=QualityReport.from_dict(data["steps"]) if data.get("steps") else None,
            entities=QualityReport.from_dict(data["entities"]) if data.get("entities") else None,
            notes=tuple(data.get("notes", ())),
            config=data.get("config", {}),
            timings=data.get("timings", {}),
            created_at=data.get("created_at", ""),
            engine_version=data.get("engine_version", ""),
            samples=data.get("samples") or {},
        )

    @classmethod
    def from_json(cls, text: str) -> SequenceReport:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as err:
            raise InputError(f"sequence quality report is not valid JSON: {err}") from err

    def with_samples(self, samples: Mapping[str, Any]) -> SequenceReport:
        """The same report holding ``samples`` (``history_samples``'s output) for its line charts."""
        from dataclasses import replace

        return replace(self, samples=dict(samples))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={self.scores[k]:.3f}" for k in HEADLINE[:6] if self.scores.get(k) is not None)
        return f"SequenceReport(status={self.status!r}, {shown}, gates={len(self.gates)})"


def history_samples(frames: Mapping[str, Any], *, entity: str, order_by: str, columns: list[str],
                    entities: int = SAMPLE_ENTITIES, steps: int = SAMPLE_STEPS, seed: int = 0) -> dict[str, Any]:
    """A few histories of each table (``{"real": frame, "synthetic": frame, ...}``) for line charts.

    Per table: ``entities`` entities drawn with ``seed`` (sorted by name first, so the draw is a
    pure function of the table), each with its first ``steps`` steps in time order, as
    ``{"entity": name, "time": [text], "values": {column: [number or None]}}``. Only ``columns``
    that every table holds as numbers are kept: the charts plot numbers.
    """
    import polars as pl

    if isinstance(entities, bool) or not isinstance(entities, int) or entities < 1:
        raise InputError(f"entities must be a whole number of at least 1; got {entities!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps must be a whole number of at least 1; got {steps!r}")
    tables = {role: (frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame))
              for role, frame in frames.items() if frame is not None}
    for role, frame in tables.items():
        missing = [c for c in (entity, order_by) if c not in frame.columns]
        if missing:
            raise InputError(f"the {role} table has no column {missing[0]!r}; its columns: {frame.columns}")
    kept = [c for c in columns if all(c in f.columns and f.schema[c].is_numeric() for f in tables.values())]
    histories: dict[str, list[dict[str, Any]]] = {}
    for role, frame in tables.items():
        names = frame.get_column(entity).unique().sort()
        rng = np.random.default_rng([seed, len(role)])
        chosen = names.gather(np.sort(rng.choice(names.len(), size=min(entities, names.len()), replace=False)))
        part = (frame.filter(pl.col(entity).is_in(chosen.implode())).sort(entity, order_by)
                .group_by(entity, maintain_order=True).head(steps))
        histories[role] = [
            {"entity": str(name), "time": [str(t) for t in rows.get_column(order_by).to_list()],
             "values": {c: rows.get_column(c).cast(pl.Float64).fill_nan(None).to_list() for c in kept}}
            for (name,), rows in part.group_by(entity, maintain_order=True)
        ]
    return {"entity": entity, "order_by": order_by, "columns": kept, "histories": histories}
