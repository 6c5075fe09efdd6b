"""``PrivateRun``: the budget of one DP training run, what each mechanism spent, and its accountant.

Every mechanism of a run is written as an entry ``(noise multiplier, sample rate, steps)`` of
one Opacus accountant history, so that one accountant composes them all:

- Gaussian statistics on all rows (the preprocessing histograms, MST's marginals): a
  Gaussian mechanism of noise multiplier sigma is ``(sigma, 1.0, 1)``, i.e. ``1/(2 sigma^2)``-zCDP.
- The exponential mechanism (MST's tree selection), ``epsilon``-DP, is ``epsilon^2/8``-zCDP,
  which has the Renyi curve of a Gaussian of multiplier ``2/epsilon``: recorded as that
  entry. This is sound for the RDP accountant only, so a run that used it is accounted with
  RDP whatever ``accountant`` says (and the report notes it).
- DP-SGD: ``(sigma, batch/rows, steps)``, the Poisson-subsampled Gaussian; Opacus's step hook
  appends the steps as they are taken.

The budget is planned in zCDP terms (``rho``), where Gaussian mechanisms add up: the run's
(epsilon, delta) target is turned into the largest ``rho`` whose Renyi curve converts to at
most epsilon (Opacus's conversion, the one the accountant uses), preprocessing gets
``preprocessing_share`` of it, and DP-SGD's noise multiplier is then searched so that the
accountant's epsilon over the whole history, DP-SGD's planned steps included, is at most the
target. A private category list adds a fixed delta (``THRESHOLD_DELTA_SHARE`` of delta);
the accountant works with the rest.

The report (the model's ``manifest["privacy"]``) holds the epsilon the accountant computes
from what was actually run, the delta, the accountant, DP-SGD's noise multiplier, steps and
sample rate, and every mechanism with its planned share of the budget.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from engine.errors import ConfigError
from engine.privacy.config import Privacy

# Share of delta given to private category selection (when some list is selected privately).
THRESHOLD_DELTA_SHARE = 0.1
_RHO_RANGE = (1e-14, 1e8)
_SIGMA_RANGE = (0.05, 1e5)


# Orders beyond Opacus's defaults: tight for very small epsilons.
EXTRA_ORDERS = (80.0, 128.0, 256.0, 512.0)


def rdp_orders() -> list[float]:
    """The RDP orders every epsilon here is converted on: Opacus's RDP accountant defaults plus
    ``EXTRA_ORDERS`` (the ledger's stored curves use the same grid)."""
    from opacus.accountants import RDPAccountant

    return [float(a) for a in RDPAccountant.DEFAULT_ALPHAS] + list(EXTRA_ORDERS)


def rdp_curve(history: Iterable[Sequence[float]], *, orders: Sequence[float] | None = None) -> list[float]:
    """Opacus's RDP of a history of (noise multiplier, sample rate, steps) entries at ``orders``
    (default ``rdp_orders()``): the sum over entries of ``steps`` times one step's RDP, which
    ``compute_rdp`` gives; one step's is computed once per (noise, rate, orders) and kept, since
    the noise search and every epsilon report recompute the same entries (seconds each at a
    large sample rate)."""
    grid = tuple(float(o) for o in (orders if orders is not None else rdp_orders()))
    total = np.zeros(len(grid))
    for sigma, rate, steps in history:
        total = total + np.asarray(_step_rdp(float(sigma), float(rate), grid)) * int(steps)
    return [float(v) for v in total]


@functools.lru_cache(maxsize=1024)
def _step_rdp(noise_multiplier: float, sample_rate: float, orders: tuple[float, ...]) -> tuple[float, ...]:
    from opacus.accountants.analysis.rdp import compute_rdp

    return tuple(float(v) for v in compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=list(orders)))


def accountant_epsilon(history: list[tuple[float, float, int]], *, delta: float, accountant: str) -> float:
    """Epsilon of a history of (noise multiplier, sample rate, steps) entries at ``delta``: the
    RDP accountant's conversion of ``rdp_curve`` (what Opacus's ``RDPAccountant.get_epsilon``
    computes), or Opacus's PRV accountant."""
    if not history:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if accountant == "rdp":
            from opacus.accountants.analysis.rdp import get_privacy_spent

            orders = rdp_orders()
            eps, _ = get_privacy_spent(orders=orders, rdp=rdp_curve(history, orders=orders), delta=delta)
            return float(eps)
        from opacus.accountants import create_accountant

        acc = create_accountant(mechanism=accountant)
        acc.history = [tuple(entry) for entry in history]
        return float(acc.get_epsilon(delta=delta))


def rho_epsilon(rho: float, delta: float) -> float:
    """Epsilon of a ``rho``-zCDP mechanism at ``delta`` (the RDP accountant's conversion)."""
    from opacus.accountants.analysis.rdp import get_privacy_spent

    if rho <= 0:
        return 0.0
    orders = rdp_orders()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eps, _ = get_privacy_spent(orders=orders, rdp=[rho * a for a in orders], delta=delta)
    return float(eps)


def rho_for_epsilon(epsilon: float, delta: float) -> float:
    """The largest zCDP ``rho`` whose epsilon at ``delta`` is at most ``epsilon``."""
    low, high = _RHO_RANGE
    for _ in range(100):
        mid = math.sqrt(low * high)
        if rho_epsilon(mid, delta) <= epsilon:
            low = mid
        else:
            high = mid
        if high / low < 1.0 + 1e-6:
            break
    return low


def gaussian_multiplier(rho: float) -> float:
    """The noise multiplier of a Gaussian mechanism that is ``rho``-zCDP."""
    return 1.0 / math.sqrt(2.0 * rho)


class PrivateRun:
    """What one DP training run may spend and has spent (see the module docstring)."""

    def __init__(self, privacy: Privacy, n_rows: int, *, unit: str = "row") -> None:
        """``n_rows``: the units of privacy (rows, or groups of rows: ``unit`` names them, e.g. "entity")."""
        privacy.check_rows(n_rows)
        self.privacy = privacy
        self.n_rows = int(n_rows)
        self.unit = str(unit)
        self.history: list[tuple[float, float, int]] = []
        self.mechanisms: list[dict[str, Any]] = []
        self.delta_threshold = 0.0
        self.exponential_used = False
        self.notes: list[str] = []
        self.extra: dict[str, Any] = {}  # private statistics a model needs again on resume (JSON-safe)
        self._rho_total: float | None = None

    # -- planning -------------------------------------------------------------------------
    def reserve_threshold_delta(self) -> float:
        """Set aside the delta of private category selection (before anything is spent)."""
        if self.history:
            raise RuntimeError("the threshold delta must be reserved before any mechanism runs")
        self.delta_threshold = THRESHOLD_DELTA_SHARE * self.privacy.delta
        self._rho_total = None
        return self.delta_threshold

    @property
    def delta_accountant(self) -> float:
        """The delta the accountant converts at: the target delta less the selection's."""
        return self.privacy.delta - self.delta_threshold

    @property
    def rho_total(self) -> float:
        """The zCDP budget equivalent to the (epsilon, accountant delta) target."""
        if self._rho_total is None:
            self._rho_total = rho_for_epsilon(self.privacy.epsilon, self.delta_accountant)
        return self._rho_total

    @property
    def accountant(self) -> str:
        """The accountant in use: the configured one, RDP once an exponential mechanism ran."""
        return "rdp" if self.exponential_used else self.privacy.accountant

    def rho_spent(self) -> float:
        """zCDP spent by the full-batch (sample rate 1) entries: ``steps / (2 sigma^2)``."""
        return sum(steps / (2.0 * sigma**2) for sigma, rate, steps in self.history if rate >= 1.0)

    # -- spending -------------------------------------------------------------------------
    def spend_gaussian(self, name: str, *, rho: float, share: float, **detail: Any) -> float:
        """Record a Gaussian mechanism of budget ``rho`` on all rows; returns its noise multiplier."""
        if not rho > 0:
            raise ValueError(f"{name}: rho must be positive")
        sigma = gaussian_multiplier(rho)
        self.history.append((sigma, 1.0, 1))
        self.mechanisms.append({"name": name, "kind": "gaussian", "rho": rho, "noise_multiplier": sigma, "budget_share": share, **detail})
        return sigma

    def spend_exponential(self, name: str, *, epsilon: float, count: int, share: float, **detail: Any) -> None:
        """Record ``count`` exponential mechanisms of ``epsilon`` each (as zCDP ``count * eps^2 / 8``)."""
        rho = count * epsilon**2 / 8.0
        if self.privacy.accountant != "rdp" and not self.exponential_used:
            self.notes.append(f"{name} is accounted in zCDP/RDP: the run uses the RDP accountant instead of {self.privacy.accountant!r}")
        self.exponential_used = True
        self.history.append((gaussian_multiplier(rho), 1.0, 1))
        self.mechanisms.append(
            {"name": name, "kind": "exponential", "epsilon_each": epsilon, "count": count, "rho": rho, "budget_share": share, **detail}
        )

    def record_threshold(self, name: str, *, columns: list[str]) -> None:
        """Record the delta of private category selection (reserved beforehand)."""
        self.mechanisms.append({"name": name, "kind": "threshold", "delta": self.delta_threshold, "columns": columns})

    # -- DP-SGD ---------------------------------------------------------------------------
    def sgd_noise(self, *, sample_rate: float, steps: int) -> float:
        """DP-SGD's noise multiplier: the smallest (within 1% of epsilon) that keeps the
        accountant's epsilon over the whole run, ``steps`` DP-SGD steps included, within the target."""
        for m in self.mechanisms:  # a resumed run keeps the plan it started with
            if m["kind"] == "subsampled_gaussian" and m["sample_rate"] == sample_rate and m["planned_steps"] == steps:
                return float(m["noise_multiplier"])
        target, delta, kind = self.privacy.epsilon, self.delta_accountant, self.accountant

        def eps(sigma: float) -> float:
            return accountant_epsilon([*self.history, (sigma, sample_rate, steps)], delta=delta, accountant=kind)

        # The answer bracketed within a factor 2, walking from sigma 1 (up while the noise is too
        # little, then down while it is enough), then geometric bisection: the accountant is
        # asked only about noises near the answer (one far below it at a large sample rate, or
        # far above it, costs it seconds per call).
        floor, ceiling = _SIGMA_RANGE
        spent = accountant_epsilon(self.history, delta=delta, accountant=kind)
        high = 1.0
        while spent < target and high < ceiling and eps(high) > target:
            high *= 2
        high = min(high, ceiling)
        while high / 2 >= floor and eps(high / 2) <= target:
            high /= 2
        low, eps_high = max(high / 2, floor), eps(high)
        if eps_high > target:
            raise ConfigError(
                f"epsilon={target:g} is exhausted before DP-SGD can take {steps} steps (already spent: {spent:.3g}); "
                "raise epsilon, lower preprocessing_share, or declare bounds/categories"
            )
        for _ in range(60):
            if target - eps_high <= 0.01 * target or high / low < 1.0 + 1e-4:
                break
            mid = math.sqrt(low * high)
            value = eps(mid)
            if value <= target:
                high, eps_high = mid, value
            else:
                low = mid
        self.mechanisms.append(
            {
                "name": "DP-SGD",
                "kind": "subsampled_gaussian",
                "noise_multiplier": high,
                "sample_rate": sample_rate,
                "planned_steps": steps,
                "max_grad_norm": self.privacy.max_grad_norm,
                "budget_share": max(0.0, 1.0 - sum(m.get("budget_share", 0.0) for m in self.mechanisms)),
            }
        )
        return high

    def sgd_steps(self, *, noise_multiplier: float, sample_rate: float) -> int:
        """DP-SGD steps recorded so far with this noise multiplier and sample rate (earlier attempts included)."""
        return sum(t for sigma, q, t in self.history if sigma == noise_multiplier and q == sample_rate)

    def sgd_accountant(self) -> Any:
        """An Opacus accountant whose history *is* this run's (its steps land here)."""
        from opacus.accountants import create_accountant

        acc = create_accountant(mechanism=self.accountant)
        acc.history = self.history
        return acc

    # -- results --------------------------------------------------------------------------
    def epsilon_spent(self) -> float:
        """Epsilon of everything run so far, from the accountant."""
        return accountant_epsilon(self.history, delta=self.delta_accountant, accountant=self.accountant)

    def report(self) -> dict[str, Any]:
        """The manifest's ``privacy`` section."""
        mechanisms = []
        for m in self.mechanisms:
            m = dict(m)
            if m["kind"] == "subsampled_gaussian":
                m["steps"] = self.sgd_steps(noise_multiplier=m["noise_multiplier"], sample_rate=m["sample_rate"])
                entry = [(m["noise_multiplier"], m["sample_rate"], m["steps"])] if m["steps"] else []
            elif m["kind"] == "threshold":
                mechanisms.append(m)
                continue
            else:
                entry = [(gaussian_multiplier(m["rho"]), 1.0, 1)]
            m["epsilon_alone"] = accountant_epsilon(entry, delta=self.delta_accountant, accountant=self.accountant)
            mechanisms.append(m)
        sgd = next((m for m in mechanisms if m["kind"] == "subsampled_gaussian"), None)
        return {
            "mechanism": f"differential privacy (add/remove one {self.unit})",
            "epsilon": self.epsilon_spent(),
            "delta": self.delta_accountant + self.delta_threshold,
            "epsilon_target": self.privacy.epsilon,
            "delta_target": self.privacy.delta,
            "accountant": self.accountant,
            "accountant_delta": self.delta_accountant,
            "noise_multiplier": None if sgd is None else sgd["noise_multiplier"],
            "steps": None if sgd is None else sgd["steps"],
            "sample_rate": None if sgd is None else sgd["sample_rate"],
            "max_grad_norm": None if sgd is None else self.privacy.max_grad_norm,
            "history": [list(entry) for entry in self.history],
            "mechanisms": mechanisms,
            "config": self.privacy.to_dict(),
            "n_rows_public": True,
            "notes": list(self.notes),
        }

    # -- checkpoints ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-safe state: a resumed run continues this budget (it never re-measures)."""
        return {
            "n_rows": self.n_rows,
            "unit": self.unit,
            "history": [list(entry) for entry in self.history],
            "mechanisms": self.mechanisms,
            "delta_threshold": self.delta_threshold,
            "exponential_used": self.exponential_used,
            "notes": self.notes,
            "extra": self.extra,
        }

    @classmethod
    def from_state(cls, privacy: Privacy, state: dict[str, Any]) -> PrivateRun:
        run = cls(privacy, int(state["n_rows"]), unit=str(state.get("unit", "row")))
        run.history = [(float(s), float(q), int(t)) for s, q, t in state["history"]]
        run.mechanisms = [dict(m) for m in state["mechanisms"]]
        run.delta_threshold = float(state["delta_threshold"])
        run.exponential_used = bool(state["exponential_used"])
        run.notes = list(state["notes"])
        run.extra = dict(state.get("extra") or {})
        return run


__all__ = ["EXTRA_ORDERS", "THRESHOLD_DELTA_SHARE", "PrivateRun", "accountant_epsilon", "gaussian_multiplier", "rdp_curve", "rdp_orders", "rho_epsilon", "rho_for_epsilon"]
