"""The training job's one spec: built once, stored as the payload, read back unchanged; old payloads still read."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from infra.jobs.training_spec import ChildRun, TrainingJobSpec
from infra.records.holdouts import HoldoutRule
from infra.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, checkpoint_every_epochs=7, holdout_share=0.25)  # type: ignore[arg-type]


def _spec(**changes: object) -> TrainingJobSpec:
    fields: dict[str, object] = {
        "dataset_id": "d1", "dataset_version_id": "v1", "model_id": "m1", "model": "argn", "model_kind": "argn",
        "params": {"batch_size": 200, "transformer_params": {"n_modes": 3}}, "epochs": 2, "seed": 3, "device": "cpu",
        "privacy": {"epsilon": 2.0, "delta": 1e-5},
        "holdout": HoldoutRule(share=0.2, min_rows=10, min_table_rows=100, stratify="income"),
        "time_limit_s": 60.0, "checkpoint_every": 2, "distributed": True, "processes": 2,
    }
    return TrainingJobSpec.build(**{**fields, **changes})


def test_the_payload_reads_back_as_the_same_spec(tmp_path: Path) -> None:
    spec = _spec()
    payload = spec.to_payload()
    assert payload["holdout"] == {"share": 0.2, "min_rows": 10, "min_table_rows": 100, "stratify": "income"}
    assert (payload["model"], payload["model_kind"], payload["epochs"], payload["processes"]) == ("argn", "argn", 2, 2)
    assert TrainingJobSpec.from_payload(payload, settings=_settings(tmp_path)) == spec


def test_the_child_gets_the_spec_unchanged(tmp_path: Path) -> None:
    spec = _spec()
    run = ChildRun(spec=spec, tenant="t", job_id="j", parent_pid=1, storage_url="file:///x", dataset_key="k",
                   holdout_key="h", checkpoint_keys=("a", "b"), model_key="m", work_dir=str(tmp_path))
    read = ChildRun.read(run.model_dump_json())
    assert read.spec == spec and read.spec.to_payload() == spec.to_payload()


def test_a_payload_queued_before_the_spec_still_runs(tmp_path: Path) -> None:
    old = {"dataset_version_id": "v1", "model_id": "m1", "model": "tvae", "epochs": 24, "seed": 0, "device": "cpu",
           "params": {"batch_size": 200}}
    spec = TrainingJobSpec.from_payload(old, settings=_settings(tmp_path))
    assert (spec.model, spec.epochs, spec.params, spec.distributed, spec.processes) == ("tvae", 24, {"batch_size": 200},
                                                                                        False, None)
    assert spec.checkpoint_every == 7 and spec.holdout.share == 0.25, "what it lacks comes from today's settings"
    assert spec.privacy is None and spec.dataset_id is None


def test_a_bad_field_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="processes"):
        _spec(processes=0)
    with pytest.raises(ConfigError, match="device"):
        _spec(device="tpu")
    with pytest.raises(ConfigError, match="unknown"):
        _spec(unknown=1)
