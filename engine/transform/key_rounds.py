"""Identifier keys that stay unique across the generation rounds of one sampling call.

A model generates large samples in rounds (``engine.models.base.SAMPLE_ROUND_ROWS`` rows at
most, to bound memory), and each round's inverse transform regenerates identifier keys from the
start of their format (``engine.transform.identifiers``). ``KeyRounds`` follows one sampling
call (one ``sample`` or ``iter_samples`` call, one ``stream``) and continues each round's keys
after the previous round's, so that no key repeats within the call:

- the first round's keys are left exactly as generated, so a call that fits in one round
  gives the same rows as it always did;
- integer keys (plain runs and spaced ordered keys) of a later round are shifted past the
  largest key handed out so far: every key of a round is larger than every key of the rounds
  before it; a key that would pass the dtype's maximum raises ``InputError`` naming the column;
- string keys continue the counter of their prefix and shape (longer by digits once the
  counter outgrows the shape).

Ordered keys (``engine.transform.key_order``) keep their learned order within each round;
across rounds the order is that of the rounds (integer keys) or of the counter (string keys),
so their relation to the column they follow holds inside a round, not across round boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from engine.transform.columns.passthrough import IdentifierEncoder


class KeyRounds:
    """The keys one sampling call has handed out so far, per identifier column."""

    def __init__(self, encoders: Sequence[IdentifierEncoder]) -> None:
        self._encoders = tuple(encoders)
        self._cursors: dict[str, int | None] = {enc.name: None for enc in self._encoders}

    def continue_round(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame``, one round of generated rows, with its keys moved past the earlier rounds'.

        Call it once per round, in generation order, before rows are filtered by conditions
        (a dropped row's key is simply never seen). The first round comes back unchanged.
        """
        first = all(cursor is None for cursor in self._cursors.values())
        moved = []
        for enc in self._encoders:
            keys, self._cursors[enc.name] = enc.continue_keys(frame.get_column(enc.name), self._cursors[enc.name])
            moved.append(keys)
        return frame if first else frame.with_columns(moved)


__all__ = ["KeyRounds"]
