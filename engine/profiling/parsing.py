"""Finding string columns that really hold dates or numbers, and parsing them.

CSV files give dates as text (``last_review`` = ``"2019-07-08"``) and numbers with a sentinel
(``A12`` = ``"0.29"`` or ``"?"``) as text. The decision is taken on a probe of the sample; the
parse is then applied to the whole column so that min/max come from all rows.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import polars as pl

# Share of the probed non-null values that must parse for a column to be read as dates/numbers.
PARSE_MIN_SHARE = 0.95
# How many non-null values of the sample are probed per string column.
PROBE_VALUES = 2_000

_DATE_SHAPE = r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
# Tried in order; the first format that parses PARSE_MIN_SHARE of the probe wins.
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%m/%d/%Y", "%d/%m/%Y", "%d-%m-%Y", "%Y.%m.%d")
DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%#z",
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%#z",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
)


@dataclass(frozen=True)
class Parse:
    """How one string column is to be read: as dates/datetimes with a format, or as numbers."""

    kind: str  # "date", "datetime" or "number"
    format: str | None
    share: float  # share of the probed non-null values that parsed

    @property
    def label(self) -> str:
        if self.kind == "number":
            return "number-string"
        return f"{self.kind}-string:{self.format}"

    def expr(self, name: str) -> pl.Expr:
        text = pl.col(name).str.strip_chars()
        if self.kind == "date":
            return text.str.to_date(self.format, strict=False).alias(name)
        if self.kind == "datetime":
            parsed = text.str.to_datetime(self.format, strict=False, time_unit="us")
            if self.format is not None and "z" in self.format:
                parsed = parsed.dt.replace_time_zone(None)
            return parsed.alias(name)
        return text.cast(pl.Float64, strict=False).alias(name)


def detect(sample: pl.DataFrame, *, skip: Collection[str] = ()) -> dict[str, Parse]:
    """For each String column of the sample that holds dates or numbers, how to parse it.

    ``skip``: columns whose text was made from another type (hex of bytes, JSON of structs).
    """
    found: dict[str, Parse] = {}
    for name, dtype in sample.schema.items():
        if dtype != pl.String or name in skip:
            continue
        probe = sample.get_column(name).drop_nulls().str.strip_chars()
        probe = probe.filter(probe != "").head(PROBE_VALUES)
        if probe.len() == 0:
            continue
        parse = _detect_temporal(probe)
        if parse is None:
            parse = _detect_number(probe)
        if parse is not None:
            found[name] = parse
    return found


def apply(frame: pl.DataFrame, parses: dict[str, Parse]) -> pl.DataFrame:
    """Rewrite the detected columns of a frame to their parsed dtype (unparsable values -> null)."""
    if not parses:
        return frame
    frame = frame.with_columns([p.expr(name) for name, p in parses.items()])
    # Whole-number columns read from text become integers, as a CSV reader would have made them.
    ints = [
        name
        for name, p in parses.items()
        if p.kind == "number" and bool(frame.select(_is_whole(name)).item())
    ]
    if ints:
        frame = frame.with_columns([pl.col(n).cast(pl.Int64) for n in ints])
    return frame


def _is_whole(name: str) -> pl.Expr:
    col = pl.col(name)
    return ((col == col.round()) & (col.abs() < 2**53)).all()


def _detect_temporal(probe: pl.Series) -> Parse | None:
    n = probe.len()
    if probe.str.contains(_DATE_SHAPE).sum() < PARSE_MIN_SHARE * n:
        return None
    has_time = probe.str.contains(r"\d[ T]\d{1,2}:\d{2}").mean() or 0.0
    candidates = (DATETIME_FORMATS if has_time >= 0.5 else DATE_FORMATS)
    kind = "datetime" if has_time >= 0.5 else "date"
    best: Parse | None = None
    for fmt in candidates:
        if kind == "date":
            parsed = probe.str.to_date(fmt, strict=False)
        else:
            parsed = probe.str.to_datetime(fmt, strict=False, time_unit="us")
        share = parsed.is_not_null().sum() / n
        if share >= PARSE_MIN_SHARE and (best is None or share > best.share):
            best = Parse(kind, fmt, share)
            if share == 1.0:
                break
    return best


def _detect_number(probe: pl.Series) -> Parse | None:
    n = probe.len()
    # Codes with leading zeros (ZIP 02139, account 0012) are labels, not numbers.
    if probe.str.contains(r"^[+-]?0\d").any():
        return None
    # Long digit strings (card, phone, account numbers) are codes too: arithmetic means nothing.
    if probe.str.contains(r"^\d{10,}$").mean() > 0.5:
        return None
    parsed = probe.cast(pl.Float64, strict=False)
    ok = parsed.is_not_null() & parsed.is_finite()
    share = ok.sum() / n
    if share < PARSE_MIN_SHARE:
        return None
    return Parse("number", None, share)
