"""The quality report: scores, gates, recommendations and every figure's data, in one object.

``QualityReport`` is what ``engine.assess`` returns. It is plain data: ``to_dict`` /
``to_json`` give the stable JSON schema (``schema`` + ``schema_version`` + ``metrics_version``)
that the workbench stores and the share links serve; ``from_json`` reads it back, and
``to_html`` renders the standalone page from the same data, so a stored report renders
exactly as a fresh one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.quality.definitions import DEFINITIONS, METRICS_VERSION, REPORT_SCHEMA, REPORT_SCHEMA_VERSION
from engine.quality.gates import SCORE_FORMULAS, GateResult


def jsonable(value: Any) -> Any:
    """Numpy scalars to Python, NaN and infinities to None, tuples to lists (recursively)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    return value


@dataclass
class QualityReport:
    """Fidelity, utility and privacy of one synthetic table, with gates and a verdict.

    ``passed`` is True when no gate blocks (warnings, inconclusive and skipped gates do not block).
    ``scores`` holds ``fidelity``, ``utility``, ``privacy`` and ``overall`` in [0, 1] (None
    where not measured); ``score_formulas`` says how each was computed.
    """

    scores: dict[str, float | None]
    gates: list[GateResult]
    recommendations: list[str]
    inputs: dict[str, Any]
    fidelity: dict[str, Any] | None = None
    utility: dict[str, Any] | None = None
    privacy: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    score_components: dict[str, dict[str, float | None]] = field(default_factory=dict)
    score_formulas: dict[str, str] = field(default_factory=lambda: dict(SCORE_FORMULAS))
    config: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    created_at: str = ""
    engine_version: str = ""
    metrics_version: str = METRICS_VERSION
    definitions: dict[str, dict[str, str]] = field(default_factory=lambda: {k: dict(v) for k, v in DEFINITIONS.items()})

    @property
    def passed(self) -> bool:
        """No gate blocks."""
        return not any(g.status == "block" for g in self.gates)

    @property
    def status(self) -> str:
        """"block" if a gate blocks, else "warn" if one warns or is inconclusive (a warning's weight), else "pass"."""
        statuses = {g.status for g in self.gates}
        if "block" in statuses:
            return "block"
        return "warn" if statuses & {"warn", "inconclusive"} else "pass"

    @property
    def inconclusive(self) -> list[str]:
        """Names of the gates whose samples were too small to tell (see ``engine.quality.uncertainty``)."""
        return [g.name for g in self.gates if g.status == "inconclusive"]

    def gate(self, name: str) -> GateResult:
        """The gate called ``name`` (KeyError naming the gates there are otherwise)."""
        for g in self.gates:
            if g.name == name:
                return g
        raise KeyError(f"no gate {name!r}; gates: {[g.name for g in self.gates]}")

    # --------------------------------------------------------------------------- serialisation

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON schema (see the module docstring); ``json.dumps`` works on it."""
        return jsonable({
            "schema": REPORT_SCHEMA,
            "schema_version": REPORT_SCHEMA_VERSION,
            "metrics_version": self.metrics_version,
            "engine_version": self.engine_version,
            "created_at": self.created_at,
            "passed": self.passed,
            "status": self.status,
            "scores": self.scores,
            "score_formulas": self.score_formulas,
            "score_components": self.score_components,
            "gates": [g.to_dict() for g in self.gates],
            "recommendations": self.recommendations,
            "notes": self.notes,
            "inputs": self.inputs,
            "fidelity": self.fidelity,
            "utility": self.utility,
            "privacy": self.privacy,
            "definitions": self.definitions,
            "config": self.config,
            "timings": self.timings,
        })

    def to_json(self, path: str | Path | None = None, *, indent: int | None = None) -> str:
        """The JSON text of ``to_dict``; written to ``path`` if given (as ``to_html``)."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            _write_atomically(Path(path), text)
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityReport:
        """Read a report written by ``to_dict`` (refuses another schema or a newer schema version)."""
        if not isinstance(data, dict) or data.get("schema") != REPORT_SCHEMA:
            raise InputError(f"not a Doppel quality report (expected schema {REPORT_SCHEMA!r})")
        if int(data.get("schema_version", 0)) > REPORT_SCHEMA_VERSION:
            raise InputError(
                f"quality report schema version {data.get('schema_version')} is newer than this engine's "
                f"({REPORT_SCHEMA_VERSION}); upgrade Doppel to read it"
            )
        return cls(
            scores=data["scores"],
            gates=[GateResult.from_dict(g) for g in data["gates"]],
            recommendations=list(data["recommendations"]),
            inputs=data["inputs"],
            fidelity=data.get("fidelity"),
            utility=data.get("utility"),
            privacy=data.get("privacy"),
            notes=list(data.get("notes", [])),
            score_components=data.get("score_components", {}),
            score_formulas=data.get("score_formulas", dict(SCORE_FORMULAS)),
            config=data.get("config", {}),
            timings=data.get("timings", {}),
            created_at=data.get("created_at", ""),
            engine_version=data.get("engine_version", ""),
            metrics_version=data["metrics_version"],
            definitions=data.get("definitions", {}),
        )

    @classmethod
    def from_json(cls, text: str) -> QualityReport:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"quality report is not valid JSON: {err}") from err
        return cls.from_dict(data)

    def to_html(self, path: str | Path | None = None) -> str:
        """The standalone HTML page (plotly.js embedded once; opens offline); written to ``path`` if given."""
        from engine.quality.html import render_html

        page = render_html(self.to_dict())
        if path is not None:
            _write_atomically(Path(path), page)
        return page

    # --------------------------------------------------------------------------- comparison

    def compare(self, other: QualityReport) -> dict[str, float | None]:
        """Score differences ``self - other``, refused when the metric definitions differ."""
        if self.metrics_version != other.metrics_version:
            raise InputError(
                f"these reports use different metric definitions (versions {self.metrics_version} and "
                f"{other.metrics_version}); reassess both with the same engine to compare them"
            )
        out: dict[str, float | None] = {}
        for key in ("fidelity", "utility", "privacy", "overall"):
            a, b = self.scores.get(key), other.scores.get(key)
            out[key] = None if a is None or b is None else a - b
        return out

    def summary(self) -> str:
        """A few plain-text lines: verdict, scores, one line per gate (what the CLI prints)."""
        verdict = {"pass": "PASSED", "warn": "PASSED with warnings", "block": "BLOCKED"}[self.status]
        if self.inconclusive:
            verdict += f" ({len(self.inconclusive)} gate(s) inconclusive: too few rows to tell)"
        lines = [f"Quality report: {verdict} (metrics version {self.metrics_version})"]
        scores = ", ".join(f"{k} {v:.3f}" for k, v in self.scores.items() if v is not None)
        lines.append(f"Scores: {scores}")
        for g in self.gates:
            value = "n/a" if g.value is None else f"{g.value:.4g}"
            interval = "" if g.lower is None or g.upper is None else f" [{g.lower:.4g}, {g.upper:.4g}]"
            lines.append(f"  [{g.status:>12}] {g.pillar}/{g.name}: {value}{interval} {g.comparison} {g.threshold:g}")
        lines.extend(f"- {r}" for r in self.recommendations)
        return "\n".join(lines)

    def __repr__(self) -> str:
        scores = ", ".join(f"{k}={v:.3f}" for k, v in self.scores.items() if v is not None)
        return f"QualityReport(status={self.status!r}, {scores}, gates={len(self.gates)})"


def _write_atomically(target: Path, text: str) -> None:
    """Write ``text`` next to ``target`` and rename it there: never a half-written report at the final path."""
    tmp = target.with_name(target.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
