"""A fitted sequence model: the entity table's model, the step table's model, and the sampling
that turns them back into a long table of histories.

``SequenceModel.sample`` draws the entities first (their context, length and start time; for a
given ``context=`` frame or ``conditions=`` on the context columns, or the entities of a
``prefix=``), then their steps, all entities at once (``engine.sequences.generate``), and
returns the long table in the input's column order and dtypes, sorted by (entity, time).

Saved as one zip (``engine.relational.archive``: the manifest ``relational.json`` with
``kind: "sequences"`` and the two models' archives); ``engine.load_model`` reads it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError
from engine.models.base import Synthesizer
from engine.models.files import ModelFileError
from engine.relational.archive import read_archive, write_archive
from engine.seeds import derive_seed
from engine.sequences.checks import time_as_input
from engine.sequences.generate import ENTITY_INDEX, TIME, Prefix, TimeRules, draw_histories
from engine.sequences.layout import CTX, GAP, LENGTH, START, SequenceLayout, time_units

KIND = "sequences"
FORMAT_VERSION = 1
ENTITIES, STEPS = "entities", "steps"
# Most entities one sample call draws, and most steps in all (lengths times entities).
MAX_ENTITIES = 10_000_000
MAX_STEPS = 200_000_000
# A context= frame that fixes only some context columns is drawn per distinct combination.
MAX_CONTEXT_COMBINATIONS = 1_000


class SequenceModel:
    """A fitted model of histories (made by ``engine.train_sequences``); ``sample`` returns the long table.

    Learned attributes: ``entity_``, ``order_by_``, ``context_`` (the static columns),
    ``steps_`` (the step columns), ``columns_`` (the long table's columns and dtypes, in order),
    ``lengths_`` (``{"min", "max"}`` steps of the trained histories, and ``entities``),
    ``layout_`` (what each model learns), ``models_`` (``{"entities", "steps"}``), ``notes_``,
    ``privacy_spent_`` (with ``privacy=``: each run's spend and the total; else None).
    """

    kind = KIND

    def __init__(self, *, layout: SequenceLayout, models: Mapping[str, Synthesizer], stats: Mapping[str, Any],
                 notes: tuple[str, ...] = (), seed: int = 0, privacy: Mapping[str, Any] | None = None) -> None:
        self.layout_ = layout
        self.models_ = dict(models)
        self.stats_ = dict(stats)
        self.notes_ = tuple(notes)
        self.seed = seed
        self.privacy_spent_ = None if privacy is None else dict(privacy)
        self.entity_ = layout.entity
        self.order_by_ = layout.order_by
        self.context_ = tuple(layout.context)
        self.steps_ = tuple(layout.steps)
        self.columns_ = dict(layout.output)
        self.lengths_ = {"min": int(stats["min_length"]), "max": int(stats["max_length"]), "entities": int(stats["entities"])}

    def __repr__(self) -> str:
        return (f"SequenceModel(entity={self.entity_!r}, order_by={self.order_by_!r}, context={list(self.context_)}, "
                f"steps={list(self.steps_)})")

    # -- sampling ----------------------------------------------------------------------------
    def sample(self, *, n_entities: int | None = None, context: pl.DataFrame | None = None,
               conditions: str | dict[str, Any] | None = None, prefix: pl.DataFrame | None = None,
               seed: int | None = None) -> pl.DataFrame:
        """Synthetic histories as a long table (the input's columns and dtypes, sorted by entity and time).

        ``n_entities``: how many (default: as many as trained on). ``context``: one entity per
        row, its context columns fixed to the row's values (all or some of ``context_``).
        ``conditions``: on the context columns, as a table model's ``sample`` takes them
        (``"Sector == 'Technology'"``). ``prefix``: a long table of the first steps of some
        entities (their entity, time, context and step columns): each is continued, its given
        steps kept as they are. The same model, arguments and seed give the same table.
        """
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ConfigError(f"seed must be a non-negative integer or None; got {seed!r}")
        given = sum(x is not None for x in (context, prefix))
        if given > 1 or (given and (n_entities is not None or conditions is not None)):
            raise ConfigError("pass one way of choosing the entities: n_entities (with conditions=), context= or prefix=")
        seed = self.seed if seed is None else seed
        draw_seed = derive_seed(seed, "sequences", ENTITIES)
        known = None
        if prefix is not None:
            entities, known = self._prefix_entities(prefix, seed=draw_seed)
        elif context is not None:
            entities = self._context_entities(context, seed=draw_seed)
        else:
            n = self.lengths_["entities"] if n_entities is None else n_entities
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ENTITIES:
                raise ConfigError(f"n_entities must be a whole number from 1 to {MAX_ENTITIES:,}; got {n_entities!r}")
            entities = self.models_[ENTITIES].sample(n, seed=draw_seed, conditions=conditions)
        lengths = self._lengths(entities, known)
        starts = self._starts(entities, known)
        if int(lengths.sum()) > MAX_STEPS:
            raise ConfigError(f"{int(lengths.sum()):,} steps asked for; one call draws at most {MAX_STEPS:,}")
        steps = self._steps(entities, lengths, starts, known, seed=seed)
        return self._long(entities, steps)

    def sample_histories(self, context: pl.DataFrame, *, lengths: np.ndarray, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
        """One history per row of ``context`` (all context columns), ``lengths[i]`` steps long
        (given, not drawn: an ordered child table's parent row says how many), its start and
        first values drawn given the row. Returns the long table in (row, time) order and, per
        step, the row of ``context`` it belongs to (``engine.relational.ordered`` puts the
        parent's key there)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        if lengths.shape != (context.height,) or (lengths.size and int(lengths.min()) < 1):
            raise ConfigError(f"lengths must hold one positive number of steps per context row ({context.height}); got {lengths.shape}")
        if int(lengths.sum()) > MAX_STEPS:
            raise ConfigError(f"{int(lengths.sum()):,} steps asked for; one call draws at most {MAX_STEPS:,}")
        draw_seed = derive_seed(seed, "sequences", ENTITIES)
        if self.context_:
            entities = self._context_entities(context, seed=draw_seed)
        else:  # no context: the entities' starts and first values drawn unconditionally
            entities = self.models_[ENTITIES].sample(lengths.size, seed=draw_seed)
        starts = self._starts(entities, None)
        steps = self._steps(entities, lengths, starts, None, seed=seed)
        index = steps.get_column(ENTITY_INDEX).to_numpy()
        return self._long(entities, steps, ordered=False), index

    def _steps(self, entities: pl.DataFrame, lengths: np.ndarray, starts: np.ndarray, known: dict[str, Any] | None, *,
               seed: int) -> pl.DataFrame:
        """All steps of the ``entities`` (``engine.sequences.generate.draw_histories``)."""
        static = pl.DataFrame([*(entities.get_column(c).alias(CTX + c) for c in self.layout_.step_context),
                               *(entities.get_column(c) for c in self.layout_.entity_firsts),
                               *(entities.get_column(c).cast(pl.Float64) for c in self.layout_.entity_levels), pl.Series(LENGTH, lengths)])
        rules = TimeRules(fill_gap=float(self.stats_["fill_gap"]), min_gap=float(self.stats_["min_gap"]))
        return draw_histories(self.models_[STEPS], self.layout_, static=static, lengths=lengths, starts=starts, rules=rules,
                              seed=derive_seed(seed, "sequences", STEPS), prefix=None if known is None else known["prefix"])

    def _lengths(self, entities: pl.DataFrame, known: dict[str, Any] | None) -> np.ndarray:
        """Each entity's number of steps: drawn, within the trained range (a prefix's entity gets at least one more step)."""
        drawn = entities.get_column(LENGTH).cast(pl.Float64, strict=False).fill_nan(None).fill_null(self.stats_["max_length"])
        lengths = np.clip(np.rint(drawn.to_numpy()), self.lengths_["min"], self.lengths_["max"]).astype(np.int64)
        if known is not None:
            given = known["given"]
            lengths = np.where(given >= self.layout_.max_length, given, np.minimum(np.maximum(lengths, given + 1), self.layout_.max_length))
        return lengths

    def _starts(self, entities: pl.DataFrame, known: dict[str, Any] | None) -> np.ndarray:
        starts = entities.get_column(START)
        units = time_units(starts.cast(self.layout_.time.parsed, strict=False), self.layout_)
        units = np.where(np.isnan(units), self.stats_["fill_start"], units)
        if known is not None:
            units = known["starts"]
        return units

    def _context_entities(self, context: pl.DataFrame, *, seed: int) -> pl.DataFrame:
        """One drawn entity per row of ``context``, its context columns fixed to the row's."""
        from engine.transform.transformer import as_polars

        context = as_polars(context)
        unknown = [c for c in context.columns if c not in self.context_]
        if unknown:
            raise ConfigError(f"context= columns {unknown} are not context columns of this model; its context: {list(self.context_)}")
        if context.height == 0 or not 1 <= context.height <= MAX_ENTITIES:
            raise ConfigError(f"context= must have from 1 to {MAX_ENTITIES:,} rows (one entity per row); got {context.height}")
        model = self.models_[ENTITIES]
        context = context.select([pl.col(c).cast(model.columns_[c], strict=False) for c in context.columns])
        if set(context.columns) == set(self.context_):
            return model.sample_given(context.select(list(self.context_)), seed=seed)
        combos = context.with_row_index("\x00row").group_by(context.columns, maintain_order=True).agg(pl.col("\x00row"))
        if combos.height > MAX_CONTEXT_COMBINATIONS:
            raise ConfigError(f"context= fixes {len(context.columns)} of the {len(self.context_)} context columns in "
                              f"{combos.height} combinations (at most {MAX_CONTEXT_COMBINATIONS}); give all context columns instead")
        parts, rows = [], []
        for i, combo in enumerate(combos.iter_rows(named=True)):  # one draw per distinct combination, not per row
            fixed = {c: combo[c] for c in context.columns}
            picked = np.asarray(combo["\x00row"], dtype=np.int64)
            parts.append(model.sample(picked.size, seed=derive_seed(seed, "combination", i), conditions=fixed))
            rows.append(picked)
        drawn = pl.concat(parts, how="vertical")[np.argsort(np.concatenate(rows), kind="stable")]
        ids = model.sample(drawn.height, seed=derive_seed(seed, "ids")).get_column(self.entity_)
        return drawn.with_columns(ids)

    def _prefix_entities(self, prefix: pl.DataFrame, *, seed: int) -> tuple[pl.DataFrame, dict[str, Any]]:
        """The entities of a prefix (their given ids and context, a drawn length) and their given steps."""
        from engine.sequences.checks import prepare_long
        from engine.sequences.layout import gaps

        from engine.transform.transformer import as_polars

        layout = self.layout_
        prefix = as_polars(prefix)
        need = [layout.entity, layout.order_by, *layout.context, *layout.steps]
        missing = [c for c in need if c not in prefix.columns]
        if missing:
            raise InputError(f"prefix= lacks columns {missing}; it holds the first steps of each history, with all of {need}")
        prefix = prefix.select(need).with_columns(pl.col(c).cast(dt, strict=False) for c, dt in layout.output if c != layout.order_by)
        long = prepare_long(prefix, entity=layout.entity, order_by=layout.order_by, context=list(layout.context),
                            max_length=layout.max_length) if prefix.height else None
        if long is None:
            raise InputError("prefix= has no rows; give the first steps of the histories to continue")
        frame = long.frame.with_columns(pl.col(layout.order_by).cast(layout.time.parsed, strict=False))
        firsts = frame.group_by(layout.entity, maintain_order=True).agg(
            *(pl.col(c).first() for c in layout.context), pl.len().alias("\x00given"), pl.col(layout.order_by).first().alias(START))
        model = self.models_[ENTITIES]
        if layout.context:
            ctx = firsts.select([pl.col(c).cast(model.columns_[c], strict=False) for c in layout.context])
            drawn = model.sample_given(ctx, seed=seed)
        else:
            drawn = model.sample(firsts.height, seed=seed)
        entities = drawn.with_columns(firsts.select([layout.entity, *layout.context]))  # their own ids and context
        if layout.levels:  # a given history's level is its own (the mean of its given steps), not drawn
            from engine.sequences.layout import level_exprs

            own = frame.group_by(layout.entity, maintain_order=True).agg(*level_exprs(layout)).drop(layout.entity)
            entities = entities.with_columns([own.get_column(c).fill_nan(None).fill_null(entities.get_column(c).cast(pl.Float64))
                                              for c in own.columns])
        ids = frame.get_column(layout.entity)  # sorted by entity: its position is how many entities began before
        positions = ((ids != ids.shift(1)).fill_null(True).cum_sum() - 1).cast(pl.Int64).to_numpy()
        step = frame.select(pl.int_range(pl.len()).over(layout.entity)).to_series().to_numpy()
        rows = frame.with_columns(gaps(pl.col(layout.order_by), layout).over(layout.entity).alias(GAP),
                                  pl.Series(TIME, time_units(frame.get_column(layout.order_by), layout)))
        steps = {}
        for t in np.unique(step):
            mask = step == t
            steps[int(t)] = (positions[mask], rows.filter(pl.Series(mask)).select([GAP, *layout.steps, TIME]))
        given = firsts.get_column("\x00given").to_numpy().astype(np.int64)
        starts = time_units(firsts.get_column(START), layout)
        return entities, {"given": given, "starts": starts, "prefix": Prefix(steps)}

    def _long(self, entities: pl.DataFrame, steps: pl.DataFrame, *, ordered: bool = True) -> pl.DataFrame:
        """The long table in the input's column order and dtypes, sorted by (entity, time)
        (``ordered=False``: left in the steps' order, by entity row then step)."""
        from engine.sequences.layout import times_from_units

        layout = self.layout_
        index = steps.get_column(ENTITY_INDEX).to_numpy()
        taken = entities.select([layout.entity, *layout.context])[index]
        times = time_as_input(times_from_units(steps.get_column(TIME).to_numpy(), layout, layout.order_by), layout.time)
        columns = []
        for name, dtype in layout.output:
            if name == layout.order_by:
                series = times
            elif name in taken.columns:
                series = taken.get_column(name)
            else:
                series = steps.get_column(name)
            columns.append(series.rename(name).cast(dtype, strict=False))
        frame = pl.DataFrame(columns)
        return frame.sort([layout.entity, layout.order_by], maintain_order=True) if ordered else frame

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model to ``path``, a ``.zip`` file (atomic: complete under its name or absent)."""
        target = Path(path)
        if target.suffix != ".zip":
            raise ConfigError(f"a sequence model is saved as one .zip file; got {str(target)!r}")
        if target.exists():
            raise ModelFileError(f"{target}: a model already exists there; model versions are immutable")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        try:
            files = [self.models_[name].save(tmp / f"{i}.zip") for i, name in enumerate((ENTITIES, STEPS))]
            manifest = {"kind": KIND, "format_version": FORMAT_VERSION, "seed": self.seed, "layout": self.layout_.to_dict(),
                        "stats": self.stats_, "notes": list(self.notes_), "models": [ENTITIES, STEPS]}
            if self.privacy_spent_ is not None:
                manifest["privacy"] = self.privacy_spent_
            data = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False).encode()
            write_archive(target, manifest_bytes=data, table_archives=files)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str] | bytes, *, device: str | None = None) -> SequenceModel:
        """Read a model written by ``save`` (the zip's path or bytes); ``ModelFileError`` when it is not one."""
        from engine.models.registry import load_model

        manifest, archives = read_archive(path)
        where = "the model archive" if isinstance(path, bytes) else str(path)
        if manifest.get("kind") != KIND:
            raise ModelFileError(f"{where}: not a sequence model (kind {manifest.get('kind')!r})")
        try:
            if manifest.get("format_version") != FORMAT_VERSION:
                raise ModelFileError(f"{where}: sequence format version {manifest.get('format_version')!r} is not {FORMAT_VERSION}")
            if list(manifest["models"]) != [ENTITIES, STEPS] or len(archives) != 2:
                raise ModelFileError(f"{where}: a sequence model holds two models (entities, steps)")
            models = {name: load_model(archives[i], device=device) for i, name in enumerate((ENTITIES, STEPS))}
            return cls(layout=SequenceLayout.from_dict(manifest["layout"]), models=models, stats=dict(manifest["stats"]),
                       notes=tuple(str(n) for n in manifest.get("notes", [])), seed=int(manifest.get("seed", 0)),
                       privacy=manifest.get("privacy"))
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
            raise ModelFileError(f"{where}: not a valid sequence model ({type(err).__name__}: {err})") from None


def is_sequence_archive(path: str | os.PathLike[str] | bytes) -> bool:
    """Whether a schema-style model archive holds a sequence model (its manifest's kind)."""
    try:
        manifest, _ = read_archive(path)
    except ModelFileError:
        return False
    return manifest.get("kind") == KIND


__all__ = ["SequenceModel", "is_sequence_archive"]
