"""The one description of a training job, from the request to the training process.

``TrainingJobSpec`` is built once, by the use case (``infra.usecases.training``), from what
was asked; ``to_payload()`` is the job's stored payload (a flat JSON object, so the job board,
the privacy charges and the model-line rule read the same keys as before). The worker reads it
back with ``TrainingJobSpec.from_payload`` and hands it, unchanged, to the training process
inside a ``ChildRun``: the spec plus the facts known only when an attempt runs (the job id,
the work folder, the store's keys). Nothing re-shapes the fields between these layers.

A job queued before this spec existed (its payload has no ``spec_version``) is read in one
place, ``from_payload``: the settings it lacks take the platform's values of today.

A job trains one table (``trains_on == "table"``) or a schema of related tables
(``"tables"``: ``engine.train_tables`` with the ``keys`` recorded on the dataset version,
sharing ``max_training_time_s`` between its tables). A schema job has no epochs, model
parameters or data-parallel processes, and no checkpoints: a retried one starts again.
Payloads written before schema jobs existed lack both fields and read as table jobs. A job
may also train a table of histories (``"sequences"``: ``engine.train_sequences`` with the
version's ``sequence`` roles, under the same rules as a schema job).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.errors import ConfigError
from infra.records.holdouts import HoldoutRule
from infra.settings import Settings

SPEC_VERSION = 1

# The fields of a payload written before ``spec_version`` (read by ``from_payload``).
_LEGACY_FIELDS = ("dataset_id", "dataset_version_id", "model_id", "model", "model_kind", "epochs", "seed", "device",
                  "params", "privacy", "checkpoint_every", "time_limit_s", "distributed", "holdout")


class TrainingJobSpec(BaseModel):
    """Everything about a training job that is fixed when it is submitted.

    ``model``: "auto" or a kind; ``model_kind``: what it trains ("auto" resolved; None when
    only the training can tell). ``params`` go to the model (validated at submit time through
    its configuration). ``privacy``: the ``engine.Privacy`` settings as a dict, or None.
    ``holdout``: the rule that sets rows aside before anything reads them. ``distributed``:
    data-parallel training under ``torchrun`` with ``processes`` processes (None: the
    worker's ``DOPPEL_TORCHRUN_NPROC_PER_NODE``, else one per visible GPU).

    ``trains_on``: "table" or "tables" (a schema). A schema job's ``keys`` are the version's
    (``{"primary_keys", "foreign_keys"}``), ``model`` is the flat model of its root tables
    ("auto" or a kind), ``model_kind`` is "tables", and ``max_training_time_s`` is the whole
    schema's training time; the fields that only make sense for one table stay unset.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    spec_version: Literal[1] = SPEC_VERSION
    dataset_id: str | None = None  # None only in jobs queued before it was recorded
    dataset_version_id: str = Field(min_length=1)
    model_id: str = Field(min_length=1)
    model: str = "auto"
    model_kind: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    epochs: int | None = Field(default=None, ge=1, strict=True)
    seed: int = Field(default=0, ge=0, strict=True)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    privacy: dict[str, Any] | None = None
    holdout: HoldoutRule
    time_limit_s: float | None = Field(default=None, gt=0)
    checkpoint_every: int = Field(ge=1, strict=True)
    distributed: bool = False
    processes: int | None = Field(default=None, ge=1, strict=True)
    trains_on: Literal["table", "tables", "sequences"] = "table"
    keys: dict[str, Any] | None = None
    sequence: dict[str, Any] | None = None
    max_training_time_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _schema_fields(self) -> Self:
        """A schema job carries its keys, a sequence job its roles, and neither the single-table settings."""
        if self.trains_on == "table":
            if self.keys is not None or self.sequence is not None or self.max_training_time_s is not None:
                raise ValueError("keys, sequence and max_training_time_s belong to a schema or sequence job "
                                 "(trains_on='tables' or 'sequences'); a table job's time limit is a model parameter")
            return self
        what = "schema" if self.trains_on == "tables" else "sequence"
        if self.trains_on == "tables" and (self.keys is None or self.sequence is not None):
            raise ValueError("a schema job needs the keys of its tables (and no sequence roles)")
        if self.trains_on == "sequences" and (self.sequence is None or self.keys is not None):
            raise ValueError("a sequence job needs its roles (entity, order_by, context) and no keys")
        unset = {"epochs": self.epochs, "params": self.params or None, "distributed": self.distributed or None,
                 "processes": self.processes}
        given = sorted(name for name, value in unset.items() if value is not None)
        if given:
            raise ValueError(f"a {what} job takes no {', '.join(given)}: they only apply to one table's model")
        return self

    @property
    def is_schema(self) -> bool:
        """Whether the job trains related tables (``engine.train_tables``)."""
        return self.trains_on == "tables"

    @property
    def is_sequence(self) -> bool:
        """Whether the job trains histories (``engine.train_sequences``)."""
        return self.trains_on == "sequences"

    @classmethod
    def build(cls, **fields: Any) -> Self:
        """The spec of ``fields``; ``ConfigError`` naming each bad field, its value and the rule."""
        try:
            return cls.model_validate(fields)
        except ValidationError as err:
            raise spec_error("training job", err) from None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], *, settings: Settings) -> Self:
        """The spec a job's stored payload holds, for today's payloads and those queued before it.

        An older payload (no ``spec_version``) gets what it lacks from ``settings``: the holdout
        rule and the checkpoint interval as the platform sets them now.
        """
        if "spec_version" in payload:
            return cls.build(**payload)
        fields = {name: payload[name] for name in _LEGACY_FIELDS if payload.get(name) is not None}
        fields.setdefault("holdout", HoldoutRule.from_settings(settings).to_dict())
        fields.setdefault("checkpoint_every", settings.checkpoint_every_epochs)
        fields["distributed"] = bool(fields.get("distributed", False))
        return cls.build(**fields)

    def to_payload(self) -> dict[str, Any]:
        """The job's payload: this spec as JSON-ready data (``from_payload`` reads it back)."""
        return self.model_dump(mode="json")


class ChildRun(BaseModel):
    """What the training process is told: the job's spec, unchanged, and this attempt's run-time facts.

    ``parent_pid``: the worker (the child exits when it is gone); ``dataset_key``: the version's
    object; ``holdout_key``, ``checkpoint_keys`` (the two slots written in turn) and
    ``model_key``: where it writes in the tenant's store; ``work_dir``: its local folder.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: TrainingJobSpec
    tenant: str
    job_id: str
    parent_pid: int | None = None
    storage_url: str
    dataset_key: str
    holdout_key: str
    checkpoint_keys: tuple[str, str]
    model_key: str
    work_dir: str

    @classmethod
    def read(cls, text: str) -> Self:
        """The run written by ``model_dump_json``; ``ConfigError`` when it does not parse."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as err:
            raise spec_error("training run", err) from None


def spec_error(what: str, err: ValidationError) -> ConfigError:
    """pydantic's ``err`` as one ``ConfigError``: each field, what it must be, and the value given."""
    parts = []
    for e in err.errors():
        name = ".".join(str(part) for part in e["loc"]) or what
        parts.append(f"{name}: {e['msg']}; got {e.get('input')!r}")
    return ConfigError(f"{what}: " + ". ".join(parts))


__all__ = ["SPEC_VERSION", "ChildRun", "TrainingJobSpec", "spec_error"]
