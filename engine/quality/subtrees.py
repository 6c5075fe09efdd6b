"""Parent subtrees: each parent row with aggregates of its children, and what is measured on them.

A child table's rows are not independent (one player's seasons), so a row-level attack or a
row-level model says little about a schema. The unit that is independent is the parent with
its children: its *subtree*. This module flattens every parent table that has children into
one row per parent (``subtree_frame``):

- the parent's compared columns (its keys and the columns its report skips are left out);
- per child relation: the child count (0 for a parent without children), the mean of each
  numeric or datetime child column (datetimes as microseconds since the epoch) and the share
  of each of the real child column's ``top_categories`` most common values of each categorical
  child column (nulls count as "not this value"). A parent without children has no mean and
  no share (null). Only direct children are aggregated; a grandchild reaches its grandparent
  through its own parent's subtree figures.

The aggregates are planned once from the real (training) tables (``plan_subtrees``: which
columns, which categories) and applied alike to the training, synthetic and holdout tables, so
that the three frames have the same columns.

``assess_subtrees`` then measures, per parent table, with the single-table code of this package:

- **utility across the join** (``utility.assess_utility``): a model predicts a parent column
  from the rest of the parent row and its children's aggregates, trained on the synthetic
  subtrees (TSTR) and on the real ones (TRTR), both tested on the holdout's subtrees (else on a
  seeded split of the real ones). ``tstr_gap`` = TRTR - TSTR of the primary metric (AUC or
  R^2): 0 is ideal, positive means the synthetic schema lost what the join predicts. The target
  is ``config.targets[table]`` if set, else chosen by ``choose_target``;
- **privacy of subtrees** (``privacy.assess_privacy`` on the flattened frames): ``dcr_share``
  (share of synthetic subtrees closer to a training subtree than to a holdout one; 0.5 is
  ideal) and the membership-inference advantage, members being training subtrees and
  non-members holdout subtrees. This is the schema-level replacement of the row-level attack a
  child table does not get.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from engine.errors import ConfigError, InputError
from engine.quality.columns import Prepared, infer_kinds, prepare
from engine.quality.config import QualityConfig
from engine.quality.config_mapping import read_config
from engine.relational.schema import ForeignKey, Schema

_KEY = "\0parent_key"  # the join column while a frame is built (a name no table uses)
_MIN_TARGET_SHARE = 0.01  # a category below this share of the real rows does not count as a level
_MAX_TARGET_LEVELS = 10


@dataclass(frozen=True)
class SubtreeConfig:
    """Settings of the subtree figures in ``engine.assess_tables`` (``config['subtrees']``).

    ``enabled``: measure them at all (they also follow the tables' ``pillars``: utility and
    privacy each run only when the pillar is on). ``targets``: ``{parent table: column}``, the
    parent column the utility model predicts, instead of the one ``choose_target`` picks (which it
    does whatever the tables' ``utility.auto_target`` says: that setting is about single tables).
    ``top_categories``: categories per categorical child column whose per-parent share is a feature.
    """

    enabled: bool = True
    targets: Mapping[str, str] = field(default_factory=dict)
    top_categories: int = 5

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | SubtreeConfig | None) -> SubtreeConfig:
        """Read ``{"enabled": bool, "targets": {table: column}, "top_categories": int}``; every key is checked."""
        return read_config(cls, data, what="config['subtrees']", parse=cls._parsed)

    @classmethod
    def _parsed(cls, data: Mapping[str, Any]) -> SubtreeConfig:
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"config['subtrees']['enabled'] must be true or false, got {enabled!r}")
        targets = data.get("targets") or {}
        if not isinstance(targets, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in targets.items()):
            raise ConfigError(f"config['subtrees']['targets'] must map a parent table to one of its columns, got {targets!r}")
        top = data.get("top_categories", cls.top_categories)
        if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 50:
            raise ConfigError(f"config['subtrees']['top_categories'] must be an integer from 1 to 50, got {top!r}")
        return cls(enabled=enabled, targets=dict(targets), top_categories=top)

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "targets": dict(self.targets), "top_categories": self.top_categories}


# ----------------------------------------------------------------------------- planning and flattening


@dataclass(frozen=True)
class ChildAggregates:
    """What one child relation contributes to its parent's row (decided from the real child table)."""

    relation: str  # "child.column -> parent.key"
    child: str
    column: str  # the child's foreign-key column
    prefix: str  # the aggregates' column names start with it: "<prefix>:count", "<prefix>:mean(G)", ...
    numeric: tuple[str, ...]  # child columns averaged per parent
    categories: Mapping[str, tuple[str, ...]]  # child column -> the values whose share is taken

    @property
    def columns(self) -> list[str]:
        """The aggregate columns, in frame order."""
        return ([f"{self.prefix}:count"] + [f"{self.prefix}:mean({c})" for c in self.numeric]
                + [f"{self.prefix}:share({c}={v})" for c, levels in self.categories.items() for v in levels])


@dataclass(frozen=True)
class SubtreePlan:
    """One parent table's flattened form: which parent columns are kept and what each child adds."""

    parent: str
    key: str  # the parent's primary key (the join column; not in the frame)
    columns: tuple[str, ...]  # the parent's compared columns, in table order
    kinds: Mapping[str, str]  # their kinds ("numeric" | "datetime" | "categorical")
    children: tuple[ChildAggregates, ...]

    @property
    def aggregate_columns(self) -> list[str]:
        return [c for child in self.children for c in child.columns]

    def column_types(self) -> dict[str, str]:
        """Every frame column's kind for ``columns.prepare``: the parent's own, aggregates numeric."""
        return {**{c: self.kinds[c] for c in self.columns}, **{c: "numeric" for c in self.aggregate_columns}}


def _key_columns(schema: Schema, table: str) -> set[str]:
    keys = {fk.column for fk in schema.parents_of(table)}
    if schema.primary_keys.get(table):
        keys.add(schema.primary_keys[table])  # type: ignore[arg-type]
    return keys


def _as_level(frame: pl.DataFrame, column: str) -> pl.Expr:
    """A categorical column as text spelled alike in every table: whole numbers without ".0"."""
    dtype = frame.schema[column]
    if dtype.is_numeric():
        x = pl.col(column).cast(pl.Float64).fill_nan(None)
        whole = x.cast(pl.Int64, strict=False).cast(pl.String)
        return pl.when(x == x.round(0)).then(whole).otherwise(x.cast(pl.String))
    return pl.col(column).cast(pl.String)


def _as_number(frame: pl.DataFrame, column: str) -> pl.Expr:
    """A numeric or datetime column as Float64 (dates and datetimes: microseconds since the epoch;
    durations and times of day: their physical value; NaN as null)."""
    dtype = frame.schema[column]
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return pl.col(column).cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64)
    if dtype.is_temporal():
        return pl.col(column).to_physical().cast(pl.Float64)
    return pl.col(column).cast(pl.Float64).fill_nan(None)


def _top_levels(frame: pl.DataFrame, column: str, top: int) -> tuple[str, ...]:
    counts = (frame.select(_as_level(frame, column).alias("v")).drop_nulls().group_by("v").len()
              .sort(["len", "v"], descending=[True, False]).head(top))
    return tuple(counts["v"].to_list())


def _prefixes(relations: tuple[ForeignKey, ...]) -> list[str]:
    """The child's name, or ``child.column`` when the parent has two relations from that child."""
    seen = [fk.child for fk in relations]
    return [fk.child if seen.count(fk.child) == 1 else f"{fk.child}.{fk.column}" for fk in relations]


def plan_subtrees(
    real: Mapping[str, pl.DataFrame],
    schema: Schema,
    *,
    kinds: Mapping[str, Mapping[str, str]] | None = None,
    top_categories: int = 5,
    max_int_levels: int = 10,
) -> dict[str, SubtreePlan]:
    """One ``SubtreePlan`` per parent table with children (schema order), decided from ``real``.

    ``kinds``: ``{table: {column: kind}}`` in ``engine.assess``'s words (numeric, datetime,
    categorical, skip), e.g. from each table's report; tables or columns it lacks are inferred as
    ``engine.assess`` does. Key columns are never compared; "skip" columns are left out.
    """
    def kinds_of(table: str) -> dict[str, str]:
        keys = _key_columns(schema, table)
        given = {c: k for c, k in (kinds or {}).get(table, {}).items() if c in real[table].columns}
        rest = real[table].select([c for c in real[table].columns if c not in given and c not in keys])
        inferred = {s.name: s.kind for s in infer_kinds(rest, overrides={}, max_int_levels=max_int_levels)}
        return {c: "skip" if c in keys else given.get(c) or inferred[c] for c in real[table].columns}

    plans: dict[str, SubtreePlan] = {}
    for parent in schema.tables:
        relations = schema.children_of(parent)
        key = schema.primary_keys.get(parent)
        if not relations or key is None:
            continue
        parent_kinds = kinds_of(parent)
        children = []
        for fk, prefix in zip(relations, _prefixes(relations)):
            child_kinds = kinds_of(fk.child)
            frame = real[fk.child]
            numeric = tuple(c for c, k in child_kinds.items() if k in ("numeric", "datetime"))
            categories = {c: _top_levels(frame, c, top_categories) for c, k in child_kinds.items() if k == "categorical"}
            children.append(ChildAggregates(relation=str(fk), child=fk.child, column=fk.column, prefix=prefix,
                                            numeric=numeric, categories={c: v for c, v in categories.items() if v}))
        columns = tuple(c for c, k in parent_kinds.items() if k != "skip")
        plan = SubtreePlan(parent=parent, key=key, columns=columns, kinds={c: parent_kinds[c] for c in columns},
                           children=tuple(children))
        clash = sorted(set(plan.columns) & set(plan.aggregate_columns))
        if clash:
            raise InputError(f"table {parent!r} has column(s) {clash} named like its children's aggregates; rename them")
        plans[parent] = plan
    return plans


def subtree_frame(tables: Mapping[str, pl.DataFrame], plan: SubtreePlan) -> pl.DataFrame:
    """One row per parent row of ``tables`` (in its order): the kept parent columns, then each
    child relation's aggregates as ``plan`` says (see the module docstring)."""
    parent = tables[plan.parent]
    missing = [c for c in (plan.key, *plan.columns) if c not in parent.columns]
    if missing:
        raise InputError(f"table {plan.parent!r} lacks column(s) {missing}")
    key_dtype = parent.schema[plan.key]
    out = parent.select(pl.col(plan.key).alias(_KEY), *plan.columns)
    for child in plan.children:
        frame = tables[child.child]
        needed = [child.column, *child.numeric, *child.categories]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise InputError(f"table {child.child!r} lacks column(s) {missing}")
        count = f"{child.prefix}:count"
        exprs = [pl.len().cast(pl.Int64).alias(count)]
        exprs += [_as_number(frame, c).mean().alias(f"{child.prefix}:mean({c})") for c in child.numeric]
        exprs += [(_as_level(frame, c) == v).fill_null(False).mean().alias(f"{child.prefix}:share({c}={v})")
                  for c, levels in child.categories.items() for v in levels]
        try:
            per_parent = (frame.lazy().filter(pl.col(child.column).is_not_null())
                          .group_by(pl.col(child.column).cast(key_dtype, strict=False).alias(_KEY)).agg(exprs).collect())
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as err:
            raise InputError(f"relation {child.relation}: the child's columns do not aggregate "
                             f"(a key or a column of an unexpected type): {err}") from err
        out = (out.join(per_parent, on=_KEY, how="left", maintain_order="left")
               .with_columns(pl.col(count).fill_null(0)))
    return out.drop(_KEY)


# ----------------------------------------------------------------------------- the figures


def choose_target(plan: SubtreePlan, real: pl.DataFrame, override: str | None = None) -> tuple[str | None, str]:
    """The parent column the utility model predicts, and why (``real``: the real subtree frame).

    ``override`` wins when it is a compared parent column (ConfigError otherwise). Else the
    categorical column with the fewest levels among those with 2 to 10 levels, a level being a
    value held by at least 1 % of the real rows (ties: the first in table order); else the first
    numeric column, then the first datetime column; else none.
    """
    if override is not None:
        if override not in plan.columns:
            raise ConfigError(f"config['subtrees']['targets'][{plan.parent!r}] is {override!r}, which is not a compared "
                              f"column of {plan.parent!r}; choose one of {list(plan.columns)}")
        return override, "set in config['subtrees']['targets']"
    candidates = []
    for index, name in enumerate(plan.columns):
        if plan.kinds[name] != "categorical":
            continue
        shares = real.select(_as_level(real, name).alias("v")).drop_nulls()["v"].value_counts(normalize=True)
        levels = int((shares["proportion"] >= _MIN_TARGET_SHARE).sum()) if shares.height else 0
        if 2 <= levels <= _MAX_TARGET_LEVELS:
            candidates.append((levels, index, name))
    if candidates:
        levels, _, name = min(candidates)
        return name, f"the categorical parent column with the fewest levels ({levels})"
    for kind in ("numeric", "datetime"):
        name = next((c for c in plan.columns if plan.kinds[c] == kind), None)
        if name is not None:
            return name, f"no categorical parent column has 2-{_MAX_TARGET_LEVELS} levels: the first {kind} one"
    return None, "the parent table has no column to predict besides its keys"


def assess_subtrees(
    *,
    real: Mapping[str, pl.DataFrame],
    synthetic: Mapping[str, pl.DataFrame],
    holdout: Mapping[str, pl.DataFrame] | None,
    plans: Mapping[str, SubtreePlan],
    config: SubtreeConfig,
    quality: QualityConfig,
    mia_threshold: float,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """The subtree figures of every planned parent table (see the module docstring), JSON-safe.

    ``quality``: the tables' ``engine.assess`` config; its pillars say which figures run, and its
    utility, privacy, threads and confidence settings are used as they are for one table.
    ``mia_threshold``: the threshold of the gate that will read the membership advantage.
    Per table: ``children``, ``rows`` (parents per side), ``features``, ``target``, ``tstr_gap``,
    ``dcr_share``, ``mia_advantage`` (worst attack, with ``_lower`` / ``_upper``), the full
    ``utility`` and ``privacy`` results (None where not measured) and ``notes``.
    """
    unknown = sorted(set(config.targets) - set(plans))
    if unknown:
        raise ConfigError(f"config['subtrees']['targets'] names table(s) {unknown} that are not parents with "
                          f"children; parent tables: {sorted(plans)}")
    import scipy.linalg  # noqa: F401 - load the native libraries before their threads are limited
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=quality.threads):
        return {name: _assess_one(plan, real, synthetic, holdout, config, quality, mia_threshold, seed)
                for name, plan in plans.items()}


def _assess_one(plan: SubtreePlan, real: Mapping[str, pl.DataFrame], synthetic: Mapping[str, pl.DataFrame],
                holdout: Mapping[str, pl.DataFrame] | None, config: SubtreeConfig, quality: QualityConfig,
                mia_threshold: float, seed: int) -> dict[str, Any]:
    from engine.quality.report import jsonable

    frames = {"real": subtree_frame(real, plan), "synthetic": subtree_frame(synthetic, plan)}
    if holdout is not None:
        frames["holdout"] = subtree_frame(holdout, plan)
    out: dict[str, Any] = {
        "children": [c.relation for c in plan.children],
        "rows": {role: frame.height for role, frame in frames.items()},
        "features": {"parent": list(plan.columns), "aggregates": plan.aggregate_columns},
        "target": None, "target_source": None, "task": None, "primary_metric": None, "tstr": None, "trtr": None,
        "tstr_gap": None, "dcr_share": None, "mia_advantage": None, "mia_advantage_lower": None,
        "mia_advantage_upper": None, "utility": None, "privacy": None, "notes": [],
    }
    notes: list[str] = out["notes"]
    empty = [role for role, frame in frames.items() if frame.height == 0]
    if empty:
        notes.append(f"not measured: the {' and '.join(empty)} {plan.parent!r} table has no rows")
        return out
    prep = prepare(frames["real"], frames["synthetic"], frames.get("holdout"), column_types=plan.column_types(),
                   max_int_levels=quality.fidelity.categorical_max_int_levels)
    if "utility" in quality.pillars and quality.utility.enabled:
        out.update(_utility(plan, prep, frames["real"], config, quality, seed, notes))
    else:
        notes.append("utility across the join not measured: utility is off in the tables' config")
    if "privacy" in quality.pillars:
        out.update(_privacy(prep, quality, mia_threshold, seed, notes))
    else:
        notes.append("subtree privacy not measured: privacy is off in the tables' config")
    return jsonable(out)


def _utility(plan: SubtreePlan, prep: Prepared, real: pl.DataFrame, config: SubtreeConfig, quality: QualityConfig,
             seed: int, notes: list[str]) -> dict[str, Any]:
    from engine.quality.utility import assess_utility

    target, why = choose_target(plan, real, config.targets.get(plan.parent))
    if target is None:
        notes.append(f"utility across the join not measured: {why}")
        return {}
    source = "user" if plan.parent in config.targets else "suggested"
    try:
        utility = assess_utility(prep, target=target, target_source=source, config=quality.utility, seed=seed,
                                 threads=quality.threads)
    except InputError as err:
        notes.append(f"utility across the join not measured for target {target!r}: {err}")
        return {}
    primary = utility["primary_metric"]
    tstr, trtr = utility["tstr"][primary], utility["trtr"][primary]
    gap = trtr - tstr if tstr == tstr and trtr == trtr else None  # NaN-safe: an undefined AUC gives no gap
    notes.append(f"utility target {target!r}: {why}")
    return {"target": target, "target_source": source, "task": utility["task"], "primary_metric": primary,
            "tstr": tstr, "trtr": trtr, "tstr_gap": gap, "utility": utility}


def _privacy(prep: Prepared, quality: QualityConfig, mia_threshold: float, seed: int, notes: list[str]) -> dict[str, Any]:
    from engine.quality.privacy import PrivacyConfig, assess_privacy

    compared = [s.name for s in prep.compared]
    settings = {**quality.privacy, "confidence": quality.confidence, "mia_threshold": mia_threshold}
    if "ignore_columns" in settings:  # the tables' ignored columns that the subtree frame holds (parent columns)
        settings["ignore_columns"] = [c for c in settings["ignore_columns"] if c in compared]
    try:
        result = assess_privacy(
            real=prep.real.frame.select(compared),
            synthetic=prep.synthetic.frame.select(compared),
            holdout=prep.holdout.frame.select(compared) if prep.holdout is not None else None,
            config=PrivacyConfig.from_mapping(settings),
            seed=seed,
        ).to_dict()
    except InputError as err:
        notes.append(f"subtree privacy not measured: {err}")
        return {}
    m = result["metrics"]
    return {"dcr_share": m.get("dcr_share"), "mia_advantage": m.get("mia_advantage_worst"),
            "mia_advantage_lower": m.get("mia_advantage_worst_lower"),
            "mia_advantage_upper": m.get("mia_advantage_worst_upper"), "privacy": result}
