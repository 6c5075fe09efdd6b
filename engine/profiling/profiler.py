"""``profile`` and ``profile_tables``: the steps in order, each delegated to its module.

1. normalise the input (pandas -> polars, NaN -> null) and draw a seeded sample of at most
   ``sample_rows`` rows;
2. find string columns that hold dates or numbers (on the sample) and parse them (everywhere);
3. measure: one select on the full data (nulls, distinct counts, min/max/mean/std), one on
   the sample (quantiles, skew, string shapes, date granularity);
4. decide semantic types, count top categories, build histograms;
5. on the sample only: PII patterns (on every string and integer column, whatever its
   semantic type; each column's profile repeats its finding), functional dependencies;
6. key candidates, warnings, a model recommendation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError
from engine.profiling import dependencies, histograms, keys, parsing, pii, profile_warnings, recommend, semantic, stats
from engine.profiling.datetimes import floor_day, to_iso, to_seconds
from engine.profiling.inputs import normalise, to_polars
from engine.profiling.results import ColumnProfile, Profile, TablesProfile
from engine.schema import SemanticType

ProgressCallback = Callable[[str, float], None]

_TOP_TYPES = (SemanticType.CATEGORICAL, SemanticType.BOOLEAN, SemanticType.TEXT, SemanticType.IDENTIFIER)
_STEPS = ("sample", "parse", "measure", "types", "categories", "histograms", "pii", "dependencies", "advice")


@dataclass(frozen=True)
class _Profiled:
    profile: Profile
    frame: pl.DataFrame  # normalised, unparsed: what key values are compared on
    kinds: dict[str, str]  # column -> "integer" | "string" | ... of the unparsed frame


def profile(
    data: Any,
    *,
    sample_rows: int = 200_000,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> Profile:
    """Profile one table: semantic types with reasons, statistics, PII, keys, warnings, a model.

    ``data`` is a polars or pandas DataFrame. Counts (rows, nulls, distinct values) and
    min/max/mean/std use every row; quantiles, histograms, PII patterns and dependency checks
    use a seeded random sample of at most ``sample_rows`` rows (``Profile.sampled_rows``).
    ``on_progress(step, fraction)`` is called as the steps complete.
    """
    _check_params(sample_rows, seed)
    return _profile(data, sample_rows=sample_rows, seed=seed, on_progress=on_progress, table=None, what="data").profile


def profile_tables(
    tables: Mapping[str, Any],
    *,
    declared_keys: Any = None,
    sample_rows: int = 200_000,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> TablesProfile:
    """Profile related tables and infer how they link: primary keys and foreign keys.

    ``declared_keys`` (optional): ``{"primary_keys": {"players": "id"}, "foreign_keys":
    ["batting.players_id -> players.id", ...]}``; declared keys are checked to exist, listed
    first and reported with confidence 1.0. Inferred foreign keys are reported from
    ``keys.FK_REPORT_THRESHOLD`` confidence on (see ``engine.profiling.keys``).
    """
    _check_params(sample_rows, seed)
    if not isinstance(tables, Mapping) or not tables:
        raise InputError("profile_tables: expected a non-empty mapping of table name -> DataFrame")
    frames = {str(name): to_polars(df, what=f"table {name!r}") for name, df in tables.items()}
    declared = keys.DeclaredKeys.coerce(declared_keys, frames)
    profiled: dict[str, _Profiled] = {}
    for i, (name, frame) in enumerate(frames.items()):
        profiled[name] = _profile(
            frame, sample_rows=sample_rows, seed=seed, on_progress=None, table=name, what=f"table {name!r}"
        )
        if on_progress is not None:
            on_progress(f"table {name}", (i + 1) / (len(frames) + 1))
    primary_keys = {
        name: keys.rank_primary_keys(p.profile.key_candidates, declared.primary_keys.get(name))
        for name, p in profiled.items()
    }
    foreign = keys.infer_foreign_keys(
        {name: p.frame for name, p in profiled.items()},
        {name: p.profile.columns for name, p in profiled.items()},
        {name: p.kinds for name, p in profiled.items()},
        declared=declared,
    )
    if on_progress is not None:
        on_progress("keys", 1.0)
    return TablesProfile(
        tables={name: p.profile for name, p in profiled.items()}, primary_keys=primary_keys, foreign_keys=foreign
    )


def _check_params(sample_rows: Any, seed: Any) -> None:
    if isinstance(sample_rows, bool) or not isinstance(sample_rows, int) or sample_rows < 1:
        raise ConfigError(f"sample_rows must be a positive integer (rows to sample), got {sample_rows!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")


def _profile(
    data: Any, *, sample_rows: int, seed: int, on_progress: ProgressCallback | None, table: str | None, what: str
) -> _Profiled:
    def step(name: str) -> None:
        if on_progress is not None:
            on_progress(name, (_STEPS.index(name) + 1) / len(_STEPS))

    raw, dtypes, notes = normalise(to_polars(data, what=what), what=what)
    n_rows = raw.height
    # A seeded random subset in random order, also when it holds every row: checks that take
    # the first k rows of the sample (PII, dependencies) then see random rows, not the file's head.
    index = np.random.default_rng(seed).permutation(n_rows)[:sample_rows]
    raw_sample = raw[index]
    step("sample")

    parses = parsing.detect(raw_sample, skip=notes)
    full = parsing.apply(raw, parses)
    sample = full[index] if parses else raw_sample
    step("parse")

    facts = stats.measure(
        full, sample, dtypes=dtypes, parsed_from={n: p.label for n, p in parses.items()}, notes=notes
    )
    step("measure")

    decided = {name: semantic.classify(f) for name, f in facts.items()}
    types = {name: st for name, (st, _) in decided.items()}
    step("types")

    top = stats.top_categories(full, sample, [n for n, st in types.items() if st in _TOP_TYPES], facts)
    step("categories")

    physical = histograms.physical_values(
        sample,
        [n for n, f in facts.items() if types[n] in histograms.HISTOGRAM_TYPES and f.kind in ("integer", "float", "temporal")],
    )
    columns: dict[str, ColumnProfile] = {}
    for name, f in facts.items():
        st, reason = decided[name]
        categories, from_sample = top.get(name, ([], False))
        columns[name] = ColumnProfile(
            name=name,
            dtype=f.dtype,
            semantic_type=st,
            reason=reason,
            null_share=f.null_share,
            n_distinct=f.n_distinct,
            stats=_stats_dict(f),
            top_categories=categories,
            histogram=histograms.histogram(physical[name], f, st) if name in physical else None,
            datetime_range=_datetime_range(f),
            datetime_granularity=f.granularity if f.kind == "temporal" else None,
            null_count=f.null_count,
            is_unique=f.is_unique,
            top_categories_from_sample=from_sample,
            parsed_from=f.parsed_from,
        )
    step("histograms")

    findings = pii.detect(raw_sample)
    for finding in findings:
        columns[finding.column] = replace(
            columns[finding.column], pii_kind=finding.kind, pii_treatment=finding.treatment
        )
    step("pii")

    deps = dependencies.find(sample, full, types, {n: f.n_distinct for n, f in facts.items()})
    step("dependencies")

    raw_kinds = {name: stats.kind_of(dtype) for name, dtype in raw.schema.items()}
    candidates = keys.key_candidates(columns, raw_kinds, table=table)
    warnings = profile_warnings.collect(
        n_rows=n_rows,
        columns=columns,
        skew={n: f.skew for n, f in facts.items()},
        pii=findings,
        dependencies=deps,
        overflowed={n: f.overflowed for n, f in facts.items() if f.overflowed},
    )
    recommendation = recommend.recommend(n_rows=n_rows, columns=columns, pii=findings)
    step("advice")

    result = Profile(
        n_rows=n_rows,
        n_columns=raw.width,
        sampled_rows=sample.height,
        columns=columns,
        pii=findings,
        key_candidates=candidates,
        warnings=warnings,
        recommendation=recommendation,
        seed=seed,
    )
    return _Profiled(profile=result, frame=raw, kinds=raw_kinds)


def _stats_dict(f: stats.ColumnFacts) -> dict[str, Any] | None:
    if f.kind not in ("integer", "float", "temporal") or f.minimum is None or f.maximum is None:
        return None
    if f.kind != "temporal":
        out: dict[str, Any] = {"min": f.minimum, "max": f.maximum, "mean": f.mean, "std": f.std}
        out.update(f.quantiles)
        if f.skew is not None:
            out["skew"] = f.skew
        return out
    unit = f.time_unit or "us"
    out = {"min": to_iso(f.minimum, unit), "max": to_iso(f.maximum, unit)}
    if f.mean is not None:
        out["mean"] = to_iso(floor_day(f.mean, unit), unit)
    out["std"] = to_seconds(f.std, unit) if f.std is not None else None
    out.update({k: to_iso(floor_day(v, unit), unit) for k, v in f.quantiles.items()})
    return out


def _datetime_range(f: stats.ColumnFacts) -> tuple[str, str] | None:
    if f.kind != "temporal" or f.minimum is None or f.maximum is None:
        return None
    unit = f.time_unit or "us"
    return to_iso(f.minimum, unit), to_iso(f.maximum, unit)
