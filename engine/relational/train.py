"""``engine.train_tables``: a schema of related tables in, a fitted ``RelationalModel`` out.

Each table is learned as one flat frame (``engine.relational.layout``), parents before
children: a root table by the flat model ``model`` names (``engine.train``: "auto" follows
the table's profile), a child table by an ARGN trained with its context parent's columns
first (generation order "table", no random orders), so its rows are drawn given the parent
row they belong to. The number of children under a parent row is a column of the parent's own
model, learned jointly with the parent's attributes (HMA's idea of count columns, here with
the parent's whole joint distribution rather than a copula), and read back at sampling time.

With ``privacy=`` every table's run is differentially private with the root entity (a root row
with all its descendants) as the unit; ``engine.relational.private`` holds the rules (a forest
of keys, children per parent truncated at ``max_children``, rows grouped by entity, the budget
split between the tables). Without it nothing of that runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import polars as pl

from engine.errors import ConfigError
from engine.relational.checks import check_tables
from engine.relational.layout import TableLayout, count_column, layout_table, learned_frame, usable_columns
from engine.relational.ordered import check_order_by, fit_ordered, key_format
from engine.relational.plan import build_plan
from engine.relational.private import (
    EntityTables,
    check_declarations,
    check_forest,
    context_declarations,
    resolve_max_children,
    schema_report,
    split_budget,
    table_privacy,
    truncate,
)
from engine.relational.schema import Schema
from engine.seeds import derive_seed

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Progress, Synthesizer
    from engine.relational.model import RelationalModel


def train_tables(
    tables: Mapping[str, Any],
    *,
    keys: Any = None,
    model: str = "auto",
    privacy: Any = None,
    seed: int = 0,
    orphans: str = "refuse",
    context: Mapping[str, str] | None = None,
    max_training_time_s: float | None = None,
    device: str = "auto",
    on_progress: Callable[[Progress], None] | None = None,
    max_children: int | Mapping[str, int] | None = None,
    order_by: Mapping[str, str] | None = None,
) -> RelationalModel:
    """Fit a model of the related ``tables`` (``{name: frame}``, polars or pandas).

    ``keys``: ``{"primary_keys": {table: column}, "foreign_keys": ["child.fk -> parent.pk", ...]}``
    (a ``Schema`` too); None: the keys ``engine.profile_tables`` infers at or above its
    reporting threshold (the model's ``schema_`` marks them inferred). ``model``: the flat
    model of the root tables ("auto": by each table's profile); child tables are always ARGN,
    the model that draws rows given a parent row. ``orphans``: child rows whose key has no
    parent: "refuse" (a clear error counting them), "drop" or "keep" (see
    ``engine.relational.check_tables``). ``context``: ``{child: parent table or key column}``
    overrides the context parent the plan picks. ``max_training_time_s``: the whole schema's
    time, shared between the tables by their rows. ``privacy``: an ``engine.Privacy`` (or its
    dict): the model is (epsilon, delta)-DP for adding or removing one root entity with all its
    rows (``engine.relational.private``: keys must be declared and form a forest; declared
    ``bounds``/``categories`` are keyed ``"table.column"``); the model's ``privacy_spent_`` says
    what each table spent and the total, ``truncation_`` how many rows ``max_children`` dropped.
    ``max_children`` (DP only): the most rows of a child table kept per parent row, an int or
    ``{child table: int}`` (default ``engine.relational.private.DEFAULT_MAX_CHILDREN``); the
    extra rows are dropped at random (seeded). ``order_by``: ``{child table: time column}``
    makes each named child table a history per row of its context parent (the parent's columns
    its context; see ``engine.relational.ordered``): learned and drawn by the sequence model
    (time gaps, calendar, lags), as many steps under a parent row as its generated count says.
    """
    from engine.privacy.config import Privacy
    from engine.transform.transformer import as_polars

    privacy = Privacy.coerce(privacy)
    if privacy is None and max_children is not None:
        raise ConfigError("max_children bounds the rows per entity under differential privacy; pass it with privacy= only")
    if privacy is not None:
        from engine.relational.private import check_options

        check_options(keys=keys, orphans=orphans)
    if not isinstance(tables, Mapping) or not tables:
        raise ConfigError("tables must be a non-empty mapping of table name -> frame")
    if max_training_time_s is not None and not (isinstance(max_training_time_s, (int, float)) and max_training_time_s > 0):
        raise ConfigError(f"max_training_time_s must be a positive number of seconds or None; got {max_training_time_s!r}")
    frames = {str(name): as_polars(frame) for name, frame in tables.items()}
    schema = _schema(keys, frames)
    checked = check_tables(schema, frames, orphans=orphans)  # type: ignore[arg-type]
    frames = checked.frames
    plan = build_plan(schema, frames, context=context)
    ordered = check_order_by(order_by, schema=schema, plan=plan, frames=frames, privacy=privacy)
    entities = None
    if privacy is not None:
        entities = _entity_tables(schema, plan, frames, privacy=privacy, max_children=max_children, seed=seed)
        frames = entities.frames
    total_rows = sum(frame.height for frame in frames.values()) or 1

    from engine.relational.model import RelationalModel

    layouts: dict[str, TableLayout] = {}
    learned: dict[str, pl.DataFrame] = {}
    usable: dict[str, list[str]] = {}
    models: dict[str, Synthesizer] = {}
    notes: list[str] = [*checked.notes, *_inferred_notes(schema)]
    budgets = {} if privacy is None else split_budget(privacy, plan.order)
    for table in plan.order:
        layout = layout_table(table, schema=schema, plan=plan, frame=frames[table], parent_usable=usable)
        if entities is not None:  # 1:0..1 only where declared (max_children 1), never read from the rows
            layout = replace(layout, at_most_one=frozenset(str(fk) for fk in layout.counts if entities.max_children[fk.child] == 1))
        frame = learned_frame(layout, frame=frames[table], tables=frames, learned=learned)
        budget = None if max_training_time_s is None else max(1.0, max_training_time_s * frames[table].height / total_rows)
        if table in ordered:
            layout = replace(layout, order_by=ordered[table], key_format=key_format(layout, frames[table], seed=seed))
            models[table] = fit_ordered(layout, frame=frames[table], learned=frame, order_by=ordered[table],  # type: ignore[assignment]
                                        seed=derive_seed(seed, "table", table) % 2**32, time_s=budget, device=device,
                                        on_progress=on_progress)
            layouts[table], learned[table] = layout, frame
            continue
        private = None
        if privacy is not None and entities is not None:
            parent = models[layout.context.parent] if layout.context is not None else None
            private = _private_run(privacy, layout, frame, parent, budget=budgets[table], groups=entities.groups[table],
                                   caps=entities.max_children)
        fitted = _fit(layout, frame, model=model, seed=derive_seed(seed, "table", table) % 2**32, time_s=budget, device=device,
                      on_progress=on_progress, private=private)
        layout, left_out = _without_dropped(layout, fitted)
        notes.extend(f"table {table!r}: column {c!r} holds personal data to drop: it is left out of the model and the output"
                     for c in left_out)
        if privacy is not None:
            from engine.privacy.private_statistics import prepare_frame

            frame = prepare_frame(fitted.transformer_, frame)
        layouts[table], learned[table], models[table] = layout, _as_generated(frame, fitted), fitted
        usable[table] = _usable_for_children(layout, fitted)
    spent = None
    if privacy is not None and entities is not None:
        spent = schema_report(
            privacy, {t: models[t].privacy_report_ for t in plan.order}, budgets=budgets,
            entities={t: frames[t].height if entities.groups[t] is None else entities.groups[t].n_groups for t in plan.order},
            caps=entities.max_children, max_rows=entities.max_rows,
        )
    result = RelationalModel(schema=schema, order=plan.order, layouts=layouts, models=models,
                             rows={t: f.height for t, f in frames.items()}, notes=tuple(notes), seed=seed, privacy=spent)
    if entities is not None:
        result.truncation_ = {"max_children": dict(entities.max_children), "truncated_rows": dict(entities.truncated),
                              "cascaded_rows": dict(entities.cascaded)}
    return result


def _entity_tables(schema: Schema, plan: Any, frames: dict[str, pl.DataFrame], *, privacy: Any, max_children: Any,
                   seed: int) -> EntityTables:
    """The DP preconditions checked, the children truncated, the rows grouped by root entity."""
    check_forest(schema)
    check_declarations(privacy, frames)
    roots = sum(frames[t].height for t in plan.roots)
    if privacy.delta >= 1.0 / max(1, roots):
        raise ConfigError(
            f"delta={privacy.delta:g} is not below 1 / root entities = {1.0 / max(1, roots):.3g} for {roots} root entities; "
            "a delta that large permits publishing whole entities. Pass a smaller delta."
        )
    caps = resolve_max_children(max_children, schema)
    return truncate(schema, plan.order, frames, caps=caps, seed=seed)


def _private_run(privacy: Any, layout: TableLayout, frame: pl.DataFrame, parent: Synthesizer | None, *,
                 budget: tuple[float, float], groups: Any, caps: Mapping[str, int]) -> tuple[Any, Any]:
    """The table's ``Privacy`` (its budget share, its declarations, its context columns declared
    from the parent's private transformer, its children counts bounded by their public cap
    ``[0, max_children]``) and its rows' entity groups."""
    bounds, categories = ({}, {}) if parent is None else context_declarations(parent, layout.context_columns)
    bounds |= {count_column(fk): (0, caps[fk.child]) for fk in layout.counts}
    table_dp = table_privacy(privacy, layout.table, frame.columns, budget=budget, bounds=bounds, categories=categories)
    return table_dp, groups


def _schema(keys: Any, frames: Mapping[str, pl.DataFrame]) -> Schema:
    if isinstance(keys, Schema):
        return keys
    if keys is not None:
        return Schema.from_keys(keys, frames)
    from engine.profiling import profile_tables

    return Schema.from_profile(profile_tables(frames))


def _fit(layout: TableLayout, frame: pl.DataFrame, *, model: str, seed: int, time_s: float | None, device: str,
         on_progress: Any, private: tuple[Any, Any] | None = None) -> Synthesizer:
    """The table's model, fitted on its learned frame (``private``: the table's ``Privacy`` and
    its rows' entity groups; under DP nothing here reads the rows outside the accounted run)."""
    from engine.models.argn import ARGN
    from engine.training import _treat_personal_data, train

    params: dict[str, Any] = {"device": device, "on_progress": on_progress}
    if time_s is not None:
        params["max_training_time_s"] = time_s
    types = {layout.primary_key: "identifier"} if layout.primary_key is not None else {}
    # A count of children is a number, whatever a profile makes of its few values: as a
    # category, counts held by fewer than k parents would merge into one bucket and lose the tail.
    counts = [count_column(fk) for fk in layout.counts]
    if private is not None:  # under DP always a number (how many values it takes is not public)
        privacy, groups = private
        types |= {name: "continuous" for name in counts}
        if layout.context is None:
            return train(frame, model=_private_root_model(model), seed=seed, privacy=privacy, column_types=types, **params)
        argn = ARGN(seed=seed, generation_order="table", random_order_share=0.0, column_types=types, privacy=privacy, **params)
        return argn.fit(frame, groups=groups)
    types |= {name: "continuous" for name in counts if frame.get_column(name).n_unique() > 1}
    if layout.context is None:
        params["column_types"] = types
        return train(frame, model=model, seed=seed, **params)
    kept, treated = _treat_personal_data(frame.select(list(layout.own)), {"column_types": types})
    frame = frame.drop([c for c in layout.own if c not in kept.columns])
    return ARGN(seed=seed, generation_order="table", random_order_share=0.0, **treated, **params).fit(frame)


def _private_root_model(model: str) -> str:
    """Under DP "auto" trains a root table with the marginal-based MST (when installed), whatever
    its epsilon: the root's children counts decide every cardinality below it, and MST keeps their
    marginals where DP-SGD does not (baseball, 1,000 players, epsilon 10 over three tables:
    cardinality shape 0.96 with an MST root, 0.65 with an ARGN root). A named model is kept."""
    from engine.models.registry import available_kinds

    return "mst" if model == "auto" and "mst" in available_kinds() else model


def _without_dropped(layout: TableLayout, fitted: Synthesizer) -> tuple[TableLayout, list[str]]:
    """The layout without the own columns the model left out (personal data to drop), and their names."""
    gone = [c for c in layout.own if c not in fitted.columns_]
    if not gone:
        return layout, []
    own = tuple(c for c in layout.own if c not in gone)
    output = tuple((c, d) for c, d in layout.output if c not in gone)
    return replace(layout, own=own, output=output), gone


def _as_generated(frame: pl.DataFrame, fitted: Synthesizer) -> pl.DataFrame:
    """``frame`` with its categories as the fitted model generates them (rare levels merged into
    its bucket): a child learns its parent's context in the form it will be given it."""
    from engine.transform.columns.categorical import CategoricalEncoder

    merged = [
        enc.from_codes(enc.codes(frame.get_column(enc.name))).alias(enc.name)
        for enc in fitted.transformer_.encoders_
        if isinstance(enc, CategoricalEncoder) and enc.name in frame.columns
    ]
    return frame.with_columns(merged) if merged else frame


def _usable_for_children(layout: TableLayout, fitted: Synthesizer) -> list[str]:
    """The table's learned columns a child reads as context, nearest first: own, counts, then its own context."""
    transformer = fitted.transformer_
    kinds = {name: str(kind) for name, kind in transformer.kinds_.items()}
    levels = {name: len(values) for name, values in fitted._domains().items()}
    own = [c for c in layout.own if c != layout.primary_key]
    ordered = [*own, *(count_column(fk) for fk in layout.counts), *layout.context_columns]
    return usable_columns(kinds, levels, [c for c in ordered if c in kinds])


def _inferred_notes(schema: Schema) -> tuple[str, ...]:
    return tuple(
        f"foreign key {fk} was inferred (confidence {fk.confidence:.2f}), not declared" for fk in schema.inferred_foreign_keys
    )


__all__ = ["train_tables"]
