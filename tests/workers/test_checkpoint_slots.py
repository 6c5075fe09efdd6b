"""A checkpoint damaged in mid-upload never costs the job its resume: the other slot is used."""

from __future__ import annotations

from pathlib import Path

import polars as pl

import engine
from engine.models.checkpoints import CHECKPOINT_NAME
from infra.storage.local import LocalStore
from tests.workers.support import FAST_TRAINING
from workers.train_child import _CheckpointUploader, _restore_checkpoint
from workers.training import checkpoint_keys


def _checkpoints(adult: pl.DataFrame, folder: Path, store: LocalStore, keys: list[str]) -> None:
    """Train four epochs with a checkpoint after every one, uploading each like the training child."""
    uploader = _CheckpointUploader(store, local=folder / CHECKPOINT_NAME, keys=keys)
    engine.train(adult, model="tvae", seed=0, epochs=4, checkpoint_dir=str(folder), checkpoint_every=1,
                 on_progress=lambda progress: uploader.sync(), **FAST_TRAINING)


def test_uploads_alternate_and_the_latest_readable_slot_is_restored(adult: pl.DataFrame, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    keys = list(checkpoint_keys("job-1"))
    _checkpoints(adult, tmp_path / "train", store, keys)
    assert all(store.exists(key) for key in keys)
    epochs = {key: _restore_checkpoint(store, [key], tmp_path / key.replace("/", "_")).epochs_done
              for key in keys}
    latest = max(epochs.values())
    assert sorted(epochs.values()) == [latest - 1, latest]
    (tmp_path / "restore").mkdir()
    assert _restore_checkpoint(store, keys, tmp_path / "restore").epochs_done == latest


def test_a_slot_damaged_by_a_killed_upload_is_skipped(adult: pl.DataFrame, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    keys = list(checkpoint_keys("job-2"))
    _checkpoints(adult, tmp_path / "train", store, keys)
    folder = tmp_path / "probe"
    folder.mkdir()
    newest = max(keys, key=lambda key: _restore_checkpoint(store, [key], folder).epochs_done)
    older = next(key for key in keys if key != newest)
    # A worker killed between publishing the data and its checksum record: new bytes, old record.
    data = next(path for path in (tmp_path / "objects").rglob(Path(newest).name) if not path.name.startswith("."))
    data.write_bytes(data.read_bytes() + b"partial")
    (tmp_path / "restore").mkdir()
    restored = _restore_checkpoint(store, keys, tmp_path / "restore")
    expected = _restore_checkpoint(store, [older], folder)
    assert restored.epochs_done == expected.epochs_done
    assert (tmp_path / "restore" / CHECKPOINT_NAME).exists()


def test_no_readable_slot_means_a_fresh_start(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    keys = list(checkpoint_keys("job-3"))
    store.put_bytes(keys[0], b"not a zip file")
    (tmp_path / "restore").mkdir()
    assert _restore_checkpoint(store, keys, tmp_path / "restore") is None
