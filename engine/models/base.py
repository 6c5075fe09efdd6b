"""The Synthesizer contract every generative model keeps, and the machinery they share.

A model subclasses ``Synthesizer`` and implements a few private hooks; the base does the
rest: input checks, the ``DataTransformer``, seeds, progress, checkpoints and resume,
conditional and rejection sampling, streaming, and the model file (safetensors weights plus a
JSON manifest, never pickle).

Hooks a model implements (``tests/engine/test_models_contract.py`` checks them):

- ``_trainer(frame, *, train_rows, val_rows, private)``: ``transformer_`` is fitted; build
  the networks and return the ``engine.trainer.Trainer`` that trains them on the
  ``train_rows`` of ``frame`` (validating on ``val_rows``, empty when early stopping is off),
  or None when there is nothing to learn. The one fit loop (``engine.models.fit_loop``) runs
  it; under DP ``engine.privacy.private_training`` wraps it first. ``private`` says only
  which rows the trainer may read outside DP-SGD (none: no priors from the data).
- ``_generate(n, *, generator, fixed)``: n decoded rows in training column order; ``fixed``
  holds ``{column: value}`` equalities the model may honour natively (it may hold several
  columns; a model that can fix only one uses one of them: the base filters every row by the
  whole condition anyway).
- ``_native_condition_columns()``: the columns ``fixed`` may name (``"any"``: all of them).
- ``_tensors()``, ``_load_tensors(tensors, manifest)``, ``_model_config()``.

Class attributes a model sets: ``kind``, ``config_class`` (its ``SynthesizerConfig``
subclass: every parameter's type, default, DP default and allowed values; any other keyword is
a ``ConfigError``), ``default_epochs``, ``default_batch_size`` and ``default_patience`` (what a
None of those parameters means, resolved at fit), optionally ``default_transformer_params``.
``default_params``, ``default_dp_params``, ``default_dp_epochs`` and ``default_dp_batch_size``
are read from ``config_class`` when the subclass is defined.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import polars as pl

from engine.errors import ConfigError, InputError, LimitExceededError
from engine.models.conditions import ConditionSet, parse_conditions
from engine.models.config import DEVICES, SynthesizerConfig, is_device_name
from engine.models.files import CHECKPOINT_NAME, ModelFile, ModelFileError, read_model_file, write_model_file
from engine.models.row_source import RowSource
from engine.models.state import flatten_state, unflatten_state
from engine.distributed import broadcast_object, world
from engine.seeds import derive_seed, torch_generator
from engine.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from engine.trainer import Trainer
    from engine.transform import DataTransformer

# Rows generated per round by ``sample``; bounds memory whatever n is.
SAMPLE_ROUND_ROWS = 65_536
# Rows one ``sample`` / ``iter_samples`` call may ask for unless the caller passes its own
# ``max_rows`` (the platform passes the tenant's per-request quota): the largest tier's quota.
MAX_SAMPLE_ROWS = 100_000_000


@dataclass(frozen=True)
class Progress:
    """One progress report, handed to the ``on_progress`` callback.

    ``epoch`` counts from 1 (the epoch under way or just finished), ``step`` is the number of
    batches finished in it out of ``steps_per_epoch``; ``losses`` the latest loss values
    by name; ``eta_s`` the estimated seconds left (None until it can be estimated);
    ``fraction`` the share of the whole job done, in [0, 1].
    """

    stage: Literal["fit", "sample"]
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    losses: dict[str, float] = field(default_factory=dict)
    eta_s: float | None = None
    fraction: float = 0.0


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; other names are checked."""
    import torch

    _check_device_name(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but torch sees no CUDA GPU; use device='auto' or 'cpu'")
    return device


def _check_device_name(device: Any) -> None:
    """``ConfigError`` unless ``device`` is one of ``DEVICES`` (``cuda:N`` with a number)."""
    if not is_device_name(device):
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")


def frame_hash(frame: pl.DataFrame) -> str:
    """sha256 of a frame's column names, dtypes and row hashes: identifies the training data."""
    digest = hashlib.sha256()
    digest.update(repr([(name, str(dtype)) for name, dtype in frame.schema.items()]).encode())
    if frame.height:
        digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return digest.hexdigest()


def _round_rows(n: int) -> int:
    """Equal generation rounds of at most ``SAMPLE_ROUND_ROWS`` covering ``n`` rows."""
    n = max(n, 1)
    return math.ceil(n / math.ceil(n / SAMPLE_ROUND_ROWS))


def _check_rows(n: Any, max_rows: Any) -> None:
    """``ConfigError`` unless ``n`` is a row count; ``LimitExceededError`` naming the limit when over ``max_rows``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"n must be a non-negative integer number of rows; got {n!r}")
    _positive_int("max_rows", max_rows, allow_none=False)
    if n > max_rows:
        raise LimitExceededError(
            f"{n:,} rows were asked for; one call may generate at most {max_rows:,} rows (max_rows). "
            "Ask for fewer rows, or pass a larger max_rows and write them with iter_samples"
        )


def _positive_int(name: str, value: Any, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer{' or None' if allow_none else ''}; got {value!r}")


def _json_safe(value: Any) -> Any:
    """Tuples -> lists, non-finite floats -> None, str enums -> str, so ``json.dumps`` works."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return str(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, Path):
        return str(value)
    raise ConfigError(f"value {value!r} of type {type(value).__name__} cannot be stored in a model file")


class _Param:
    """A parameter of the model's frozen ``config``, read as an attribute (``model.epochs``)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Synthesizer | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(obj.config, self.name)

    def __set__(self, obj: Synthesizer, value: Any) -> None:
        raise AttributeError(
            f"{self.name} is fixed when the model is built (its config is frozen); build a new model with {self.name}={value!r}"
        )


class Synthesizer:
    """A generative model of one table: ``fit`` it, then ``sample``, ``stream``, ``save``.

    Parameters (keyword-only; every model takes these plus its own, declared with their
    defaults and allowed values in its ``config_class``; the constructor validates them there
    and keeps the frozen result as ``config``, which ``get_params()`` returns):

    - ``epochs``: passes over the data (None: the model's default). Under differential
      privacy the config fills it with ``default_dp_epochs`` (20 unless the model says
      otherwise) when not given. Early stopping may end training sooner.
    - ``batch_size``: rows per optimisation step (None: the model's default; under DP the
      config fills it with ``default_dp_batch_size``; capped at the number of training rows).
      Under DP it is the expected size of a Poisson batch.
    - ``seed``: every random choice in fit and, unless ``sample`` gets its own, in sampling.
    - ``device``: ``"auto"`` (CUDA when torch sees a GPU, else CPU), ``"cpu"``, ``"cuda"``,
      ``"cuda:N"``.
    - ``on_progress``: called with a ``Progress`` while training (a callback, not part of
      the config).
    - ``checkpoint_every`` / ``checkpoint_dir``: write a checkpoint every so many epochs into
      that folder (a dir alone means every epoch); ``fit(data, resume=True)`` continues from it.
    - ``validation_share``: share of rows held out for early stopping (0 disables it).
    - ``patience``: epochs without validation improvement before stopping (None: the
      model's default; 0: never stop early).
    - ``max_training_time_s``: stop after the epoch that crosses this many seconds.
    - ``transformer_params``, ``column_types``: passed to ``DataTransformer``.
    - ``privacy``: an ``engine.Privacy`` (or its dict) to train with differential privacy
      (``engine.privacy``): the transformer is built from accounted statistics, the networks
      that read real rows train with DP-SGD, there is no validation split nor early stopping,
      the metrics hold the epsilon spent instead of losses, and ``privacy_report_`` (the
      manifest's ``privacy``) says what was spent. None (default): no DP. A model's own
      parameters may have other defaults under DP (``default_dp_params``; given ones win).

    Every parameter is also an attribute (``model.epochs``), fixed once built; the model's
    own ones are in ``model_params`` (a read-only mapping, DP defaults applied).

    Learned attributes: ``transformer_``, ``columns_`` (name -> polars dtype, training order),
    ``metrics_`` (history per epoch, best epoch and validation loss, fit seconds),
    ``n_train_rows_``, ``data_hash_``.
    """

    kind: ClassVar[str] = ""
    config_class: ClassVar[type[SynthesizerConfig]] = SynthesizerConfig
    # What None means for epochs, batch_size and patience, resolved at fit (a model may follow the data size).
    default_epochs: ClassVar[int] = 300
    default_batch_size: ClassVar[int] = 500
    default_patience: ClassVar[int | None] = None
    # Read from ``config_class`` (see ``__init_subclass__``): the config is their one source.
    default_dp_epochs: ClassVar[int] = SynthesizerConfig.dp_defaults["epochs"]
    default_dp_batch_size: ClassVar[int] = SynthesizerConfig.dp_defaults["batch_size"]
    default_params: ClassVar[dict[str, Any]] = {}
    default_dp_params: ClassVar[dict[str, Any]] = {}
    default_transformer_params: ClassVar[dict[str, Any]] = {}
    # Under DP, on top of ``default_transformer_params`` (the user's still win).
    default_dp_transformer_params: ClassVar[dict[str, Any]] = {}
    # Whether the model trains data-parallel under torchrun (``engine.distributed``).
    trains_distributed: ClassVar[bool] = True
    # Sampling fewer rows than this takes one CPU thread when ``num_threads`` is None: a small
    # forward pass is microseconds of arithmetic, and waking a second thread costs more (tens
    # of times more on a busy machine) than it saves. 0: never.
    small_sample_rows: ClassVar[int] = 0

    epochs = _Param()
    batch_size = _Param()
    seed = _Param()
    device = _Param()
    checkpoint_every = _Param()
    checkpoint_dir = _Param()
    validation_share = _Param()
    patience = _Param()
    max_training_time_s = _Param()
    transformer_params = _Param()
    column_types = _Param()
    privacy = _Param()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Read the model's defaults off its config class, so they are declared in one place."""
        super().__init_subclass__(**kwargs)
        config = cls.config_class
        cls.default_params = config.own_defaults()
        cls.default_dp_params = {name: value for name, value in config.dp_defaults.items() if name in cls.default_params}
        cls.default_dp_epochs = config.dp_defaults.get("epochs", SynthesizerConfig.dp_defaults["epochs"])
        cls.default_dp_batch_size = config.dp_defaults.get("batch_size", SynthesizerConfig.dp_defaults["batch_size"])

    def __init__(self, *, on_progress: Callable[[Progress], None] | None = None, **params: Any) -> None:
        self._frozen_config = self.config_class.resolve(params)
        self.on_progress = on_progress
        self._validate_params()

    # -- parameters -----------------------------------------------------------------------
    @property
    def config(self) -> SynthesizerConfig:
        """The model's validated, frozen configuration (``config_class``)."""
        return self._frozen_config

    @property
    def model_params(self) -> Mapping[str, Any]:
        """The model's own parameters (read-only), DP defaults applied: what its training code reads."""
        return MappingProxyType(self.config.own_params())

    def _validate_params(self) -> None:
        """Check what the config does not hold: the ``on_progress`` callback (it may be replaced after building)."""
        if self.on_progress is not None and not callable(self.on_progress):
            raise ConfigError("on_progress must be a callable taking a Progress, or None")

    def _privacy(self) -> Any:
        """The validated ``Privacy`` of this configuration, or None."""
        return self.config.privacy

    @property
    def private_(self) -> bool:
        """True while this model trains (or was trained) with differential privacy."""
        return self._privacy() is not None

    def get_params(self) -> SynthesizerConfig:
        """The model's configuration: every parameter, validated and frozen (``config``)."""
        return self.config

    def __repr__(self) -> str:
        own = ", ".join(f"{k}={v!r}" for k, v in self.model_params.items())
        return f"{type(self).__name__}(epochs={self.epochs!r}, seed={self.seed!r}{', ' + own if own else ''})"

    @property
    def epochs_(self) -> int:
        """The number of epochs this configuration trains for (the model default when None;
        ``default_dp_epochs`` under differential privacy)."""
        if self.epochs is not None:
            return self.epochs
        return self.default_dp_epochs if self.private_ else self.default_epochs

    @property
    def patience_(self) -> int | None:
        """Early-stopping patience in effect (None: no early stopping)."""
        patience = self.patience if self.patience is not None else self.default_patience
        if patience == 0 or self.validation_share == 0 or self.private_:  # DP: no validation rows
            return None
        return patience

    def _batch_size(self, n_rows: int) -> int:
        """The batch size in effect for ``n_rows`` training rows (the expected Poisson batch under DP)."""
        default = self.default_dp_batch_size if self.private_ else self.default_batch_size
        size = self.batch_size if self.batch_size is not None else default
        return max(1, min(size, n_rows))

    # -- fitting --------------------------------------------------------------------------
    def fit(self, data: Any, *, resume: bool = False, groups: Any = None) -> Self:
        """Learn ``data`` (a polars or pandas DataFrame); returns ``self``.

        ``resume=True`` continues from the checkpoint in ``checkpoint_dir`` (written by an
        earlier, interrupted ``fit`` of the same data and configuration) and ends with the
        weights an uninterrupted run would have. ``groups`` (with ``privacy`` only): an
        ``engine.privacy.groups.RowGroups`` making the unit of privacy a group of rows (an
        entity) instead of a row.
        """
        from engine.transform import DataTransformer
        from engine.transform.transformer import as_polars

        self._validate_params()
        frame = as_polars(data)
        if frame.width == 0 or frame.height < 2:
            raise InputError(f"training needs a table with columns and at least 2 rows; got {frame.height} x {frame.width}")
        if groups is not None:
            if self._privacy() is None:
                raise ConfigError("groups (the unit of privacy) apply with privacy= only; without DP leave them out")
            groups.check_rows(frame.height)
        self._dp_groups = groups
        started = time.perf_counter()
        self.__dict__.pop("n_train_rows_", None)  # set again only when this fit succeeds
        self._device_ = resolve_device(self.device)
        data_hash = frame_hash(frame)
        self._pending_resume: tuple[int, Any] | None = None
        self._dp_run: Any = None
        self.__dict__.pop("privacy_report_", None)
        privacy = self._privacy()
        if world().size > 1 and not self.trains_distributed:
            raise ConfigError(f"{type(self).__name__} trains in one process; run it without torchrun (WORLD_SIZE=1)")
        if resume:
            transformer, metrics = self._read_checkpoint(data_hash)
        else:
            if privacy is not None:
                transformer = self._private_transformer(frame, privacy)
            else:
                transformer = DataTransformer(**self._transformer_kwargs(frame)).fit(frame)
            metrics = {"history": [], "best_epoch": None, "best_val_loss": None, "stopped_early": False, "stopped_on_time": False}
        if privacy is not None:
            from engine.privacy.private_statistics import prepare_frame

            frame = prepare_frame(transformer, frame)
        self.transformer_: DataTransformer = transformer
        self.columns_: dict[str, pl.DataType] = dict(self.transformer_.dtypes_)
        self.data_hash_ = data_hash
        self.metrics_: dict[str, Any] = metrics
        self._fit_clock = started
        self._eta_clock = time.perf_counter()
        self._eta_start_fraction: float | None = None
        try:
            self._train(frame.select(self.transformer_.columns_))
        finally:
            self._pending_resume = None
        self.metrics_["fit_seconds"] = time.perf_counter() - started
        self.metrics_["epochs_run"] = len(self.metrics_["history"])
        self.metrics_["epochs_planned"] = self.epochs_  # with epochs_run and stopped_early: "stopped at 4 of 5"
        if self._dp_run is not None:
            self.privacy_report_ = self._dp_run.report()
            self.metrics_["epsilon"] = self.privacy_report_["epsilon"]
        self.n_train_rows_ = frame.height
        return self

    def _private_transformer(self, frame: pl.DataFrame, privacy: Any) -> DataTransformer:
        """Start the DP run: its budget, and the transformer built from accounted statistics.

        Under torchrun rank 0 measures and the other processes take its transformer and run
        state: the statistics are measured (and charged) once.
        """
        from engine.privacy.private_statistics import private_transformer
        from engine.privacy.run import PrivateRun
        from engine.transform import DataTransformer

        shared = None
        if world().is_main:
            groups = self._dp_groups
            self._dp_run = PrivateRun(privacy, frame.height) if groups is None else PrivateRun(privacy, groups.n_groups, unit="entity")
            domain = private_transformer(
                frame, run=self._dp_run, transformer_kwargs=self._transformer_kwargs(), needs_counts=self._dp_needs_counts(),
                groups=groups,
            )
            self._dp_run.extra["counts"] = {name: counts.tolist() for name, counts in domain.counts.items()}
            shared = (domain.transformer.to_dict(), self._dp_run.state())
        transformer_dict, run_state = broadcast_object(shared)
        if not world().is_main:
            self._dp_run = PrivateRun.from_state(privacy, run_state)
            return DataTransformer.from_dict(transformer_dict)
        return domain.transformer

    def _train(self, frame: pl.DataFrame) -> None:
        """Build the model's trainer (made private under DP) and run the one fit loop on it."""
        import numpy as np

        from engine.models.fit_loop import run_epochs

        if self.patience_ is not None:
            train_rows, val_rows = self._split_indices(frame.height)
        else:
            train_rows, val_rows = np.arange(frame.height), np.zeros(0, dtype=np.int64)
        self._n_fit_rows = len(train_rows)
        with self._fit_threads():
            trainer = self._trainer(frame, train_rows=train_rows, val_rows=val_rows, private=self._dp_run is not None)
            if trainer is None:  # nothing to learn (only identifiers or constants)
                return
            if self._dp_run is not None:
                from engine.privacy.private_training import make_private

                trainer = make_private(
                    trainer,
                    run=self._dp_run,
                    transformer=self.transformer_,
                    n_rows=len(train_rows),
                    batch_size=self._dp_batch_size(len(train_rows)),
                    epochs=self.epochs_,
                    device=self.device_,
                    seed=self.seed,
                    groups=self._dp_groups,
                )
            run_epochs(self, trainer, epochs=self.epochs_, patience=self.patience_, time_limit_s=self._time_limit_s(len(train_rows)))

    def _fit_threads(self) -> Any:
        """The context torch's CPU threads are set in while fitting (``num_threads`` on CPU; otherwise, or None: ``default_threads()``)."""
        from engine.models.threads import TorchThreads

        return TorchThreads(self.model_params.get("num_threads") if self.device_ == "cpu" else None)

    def _sample_threads(self, rows: int) -> Any:
        """The context torch's CPU threads are set in while sampling ``rows`` rows (as ``_fit_threads``,
        but one thread below ``small_sample_rows`` when ``num_threads`` is None)."""
        from engine.models.threads import TorchThreads

        if self.device_ != "cpu":
            return TorchThreads(None)
        threads = self.model_params.get("num_threads")
        return TorchThreads(1 if threads is None and rows < self.small_sample_rows else threads)

    def _time_limit_s(self, n_rows: int) -> float | None:
        """Seconds of training after which the loop stops (``max_training_time_s``; a model may follow the data size)."""
        return None if self.max_training_time_s is None else float(self.max_training_time_s)

    def _dp_batch_size(self, n_rows: int) -> int:
        """The expected Poisson batch of DP-SGD for ``n_rows`` rows."""
        return self._batch_size(n_rows)

    def _dp_needs_counts(self) -> bool:
        """Whether this model needs private frequencies of declared categories (CTGAN does)."""
        return False

    def _transformer_kwargs(self, frame: pl.DataFrame | None = None) -> dict[str, Any]:
        """The transformer's arguments: the model's defaults, then the user's. With ``frame`` (never
        under DP), the column types the model chooses from the rows come first, under any declared."""
        private = self.default_dp_transformer_params if self._privacy() is not None else {}
        kwargs: dict[str, Any] = {"seed": self.seed, **self.default_transformer_params, **private, **(self.transformer_params or {})}
        declared = {**(kwargs.get("column_types") or {}), **(self.column_types or {})}
        chosen = self._column_types_for(frame) if frame is not None else {}
        if declared or chosen:
            kwargs["column_types"] = {**chosen, **declared}
        return kwargs

    def _column_types_for(self, frame: pl.DataFrame) -> dict[str, str]:
        """Column types this model chooses from the training rows (none by default)."""
        return {}

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_train_rows_"):  # set last by a successful fit (or by load)
            raise ConfigError(f"this {type(self).__name__} is not fitted yet; call fit(data) first")

    # -- helpers for the trainers and the fit loop ---------------------------------------
    @property
    def device_(self) -> str:
        """The torch device in use ("cpu", "cuda", ...), resolved from ``device``."""
        if not hasattr(self, "_device_"):
            self._device_ = resolve_device(self.device)
        return self._device_

    def _epoch_seed(self, epoch: int) -> int:
        """Seed for epoch ``epoch`` (0-based); also seeds torch's global RNG with it."""
        import torch

        seed = derive_seed(self.seed, "epoch", epoch)
        torch.manual_seed(seed)
        return seed

    def _generator(self, *keys: int | str, device: str | None = None) -> torch.Generator:
        """A torch generator seeded from ``(seed, *keys)``, on the model's device by default."""
        return torch_generator(derive_seed(self.seed, *keys), device or self.device_)

    def _split_indices(self, n_rows: int) -> tuple[Any, Any]:
        """Seeded (train, validation) row indices as int64 numpy arrays; no validation when the share
        is 0 or under DP (a validation loss on real rows would be an unaccounted release)."""
        import numpy as np

        if self.private_:
            return np.arange(n_rows), np.zeros(0, dtype=np.int64)

        rng = np.random.default_rng(derive_seed(self.seed, "split"))
        order = rng.permutation(n_rows)
        n_val = int(round(n_rows * self.validation_share)) if self.validation_share > 0 else 0
        if n_val and n_rows - n_val < 1:
            n_val = 0
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def _report(self, *, epoch: int, step: int, steps_per_epoch: int, losses: dict[str, float] | None = None) -> None:
        """Call ``on_progress``: ``epoch`` is the 0-based epoch index, ``step`` the steps done in it."""
        if self.on_progress is None:
            return
        epochs = self.epochs_
        done = (epoch + step / max(1, steps_per_epoch)) / max(1, epochs)
        fraction = min(1.0, max(0.0, done))
        if self._eta_start_fraction is None:  # the first report of this fit (maybe resumed)
            self._eta_start_fraction = epoch / max(1, epochs)
            self._eta_clock = time.perf_counter()
        elapsed = time.perf_counter() - self._eta_clock
        progressed = fraction - self._eta_start_fraction
        eta = elapsed * (1.0 - fraction) / progressed if progressed > 0 else None
        if self.max_training_time_s is not None and eta is not None:
            eta = min(eta, max(0.0, self.max_training_time_s - (time.perf_counter() - self._fit_clock)))
        self.on_progress(
            Progress(
                stage="fit",
                epoch=epoch + 1,
                epochs=epochs,
                step=step,
                steps_per_epoch=steps_per_epoch,
                losses={k: float(v) for k, v in (losses or {}).items()},
                eta_s=eta,
                fraction=fraction,
            )
        )

    def _record_epoch(self, epoch: int, losses: dict[str, float], *, val_loss: float | None = None, best: bool = False) -> None:
        """Append one epoch's mean losses (and validation loss) to ``metrics_["history"]``."""
        row: dict[str, Any] = {"epoch": epoch + 1, **{k: float(v) for k, v in losses.items()}}
        if val_loss is not None:
            row["val_loss"] = float(val_loss)
        self.metrics_["history"].append(_json_safe(row))
        if best and val_loss is not None:
            self.metrics_["best_epoch"] = epoch + 1
            self.metrics_["best_val_loss"] = float(val_loss)

    def _maybe_checkpoint(self, epoch: int, state: dict[str, Any]) -> Path | None:
        """After epoch ``epoch`` (0-based), write ``state`` when a checkpoint is due.

        ``state`` is any nesting of dicts, lists and tuples of tensors, numbers and strings:
        typically module and optimizer ``state_dict()``s and ``EarlyStopping.state()``.
        """
        if self.checkpoint_dir is None:
            return None
        every = self.checkpoint_every or 1
        if (epoch + 1) % every:
            return None
        skeleton, tensors = flatten_state(state)
        manifest = {
            "kind": self.kind,
            "checkpoint": {
                "epoch": epoch,
                "state": skeleton,
                "metrics": _json_safe(self.metrics_),
                "data_hash": self.data_hash_,
                "config": self._config(),
                "privacy": None if self._dp_run is None else self._dp_run.state(),
            },
            "transformer": self.transformer_.to_dict(),
        }
        directory = Path(self.checkpoint_dir)
        directory.mkdir(parents=True, exist_ok=True)
        return write_model_file(directory / CHECKPOINT_NAME, manifest=manifest, tensors=tensors)

    def _read_checkpoint(self, data_hash: str) -> tuple[DataTransformer, dict[str, Any]]:
        from engine.transform import DataTransformer

        if self.checkpoint_dir is None:
            raise ConfigError("fit(resume=True) needs checkpoint_dir: the folder holding the checkpoint")
        path = Path(self.checkpoint_dir) / CHECKPOINT_NAME
        if not path.exists():
            raise ConfigError(f"fit(resume=True): no checkpoint at {path}; run fit without resume first")
        model_file = read_model_file(path, known_kinds={self.kind})
        try:
            info = model_file.manifest["checkpoint"]
            if info["data_hash"] != data_hash:
                raise ConfigError(f"{path}: the checkpoint was written for different training data; resume with the same data")
            if info["config"] != self._config():
                raise ConfigError(f"{path}: the checkpoint was written with a different configuration; resume with the same parameters")
            transformer = DataTransformer.from_dict(model_file.manifest["transformer"])
            state = unflatten_state(info["state"], model_file.tensors)
            self._pending_resume = (int(info["epoch"]) + 1, state)
            privacy = self._privacy()
            if privacy is not None:  # continue the same budget: nothing is measured again
                from engine.privacy.run import PrivateRun

                self._dp_run = PrivateRun.from_state(privacy, info["privacy"])
            metrics = info["metrics"]
        except (KeyError, TypeError) as err:
            raise ModelFileError(f"{path}: malformed checkpoint ({err!r})") from None
        return transformer, metrics

    def _resume_point(self) -> tuple[int, Any] | None:
        """``(first epoch to run, state)`` when fit resumes from a checkpoint, else None."""
        pending = getattr(self, "_pending_resume", None)
        self._pending_resume = None
        return pending

    # -- sampling -------------------------------------------------------------------------
    def sample(
        self, n: int, *, seed: int | None = None, conditions: str | dict[str, Any] | None = None, max_rows: int = MAX_SAMPLE_ROWS
    ) -> pl.DataFrame:
        """``n`` synthetic rows with the training columns and dtypes.

        The same model, seed and conditions give identical rows (on one machine and device);
        ``seed=None`` uses the model's ``seed``. ``conditions`` is an expression string such
        as ``"age > 65 and sex == 'Female'"`` or a dict ``{"sex": "Female"}`` (a list value
        means "one of"); see ``engine.models.conditions``. Categorical equalities go
        through the model's own conditioning where it has one, the rest by rejection
        sampling; an infeasible condition raises ``InfeasibleConditionError`` naming it and
        its observed acceptance rate. More than ``max_rows`` rows (default ``MAX_SAMPLE_ROWS``;
        the platform passes its per-request quota) are refused with ``LimitExceededError``
        before anything is generated.

        Rows are generated in rounds of at most ``SAMPLE_ROUND_ROWS``; identifier columns get
        fresh keys that are unique across the whole call, each round's continuing the previous
        round's (``engine.transform.key_rounds``); the first round's keys are left as generated.
        """
        _check_rows(n, max_rows)
        source = self._row_source(seed=seed, conditions=conditions, round_rows=_round_rows(n))
        return source.take(n)

    def iter_samples(
        self,
        n: int,
        *,
        batch_rows: int = SAMPLE_ROUND_ROWS,
        seed: int | None = None,
        conditions: str | dict[str, Any] | None = None,
        max_rows: int = MAX_SAMPLE_ROWS,
    ) -> Iterator[pl.DataFrame]:
        """``sample(n, seed=, conditions=)`` as consecutive frames of at most ``batch_rows`` rows.

        The frames concatenate to exactly ``sample(n, ...)``'s rows, but at most one round
        of generation is held in memory (the chunked writer uses this). ``max_rows`` as in ``sample``.
        """
        _check_rows(n, max_rows)  # checked at the call, not at the first next()
        _positive_int("batch_rows", batch_rows, allow_none=False)
        source = self._row_source(seed=seed, conditions=conditions, round_rows=_round_rows(n))

        def frames() -> Iterator[pl.DataFrame]:
            left = n
            while left > 0:
                frame = source.take(min(batch_rows, left))
                left -= frame.height
                yield frame

        return frames()

    def stream(
        self, *, batch_size: int = 1, seed: int | None = None, conditions: str | dict[str, Any] | None = None
    ) -> Iterator[pl.DataFrame]:
        """An endless iterator of frames of ``batch_size`` rows (for serving row by row).

        Each ``next()`` generates just that many rows (plus, with conditions, a surplus kept
        for the next calls), so latency stays that of one small forward pass. Identifier keys
        are unique across all the frames of one stream, as in ``sample``.
        """
        _positive_int("batch_size", batch_size, allow_none=False)
        source = self._row_source(seed=seed, conditions=conditions, round_rows=batch_size)
        while True:
            yield source.take(batch_size)

    def _row_source(self, *, seed: int | None, conditions: Any, round_rows: int) -> RowSource:
        import torch

        self._check_fitted()
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ConfigError(f"seed must be a non-negative integer or None; got {seed!r}")
        plan = parse_conditions(conditions, schema=self.columns_, domains=self._domains())
        fixed = self._fixed_for(plan)
        generator = torch_generator(derive_seed(self.seed if seed is None else seed, "sample"), self.device_)
        keys = self.transformer_.key_rounds()  # each round regenerates keys; continue them across the call

        def generate(k: int) -> pl.DataFrame:
            with torch.inference_mode():
                frame = self._generate(k, generator=generator, fixed=fixed)
            return keys.continue_round(frame)

        schema = pl.Schema(self.columns_)
        return RowSource(generate, conditions=plan, schema=schema, round_rows=round_rows)

    def _fixed_for(self, plan: ConditionSet | None) -> dict[str, Any] | None:
        """The equality conjuncts the model can condition on natively."""
        if plan is None:
            return None
        native = self._native_condition_columns()
        kinds = self.transformer_.kinds_
        fixable = {"categorical", "boolean", "discrete"}
        fixed = {
            column: value
            for column, value in plan.equalities().items()
            if str(kinds.get(column)) in fixable and (native == "any" or column in native)
        }
        return fixed or None

    def _domains(self) -> dict[str, list[Any]]:
        """Training values of the coded (categorical, boolean, discrete) columns."""
        domains: dict[str, list[Any]] = {}
        for enc in self.transformer_.encoders_:
            levels = getattr(enc, "levels", None)
            if isinstance(levels, pl.Series):
                domains[enc.name] = levels.to_list()
        return domains

    # -- hooks ----------------------------------------------------------------------------
    def _trainer(self, frame: pl.DataFrame, *, train_rows: Any, val_rows: Any, private: bool) -> Trainer | None:
        raise NotImplementedError

    def _generate(self, n: int, *, generator: torch.Generator, fixed: dict[str, Any] | None) -> pl.DataFrame:
        raise NotImplementedError

    def _native_condition_columns(self) -> set[str] | Literal["any"]:
        return set()

    def _tensors(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _load_tensors(self, tensors: dict[str, torch.Tensor], manifest: dict[str, Any]) -> None:
        raise NotImplementedError

    def _model_config(self) -> dict[str, Any]:
        return {}

    # -- model files ----------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        """The config as JSON-safe constructor parameters (model file and checkpoint): all but where
        and how often this run saved checkpoints."""
        return _json_safe(self.config.model_dump(exclude={"checkpoint_dir", "checkpoint_every"}))

    def _manifest(self) -> dict[str, Any]:
        import numpy
        import torch

        return {
            "kind": self.kind,
            "config": self._config(),
            "model": _json_safe(self._model_config()),
            "transformer": self.transformer_.to_dict(),
            "columns": [{"name": name, "dtype": str(dtype)} for name, dtype in self.columns_.items()],
            "metrics": _json_safe(self.metrics_),
            "n_train_rows": self.n_train_rows_,
            "privacy": getattr(self, "privacy_report_", None),
            "versions": {"doppel": __version__, "torch": torch.__version__, "polars": pl.__version__, "numpy": numpy.__version__},
            # a hash of the rows would let anyone test a guess of the data: withheld under DP
            "data_hash": None if self.private_ else self.data_hash_,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path``: a zip when it ends in ``.zip``, else a new directory."""
        self._check_fitted()
        return write_model_file(path, manifest=self._manifest(), tensors=self._tensors())

    @classmethod
    def load(cls, path: str | Path | bytes, *, device: str | None = None) -> Self:
        """Read a model written by ``save`` (or its zip bytes); ``ModelFileError`` if it is not one.

        Nothing in the file is executed: weights are safetensors, the rest JSON.
        ``device`` overrides the saved device setting (e.g. "cpu" for a GPU-trained model).
        """
        return cls._from_model_file(read_model_file(path, known_kinds={cls.kind}), source=path, device=device)

    @classmethod
    def _from_model_file(cls, model_file: ModelFile, *, source: Any, device: str | None = None) -> Self:
        from engine.transform import DataTransformer

        where = f"{source}" if not isinstance(source, bytes) else "model bytes"
        manifest = model_file.manifest
        try:
            config = cls.config_class.from_saved(manifest["config"])  # legacy names mapped
            if device is not None:
                config["device"] = device
            model = cls(**config)
            model.transformer_ = DataTransformer.from_dict(manifest["transformer"])
            model.columns_ = dict(model.transformer_.dtypes_)
            names = [c["name"] for c in manifest["columns"]]
            if names != list(model.columns_):
                raise ModelFileError(f"{where}: the manifest's columns {names} do not match its transformer's {list(model.columns_)}")
            model.metrics_ = dict(manifest["metrics"])
            model.n_train_rows_ = int(manifest["n_train_rows"])
            model.data_hash_ = str(manifest["data_hash"])
            if manifest.get("privacy") is not None:
                model.privacy_report_ = dict(manifest["privacy"])
            model._load_tensors(dict(model_file.tensors), manifest)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
            raise ModelFileError(f"{where}: not a valid {cls.kind} model ({type(err).__name__}: {err})") from None
        return model


__all__ = ["MAX_SAMPLE_ROWS", "SAMPLE_ROUND_ROWS", "Progress", "Synthesizer", "frame_hash", "resolve_device"]
