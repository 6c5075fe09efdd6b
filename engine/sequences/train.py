"""``engine.train_sequences``: a long table of histories in, a fitted ``SequenceModel`` out.

The long table is checked and sorted (``engine.sequences.checks``), split into an entity table
and a step table (``engine.sequences.layout``) and each is learned by an ARGN: the entity table
with its context columns first (so histories can be drawn for a given context), the step table
with each step's context first and generation order "table" (a step is always drawn given its
context; no random orders to learn). This is the related-tables model's construction (a
parent's row with its children count, a child drawn given its parent's row), with time order
added: the step's position, its calendar, the gap since the previous step and the previous
steps' values are the child's context.

Long histories are learned from windows: past ``MAX_STEP_ROWS`` steps, the step model trains
on random windows of ``WINDOW`` consecutive steps (each row still carries its position, its
lags and its entity's length, so a window is learned where it sits in the history); generation
then walks the whole history in one pass, the lags carrying the state from window to window.

With ``privacy=`` the entity is the unit: the entity table (one row per entity) is trained with
row-level DP-SGD, the step table with the rows grouped by entity (``RowGroups``: an entity is
Poisson-sampled and clipped as a whole, at most ``max_length`` rows); the budget is split
equally between the two runs (``engine.relational.private.split_budget``) and
``privacy_spent_`` reports both and the total. Nothing outside the two accounted runs reads the
rows: the layout follows the dtypes (no columns drawn as changes, which would be chosen by the
rows' correlations), no personal-data scan, and what sampling needs besides the models (length
range, smallest gap, fill values) comes from public facts and the private models. The
truncation at ``max_length`` is the public bound on an entity's rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from engine.errors import ConfigError
from engine.seeds import derive_seed
from engine.sequences.checks import LongTable, prepare_long
from engine.sequences.layout import (
    CTX, DOW, GAP, HOUR, LENGTH, SHARE, START, STEP, SequenceLayout, build_layout, column_types, entity_frame, lag_name,
    step_frame, time_units,
)

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Progress
    from engine.sequences.model import SequenceModel

MODELS = ("auto", "argn")
# Past this many steps the step model trains on random windows of the histories.
MAX_STEP_ROWS = 200_000
WINDOW = 512
# Share of the time budget the entity table's model gets (it has one row per entity).
ENTITY_TIME_SHARE = 0.15
ENTITIES, STEPS = "entities", "steps"


def train_sequences(
    frame: Any,
    *,
    entity: str,
    order_by: str,
    context: list[str] | None = None,
    model: str = "auto",
    privacy: Any = None,
    seed: int = 0,
    max_length: int | None = None,
    max_training_time_s: float | None = None,
    device: str = "auto",
    on_progress: Callable[[Progress], None] | None = None,
) -> SequenceModel:
    """Fit a model of the histories in the long table ``frame`` (polars or pandas).

    ``entity``: the column naming whose history a row belongs to; ``order_by``: the time (a
    date, datetime, number, or text holding dates/datetimes in one time zone). ``context``:
    the entity's static columns (None: those constant within every entity). ``model``: "auto"
    or "argn" (both ARGN: the model that draws a row given its context). ``max_length``: the
    most steps kept per history (the privacy protection; default
    ``engine.sequences.checks.DEFAULT_MAX_LENGTH``). ``max_training_time_s``: the time for
    both models together. ``privacy``: an ``engine.Privacy``: the model is (epsilon, delta)-DP
    for adding or removing one entity with its whole history (see the module doc). The model's
    ``notes_`` say what was inferred, sorted, truncated.
    """
    from engine.privacy.config import Privacy
    from engine.transform.transformer import as_polars

    privacy = Privacy.coerce(privacy)
    if model not in MODELS:
        raise ConfigError(f"model must be one of {list(MODELS)} for sequences (ARGN draws each step given its context); got {model!r}")
    if max_training_time_s is not None and (isinstance(max_training_time_s, bool) or not isinstance(max_training_time_s, (int, float))
                                            or not max_training_time_s > 0):
        raise ConfigError(f"max_training_time_s must be a positive number of seconds or None; got {max_training_time_s!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer; got {seed!r}")
    long = prepare_long(as_polars(frame), entity=entity, order_by=order_by, context=context, max_length=max_length)
    if privacy is not None and privacy.delta >= 1.0 / max(1, long.frame.get_column(entity).n_unique()):
        raise ConfigError(f"delta={privacy.delta:g} is not below 1 / entities; a delta that large permits publishing whole "
                          "histories. Pass a smaller delta")
    if privacy is not None and long.frame.height > MAX_STEP_ROWS:
        raise ConfigError(f"{long.frame.height:,} steps: under differential privacy every step is trained (no windows), at most "
                          f"{MAX_STEP_ROWS:,}; lower max_length (each entity's steps are then cut to it)")
    fakes: dict[str, str] = {}
    if privacy is None:  # under DP the rows are not scanned for personal data (an unaccounted read), as engine.train
        long, fakes = _personal_data(long)
    private = privacy is not None
    layout = build_layout(long, step_context=(), fakes=tuple(fakes), private=private)
    entities = entity_frame(long, layout)
    budgets = _budgets(privacy)
    times = _time_split(max_training_time_s)
    params: dict[str, Any] = {"device": device, "on_progress": on_progress}
    entity_model = _fit_entities(entities, layout, seed=seed, time_s=times[0], privacy=budgets.get(ENTITIES),
                                 declared=privacy, fakes={c: k for c, k in fakes.items() if c in layout.context}, **params)
    layout = replace(layout, step_context=tuple(_usable(entity_model, layout.context)))
    layout = build_layout(long, step_context=layout.step_context, fakes=tuple(fakes), private=private)
    steps = step_frame(long, layout)
    steps, windows = _windows(steps, long, seed=seed)
    step_model = _fit_steps(steps, long, layout, entity_model, seed=seed, time_s=times[1], privacy=budgets.get(STEPS),
                            declared=privacy, fakes={c: k for c, k in fakes.items() if c in layout.steps}, **params)
    notes = list(long.notes)
    if windows:
        notes.append(f"the {long.frame.height:,} steps are more than {MAX_STEP_ROWS:,}: the step model trained on "
                     f"{windows} random windows of {WINDOW} steps ({steps.height:,} steps), each with its position as context")
    spent = None if privacy is None else _report(privacy, entity_model, step_model, budgets, long)
    from engine.sequences.model import SequenceModel

    return SequenceModel(layout=layout, models={ENTITIES: entity_model, STEPS: step_model},
                         stats=_stats(long, layout, entities) if not private else _private_stats(layout, entity_model, step_model,
                                                                                                  entities.height),
                         notes=tuple(notes), seed=seed, privacy=spent)


def _personal_data(long: LongTable) -> tuple[LongTable, dict[str, str]]:
    """PII detection's treatments, as ``engine.train`` carries them out: a column to drop (US
    SSNs) leaves the model and the output (said in the notes), a column to fake is drawn as new
    fakes of its kind (column -> kind)."""
    from engine.training import _treat_personal_data

    own = [*long.context, *long.steps]
    kept, treated = _treat_personal_data(long.frame.select(own), {})
    gone = [c for c in own if c not in kept.columns]
    fakes = dict((treated.get("transformer_params") or {}).get("fake_columns") or {})
    if not gone:
        return long, fakes
    notes = (*long.notes, *(f"column {c!r} holds personal data to drop: it is left out of the model and the output" for c in gone))
    return replace(long, frame=long.frame.drop(gone), context=tuple(c for c in long.context if c not in gone),
                   steps=tuple(c for c in long.steps if c not in gone), notes=notes,
                   dtypes={c: d for c, d in long.dtypes.items() if c not in gone}), fakes


def _time_split(total: float | None) -> tuple[float | None, float | None]:
    if total is None:
        return None, None
    first = max(1.0, total * ENTITY_TIME_SHARE)
    return first, max(1.0, total - first)


def _budgets(privacy: Any) -> dict[str, tuple[float, float]]:
    if privacy is None:
        return {}
    from engine.relational.private import split_budget

    return split_budget(privacy, [ENTITIES, STEPS])


def _private(privacy: Any, budget: tuple[float, float], columns: list[str], bounds: dict[str, Any],
             categories: dict[str, Any]) -> Any:
    """A run's ``Privacy``: its budget share, the user's declarations for its columns, the model's own."""
    present = set(columns)
    own_bounds = {c: v for c, v in privacy.bounds.items() if c in present} | bounds
    own_categories = {c: v for c, v in privacy.categories.items() if c in present and c not in own_bounds} | categories
    own_bounds = {c: v for c, v in own_bounds.items() if c not in categories}
    return replace(privacy, epsilon=budget[0], delta=budget[1], bounds=own_bounds, categories=own_categories)


def _fit_entities(entities: pl.DataFrame, layout: SequenceLayout, *, seed: int, time_s: float | None, privacy: Any,
                  declared: Any, fakes: dict[str, str], device: str, on_progress: Any) -> Any:
    """The entity table's ARGN: context first (drawn given a fixed context), then id, length, start."""
    from engine.models.argn import ARGN

    params: dict[str, Any] = {"device": device, "on_progress": on_progress}
    if fakes:
        params["transformer_params"] = {"fake_columns": fakes}
    if time_s is not None:
        params["max_training_time_s"] = time_s
    types = {layout.entity: "identifier", LENGTH: "continuous"} | {name: "continuous" for name in layout.entity_firsts}
    types |= {name: "continuous" for name in layout.entity_levels}
    if declared is not None and privacy is not None:
        params["privacy"] = _private(declared, privacy, entities.columns, {LENGTH: (1, layout.max_length)}, {})
    return ARGN(seed=derive_seed(seed, "sequences", ENTITIES) % 2**32, generation_order="table", column_types=types,
                **params).fit(entities)


def _usable(entity_model: Any, context: tuple[str, ...]) -> list[str]:
    """The context columns the step model can read (numbers, dates, booleans, categories of few levels)."""
    from engine.relational.layout import usable_columns

    kinds = {name: str(kind) for name, kind in entity_model.transformer_.kinds_.items()}
    levels = {name: len(values) for name, values in entity_model._domains().items()}
    return usable_columns(kinds, levels, [c for c in context if c in kinds])


def _windows(steps: pl.DataFrame, long: LongTable, *, seed: int) -> tuple[pl.DataFrame, int]:
    """All steps, or past ``MAX_STEP_ROWS`` random windows of ``WINDOW`` steps (seeded), and how many windows."""
    if steps.height <= MAX_STEP_ROWS:
        return steps, 0
    rng = np.random.default_rng(derive_seed(seed, "sequences", "windows"))
    lengths = long.frame.group_by(long.entity, maintain_order=True).len().get_column("len").to_numpy().astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    count = MAX_STEP_ROWS // WINDOW
    weights = np.maximum(lengths - WINDOW + 1, 1).astype(np.float64)
    chosen = rng.choice(lengths.size, size=count, p=weights / weights.sum())
    starts = offsets[chosen] + (rng.random(count) * weights[chosen]).astype(np.int64)
    ends = np.minimum(starts + WINDOW, offsets[chosen] + lengths[chosen])
    rows = np.unique(np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in zip(starts, ends)]))
    return steps[rows], count


def _fit_steps(steps: pl.DataFrame, long: LongTable, layout: SequenceLayout, entity_model: Any, *, seed: int,
               time_s: float | None, privacy: Any, declared: Any, fakes: dict[str, str], device: str, on_progress: Any) -> Any:
    """The step table's ARGN (generation order "table": the step's context first)."""
    from engine.models.argn import ARGN

    params: dict[str, Any] = {"device": device, "on_progress": on_progress}
    if fakes:
        params["transformer_params"] = {"fake_columns": fakes}
    if time_s is not None:
        params["max_training_time_s"] = time_s
    types = column_types(long, layout, steps, private=declared is not None)
    groups = None
    if declared is not None and privacy is not None:
        from engine.privacy.groups import RowGroups
        from engine.relational.private import context_declarations

        bounds, categories = context_declarations(entity_model, {CTX + c: c for c in layout.step_context} | {LENGTH: LENGTH})
        bounds |= {STEP: (0, layout.max_length - 1), SHARE: (0.0, 1.0), LENGTH: (1, layout.max_length)}
        categories |= {DOW: list(range(1, 8))} if DOW in layout.calendar else {}
        categories |= {HOUR: list(range(24))} if HOUR in layout.calendar else {}
        for j in range(1, layout.lags + 1):  # a lag is declared as its source column is
            bounds |= {lag_name(j, c): v for c, v in declared.bounds.items() if c in layout.lagged}
            categories |= {lag_name(j, c): v for c, v in declared.categories.items() if c in layout.lagged}
        params["privacy"] = _private(declared, privacy, steps.columns, bounds, categories)
        ids = long.frame.get_column(layout.entity)
        groups = RowGroups.from_labels(ids, max_rows=layout.max_length)
    argn = ARGN(seed=derive_seed(seed, "sequences", STEPS) % 2**32, generation_order="table", random_order_share=0.0,
                fine_inputs=True, column_types=types, **params)
    return argn.fit(steps, groups=groups) if groups is not None else argn.fit(steps)


def _stats(long: LongTable, layout: SequenceLayout, entities: pl.DataFrame) -> dict[str, Any]:
    """What sampling needs besides the models: the trained length range, the modal and smallest gaps, the modal start."""
    lengths = entities.get_column(LENGTH)
    units = time_units(long.frame.get_column(layout.order_by), layout)
    ids = long.frame.get_column(layout.entity)
    same = (ids == ids.shift(1)).fill_null(False).to_numpy().astype(bool)  # row i continues row i - 1's history
    diffs = np.diff(units)[same[1:]]
    starts = time_units(entities.get_column(START), layout)
    if diffs.size:
        values, counts = np.unique(diffs, return_counts=True)
        fill_gap, min_gap = float(values[np.argmax(counts)]), float(diffs.min())
    else:
        fill_gap = min_gap = 1.0
    values, counts = np.unique(starts, return_counts=True)
    return {
        "entities": int(entities.height), "steps": int(long.frame.height),
        "min_length": int(lengths.min()), "max_length": int(lengths.max()),
        "fill_gap": fill_gap, "min_gap": min_gap, "fill_start": float(values[np.argmax(counts)]),
    }


def _private_stats(layout: SequenceLayout, entity_model: Any, step_model: Any, entities: int) -> dict[str, Any]:
    """``_stats`` under DP, from public facts and the private models only (post-processing): lengths
    from 1 to ``max_length``, the smallest gap one unit of the time (a day, a microsecond, one for
    whole numbers), the fill gap and start the private runs' fill values (their private medians)."""
    from engine.privacy.private_statistics import fill_values

    kind, parsed = layout.time.kind, layout.time.parsed
    min_gap = 1.0 if kind == "date" or (kind == "number" and parsed.is_integer()) else 1e-6 if kind == "datetime" else 0.0
    gap = fill_values(step_model.transformer_).get(GAP)
    start = fill_values(entity_model.transformer_).get(START)
    fill_start = time_units(pl.Series([start]).cast(parsed, strict=False), layout)[0] if start is not None else 0.0
    return {
        "entities": int(entities), "steps": None, "min_length": 1, "max_length": int(layout.max_length),
        "fill_gap": max(float(gap), min_gap) if isinstance(gap, (int, float)) else max(min_gap, 1.0),
        "min_gap": min_gap, "fill_start": float(fill_start) if np.isfinite(fill_start) else 0.0,
    }


def _report(privacy: Any, entity_model: Any, step_model: Any, budgets: dict[str, tuple[float, float]], long: LongTable) -> dict[str, Any]:
    from engine.relational.private import schema_report

    n = int(long.frame.get_column(long.entity).n_unique())
    report = schema_report(privacy, {ENTITIES: entity_model.privacy_report_, STEPS: step_model.privacy_report_}, budgets=budgets,
                           entities={ENTITIES: n, STEPS: n}, caps={STEPS: long.max_length},
                           max_rows={ENTITIES: 1, STEPS: long.max_length})
    report["unit"] = "entity (one entity with its whole history)"
    return report


__all__ = ["MAX_STEP_ROWS", "WINDOW", "train_sequences"]
