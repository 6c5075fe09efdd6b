"""``engine.train``: one call from a table to a fitted model, the model picked by the profile."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Progress, Synthesizer
    from engine.profiling.results import PIIFinding, Profile

# The profile's recommended settings that map onto Synthesizer parameters.
_SETTINGS = {"epochs": "epochs", "batch_size": "batch_size"}
# Under differential privacy "auto" picks the marginal-based MST up to this epsilon (it beats
# DP-SGD on tabular data at small budgets, McKenna et al.) and DP-SGD above it.
MST_MAX_EPSILON = 3.0
DP_SGD_AUTO_MODEL = "argn"


def train(
    data: Any,
    *,
    model: str = "auto",
    privacy: Any = None,
    seed: int = 0,
    epochs: int | None = None,
    device: str = "auto",
    on_progress: Callable[[Progress], None] | None = None,
    **params: Any,
) -> Synthesizer:
    """Fit a synthesizer on ``data`` (polars or pandas) and return it.

    ``model``: ``"ctgan"``, ``"tvae"``, ``"argn"`` (those installed; see
    ``engine.models.registry.available_kinds()``): the personal data that PII detection finds
    (``engine.profiling.pii``, on a seeded sample of rows) is treated as below for "auto"; or
    ``"auto"``: profile the table
    (``engine.profile``) and take its recommended model, its column types and, where not
    given here, its epochs, batch size and time cap; and carry out its treatment of personal
    data (``resolve_auto``): a column to fake is faked (``transformer_params["fake_columns"]``:
    never learned, new fakes of its kind in every sample), a column to drop (US SSNs) is left
    out of training, so the model and its synthetic output do not have it. A
    ``transformer_params={"fake_columns": {...}}`` given here replaces the profile's choice
    (``{}`` fakes nothing), and a drop column it names is faked instead of dropped.
    ``params`` go to the model's constructor
    (``batch_size``, ``patience``, ``checkpoint_dir``, the model's own hyperparameters, ...).
    ``privacy``: an ``engine.Privacy`` (or its dict) trains with differential privacy (see
    ``engine.privacy``); the model's ``privacy_report_`` and manifest say what was spent. Under
    DP "auto" does not profile the rows (that would be an unaccounted release): it picks
    ``"mst"`` for epsilon <= 3 and ``"argn"`` above, and column types come from
    ``column_types`` and the dtypes only, and personal data is treated only as declared: the
    columns in ``transformer_params["fake_columns"]`` are faked (in their kind's default
    format), and columns to leave out must be dropped from ``data`` first. ``resolve_auto``
    is that rule, for hints shown before training too.

    >>> model = engine.train(adult, model="tvae", seed=0)  # doctest: +SKIP
    >>> model.sample(1_000, conditions="age > 65")  # doctest: +SKIP
    """
    from engine.models.registry import available_kinds, model_class
    from engine.transform.transformer import as_polars

    from engine.privacy.config import Privacy

    privacy = Privacy.coerce(privacy)
    if not isinstance(model, str):
        raise ConfigError(f"model must be 'auto' or one of {available_kinds()}; got {model!r}")
    frame = as_polars(data)
    if privacy is not None:
        params["privacy"] = privacy
    if model == "auto":
        # Under DP the rows are not profiled: that would be an unaccounted release.
        choice = resolve_auto(columns=frame.columns, privacy=privacy,
                              profile=None if privacy is not None else _profile(frame))
        model = choice.model
        for key, value in choice.params.items():
            if key == "epochs":
                epochs = epochs if epochs is not None else value
            elif key in ("column_types", "transformer_params"):  # merged; the caller's entries win
                given = params.get(key)
                params[key] = {**value, **given} if isinstance(given, dict) else value if given is None else given
            else:
                params.setdefault(key, value)
        frame, params = _drop_columns(frame, params, choice.dropped)
    elif privacy is None:
        frame, params = _treat_personal_data(frame, params)
    cls = model_class(model)
    return cls(seed=seed, epochs=epochs, device=device, on_progress=on_progress, **params).fit(frame)


@dataclass(frozen=True)
class AutoChoice:
    """What ``model="auto"`` trains: the model, the reason in plain words, and the settings it brings.

    ``params`` are constructor parameters (``epochs``, ``batch_size``, ``max_training_time_s``,
    ``column_types``, ``transformer_params`` with the ``fake_columns`` of the profile's PII
    findings) used where the caller gave none; ``columns`` are the columns the model
    learns; ``dropped`` the personal-data columns left out of training (and so of the synthetic
    output); ``settings`` the profile's full recommendation (empty under DP).
    """

    model: str
    reason: str
    columns: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()


def resolve_auto(*, columns: Sequence[str], privacy: Any = None, profile: Profile | None = None) -> AutoChoice:
    """The one rule behind ``model="auto"``: ``engine.train`` follows it, and so does any hint shown before training.

    ``columns``: the table's columns. ``privacy``: an ``engine.Privacy`` (or its dict) or None.
    Under DP the rows are not profiled: ``"mst"`` up to epsilon ``MST_MAX_EPSILON`` (when
    installed), ``"argn"`` with DP-SGD above, on every column. Without DP, ``profile`` (of the
    table as it will be trained: a stored profile with its edits applied will do) gives the
    model and its settings; its recommendation is recomputed from its columns, so a profile
    whose columns were edited after profiling never describes columns that are gone. No
    profile given: TVAE, a sound default for any table.

    The profile's PII findings are carried out, for every model: a finding treated "fake"
    puts its column in ``params["transformer_params"]["fake_columns"]`` (column -> kind), one
    treated "drop" puts it in ``dropped``. Under DP there is no profile, so nothing is faked
    or dropped but what the caller declares (see ``train``).
    """
    from engine.models.registry import available_kinds

    from engine.privacy.config import Privacy

    privacy = Privacy.coerce(privacy)
    names = tuple(columns)
    if privacy is not None:
        if privacy.epsilon <= MST_MAX_EPSILON and "mst" in available_kinds():
            reason = (
                f"Under differential privacy at epsilon {privacy.epsilon:g} (at most {MST_MAX_EPSILON:g}) auto trains "
                f"mst on {len(names)} columns: it learns noisy marginals, which keep more of the data than DP-SGD "
                "at small budgets. It has no epochs or batches."
            )
            return AutoChoice(model="mst", reason=reason, columns=names)
        reason = (
            f"Under differential privacy at epsilon {privacy.epsilon:g} auto trains {DP_SGD_AUTO_MODEL} with DP-SGD "
            f"on {len(names)} columns (marginal-based mst is chosen up to epsilon {MST_MAX_EPSILON:g}). The rows are "
            "not profiled first: that would spend budget."
        )
        return AutoChoice(model=DP_SGD_AUTO_MODEL, reason=reason, columns=names)
    if profile is None:
        return AutoChoice(model="tvae", reason="tvae: no profile of the table was given, and TVAE suits any table.",
                          columns=names)
    from engine.profiling.recommend import recommend_for

    rec = recommend_for(profile)
    kind = rec.model if rec.model in available_kinds() else "tvae"
    settings = dict(rec.settings or {})
    params: dict[str, Any] = {key: settings[name] for name, key in _SETTINGS.items() if settings.get(name) is not None}
    minutes = settings.get("max_training_time_minutes")
    if minutes:
        params["max_training_time_s"] = float(minutes) * 60.0
    fake, dropped = pii_treatments(profile.pii, tuple(profile.columns))
    params["column_types"] = {name: col.semantic_type for name, col in profile.columns.items() if name not in dropped}
    if fake:
        params["transformer_params"] = {"fake_columns": fake}
    learned = tuple((settings.get("columns") or {}).get("learn") or profile.columns)
    reason = rec.reason if kind == rec.model else f"tvae: the recommended {rec.model} is not installed."
    return AutoChoice(model=kind, reason=reason, columns=learned, params=params, settings=settings, dropped=dropped)


def pii_treatments(findings: Sequence[PIIFinding], columns: Sequence[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The columns of ``columns`` to fake (column -> PII kind) and to drop, by the findings' treatments."""
    present = set(columns)
    fake = {f.column: f.kind for f in findings if f.treatment == "fake" and f.column in present}
    dropped = tuple(f.column for f in findings if f.treatment == "drop" and f.column in present)
    return fake, dropped


def _treat_personal_data(frame: Any, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A named model's ``frame`` and ``params`` with PII detection's treatments carried out, as
    "auto" carries out the profile's: the caller's ``fake_columns`` win."""
    from engine.profiling.pii import PII_MAX_VALUES, detect

    sample = frame if frame.height <= PII_MAX_VALUES else frame.sample(PII_MAX_VALUES, seed=0)
    fake, dropped = pii_treatments(detect(sample), frame.columns)
    if fake:
        given = params.get("transformer_params")
        if given is None or (isinstance(given, dict) and "fake_columns" not in given):
            params = {**params, "transformer_params": {"fake_columns": fake, **(given or {})}}
    return _drop_columns(frame, params, dropped)


def _drop_columns(frame: Any, params: dict[str, Any], dropped: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """``frame`` without the personal-data columns to drop, and ``params`` without their column
    types; a column the caller's ``fake_columns`` names is kept (it is faked instead)."""
    transformer_params = params.get("transformer_params")
    faked = transformer_params.get("fake_columns") if isinstance(transformer_params, dict) else None
    faked = faked if isinstance(faked, dict) else {}
    gone = [name for name in dropped if name in frame.columns and name not in faked]
    if not gone:
        return frame, params
    if params.get("column_types"):
        params = {**params, "column_types": {k: v for k, v in params["column_types"].items() if k not in gone}}
    return frame.drop(gone), params


def _profile(frame: Any) -> Profile:
    """The table's profile (profiling is part of the engine; it loads on first use)."""
    from engine.profiling import profile

    return profile(frame)


__all__ = ["DP_SGD_AUTO_MODEL", "MST_MAX_EPSILON", "AutoChoice", "pii_treatments", "resolve_auto", "train"]
