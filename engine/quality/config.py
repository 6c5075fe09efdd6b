"""Settings of one quality assessment: gate thresholds, column kinds, sample caps.

``engine.assess(config=...)`` takes a plain mapping (what a tenant stores as JSON) or a
``QualityConfig``. Every key is checked: an unknown key or a value of the wrong kind raises
``ConfigError`` naming the key and what is allowed, so a typo never silently falls back to a
default gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from engine.errors import ConfigError
from engine.quality.config_mapping import read_config

Severity = Literal["block", "warn"]
COLUMN_KINDS = ("numeric", "datetime", "categorical", "skip")
PILLARS = ("fidelity", "utility", "privacy")


@dataclass(frozen=True)
class GateConfig:
    """One gate: the threshold, what failing it means, and whether it is evaluated at all."""

    threshold: float
    severity: Severity = "block"
    enabled: bool = True


def _default_gates() -> dict[str, GateConfig]:
    # DESIGN.md "Quality gates": the defaults a tenant or a run may override.
    return {
        "column_distance": GateConfig(0.15, "block"),
        "correlation_difference": GateConfig(0.2, "block"),
        "utility_ratio": GateConfig(0.8, "warn"),
        "membership_inference": GateConfig(0.10, "block"),
        "exact_copies": GateConfig(0.0, "block"),
    }


@dataclass(frozen=True)
class FidelityConfig:
    """How columns are binned and how many column triples the trivariate accuracy samples."""

    bins: int = 10  # quantile bins per numeric column for the binned accuracy (mostlyai-qa: 10)
    top_k: int = 10  # categories kept per categorical column for the binned accuracy
    contingency_bins: int = 10  # equal-width bins for contingency similarity (sdmetrics: 10)
    max_categories: int = 100  # categories kept per column for Cramér's V / contingency tables
    max_pairs: int = 5_000  # column pairs compared (a seeded sample beyond; Pearson/Spearman cover all)
    max_triples: int = 300  # column triples sampled for the trivariate accuracy
    categorical_max_int_levels: int = 10  # an integer column with at most this many values is categorical
    distribution_bins: int = 30  # bars per numeric column in the report's distribution plots
    largest_differences: int = 10  # pairs listed under "largest differences"


@dataclass(frozen=True)
class UtilityConfig:
    """The fixed learner's budget for train-synthetic-test-real."""

    enabled: bool = True
    auto_target: bool = True  # without a target, suggest one and say so in the notes
    max_train_rows: int = 50_000  # rows each model trains on (subsampled beyond, and said so)
    max_test_rows: int = 50_000
    importance_rows: int = 2_000  # holdout rows the permutation importance is computed on
    importance_repeats: int = 2
    max_iter: int = 100  # boosting rounds of HistGradientBoosting
    holdout_share: float = 0.2  # share of the real rows held out when no holdout is given


@dataclass(frozen=True)
class QualityConfig:
    """Everything ``engine.assess`` can be told; ``QualityConfig.from_mapping`` reads a dict."""

    gates: dict[str, GateConfig] = field(default_factory=_default_gates)
    column_types: dict[str, str] = field(default_factory=dict)
    pillars: tuple[str, ...] = PILLARS
    fidelity: FidelityConfig = field(default_factory=FidelityConfig)
    utility: UtilityConfig = field(default_factory=UtilityConfig)
    privacy: dict[str, Any] = field(default_factory=dict)  # passed to PrivacyConfig(**privacy)
    threads: int = 1  # BLAS and OpenMP threads while assessing (see engine.quality.assess)
    confidence: float = 0.95  # level of every gate's error bar (see engine.quality.uncertainty)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | QualityConfig | None) -> QualityConfig:
        """Build a config from a mapping such as ``{"gates": {"column_distance": {"threshold": 0.1}}}``.

        Keys left out keep their defaults; gate entries are merged key by key, so overriding a
        threshold keeps the default severity.
        """
        return read_config(cls, data, what="config", parse=cls._parsed)

    @classmethod
    def _parsed(cls, data: Mapping[str, Any]) -> QualityConfig:
        out = cls()
        if "gates" in data:
            out = replace(out, gates=parse_gates(data["gates"]))
        if "column_types" in data:
            out = replace(out, column_types=_parse_column_types(data["column_types"]))
        if "pillars" in data:
            out = replace(out, pillars=_parse_pillars(data["pillars"]))
        if "fidelity" in data:
            out = replace(out, fidelity=_parse_section(FidelityConfig, data["fidelity"], "fidelity"))
        if "utility" in data:
            out = replace(out, utility=_parse_section(UtilityConfig, data["utility"], "utility"))
        if "threads" in data:
            threads = data["threads"]
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise ConfigError(f"config['threads'] must be a positive integer, got {threads!r}")
            out = replace(out, threads=threads)
        if "confidence" in data:
            from engine.quality.uncertainty import check_confidence

            out = replace(out, confidence=check_confidence(data["confidence"]))
        if "privacy" in data:
            if not isinstance(data["privacy"], Mapping):
                raise ConfigError("config['privacy'] must be a mapping of PrivacyConfig fields")
            fixed = sorted(set(data["privacy"]) & {"confidence", "mia_threshold"})
            if fixed:
                raise ConfigError(f"config['privacy'] may not set {fixed}: they follow config['confidence'] and "
                                  "config['gates']['membership_inference']['threshold']")
            out = replace(out, privacy=dict(data["privacy"]))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, written into every report so a reader sees the thresholds used."""
        out = asdict(self)
        out["pillars"] = list(self.pillars)
        return out


def parse_gates(
    value: Any, *, defaults: dict[str, GateConfig] | None = None, what: str = "gate",
    threshold_range: tuple[float, float] | None = None,
) -> dict[str, GateConfig]:
    """``defaults`` (the table gates when None) with the overrides in ``value`` (gate name -> a
    threshold, a mapping of threshold/severity/enabled, or a ``GateConfig``), each checked;
    ``what`` names the gates in messages, ``threshold_range`` bounds a threshold where it must."""
    gates = _default_gates() if defaults is None else dict(defaults)
    if not isinstance(value, Mapping):
        raise ConfigError(f"config['gates'] must be a mapping of {what} name -> settings")
    for name, settings in value.items():
        if name not in gates:
            raise ConfigError(f"unknown {what} {name!r}; {what}s are {sorted(gates)}")
        if isinstance(settings, GateConfig):
            gates[name] = settings
            continue
        if isinstance(settings, (int, float)) and not isinstance(settings, bool):
            settings = {"threshold": settings}
        if not isinstance(settings, Mapping):
            raise ConfigError(f"config['gates'][{name!r}] must be a number or a mapping with threshold/severity/enabled")
        bad = sorted(set(settings) - {"threshold", "severity", "enabled"})
        if bad:
            raise ConfigError(f"config['gates'][{name!r}] has unknown key(s) {bad}; allowed: threshold, severity, enabled")
        current = gates[name]
        threshold = settings.get("threshold", current.threshold)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ConfigError(f"config['gates'][{name!r}]['threshold'] must be a number, got {threshold!r}")
        if threshold_range is not None and not threshold_range[0] <= threshold <= threshold_range[1]:
            low, high = threshold_range
            raise ConfigError(f"config['gates'][{name!r}]['threshold'] must be a number in [{low:g}, {high:g}], got {threshold!r}")
        severity = settings.get("severity", current.severity)
        if severity not in ("block", "warn"):
            raise ConfigError(f"config['gates'][{name!r}]['severity'] must be 'block' or 'warn', got {severity!r}")
        enabled = settings.get("enabled", current.enabled)
        if not isinstance(enabled, bool):
            raise ConfigError(f"config['gates'][{name!r}]['enabled'] must be true or false, got {enabled!r}")
        gates[name] = GateConfig(float(threshold), severity, enabled)
    return gates


def _parse_column_types(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError("config['column_types'] must be a mapping of column name -> kind")
    out = {}
    for column, kind in value.items():
        if kind not in COLUMN_KINDS:
            raise ConfigError(f"config['column_types'][{column!r}] is {kind!r}; allowed kinds: {list(COLUMN_KINDS)}")
        out[str(column)] = kind
    return out


def _parse_pillars(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"config['pillars'] must be a list drawn from {list(PILLARS)}")
    bad = sorted(set(value) - set(PILLARS))
    if bad:
        raise ConfigError(f"config['pillars'] has unknown pillar(s) {bad}; allowed: {list(PILLARS)}")
    return tuple(p for p in PILLARS if p in value)


def _parse_section(kind: type, value: Any, name: str) -> Any:
    if isinstance(value, kind):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"config[{name!r}] must be a mapping")
    allowed = {f.name: f for f in fields(kind)}
    bad = sorted(set(value) - set(allowed))
    if bad:
        raise ConfigError(f"config[{name!r}] has unknown key(s) {bad}; allowed: {sorted(allowed)}")
    defaults = kind()
    checked = {}
    for key, item in value.items():
        default = getattr(defaults, key)
        if isinstance(default, bool):
            if not isinstance(item, bool):
                raise ConfigError(f"config[{name!r}][{key!r}] must be true or false, got {item!r}")
        elif isinstance(default, int):
            if isinstance(item, bool) or not isinstance(item, int) or item < 1:
                raise ConfigError(f"config[{name!r}][{key!r}] must be a positive integer, got {item!r}")
        elif isinstance(default, float):
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not 0 < item < 1:
                raise ConfigError(f"config[{name!r}][{key!r}] must be a number between 0 and 1, got {item!r}")
            item = float(item)
        checked[key] = item
    return replace(defaults, **checked)
