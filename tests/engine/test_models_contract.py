"""The Synthesizer contract, checked for every model kind the registry lists.

Each kind is trained briefly (a few epochs) on a seeded 2,000-row sample of the real adult
table, once per module; the checks read like the contract in the docstring of engine/models/base.py.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.errors import ConfigError
from engine.models.conditions import InfeasibleConditionError
from engine.models.base import Progress, Synthesizer
from engine.models.files import ModelFileError
from engine.models.registry import available_kinds, load_model, model_class
from engine.transform import OTHER_LABEL

KINDS = available_kinds()
EPOCHS = 3
# Small mixtures keep the transformer's fit quick; the contract does not depend on them.
TRANSFORMER = {"n_modes": 5, "gmm_sample_rows": 2_000, "gmm_max_iter": 50}


def read_adult(path: Path, *, rows: int, seed: int) -> pl.DataFrame:
    """adult.csv as polars reads it, leading spaces stripped and '?' as null, sampled."""
    frame = pl.read_csv(path)
    strings = [c for c, t in frame.schema.items() if t == pl.String]
    frame = frame.with_columns(pl.col(strings).str.strip_chars_start()).with_columns(
        pl.when(pl.col(c) == "?").then(None).otherwise(pl.col(c)).alias(c) for c in strings
    )
    return frame.sample(rows, seed=seed)


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    return read_adult(datasets / "adult.csv", rows=2_000, seed=7)


def _make(kind: str, **params: object) -> Synthesizer:
    return model_class(kind)(epochs=EPOCHS, seed=11, device="cpu", transformer_params=TRANSFORMER, **params)


class Trained:
    """One kind fitted once: the model, what fit returned, the progress it reported."""

    def __init__(self, kind: str, data: pl.DataFrame, checkpoints: Path) -> None:
        self.events: list[Progress] = []
        self.model = _make(kind, on_progress=self.events.append, checkpoint_dir=checkpoints, checkpoint_every=1)
        self.returned = self.model.fit(data)


@pytest.fixture(scope="module", params=KINDS)
def trained(request: pytest.FixtureRequest, adult: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return Trained(request.param, adult, tmp_path_factory.mktemp(f"ckpt-{request.param}"))


def _weights(model: Synthesizer) -> dict[str, np.ndarray]:
    return {name: t.detach().cpu().numpy().copy() for name, t in model._tensors().items()}


def _same_weights(a: Synthesizer, b: Synthesizer) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def test_the_registry_lists_the_installed_models() -> None:
    assert "tvae" in KINDS
    assert all(model_class(kind).kind == kind for kind in KINDS)


def test_fit_returns_self(trained: Trained) -> None:
    assert trained.returned is trained.model


def test_sample_returns_n_rows_with_the_training_columns_and_dtypes(trained: Trained, adult: pl.DataFrame) -> None:
    rows = trained.model.sample(1_234, seed=1)
    assert rows.height == 1_234
    assert rows.schema == adult.schema


def test_categoricals_never_leave_the_training_domain(trained: Trained, adult: pl.DataFrame) -> None:
    rows = trained.model.sample(3_000, seed=2)
    merged = trained.model.transformer_.protections_["columns"]
    for name, dtype in adult.schema.items():
        if dtype != pl.String:
            continue
        allowed = set(adult.get_column(name).to_list()) | ({OTHER_LABEL} if name in merged else set())
        assert set(rows.get_column(name).to_list()) <= allowed, name


def test_numerics_stay_within_the_capped_training_range(trained: Trained, adult: pl.DataFrame) -> None:
    rows = trained.model.sample(3_000, seed=3)
    caps = trained.model.transformer_.protections_["columns"]
    for name, dtype in adult.schema.items():
        if not dtype.is_numeric():
            continue
        col = rows.get_column(name)
        lo, hi = adult.get_column(name).min(), adult.get_column(name).max()
        if name in caps and "capping" in caps[name]:
            lo, hi = caps[name]["capping"]["lower"], caps[name]["capping"]["upper"]
        assert lo <= col.min() and col.max() <= hi, (name, lo, hi, col.min(), col.max())


def test_the_same_seed_gives_identical_rows_and_other_seeds_differ(trained: Trained) -> None:
    first = trained.model.sample(500, seed=5)
    assert first.equals(trained.model.sample(500, seed=5))
    assert not first.equals(trained.model.sample(500, seed=6))


def test_a_saved_directory_loads_back_to_identical_samples(trained: Trained, tmp_path: Path) -> None:
    path = trained.model.save(tmp_path / "model")
    loaded = load_model(path)
    assert type(loaded) is type(trained.model)
    assert loaded.sample(400, seed=9).equals(trained.model.sample(400, seed=9))


def test_a_saved_zip_loads_back_to_identical_samples(trained: Trained, tmp_path: Path) -> None:
    path = trained.model.save(tmp_path / "model.zip")
    loaded = type(trained.model).load(path)
    assert loaded.sample(400, seed=9, conditions="age > 40").equals(trained.model.sample(400, seed=9, conditions="age > 40"))


def test_dict_conditions_hold_on_every_row(trained: Trained) -> None:
    rows = trained.model.sample(300, seed=4, conditions={"sex": "Female", "workclass": ["Private", "State-gov"]})
    assert rows.height == 300
    assert (rows.get_column("sex") == "Female").all()
    assert rows.get_column("workclass").is_in(["Private", "State-gov"]).all()


def test_expression_conditions_hold_on_every_row(trained: Trained) -> None:
    rows = trained.model.sample(50, seed=4, conditions="age > 65 and sex == 'Female'")
    assert rows.height == 50
    assert (rows.get_column("age") > 65).all()
    assert (rows.get_column("sex") == "Female").all()


def test_an_infeasible_condition_fails_naming_it_and_its_acceptance_rate(trained: Trained) -> None:
    with pytest.raises(InfeasibleConditionError, match=r"age > 200.*acceptance rate 0%") as info:
        trained.model.sample(10, seed=1, conditions="sex == 'Male' and age > 200")
    assert info.value.condition == "age > 200"
    assert info.value.acceptance_rate == 0.0


def test_progress_reports_epochs_losses_and_eta(trained: Trained) -> None:
    events = [e for e in trained.events if e.stage == "fit"]
    assert events, "no progress was reported"
    assert {e.epochs for e in events} == {EPOCHS}
    assert max(e.epoch for e in events) == trained.model.metrics_["epochs_run"]
    assert all(e.losses and all(np.isfinite(v) for v in e.losses.values()) for e in events)
    assert events[-1].eta_s is not None and events[-1].eta_s >= 0
    assert [e.fraction for e in events] == sorted(e.fraction for e in events)


def test_training_is_deterministic_on_cpu_for_a_seed(trained: Trained, adult: pl.DataFrame) -> None:
    again = _make(trained.model.kind, checkpoint_dir=None).fit(adult)
    assert _same_weights(again, trained.model)


class Interrupt(Exception):
    pass


def test_a_run_resumed_from_a_checkpoint_ends_with_the_uninterrupted_weights(
    trained: Trained, adult: pl.DataFrame, tmp_path: Path
) -> None:
    def stop_in_last_epoch(p: Progress) -> None:
        if p.epoch == EPOCHS:
            raise Interrupt

    interrupted = _make(trained.model.kind, on_progress=stop_in_last_epoch, checkpoint_dir=tmp_path, checkpoint_every=1)
    with pytest.raises(Interrupt):
        interrupted.fit(adult)
    with pytest.raises(ConfigError, match="not fitted yet"):  # a broken-off fit leaves no half-model to sample
        interrupted.sample(1)
    resumed = _make(trained.model.kind, checkpoint_dir=tmp_path, checkpoint_every=1).fit(adult, resume=True)
    assert _same_weights(resumed, trained.model)


def test_resume_refuses_a_checkpoint_of_other_data(trained: Trained, adult: pl.DataFrame) -> None:
    # the checkpoint_dir of the module's model holds a checkpoint of `adult` (a model's parameters are fixed once built)
    model = _make(trained.model.kind, checkpoint_dir=trained.model.checkpoint_dir, checkpoint_every=1)
    with pytest.raises(ConfigError, match="different training data"):
        model.fit(adult.head(1_000), resume=True)


def test_a_tampered_weights_file_fails_to_load(trained: Trained, tmp_path: Path) -> None:
    path = trained.model.save(tmp_path / "model")
    weights = path / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(path)


class _Payload:
    """Unpickling this would create the marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def test_a_crafted_pickle_in_a_model_file_fails_to_load_and_runs_no_code(trained: Trained, tmp_path: Path) -> None:
    import hashlib

    path = trained.model.save(tmp_path / "model.zip")
    marker = tmp_path / "code-ran"
    payload = pickle.dumps(_Payload(marker))
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("model.json"))
    manifest["weights_sha256"] = hashlib.sha256(payload).hexdigest()  # the attacker fixes the checksum too
    crafted = tmp_path / "crafted.zip"
    with zipfile.ZipFile(crafted, "w") as zf:
        zf.writestr("model.json", json.dumps(manifest))
        zf.writestr("weights.safetensors", payload)
    with pytest.raises(ModelFileError, match="not a valid safetensors file"):
        load_model(crafted)
    assert not marker.exists()


def test_a_torch_pickle_archive_is_refused_as_a_foreign_file(tmp_path: Path) -> None:
    import torch

    marker = tmp_path / "code-ran"
    foreign = tmp_path / "foreign.zip"
    torch.save({"payload": _Payload(marker)}, foreign)
    with pytest.raises(ModelFileError, match="not a Doppel model archive"):
        load_model(foreign)
    assert not marker.exists()


def test_a_model_file_relabelled_as_another_kind_fails_to_load(trained: Trained, tmp_path: Path) -> None:
    others = [k for k in KINDS if k != trained.model.kind]
    if not others:
        pytest.fail("the registry lists a single model kind; at least tvae and another are expected")
    path = trained.model.save(tmp_path / "model")
    manifest = json.loads((path / "model.json").read_text())
    manifest["kind"] = others[0]
    (path / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match=f"not a valid {others[0]} model"):
        load_model(path)
