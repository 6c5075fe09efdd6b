"""``Privacy``: the typed, validated configuration of a differentially private training run.

``engine.train(data, model=..., privacy=engine.Privacy(epsilon=1.0, delta=1e-5))`` trains so
that the released model is (epsilon, delta)-differentially private with respect to adding or
removing one row of ``data``. Everything the model keeps that was derived from the rows
(value ranges, category lists and frequencies, bins, weights) goes through an accounted
mechanism; see ``engine.privacy`` for the list. What the user declares here is *public*
knowledge and costs nothing:

- ``bounds={"age": (17, 90)}``: the range of a numeric or date column (dates as ISO strings
  or ``datetime.date``); values outside are clipped to it. Without it the range is estimated
  with a share of the budget.
- ``categories={"sex": ["Female", "Male"]}``: the full list of a column's values; values
  outside it are merged into ``__other__`` (strings) or mapped to the nearest level
  (numbers). Without it the list is selected privately (values too rare to pass a noisy
  threshold are merged into ``__other__``).

The row count is treated as public, as DP-SGD's sampling rate (batch / rows) does.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import ConfigError

ACCOUNTANTS = ("rdp", "prv")
FREQUENCIES = ("dp", "uniform")


def _number(name: str, value: Any, *, low: float, high: float, low_open: bool = True, high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number; got {value!r}")
    value = float(value)
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ConfigError(f"{name} must lie in {left}{low:g}, {high:g}{right}; got {value!r}")
    return value


def _bound(column: str, value: Any) -> float | str:
    """A bound as a number, or an ISO date/datetime string (for date columns)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, str):
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"bounds[{column!r}]: {value!r} is neither a number nor an ISO date") from None
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"bounds[{column!r}] must hold two finite numbers or ISO dates; got {value!r}")
    return value


def _bound_key(value: float | str) -> float:
    return dt.datetime.fromisoformat(value).timestamp() if isinstance(value, str) else float(value)


@dataclass(frozen=True, eq=True)
class Privacy:
    """Differential privacy for one training run (keyword-only; every field is validated).

    - ``epsilon`` (> 0, at most 100): the privacy budget of the whole run, preprocessing
      included.
    - ``delta`` (in (0, 0.01], default 1e-5): must also be below 1 / rows (checked at fit).
    - ``max_grad_norm`` (> 0, default 1.0): DP-SGD's per-row gradient clipping norm.
    - ``accountant`` ("rdp" or "prv"): Opacus's Renyi-DP or PRV accountant for DP-SGD.
    - ``bounds`` / ``categories``: public value ranges and category lists (see the module
      docstring); a column may appear in at most one of the two.
    - ``preprocessing_share`` (in (0, 0.5], default 0.1): the share of the budget (in zCDP
      terms, where Gaussian mechanisms add up) spent on the value ranges, bins, category
      lists and frequencies of the columns not declared public. Nothing is spent when every
      learned column is declared (except CTGAN's category counts with ``frequencies="dp"``).
    - ``frequencies`` ("dp" or "uniform"): CTGAN's conditional sampling follows the private
      category counts ("dp") or is uniform over the categories ("uniform").
    - ``physical_batch_size`` (default 256): most rows whose per-row gradients are held in
      memory at once (Opacus's BatchMemoryManager); does not change the privacy guarantee.
    """

    epsilon: float
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    accountant: Literal["rdp", "prv"] = "rdp"
    bounds: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    categories: Mapping[str, list[Any]] = field(default_factory=dict)
    preprocessing_share: float = 0.1
    frequencies: Literal["dp", "uniform"] = "dp"
    physical_batch_size: int = 256

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "epsilon", _number("epsilon", self.epsilon, low=0.0, high=100.0))
        set_(self, "delta", _number("delta", self.delta, low=0.0, high=0.01))
        set_(self, "max_grad_norm", _number("max_grad_norm", self.max_grad_norm, low=0.0, high=1e6))
        set_(self, "preprocessing_share", _number("preprocessing_share", self.preprocessing_share, low=0.0, high=0.5))
        if self.accountant not in ACCOUNTANTS:
            raise ConfigError(f"accountant must be one of {', '.join(ACCOUNTANTS)}; got {self.accountant!r}")
        if self.frequencies not in FREQUENCIES:
            raise ConfigError(f"frequencies must be one of {', '.join(FREQUENCIES)}; got {self.frequencies!r}")
        size = self.physical_batch_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"physical_batch_size must be a positive integer; got {size!r}")
        set_(self, "bounds", self._checked_bounds(self.bounds))
        set_(self, "categories", self._checked_categories(self.categories))
        both = sorted(set(self.bounds) & set(self.categories))
        if both:
            raise ConfigError(f"columns {both} are given both bounds and categories; declare each column one way")

    @staticmethod
    def _checked_bounds(bounds: Any) -> dict[str, tuple[Any, Any]]:
        if bounds is None:
            return {}
        if not isinstance(bounds, Mapping):
            raise ConfigError(f"bounds must be a dict {{column: (low, high)}}; got {type(bounds).__name__}")
        out: dict[str, tuple[Any, Any]] = {}
        for column, pair in bounds.items():
            if not isinstance(column, str):
                raise ConfigError(f"bounds keys must be column names; got {column!r}")
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ConfigError(f"bounds[{column!r}] must be a pair (low, high); got {pair!r}")
            low, high = _bound(column, pair[0]), _bound(column, pair[1])
            if isinstance(low, str) != isinstance(high, str):
                raise ConfigError(f"bounds[{column!r}] mixes a date and a number: {pair!r}")
            if not _bound_key(low) < _bound_key(high):
                raise ConfigError(f"bounds[{column!r}] must have low < high; got {pair!r}")
            out[column] = (low, high)
        return out

    @staticmethod
    def _checked_categories(categories: Any) -> dict[str, list[Any]]:
        if categories is None:
            return {}
        if not isinstance(categories, Mapping):
            raise ConfigError(f"categories must be a dict {{column: [values]}}; got {type(categories).__name__}")
        out: dict[str, list[Any]] = {}
        for column, values in categories.items():
            if not isinstance(column, str):
                raise ConfigError(f"categories keys must be column names; got {column!r}")
            if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, set, frozenset)) or not values:
                raise ConfigError(f"categories[{column!r}] must be a non-empty list of values; got {values!r}")
            values = list(values)
            for value in values:
                if value is not None and not isinstance(value, (str, int, float, bool)):
                    raise ConfigError(f"categories[{column!r}] may hold strings, numbers, booleans or None; got {value!r}")
            if len({(type(v).__name__, v) for v in values}) != len(values):
                raise ConfigError(f"categories[{column!r}] lists a value twice: {values!r}")
            out[column] = values
        return out

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (stored in model files and checkpoints); ``from_dict`` reverses it."""
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "max_grad_norm": self.max_grad_norm,
            "accountant": self.accountant,
            "bounds": {k: list(v) for k, v in self.bounds.items()},
            "categories": {k: list(v) for k, v in self.categories.items()},
            "preprocessing_share": self.preprocessing_share,
            "frequencies": self.frequencies,
            "physical_batch_size": self.physical_batch_size,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Privacy:
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ConfigError(f"privacy got unknown settings {unknown}; allowed: {sorted(allowed)}")
        if "epsilon" not in d:
            raise ConfigError("privacy needs an epsilon, e.g. engine.Privacy(epsilon=1.0, delta=1e-5)")
        return cls(**dict(d))

    @classmethod
    def coerce(cls, value: Any) -> Privacy | None:
        """``None``, a ``Privacy`` or its dict form -> ``Privacy`` (or None); else ``ConfigError``."""
        if value is None or isinstance(value, Privacy):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        raise ConfigError(f"privacy must be an engine.Privacy, a dict of its settings, or None; got {type(value).__name__}")

    def check_rows(self, n_rows: int) -> None:
        """``delta`` must stay below 1 / rows: a larger one allows releasing a row outright."""
        if self.delta >= 1.0 / max(1, n_rows):
            raise ConfigError(
                f"delta={self.delta:g} is not below 1/rows = {1.0 / max(1, n_rows):.3g} for {n_rows} rows; "
                "a delta that large permits publishing whole rows. Pass a smaller delta."
            )


__all__ = ["ACCOUNTANTS", "FREQUENCIES", "Privacy"]
