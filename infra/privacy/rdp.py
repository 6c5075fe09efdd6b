"""Rényi-DP curves of training runs, and their composition (no database here).

A run's *RDP curve* is its Rényi-DP guarantee at a grid of orders: ``rdp[i]`` bounds the
Rényi divergence of order ``orders[i]`` between the outputs on neighbouring datasets. Curves of
runs on the same dataset add up order by order (RDP composition), and the sum converts to one
(epsilon, delta) guarantee that is usually much smaller than the sum of the runs' epsilons
(sequential composition). The ledger keeps each run's curve with its charge so that the report
can show this tighter figure next to the budget of record (which stays the plain sum).

``delta_extra`` is the part of a run's delta that lives outside RDP (for example the failure
probability of a private category selection with a noisy threshold); it adds to the delta of
the composed guarantee.

The conversion to (epsilon, delta) is Opacus's ``get_privacy_spent`` (Balle et al. 2020,
Theorem 21), the one Opacus's RDP accountant, and so the engine, uses: a one-run "composition"
gives back that run's own accountant epsilon.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError
from engine.privacy.run import rdp_curve
from engine.privacy.run import rdp_orders as default_orders


@dataclass(frozen=True)
class RdpCurve:
    """One run's RDP guarantee: ``rdp[i]`` at order ``orders[i]``, plus delta outside RDP."""

    orders: tuple[float, ...]
    rdp: tuple[float, ...]
    delta_extra: float = 0.0

    def __post_init__(self) -> None:
        if len(self.orders) != len(self.rdp):
            raise ConfigError(f"an RDP curve needs one value per order: {len(self.orders)} orders, {len(self.rdp)} values")
        if not self.orders:
            raise ConfigError("an RDP curve needs at least one order")
        for order, value in zip(self.orders, self.rdp, strict=True):
            if not (math.isfinite(order) and order > 1):
                raise ConfigError(f"RDP orders must be finite and above 1; got {order!r}")
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"RDP values must be finite and non-negative; got {value!r} at order {order!r}")
        if len(set(self.orders)) != len(self.orders):
            raise ConfigError("RDP orders must be distinct")
        if not (math.isfinite(self.delta_extra) and 0 <= self.delta_extra < 1):
            raise ConfigError(f"delta_extra must lie in [0, 1); got {self.delta_extra!r}")

    @classmethod
    def of(cls, orders: Iterable[float], rdp: Iterable[float], *, delta_extra: float = 0.0) -> RdpCurve:
        """A curve from parallel sequences; orders whose value is infinite (vacuous) are dropped."""
        pairs = [(float(o), float(v)) for o, v in zip(orders, rdp, strict=True) if not math.isinf(float(v))]
        return cls(tuple(o for o, _ in pairs), tuple(v for _, v in pairs), float(delta_extra))

    @classmethod
    def from_history(
        cls,
        history: Iterable[Sequence[float]],
        *,
        orders: Sequence[float] | None = None,
        delta_extra: float = 0.0,
    ) -> RdpCurve:
        """The curve of a run given as Opacus accountant history entries ``(noise_multiplier, sample_rate, steps)``.

        Each entry is a subsampled Gaussian mechanism repeated ``steps`` times (a full-batch
        Gaussian has sample rate 1); their RDP adds up.
        """
        grid = [float(o) for o in (orders or default_orders())]
        entries = [tuple(entry) for entry in history]
        if not entries:
            raise ConfigError("an empty history has no RDP curve (nothing was spent)")
        for entry in entries:
            if len(entry) != 3:
                raise ConfigError(f"history entries are (noise_multiplier, sample_rate, steps); got {entry!r}")
            sigma, rate, steps = float(entry[0]), float(entry[1]), int(entry[2])
            if not (sigma > 0 and 0 < rate <= 1 and steps >= 0):
                raise ConfigError(f"invalid history entry {entry!r}: need noise > 0, 0 < sample rate <= 1, steps >= 0")
        total = rdp_curve(entries, orders=grid)
        return cls.of(grid, total, delta_extra=delta_extra)

    @classmethod
    def from_privacy_report(cls, report: Mapping[str, Any], *, orders: Sequence[float] | None = None) -> RdpCurve:
        """The curve of a trained model from the ``privacy`` section of its manifest.

        Reads ``history`` (the accountant's entries) and takes ``delta - accountant_delta``
        (the delta of private selection, outside RDP) as ``delta_extra``.
        """
        if "history" not in report:
            raise ConfigError("the privacy report has no accountant 'history' to compute an RDP curve from")
        total_delta = float(report.get("delta") or 0.0)
        accountant_delta = float(report.get("accountant_delta", total_delta) or 0.0)
        return cls.from_history(report["history"], orders=orders, delta_extra=max(0.0, total_delta - accountant_delta))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RdpCurve:
        """The inverse of ``to_dict`` (what the ledger stores)."""
        try:
            return cls.of(data["orders"], data["rdp"], delta_extra=float(data.get("delta_extra", 0.0)))
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, ConfigError):
                raise
            raise ConfigError(f"an RDP curve needs 'orders' and 'rdp' lists of numbers; got {dict(data)!r}") from err

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``{"orders": [...], "rdp": [...], "delta_extra": x}``."""
        return {"orders": list(self.orders), "rdp": list(self.rdp), "delta_extra": self.delta_extra}

    def epsilon(self, delta: float) -> float:
        """This curve alone converted to epsilon at ``delta`` (delta_extra not included)."""
        return compose([self], delta=delta + self.delta_extra).epsilon


@dataclass(frozen=True)
class ComposedGuarantee:
    """The (epsilon, delta) guarantee of several runs composed in RDP.

    ``delta`` is the total: the conversion's delta plus every run's ``delta_extra``.
    ``order`` is the RDP order at which the conversion was tightest.
    """

    epsilon: float
    delta: float
    order: float
    orders_used: int
    runs: int


def compose(curves: Sequence[RdpCurve], *, delta: float) -> ComposedGuarantee:
    """Compose ``curves`` (sum over the orders they share) into epsilon at a total ``delta``.

    The conversion uses ``delta - sum(delta_extra)``; orders missing from any curve are not used
    (curves computed here all share ``default_orders()``). ``ConfigError`` when no order is
    common or the extra deltas use up ``delta``.
    """
    from opacus.accountants.analysis.rdp import get_privacy_spent

    if not curves:
        raise ConfigError("nothing to compose: no RDP curves")
    if not (0 < delta < 1):
        raise ConfigError(f"delta must lie in (0, 1); got {delta!r}")
    extra = math.fsum(c.delta_extra for c in curves)
    conversion_delta = delta - extra
    if conversion_delta <= 0:
        raise ConfigError(f"the runs' deltas outside RDP ({extra:g}) use up the whole delta {delta:g}")
    common = set(curves[0].orders)
    for curve in curves[1:]:
        common &= set(curve.orders)
    if not common:
        raise ConfigError("the RDP curves share no order: they cannot be composed")
    orders = sorted(common)
    lookup = [dict(zip(c.orders, c.rdp, strict=True)) for c in curves]
    totals = [math.fsum(values[o] for values in lookup) for o in orders]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "optimal order is the smallest/largest alpha": reported, not an error
        epsilon, order = get_privacy_spent(orders=orders, rdp=totals, delta=conversion_delta)
    return ComposedGuarantee(
        epsilon=max(0.0, float(epsilon)), delta=delta, order=float(order), orders_used=len(orders), runs=len(curves)
    )


__all__ = ["ComposedGuarantee", "RdpCurve", "compose", "default_orders"]
