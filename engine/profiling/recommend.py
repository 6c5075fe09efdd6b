"""A model and its settings suggested from the profile, by simple size rules.

ARGN (the autoregressive network) is the default: it learns mixed column types and supports
conditional sampling. Epochs, batch size and a time cap follow the row count. A table of mostly
continuous numbers gets diffusion instead, with its own epochs and batch. Which columns
are learned, regenerated (keys), faked (PII), copied (constants) or left out (empty, free
text, PII to drop) follows the semantic types and the PII findings. ``engine.train(model=
"auto")`` carries out the PII treatments (``engine.training.resolve_auto``): faked columns are
never learned and come back as fakes of their kind, PII to drop is not trained on and is
absent from the synthetic output. AutoML, multi-table and
sequence models come later; the reason says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engine.profiling.results import ColumnProfile, ModelRecommendation, PIIFinding, Profile
from engine.schema import SemanticType

# (max rows, epochs, batch size, max training minutes), first matching row wins.
SIZE_RULES = (
    (10_000, 200, 128, 10),
    (100_000, 100, 512, 15),
    (1_000_000, 40, 2048, 30),
    (None, 20, 4096, 60),
)
# Tables of mostly continuous numbers go to diffusion: on california_housing (9 of 10 columns
# continuous) it beat argn on SDMetrics quality and TSTR; on adult, mushroom and nyc_airbnb argn
# was as good or better, and faster (tests/bench/bench_quality.py). A category wider than
# DIFFUSION_MAX_LEVELS is coded as digits, which diffusion draws poorly (nyc's neighbourhoods).
DIFFUSION_MIN_CONTINUOUS_SHARE = 0.75
DIFFUSION_MIN_COLUMNS = 4
DIFFUSION_MAX_LEVELS = 150
# The design's rare-category protection: categories seen fewer times are merged.
RARE_CATEGORY_MIN_COUNT = 5
_ROLE_WORDS = {"regenerate": "regenerated as keys", "fake": "faked", "copy": "copied", "drop": "left out"}


def recommend(
    *, n_rows: int, columns: Mapping[str, ColumnProfile], pii: Sequence[PIIFinding]
) -> ModelRecommendation:
    """Suggest a model and settings for one table."""
    pii_by_column = {f.column: f for f in pii}
    roles: dict[str, list[str]] = {"learn": [], "regenerate": [], "fake": [], "copy": [], "drop": []}
    for name, col in columns.items():
        finding = pii_by_column.get(name)
        if finding is not None and finding.treatment == "drop":
            roles["drop"].append(name)
        elif finding is not None and finding.treatment == "fake":
            roles["fake"].append(name)
        elif col.semantic_type == SemanticType.IDENTIFIER:
            roles["regenerate"].append(name)
        elif col.semantic_type == SemanticType.CONSTANT:
            roles["copy"].append(name)
        elif col.semantic_type in (SemanticType.EMPTY, SemanticType.TEXT):
            roles["drop"].append(name)
        else:
            roles["learn"].append(name)

    epochs, batch_size, minutes = _size_rule(n_rows)
    model = "diffusion" if _suits_diffusion(roles["learn"], columns) else "argn"
    sizes = {"epochs": epochs, "batch_size": min(batch_size, max(1, n_rows))} if model == "argn" else {}
    settings = {
        **sizes,
        "max_training_time_minutes": minutes,
        "value_protection": True,
        "rare_category_min_count": RARE_CATEGORY_MIN_COUNT,
        "differential_privacy_suggested": bool(pii),
        "columns": roles,
    }
    others = ", ".join(f"{len(names)} {_ROLE_WORDS[role]}" for role, names in roles.items()
                       if role != "learn" and names)
    shape = f"{n_rows:,} rows x {len(roles['learn'])} learned columns{f' ({others})' if others else ''}"
    if model == "argn":
        reason = (
            f"argn is the default model: it learns mixed column types and supports conditional sampling. "
            f"{shape} -> {epochs} epochs, batch {settings['batch_size']}, at most {minutes} minutes."
        )
    else:
        reason = (
            f"diffusion: at least {DIFFUSION_MIN_CONTINUOUS_SHARE:.0%} of the learned columns are continuous numbers, "
            f"where diffusion learns their joint shape better than argn. {shape} -> its own epochs and batch, "
            f"at most {minutes} minutes."
        )
    pii_fake = [f.column for f in pii if f.treatment == "fake" and f.column in columns]
    pii_drop = [f.column for f in pii if f.treatment == "drop" and f.column in columns]
    if pii_fake:
        reason += (f" Personal data faked, never learned: {', '.join(pii_fake)} get new fake values of the same kind "
                   "in every sample.")
    if pii_drop:
        reason += f" Personal data left out of training and of the synthetic output: {', '.join(pii_drop)}."
    if pii:
        reason += " The table holds personal data, so training with differential privacy is suggested."
    reason += " Multi-table and sequence models, and automatic model search, are not chosen by this rule yet."
    return ModelRecommendation(model=model, settings=settings, reason=reason)


def recommend_for(profile: Profile) -> ModelRecommendation:
    """The recommendation for ``profile`` as it is now.

    A stored profile whose columns were edited after profiling (a column dropped, a type
    corrected) still carries the recommendation made for the old columns; this recomputes it
    from the columns and PII findings it holds, so it never counts a column that is gone.
    """
    return recommend(n_rows=profile.n_rows, columns=profile.columns, pii=profile.pii)


def _suits_diffusion(learned: Sequence[str], columns: Mapping[str, ColumnProfile]) -> bool:
    """Mostly continuous numbers, and no category so wide that it would be coded as digits."""
    if len(learned) < DIFFUSION_MIN_COLUMNS:
        return False
    continuous = sum(columns[name].semantic_type == SemanticType.CONTINUOUS for name in learned)
    wide = any(columns[name].semantic_type == SemanticType.CATEGORICAL and columns[name].n_distinct > DIFFUSION_MAX_LEVELS
               for name in learned)
    return continuous >= DIFFUSION_MIN_CONTINUOUS_SHARE * len(learned) and not wide


def _size_rule(n_rows: int) -> tuple[int, int, int]:
    for limit, epochs, batch, minutes in SIZE_RULES:
        if limit is None or n_rows <= limit:
            return epochs, batch, minutes
    raise AssertionError("SIZE_RULES ends with a catch-all row")
