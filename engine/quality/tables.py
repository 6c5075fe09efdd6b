"""Quality across tables: how well a synthetic schema keeps its keys, its fan-out and its joins.

Pure functions on ``{table name: polars DataFrame}`` (real and synthetic hold the same tables)
plus the foreign keys as ``(child, column, parent, parent_column)`` tuples:

- ``referential_integrity``: per foreign key, the share of synthetic child rows whose key is a
  synthetic parent key. Nulls: when the *real* foreign key holds nulls, a null is a legal "no
  parent" and synthetic null keys leave the denominator; when it holds none, a synthetic null is
  a broken reference and counts against the score. A null never matches a parent (a null parent
  key references nothing). This is sdmetrics 0.32's ``ReferentialIntegrity`` convention.
- ``cardinality``: per relation, the number of children of every parent row (0 included),
  real against synthetic: ``shape_similarity`` = 1 - two-sample KS statistic (sdmetrics'
  ``CardinalityShapeSimilarity``) and ``within_range`` = the share of synthetic parents whose
  count lies in the real [min, max].
- ``intertable_trends``: every parent column against every child column on the inner join,
  as sdmetrics 0.32's multi-table QualityReport defines its "Intertable Trends" property: two
  continuous columns (numerical, datetime) -> 1 - |Pearson_real - Pearson_synthetic| / 2 on rows
  where both are present, counted only when |Pearson_real| > 0.5; otherwise -> 1 - total
  variation of the joint distribution (nulls a category; continuous columns cut into 10
  equal-width bins), counted only when the real Cramér's V > 0.3. The property is the mean of
  the counted pairs (NaN when none counts). Key columns take no part.
  Matched on purpose, quirks included: each side is binned with the edges of its *own*
  range (np.histogram_bin_edges over its non-null values), the maximum and the nulls share the
  top bin (np.digitize), and a column constant on either side gives the pair no score.
- ``child_aggregates``: per relation and per parent row, the child count, the mean of each
  numeric child column and the share of each frequent category (the real column's
  ``max_categories`` most common) of each categorical child column; each aggregate's real and
  synthetic distributions over parents are compared with 1 - KS (parents without children have
  no mean or share and are left out of those aggregates). The summary is the mean over the
  aggregates, per relation and overall.

Differences from sdmetrics on purpose:
- when nothing joins on the synthetic side (no synthetic child has a synthetic parent), a pair
  whose real trend counts scores 0 (sdmetrics gives a correlation pair no score and a
  contingency pair 0.5);
- sdmetrics subsamples the joined rows to 50,000 at random for contingency pairs; we always use
  every row, so on joins above 50,000 rows the two differ by sampling noise;
- pandas' merge matches a null child key to a null parent key; we do not (this matters only for
  schemas with null primary keys).
Everything else equals sdmetrics 0.32 within 1e-6 (tests/quality/test_tables_crosscheck.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from engine.quality.fidelity import ks_distance

ForeignKey = tuple[str, str, str, str]  # (child table, child column, parent table, parent column)
Kind = Literal["numerical", "datetime", "categorical", "id"]
Tables = dict[str, pl.DataFrame]
KINDS: tuple[str, ...] = ("numerical", "datetime", "categorical", "id")


@dataclass(frozen=True)
class CrossTableConfig:
    """Thresholds of the cross-table metrics (the intertable ones are sdmetrics 0.32's report defaults)."""

    correlation_threshold: float = 0.5  # a continuous pair counts when |Pearson_real| exceeds this
    association_threshold: float = 0.3  # a discrete pair counts when the real Cramér's V exceeds this
    bins: int = 10  # equal-width bins of a continuous column in a mixed pair
    max_categories: int = 10  # categories per child column whose per-parent share is compared


def relation_name(fk: ForeignKey) -> str:
    """A readable name of a foreign key: ``child.column -> parent.parent_column``."""
    child, column, parent, parent_column = fk
    return f"{child}.{column} -> {parent}.{parent_column}"


# ----------------------------------------------------------------------------- checks and kinds


def _check(real: Tables, synthetic: Tables, foreign_keys: list[ForeignKey]) -> None:
    if set(real) != set(synthetic):
        raise ValueError(f"real and synthetic must hold the same tables: real {sorted(real)}, synthetic {sorted(synthetic)}")
    for fk in foreign_keys:
        if len(fk) != 4:
            raise ValueError(f"a foreign key is (child, column, parent, parent_column); got {fk!r}")
        child, column, parent, parent_column = fk
        for table, col in ((child, column), (parent, parent_column)):
            if table not in real:
                raise ValueError(f"foreign key {fk!r} names table {table!r}, which is not among {sorted(real)}")
            for side, tables in (("real", real), ("synthetic", synthetic)):
                if col not in tables[table].columns:
                    raise ValueError(f"foreign key {fk!r}: the {side} table {table!r} has no column {col!r}")
        for table, col in ((child, column), (parent, parent_column)):
            if synthetic[table][col].dtype != real[table][col].dtype:
                raise ValueError(
                    f"key column {table}.{col} is {real[table][col].dtype} in the real tables "
                    f"but {synthetic[table][col].dtype} in the synthetic ones; the types must match"
                )
        if real[child][column].dtype != real[parent][parent_column].dtype:
            raise ValueError(
                f"foreign key {relation_name(fk)} joins columns of different types: "
                f"{real[child][column].dtype} and {real[parent][parent_column].dtype}"
            )


def infer_kinds(tables: Tables, foreign_keys: list[ForeignKey], overrides: dict[str, dict[str, Kind]] | None = None) -> dict[str, dict[str, Kind]]:
    """Each column's kind: key columns of the foreign keys are "id", numbers "numerical", dates
    "datetime", strings/booleans/categoricals "categorical", anything else "id" (left out).
    ``overrides`` ({table: {column: kind}}) wins, e.g. to mark a free-text or own-key column "id"."""
    keys = {(c, col) for c, col, _, _ in foreign_keys} | {(p, col) for _, _, p, col in foreign_keys}
    kinds: dict[str, dict[str, Kind]] = {}
    for name, frame in tables.items():
        kinds[name] = {}
        for col, dtype in frame.schema.items():
            if (name, col) in keys:
                kinds[name][col] = "id"
            elif dtype.is_numeric():
                kinds[name][col] = "numerical"
            elif dtype.is_temporal() and dtype != pl.Duration and dtype != pl.Time:
                kinds[name][col] = "datetime"
            elif dtype in (pl.String, pl.Boolean, pl.Categorical) or isinstance(dtype, pl.Enum):
                kinds[name][col] = "categorical"
            else:
                kinds[name][col] = "id"
    for name, columns in (overrides or {}).items():
        for col, kind in columns.items():
            if name not in kinds or col not in kinds[name]:
                raise ValueError(f"kind given for {name}.{col}, which is not a column of the tables")
            if kind not in KINDS:
                raise ValueError(f"kind {kind!r} of {name}.{col} is not one of {KINDS}")
            kinds[name][col] = kind
    return kinds


# ----------------------------------------------------------------------------- integrity and cardinality


def referential_integrity(real: Tables, synthetic: Tables, foreign_keys: list[ForeignKey]) -> dict[str, float]:
    """Per foreign key (named by ``relation_name``), the share of synthetic child keys found among
    the synthetic parent keys; nulls as the module docstring says. NaN for an empty child."""
    _check(real, synthetic, foreign_keys)
    scores: dict[str, float] = {}
    for fk in foreign_keys:
        child, column, parent, parent_column = fk
        keys = synthetic[child][column]
        if real[child][column].null_count() > 0:
            keys = keys.drop_nulls()
        if keys.len() == 0:
            scores[relation_name(fk)] = float("nan")
            continue
        found = keys.is_in(synthetic[parent][parent_column].drop_nulls().unique().implode()).fill_null(False)
        scores[relation_name(fk)] = float(found.mean())
    return scores


def children_per_parent(tables: Tables, fk: ForeignKey) -> np.ndarray:
    """The number of children of every parent row (in parent row order, 0 for none)."""
    child, column, parent, parent_column = fk
    counts = tables[child].group_by(column).len(name="__n").drop_nulls(column)
    joined = tables[parent].select(pl.col(parent_column)).join(
        counts, left_on=parent_column, right_on=column, how="left", maintain_order="left"
    )
    return joined["__n"].fill_null(0).to_numpy().astype(np.float64)


def cardinality(real: Tables, synthetic: Tables, foreign_keys: list[ForeignKey]) -> dict[str, dict[str, float]]:
    """Per relation: ``shape_similarity`` (1 - KS of the children-per-parent distributions) and
    ``within_range`` (share of synthetic parents whose count lies within the real min..max)."""
    _check(real, synthetic, foreign_keys)
    out: dict[str, dict[str, float]] = {}
    for fk in foreign_keys:
        r = children_per_parent(real, fk)
        s = children_per_parent(synthetic, fk)
        if r.size == 0 or s.size == 0:
            out[relation_name(fk)] = {"shape_similarity": float("nan"), "within_range": float("nan")}
            continue
        inside = (s >= r.min()) & (s <= r.max())
        out[relation_name(fk)] = {
            "shape_similarity": 1.0 - ks_distance(r, s, null_as_category=False),
            "within_range": float(inside.mean()),
        }
    return out


# ----------------------------------------------------------------------------- intertable trends


def _numbers(series: pl.Series) -> np.ndarray:
    """A column as float64 with NaN for null; dates and datetimes as nanoseconds since the epoch."""
    if series.dtype.is_temporal():
        series = series.cast(pl.Datetime("ns")).to_physical()
    return series.cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64)


def _digitize(values: np.ndarray, bins: int) -> np.ndarray:
    edges = np.histogram_bin_edges(values[~np.isnan(values)], bins=bins)
    return np.digitize(values, edges).astype(np.int64)


def _category_codes(real: pl.Series, synthetic: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Shared integer codes of a categorical column on both sides; null is a category of its own."""
    both = pl.concat([real.cast(pl.String), synthetic.cast(pl.String)])
    codes = both.rank("dense").fill_null(0).to_numpy().astype(np.int64)
    return codes[: real.len()], codes[real.len():]


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if x.size < 2:
        return float("nan")
    x = x - x.mean()
    y = y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V (no continuity correction) of the observed combinations; NaN below 2 x 2."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    rows, cols = int(ia.max(initial=-1)) + 1, int(ib.max(initial=-1)) + 1
    if min(rows, cols) < 2:
        return float("nan")
    table = np.bincount(ia * cols + ib, minlength=rows * cols).reshape(rows, cols).astype(np.float64)
    n = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / n / (min(rows, cols) - 1)))


def _contingency_similarity(ra: np.ndarray, rb: np.ndarray, sa: np.ndarray, sb: np.ndarray) -> float:
    width = int(max(rb.max(initial=0), sb.max(initial=0))) + 1
    rj = ra * width + rb
    sj = sa * width + sb
    levels, inverse = np.unique(np.concatenate([rj, sj]), return_inverse=True)
    p = np.bincount(inverse[: rj.size], minlength=levels.size) / rj.size
    q = np.bincount(inverse[rj.size:], minlength=levels.size) / sj.size
    return float(1.0 - 0.5 * np.abs(p - q).sum())


def _joined(tables: Tables, fk: ForeignKey) -> pl.DataFrame:
    child, column, parent, parent_column = fk
    c = tables[child].rename(lambda n: f"c.{n}")
    p = tables[parent].rename(lambda n: f"p.{n}")
    return c.join(p, left_on=f"c.{column}", right_on=f"p.{parent_column}", how="inner", coalesce=False)


def _pair_score(kind_a: str, kind_b: str, a: str, b: str, real: pl.DataFrame, syn: pl.DataFrame, config: CrossTableConfig) -> dict:
    continuous = {"numerical", "datetime"}
    if syn.height == 0 and real.height > 0:
        # nothing joined on the synthetic side: a real trend that counts is wholly lost
        decided = _pair_score(kind_a, kind_b, a, b, real, real, config)
        return {**decided, "score": 0.0 if decided["counted"] else float("nan")}
    if kind_a in continuous and kind_b in continuous:
        columns = [(_numbers(real[n]), _numbers(syn[n])) for n in (a, b)]
        constant = any(real[n].drop_nulls().n_unique() == 1 or syn[n].drop_nulls().n_unique() == 1 for n in (a, b))
        r_real = float("nan") if constant else _pearson(columns[0][0], columns[1][0])
        counted = bool(not np.isnan(r_real) and abs(r_real) > config.correlation_threshold)
        score = float("nan")
        if counted:
            r_syn = _pearson(columns[0][1], columns[1][1])
            score = float("nan") if np.isnan(r_syn) else 1.0 - abs(r_real - r_syn) / 2.0
            counted = not np.isnan(score)
        return {"metric": "correlation", "score": score, "real": r_real, "counted": counted}
    if real.height == 0:
        return {"metric": "contingency", "score": float("nan"), "real": float("nan"), "counted": False}
    codes = []
    for name, kind in ((a, kind_a), (b, kind_b)):
        if kind in continuous:
            codes.append((_digitize(_numbers(real[name]), config.bins), _digitize(_numbers(syn[name]), config.bins)))
        else:
            codes.append(_category_codes(real[name], syn[name]))
    (ra, sa), (rb, sb) = codes
    v_real = _cramers_v(ra, rb)
    counted = bool(not np.isnan(v_real) and v_real > config.association_threshold)
    score = _contingency_similarity(ra, rb, sa, sb) if counted else float("nan")
    return {"metric": "contingency", "score": score, "real": v_real, "counted": counted}


def intertable_trends(
    real: Tables,
    synthetic: Tables,
    foreign_keys: list[ForeignKey],
    kinds: dict[str, dict[str, Kind]] | None = None,
    config: CrossTableConfig = CrossTableConfig(),
) -> dict:
    """Parent-column x child-column trends on the join (see the module docstring).

    Returns ``{"score": mean of the counted pair scores (NaN if none), "pairs": [{"relation",
    "parent_column", "child_column", "metric", "score", "real", "counted"}, ...]}`` where ``real``
    is the real Pearson or Cramér's V that decided whether the pair counts."""
    _check(real, synthetic, foreign_keys)
    kinds = infer_kinds(real, foreign_keys, kinds)
    pairs: list[dict] = []
    for fk in foreign_keys:
        child, _, parent, _ = fk
        joined_real, joined_syn = _joined(real, fk), _joined(synthetic, fk)
        for pc, pk_kind in kinds[parent].items():
            for cc, ck_kind in kinds[child].items():
                if pk_kind == "id" or ck_kind == "id":
                    continue
                result = _pair_score(pk_kind, ck_kind, f"p.{pc}", f"c.{cc}", joined_real, joined_syn, config)
                pairs.append({"relation": relation_name(fk), "parent_column": pc, "child_column": cc, **result})
    counted = [p["score"] for p in pairs if p["counted"]]
    return {"score": float(np.mean(counted)) if counted else float("nan"), "pairs": pairs}


# ----------------------------------------------------------------------------- child aggregates


def _aggregates(tables: Tables, fk: ForeignKey, numeric: list[str], categories: dict[str, list[str]]) -> pl.DataFrame:
    child, column, parent, parent_column = fk
    frame = tables[child]
    exprs: list[pl.Expr] = [pl.len().alias("count")]
    for name in numeric:
        values = pl.col(name).cast(pl.Datetime("ns")).to_physical() if frame[name].dtype.is_temporal() else pl.col(name)
        exprs.append(values.cast(pl.Float64).mean().alias(f"mean({name})"))
    for name, levels in categories.items():
        as_text = pl.col(name).cast(pl.String)
        exprs += [(as_text == level).fill_null(False).mean().alias(f"share({name}={level})") for level in levels]
    per_key = frame.drop_nulls(column).group_by(column).agg(exprs)
    return (
        tables[parent].select(pl.col(parent_column))
        .join(per_key, left_on=parent_column, right_on=column, how="left")
        .with_columns(pl.col("count").fill_null(0))
    )


def child_aggregates(
    real: Tables,
    synthetic: Tables,
    foreign_keys: list[ForeignKey],
    kinds: dict[str, dict[str, Kind]] | None = None,
    config: CrossTableConfig = CrossTableConfig(),
) -> dict:
    """Per relation and aggregate (count, mean(col), share(col=value)), 1 - KS of the real and
    synthetic per-parent values. Returns ``{"score": overall mean, "relations": {relation:
    {"score": mean, "aggregates": {aggregate: similarity}}}}``."""
    _check(real, synthetic, foreign_keys)
    kinds = infer_kinds(real, foreign_keys, kinds)
    relations: dict[str, dict] = {}
    everything: list[float] = []
    for fk in foreign_keys:
        child = fk[0]
        numeric = [c for c, k in kinds[child].items() if k in ("numerical", "datetime")]
        categories = {
            c: [str(v) for v in real[child][c].drop_nulls().cast(pl.String).value_counts(sort=True)[c].head(config.max_categories)]
            for c, k in kinds[child].items() if k == "categorical"
        }
        r = _aggregates(real, fk, numeric, categories)
        s = _aggregates(synthetic, fk, numeric, categories)
        similarity = {
            name: 1.0 - ks_distance(_numbers(r[name]), _numbers(s[name]), null_as_category=False)
            for name in r.columns[1:]
        }
        similarity = {k: v for k, v in similarity.items() if not np.isnan(v)}
        everything += similarity.values()
        relations[relation_name(fk)] = {
            "score": float(np.mean(list(similarity.values()))) if similarity else float("nan"),
            "aggregates": similarity,
        }
    return {"score": float(np.mean(everything)) if everything else float("nan"), "relations": relations}


# ----------------------------------------------------------------------------- all together


def assess_tables(
    real: Tables,
    synthetic: Tables,
    foreign_keys: list[ForeignKey],
    kinds: dict[str, dict[str, Kind]] | None = None,
    config: CrossTableConfig = CrossTableConfig(),
) -> dict:
    """Every cross-table metric at once, plus the headline means (cardinality as sdmetrics averages it)."""
    card = cardinality(real, synthetic, foreign_keys)
    shapes = [v["shape_similarity"] for v in card.values()]
    return {
        "referential_integrity": referential_integrity(real, synthetic, foreign_keys),
        "cardinality": card,
        "cardinality_shape_similarity": float(np.mean(shapes)) if shapes else float("nan"),
        "intertable_trends": intertable_trends(real, synthetic, foreign_keys, kinds, config),
        "child_aggregates": child_aggregates(real, synthetic, foreign_keys, kinds, config),
    }
