"""``engine.train``: one call from a table to a fitted model, the model picked by the profile."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Progress, Synthesizer

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
    ``engine.models.registry.available_kinds()``) or ``"auto"``: profile the table
    (``engine.profile``) and take its recommended model, its column types and, where not
    given here, its epochs, batch size and time cap. ``params`` go to the model's constructor
    (``batch_size``, ``patience``, ``checkpoint_dir``, the model's own hyperparameters, ...).
    ``privacy``: an ``engine.Privacy`` (or its dict) trains with differential privacy (see
    ``engine.privacy``); the model's ``privacy_report_`` and manifest say what was spent. Under
    DP "auto" does not profile the rows (that would be an unaccounted release): it picks
    ``"mst"`` for epsilon <= 3 and ``"argn"`` above, and column types come from
    ``column_types`` and the dtypes only.

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
            model = "mst" if privacy.epsilon <= MST_MAX_EPSILON and "mst" in available_kinds() else DP_SGD_AUTO_MODEL
    elif model == "auto":
        model, suggested = _recommended(frame)
        for key, value in suggested.items():
            if key == "epochs":
                epochs = epochs if epochs is not None else value
            elif key == "column_types":
                params["column_types"] = {**value, **(params.get("column_types") or {})}
            else:
                params.setdefault(key, value)
    cls = model_class(model)
    return cls(seed=seed, epochs=epochs, device=device, on_progress=on_progress, **params).fit(frame)


def _recommended(frame: Any) -> tuple[str, dict[str, Any]]:
    """The profile's model and the settings it suggests (column types included)."""
    from engine.models.registry import available_kinds

    try:
        from engine.profiling import profile
    except ImportError:  # profiling not installed: TVAE is a sound default for any table
        return "tvae", {}
    prof = profile(frame)
    rec = prof.recommendation
    kind = rec.model if rec.model in available_kinds() else "tvae"
    settings = rec.settings or {}
    out: dict[str, Any] = {key: settings[name] for name, key in _SETTINGS.items() if settings.get(name) is not None}
    minutes = settings.get("max_training_time_minutes")
    if minutes:
        out["max_training_time_s"] = float(minutes) * 60.0
    out["column_types"] = {name: col.semantic_type for name, col in prof.columns.items()}
    return kind, out


__all__ = ["DP_SGD_AUTO_MODEL", "MST_MAX_EPSILON", "train"]
