"""The DataTransformer's parameters, checked once, with messages that say what is allowed.

Every check raises ``ConfigError`` naming the parameter, the value received and the values
accepted, so a page or a worker can show the message as-is.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from engine.errors import ConfigError
from engine.schema import SemanticType
from engine.transform.fakes import KINDS as FAKE_KINDS
from engine.transform.fakes import check_kind
from engine.transform.protect import KTH, Extremes

MODE_SELECTIONS = ("argmax", "sample")


@dataclass(frozen=True)
class TransformerParams:
    """Validated, immutable copy of the constructor arguments (see ``DataTransformer``)."""

    column_types: dict[str, SemanticType]
    max_onehot: int
    rare_category_k: int
    extremes: Extremes
    n_modes: int
    gmm_sample_rows: int
    gmm_max_iter: int
    n_bins: int
    n_fine_bins: int
    code_base: int
    mode_selection: str
    n_jobs: int
    seed: int
    fake_columns: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["column_types"] = {name: kind.value for name, kind in self.column_types.items()}
        d["extremes"] = list(self.extremes) if isinstance(self.extremes, tuple) else self.extremes
        return d


def _int(name: str, value: Any, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"{name} must be {allowed}, got {value}")
    return value


def _column_types(value: Any) -> dict[str, SemanticType]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"column_types must be a dict of column name -> SemanticType, got {type(value).__name__}")
    allowed = ", ".join(k.value for k in SemanticType)
    out: dict[str, SemanticType] = {}
    for name, kind in value.items():
        if not isinstance(name, str):
            raise ConfigError(f"column_types keys must be column names (str), got {name!r}")
        try:
            out[name] = SemanticType(kind)
        except ValueError:
            raise ConfigError(f"column_types[{name!r}] = {kind!r} is not a semantic type; allowed: {allowed}") from None
    return out


def _fake_columns(value: Any) -> dict[str, str]:
    """``{column: PII kind}`` of the columns to fake (``engine.transform.fakes.KINDS``)."""
    if value is None:
        return {}
    allowed = ", ".join(FAKE_KINDS)
    if not isinstance(value, dict):
        raise ConfigError(f"fake_columns must be a dict of column name -> kind of personal data ({allowed}), "
                          f"got {type(value).__name__}")
    for name, kind in value.items():
        if not isinstance(name, str):
            raise ConfigError(f"fake_columns keys must be column names (str), got {name!r}")
        check_kind(name, kind)
    return dict(value)


def _quantile_pair(value: Any, msg: str) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ConfigError(f"{msg}, got {value!r}")
    try:
        low, high = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise ConfigError(f"{msg}, got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0.0 <= low < high <= 1.0):
        raise ConfigError(f"{msg}, got {value!r}")
    return (low, high)


def extremes_rule(value: Any) -> Extremes:
    """The ``extremes`` parameter: "kth", a quantile pair (low, high), or None (no clipping)."""
    if value is None or (isinstance(value, str) and value == KTH):
        return value
    msg = (
        f"extremes must be {KTH!r} (clip at the k-th most extreme value on each side, k = rare_category_k), "
        "a quantile pair (low, high) with 0 <= low < high <= 1 (e.g. (0.01, 0.99)), or None (no clipping)"
    )
    return _quantile_pair(value, msg)


def cap_quantiles_rule(value: Any) -> tuple[float, float] | None:
    """The older ``cap_quantiles`` parameter (a quantile pair or None), as an ``extremes`` rule."""
    if value is None:
        return None
    msg = "cap_quantiles must be None (no capping) or a pair (low, high) with 0 <= low < high <= 1"
    return _quantile_pair(value, msg)


def validate_params(
    *,
    column_types: Any,
    max_onehot: Any,
    rare_category_k: Any,
    extremes: Any,
    n_modes: Any,
    gmm_sample_rows: Any,
    gmm_max_iter: Any,
    n_bins: Any,
    n_fine_bins: Any,
    code_base: Any,
    mode_selection: Any,
    n_jobs: Any,
    seed: Any,
    fake_columns: Any = None,
) -> TransformerParams:
    """Check every constructor argument; raise ``ConfigError`` on the first bad one."""
    max_onehot = _int("max_onehot", max_onehot, low=2)
    code_base = _int("code_base", code_base, low=2)
    if code_base > max_onehot:
        raise ConfigError(f"code_base ({code_base}) must not exceed max_onehot ({max_onehot})")
    if mode_selection not in MODE_SELECTIONS:
        raise ConfigError(f"mode_selection must be one of {', '.join(MODE_SELECTIONS)}, got {mode_selection!r}")
    n_jobs = _int("n_jobs", n_jobs, low=-1)
    if n_jobs == 0:
        raise ConfigError("n_jobs must be a positive number of threads or -1 (all cores), got 0")
    return TransformerParams(
        column_types=_column_types(column_types),
        max_onehot=max_onehot,
        rare_category_k=_int("rare_category_k", rare_category_k, low=1),
        extremes=extremes_rule(extremes),
        n_modes=_int("n_modes", n_modes, low=1, high=100),
        gmm_sample_rows=_int("gmm_sample_rows", gmm_sample_rows, low=100),
        gmm_max_iter=_int("gmm_max_iter", gmm_max_iter, low=1),
        n_bins=_int("n_bins", n_bins, low=2, high=100_000),
        n_fine_bins=_int("n_fine_bins", n_fine_bins, low=1, high=100_000),
        code_base=code_base,
        mode_selection=mode_selection,
        n_jobs=n_jobs,
        seed=_int("seed", seed, low=0, high=2**32 - 1),
        fake_columns=_fake_columns(fake_columns),
    )
