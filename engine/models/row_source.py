"""Rows on demand from a model's generator: fixed rounds, rejection with adaptive rounds.

``RowSource`` wraps ``generate(k) -> DataFrame`` and hands out exactly the rows asked for,
keeping any surplus for the next request. Without conditions every round generates
``round_rows`` rows. With conditions every round is sized from the acceptance rate observed
so far (rows needed for one round's worth of accepted rows, with a margin, between
``min_round`` and ``max_round``); rows that fail the condition are dropped.

Round sizes depend only on what was generated and accepted, never on how the rows are taken
out, so ``take(n)`` and n rows taken in any number of pieces are the same rows.

When the acceptance rate makes a request hopeless, generation stops with an
``InfeasibleConditionError`` naming the condition that rejects the most rows and the
observed rates: once ``probe_rows`` rows were tried with nothing accepted, or when, at the
observed rate, the rows generated in all would exceed the budget: ``budget_per_row`` times
the rows requested, and at least ``min_budget``. With the defaults a request for 100 rows
may cost up to a million generated rows (a rate down to 0.01%), one for a million rows up to
a hundred million (1%).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import polars as pl

from engine.models.conditions import ConditionSet, InfeasibleConditionError

MIN_ROUND = 256
MAX_ROUND = 262_144
PROBE_ROWS = 20_000
MIN_BUDGET = 1_000_000
BUDGET_PER_ROW = 100
MARGIN = 1.2


class RowSource:
    """Exact-size takes from a generator, with a condition filter and a surplus buffer."""

    def __init__(
        self,
        generate: Callable[[int], pl.DataFrame],
        *,
        conditions: ConditionSet | None,
        schema: pl.Schema,
        round_rows: int,
        min_round: int = MIN_ROUND,
        max_round: int = MAX_ROUND,
        probe_rows: int = PROBE_ROWS,
        min_budget: int = MIN_BUDGET,
        budget_per_row: int = BUDGET_PER_ROW,
    ) -> None:
        self._generate = generate
        self.conditions = conditions
        self.schema = schema
        self.round_rows = max(1, int(round_rows))
        self.min_round = min_round
        self.max_round = max(max_round, self.round_rows)
        self.probe_rows = probe_rows
        self.min_budget = min_budget
        self.budget_per_row = budget_per_row
        self.requested = 0
        self._buffer: list[pl.DataFrame] = []
        self._buffered = 0
        self.generated = 0
        self.accepted = 0
        self._term_passes = [0] * (len(conditions.conjuncts) if conditions else 0)

    @property
    def acceptance_rate(self) -> float | None:
        """Share of generated rows that met the conditions so far (None before any)."""
        return self.accepted / self.generated if self.generated else None

    def take(self, n: int) -> pl.DataFrame:
        """Exactly ``n`` rows (in generation order)."""
        self.requested += n
        while self._buffered < n:
            self._round()
            self._check_feasible(n - self._buffered)
        return self._pop(n)

    def _pop(self, n: int) -> pl.DataFrame:
        if n == 0:
            return pl.DataFrame(schema=self.schema)
        frame = self._buffer[0] if len(self._buffer) == 1 else pl.concat(self._buffer, rechunk=False)
        out, rest = frame.slice(0, n), frame.slice(n)
        self._buffer = [rest] if rest.height else []
        self._buffered = rest.height
        return out.rechunk() if out.n_chunks() > 1 else out

    def _round(self) -> None:
        if self.conditions is None:
            frame = self._generate(self.round_rows)
            self.generated += frame.height
            self.accepted += frame.height
            self._push(frame)
            return
        size = self._round_size()
        frame = self._generate(size)
        self.generated += frame.height
        passes = frame.select(
            *(c.expr.fill_null(False).sum().alias(str(i)) for i, c in enumerate(self.conditions.conjuncts)),
            self.conditions.expr.sum().alias("all"),
        ).row(0)
        for i, count in enumerate(passes[:-1]):
            self._term_passes[i] += int(count)
        if passes[-1]:
            kept = frame.filter(self.conditions.expr)
            self.accepted += kept.height
            self._push(kept)

    def _push(self, frame: pl.DataFrame) -> None:
        if frame.height:
            self._buffer.append(frame)
            self._buffered += frame.height

    def _round_size(self) -> int:
        rate = self.acceptance_rate
        if rate is None:
            want = self.round_rows * MARGIN
        elif rate == 0:
            want = self.generated * 4  # nothing yet: grow fast towards the probe size
        else:
            want = self.round_rows / rate * MARGIN
        return int(min(self.max_round, max(self.min_round, math.ceil(want))))

    def _check_feasible(self, need: int) -> None:
        if self.conditions is None or need <= 0:
            return
        rate = self.accepted / self.generated if self.generated else 0.0
        budget = max(self.min_budget, self.budget_per_row * self.requested)
        if self.accepted == 0:
            if self.generated < self.probe_rows:
                return
            reason = f"no row met them in {self.generated:,} tries"
        elif self.generated + need / rate <= budget:
            return
        else:
            reason = f"at this rate the {need:,} rows still needed would take about {need / rate:,.0f} more tries (budget {budget:,})"
        rates = [p / self.generated for p in self._term_passes]
        worst = min(range(len(rates)), key=rates.__getitem__)
        term = self.conditions.conjuncts[worst]
        detail = ""
        if len(rates) > 1:
            detail = f"; all conditions together: {_pct(rate)} ({self.accepted:,} rows)"
        raise InfeasibleConditionError(
            f"the conditions cannot be met by sampling: condition `{term.text}` was satisfied by "
            f"{self._term_passes[worst]:,} of {self.generated:,} generated rows (acceptance rate {_pct(rates[worst])})"
            f"{detail}; {reason}. Relax the condition, ask for fewer rows, or check that the training data holds such rows.",
            condition=term.text,
            acceptance_rate=rate,
        )


def _pct(rate: float) -> str:
    return f"{rate * 100:.3g}%"


__all__ = ["MAX_ROUND", "MIN_ROUND", "PROBE_ROWS", "RowSource"]
