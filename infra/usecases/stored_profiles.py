"""Profiles as the catalog stores them (``Profile.to_dict()``), read back, and a user's edits to them.

A dataset version keeps its profile as JSON. The workbench shows it with the same components
as a fresh profile, so ``profile_from_dict`` rebuilds the engine's ``Profile`` from that JSON.

``ColumnEdits`` are what a user changes on the Profile page: a corrected semantic type, a
column marked as a key (regenerated, never learned), as personal data or to drop (both removed
before training). ``edited_profile`` applies them to a stored profile: dropped columns leave
it, corrected types replace the inferred ones and say so in the column's reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError
from engine.profiling.results import (
    ColumnProfile,
    ModelRecommendation,
    PIIFinding,
    Profile,
    ProfileWarning,
)
from engine.schema import SemanticType

EDITABLE_TYPES: tuple[str, ...] = tuple(kind.value for kind in SemanticType)
"""Every semantic type a user may choose for a column."""


def _column_from_dict(data: dict[str, Any]) -> ColumnProfile:
    return ColumnProfile(
        name=data["name"],
        dtype=data["dtype"],
        semantic_type=SemanticType(data["semantic_type"]),
        reason=data.get("reason", ""),
        null_share=float(data.get("null_share") or 0.0),
        n_distinct=int(data.get("n_distinct") or 0),
        stats=data.get("stats"),
        top_categories=[(str(v), int(c), float(s)) for v, c, s in data.get("top_categories") or []],
        histogram=data.get("histogram"),
        datetime_range=tuple(data["datetime_range"]) if data.get("datetime_range") else None,  # type: ignore[arg-type]
        datetime_granularity=data.get("datetime_granularity"),
        null_count=int(data.get("null_count") or 0),
        is_unique=bool(data.get("is_unique")),
        top_categories_from_sample=bool(data.get("top_categories_from_sample")),
        parsed_from=data.get("parsed_from"),
        pii_kind=data.get("pii_kind"),
        pii_treatment=data.get("pii_treatment"),
    )


def profile_from_dict(data: dict[str, Any]) -> Profile:
    """The engine's ``Profile`` from its ``to_dict()`` form (as stored with a dataset version)."""
    if not isinstance(data, dict) or "columns" not in data:
        raise ConfigError("this dataset version has no stored profile; upload it again to profile it")
    rec = data.get("recommendation") or {}
    return Profile(
        n_rows=int(data.get("n_rows") or 0),
        n_columns=int(data.get("n_columns") or len(data["columns"])),
        sampled_rows=int(data.get("sampled_rows") or data.get("n_rows") or 0),
        columns={name: _column_from_dict(col) for name, col in data["columns"].items()},
        pii=[PIIFinding(**finding) for finding in data.get("pii") or []],
        key_candidates=list(data.get("key_candidates") or []),
        warnings=[
            ProfileWarning(code=w["code"], column=w.get("column"), message=w["message"], columns=tuple(w.get("columns") or ()))
            for w in data.get("warnings") or []
        ],
        recommendation=ModelRecommendation(
            model=rec.get("model", "auto"), settings=dict(rec.get("settings") or {}), reason=rec.get("reason", "")
        ),
        seed=int(data.get("seed") or 0),
    )


@dataclass(frozen=True)
class ColumnEdits:
    """A user's corrections to a profile, by column name.

    - ``types``: column -> semantic type (one of ``EDITABLE_TYPES``) replacing the inferred one;
    - ``keys``: columns to treat as keys (identifier: regenerated, never learned);
    - ``pii``: columns holding personal data: removed before training;
    - ``drop``: other columns to remove before training.
    """

    types: dict[str, str] = field(default_factory=dict)
    keys: tuple[str, ...] = ()
    pii: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()

    @property
    def removed(self) -> tuple[str, ...]:
        """Columns that leave the table: marked as personal data or to drop."""
        return tuple(dict.fromkeys((*self.pii, *self.drop)))

    @property
    def is_empty(self) -> bool:
        return not (self.types or self.keys or self.pii or self.drop)

    def column_types(self) -> dict[str, str]:
        """The semantic types the model must use for the columns that stay (keys are identifiers)."""
        types = {name: kind for name, kind in self.types.items() if name not in self.removed}
        types.update({name: SemanticType.IDENTIFIER.value for name in self.keys if name not in self.removed})
        return types

    def check(self, columns: list[str]) -> None:
        """Refuse edits that name unknown columns or types, or that would leave no column."""
        known = set(columns)
        named = set(self.types) | set(self.keys) | set(self.pii) | set(self.drop)
        unknown = sorted(named - known)
        if unknown:
            raise ConfigError(f"the edits name columns this table does not have: {', '.join(map(repr, unknown))}")
        bad = {name: kind for name, kind in self.types.items() if kind not in EDITABLE_TYPES}
        if bad:
            name, kind = next(iter(bad.items()))
            raise ConfigError(f"{kind!r} is not a column type (column {name!r}); choose one of {', '.join(EDITABLE_TYPES)}")
        if known and known <= set(self.removed):
            raise ConfigError("every column would be removed; keep at least one column to train on")

    def to_dict(self) -> dict[str, Any]:
        return {"types": dict(self.types), "keys": list(self.keys), "pii": list(self.pii), "drop": list(self.drop)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ColumnEdits:
        data = data or {}
        return cls(
            types={str(k): str(v) for k, v in (data.get("types") or {}).items()},
            keys=tuple(data.get("keys") or ()),
            pii=tuple(data.get("pii") or ()),
            drop=tuple(data.get("drop") or ()),
        )


def edited_profile(profile: dict[str, Any], edits: ColumnEdits) -> dict[str, Any]:
    """``profile`` (a stored dict) with ``edits`` applied: removed columns gone, types corrected."""
    removed = set(edits.removed)
    types = edits.column_types()
    columns = {}
    for name, column in profile.get("columns", {}).items():
        if name in removed:
            continue
        column = dict(column)
        if name in types and types[name] != column.get("semantic_type"):
            column["reason"] = f"set to {types[name]} by a user (inferred: {column.get('semantic_type')})"
            column["semantic_type"] = types[name]
        columns[name] = column
    out = dict(profile)
    out["columns"] = columns
    out["n_columns"] = len(columns)
    out["pii"] = [f for f in profile.get("pii", []) if f.get("column") not in removed]
    out["key_candidates"] = [k for k in profile.get("key_candidates", []) if k not in removed]
    out["warnings"] = [
        w for w in profile.get("warnings", [])
        if w.get("column") not in removed and not (set(w.get("columns") or ()) & removed)
    ]
    return out


__all__ = ["EDITABLE_TYPES", "ColumnEdits", "edited_profile", "profile_from_dict"]
