"""The training process: ``python -m workers.train_child RUN.json`` (or under ``torchrun``).

A worker starts one per training job so that a time limit or a cancellation can stop the
training for real, native code included: the worker kills this process. It touches no
database: it reads the dataset version from the object store, sets the job's holdout aside
(``infra.records.holdouts``: before anything else reads the rows; only the training part
reaches the engine, and the holdout's row positions go to the store), trains with the engine,
uploads a checkpoint every few epochs (so a job taken over after a crash resumes from it),
saves the model file to the store, and reports to the worker by printing lines
``@doppel {json}`` on stdout (anything else on stdout is ignored).

It dies with its worker: stdin is a pipe from the worker, and end-of-file on it (the worker
is gone, even after ``kill -9``) ends this process; on Linux the parent-death signal does the
same. ``RUN.json`` is a ``ChildRun`` (``infra.jobs.training_spec``): the job's spec as it was
submitted, and this attempt's job id, work folder and store keys.

A schema job (``spec.trains_on == "tables"``) reads the version's zip of ``<table>.parquet``
files, sets whole root subtrees aside as its holdout (``infra.records.schema_holdouts``: the
record alone rebuilds both parts, so no row positions are stored), trains with
``engine.train_tables`` and saves one zip. It writes no checkpoints: a retried schema job
starts again from its first table. A sequence job (``"sequences"``) reads one long table,
sets whole histories (or each history's end) aside (``infra.records.sequence_holdouts``) and
trains ``engine.train_sequences`` with the version's roles, also without checkpoints.

Under ``torchrun`` (a distributed job) the process joins the process group first
(``engine.distributed.join_from_environment``) and the ranks train one model data-parallel:
every rank reads the same rows and draws the same holdout (seeded), and rank 0 alone talks to
the worker, restores and uploads checkpoints, and saves the model.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
import traceback
import zipfile
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.errors import DoppelError
from infra.jobs.training_spec import ChildRun

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.checkpoints import CheckpointInfo

MESSAGE_PREFIX = "@doppel "
_stdout_lock = threading.Lock()


def _is_rank_zero() -> bool:
    """Whether this process reports and writes: rank 0 of the process group once joined, else by torchrun's RANK."""
    if "torch.distributed" in sys.modules:
        from engine.distributed import world

        joined = world()
        if joined.size > 1:
            return joined.is_main
    return os.environ.get("RANK", "0") == "0"


def emit(kind: str, *, every_rank: bool = False, **fields: Any) -> None:
    """Send one message to the worker (rank 0 only, unless ``every_rank``: a failure on any rank is worth telling)."""
    if not every_rank and not _is_rank_zero():
        return
    line = MESSAGE_PREFIX + json.dumps({"type": kind, **fields}, default=str, allow_nan=False)
    with _stdout_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _die_with_parent(parent_pid: int | None) -> None:
    """Exit when the worker goes away: end-of-file on stdin, and PR_SET_PDEATHSIG on Linux."""
    if sys.platform.startswith("linux") and parent_pid is not None:
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            if os.getppid() != parent_pid:  # the worker died before prctl took effect
                os._exit(70)
        except OSError:
            pass

    def watch() -> None:
        # The raw descriptor, not sys.stdin: a thread blocked in a buffered read would hold its
        # lock while the interpreter shuts down at the end of a normal run.
        try:
            while os.read(0, 65536):
                pass
        except OSError:
            pass
        os._exit(70)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _error_category(error: BaseException) -> str:
    from engine.errors import ConfigError, InputError
    from infra.jobs.broker import is_transient
    from infra.storage.errors import StorageError

    if is_transient(error):
        return "transient"
    if isinstance(error, (InputError, ConfigError, StorageError)):
        return "input"
    return "internal"


class _CheckpointUploader:
    """Copies the engine's local checkpoint to the object store whenever it changes.

    Uploads alternate between the job's two slots, so the one being overwritten is never the
    only copy (a kill in mid-upload leaves the previous checkpoint readable).
    """

    def __init__(self, store: Any, *, local: Path, keys: Sequence[str]) -> None:
        self.store = store
        self.local = local
        self.keys = list(keys)
        self._uploads = 0
        self._seen: int | None = None

    def sync(self) -> None:
        from engine.models.checkpoints import checkpoint_info

        try:
            stamp = self.local.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if stamp == self._seen:
            return
        self._seen = stamp
        epochs_done = checkpoint_info(self.local).epochs_done
        self.store.put_file(self.keys[self._uploads % len(self.keys)], self.local, content_type="application/zip")
        self._uploads += 1
        emit("checkpoint", epoch=epochs_done)


def _restore_checkpoint(store: Any, keys: Sequence[str], directory: Path) -> CheckpointInfo | None:
    """Download the job's latest readable checkpoint into ``directory``; what it holds, or None when there is none.

    A slot that fails its checksum or does not parse (its writer was killed mid-upload) is
    skipped: the other slot holds the checkpoint before it.
    """
    from engine.models.checkpoints import CHECKPOINT_NAME, checkpoint_info

    best: tuple[CheckpointInfo, Path] | None = None
    for slot, key in enumerate(keys):
        if not store.exists(key):
            continue
        path = directory / f"slot-{slot}.zip"
        try:
            store.get_file(key, path)
            info = checkpoint_info(path)
        except (DoppelError, zipfile.BadZipFile) as err:
            emit("progress", message=f"checkpoint {key} is unreadable and skipped: {err}")
            continue
        if best is None or info.epochs_done > best[0].epochs_done:
            best = (info, path)
    if best is None:
        return None
    best[1].replace(directory / CHECKPOINT_NAME)
    return best[0]


def _epoch_losses(progress: Any) -> dict[str, float] | None:
    """The losses of a finished epoch (finite values only: the message is strict JSON); None mid-epoch."""
    if progress.step < progress.steps_per_epoch:
        return None
    finite = {name: float(value) for name, value in progress.losses.items() if math.isfinite(value)}
    return finite or None


def _set_aside_holdout(frame: Any, run: ChildRun, store: Any) -> tuple[Any, Any]:
    """Split off the job's holdout before anything else reads the rows; returns (training part, record).

    Only the training part goes on to the engine (profiling, transformer, DP preprocessing,
    model). Every rank draws the same split (same rows, rule and seed); rank 0 stores the
    holdout's row positions (lineage). A resumed attempt draws it again and writes the same object.
    """
    from infra.records.holdouts import positions_bytes, set_aside

    parts = set_aside(frame, rule=run.spec.holdout, seed=run.spec.seed, positions_key=run.holdout_key)
    record = parts.record
    if parts.holdout_positions is None:
        emit("progress", fraction=0.0, message=f"no holdout: {record.reason}")
    else:
        if _is_rank_zero():
            store.put_bytes(run.holdout_key, positions_bytes(parts.holdout_positions),
                            content_type="application/octet-stream")
        emit("progress", fraction=0.0, message=f"set aside {record.rows:,} of {record.table_rows:,} rows as the "
                                               f"holdout (seed {record.seed}); training on {record.training_rows:,}")
    return parts.training, record


def train(run: ChildRun) -> dict[str, Any]:
    """Train as ``run`` says; returns the result message's fields (empty on ranks other than 0).

    Joins the torchrun process group first when there is one, and leaves it at the end (through
    a barrier when every rank succeeded; see ``engine.distributed.leave``).
    """
    from engine.distributed import join_from_environment, leave

    processes = join_from_environment(device=run.spec.device)
    try:
        result = _train(run, processes=processes.size)
    except BaseException:
        leave(synchronize=False)
        raise
    leave()
    return result


class _TablesProgress:
    """Relays ``engine.train_tables``'s progress, one table after another, as one job's progress.

    The engine reports each table's own fit (its fraction starts again at 0 for the next
    table, in generation order); a fraction that goes back marks the next table. The job's
    fraction counts finished tables plus the share of the current one.
    """

    def __init__(self, n_tables: int, *, part: str = "table") -> None:
        self.n_tables = max(1, n_tables)
        self.part = part
        self.table = 0
        self.last = 0.0

    def __call__(self, progress: Any) -> None:
        if progress.fraction + 1e-9 < self.last and self.table < self.n_tables - 1:
            self.table += 1
        self.last = progress.fraction
        emit("progress", fraction=(self.table + progress.fraction) / self.n_tables,
             message=f"{self.part} {self.table + 1} of {self.n_tables}: epoch {progress.epoch}/{progress.epochs}")


def _train_tables(run: ChildRun, *, store: Any, work: Path) -> dict[str, Any]:
    """A schema job: read the tables, set the holdout aside, ``engine.train_tables``, save one zip.

    No checkpoints: a retried schema job trains again from its first table (it says so in
    the job's messages).
    """
    import engine
    from infra.records.schema_holdouts import set_aside_tables
    from infra.usecases.dataset_store import tables_from_object

    spec = run.spec
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    tables = tables_from_object(store.get_bytes(run.dataset_key))
    emit("progress", fraction=0.0, message="read " + ", ".join(f"{name} ({frame.height:,} rows)"
                                                            for name, frame in tables.items()))
    training, _, holdout = set_aside_tables(tables, keys=spec.keys, rule=spec.holdout, seed=spec.seed)
    if holdout.has_holdout:
        held = ", ".join(f"{table} {rows:,}" for table, rows in holdout.rows.items())
        emit("progress", fraction=0.0, message=f"set aside whole subtrees of {holdout.share:.0%} of the root rows as "
                                               f"the holdout (seed {holdout.seed}): {held} rows")
    else:
        emit("progress", fraction=0.0, message=f"no holdout: {holdout.reason}")
    emit("progress", fraction=0.0, message="related tables train without checkpoints: a retried job starts again")
    model = engine.train_tables(training, keys=spec.keys, model=spec.model, seed=spec.seed, privacy=spec.privacy,
                                max_training_time_s=spec.max_training_time_s, device=spec.device,
                                on_progress=_TablesProgress(len(training)))
    fit_wall = time.perf_counter() - started_wall
    return _whole_result(run, store=store, work=work, model=model, model_type="tables", config=_tables_config(model, spec),
                         metrics=_tables_metrics(model, fit_seconds=fit_wall), holdout=holdout.to_dict(),
                         fit_wall=fit_wall, started_cpu=started_cpu)


def _whole_result(run: ChildRun, *, store: Any, work: Path, model: Any, model_type: str, config: dict[str, Any],
                  metrics: dict[str, Any], holdout: dict[str, Any], fit_wall: float, started_cpu: float) -> dict[str, Any]:
    """Save a schema's or histories' model as one zip in the store; the result message of its run."""
    model_path = model.save(work / "model.zip")
    info = store.put_file(run.model_key, model_path, content_type="application/zip")
    devices = {str(getattr(m, "device_", "cpu")) for m in model.models_.values()}
    return {
        "object_key": run.model_key,
        "sha256": info.sha256,
        "n_bytes": info.size,
        "model_type": model_type,
        "config": config,
        "metrics": metrics,
        "privacy": getattr(model, "privacy_spent_", None),
        "holdout": holdout,
        "resumed_from_epoch": None,
        "epochs_run": None,
        "device": ", ".join(sorted(devices)),
        "processes": 1,
        "cpu_seconds": time.process_time() - started_cpu,
        "gpu_seconds": fit_wall if any(d.startswith("cuda") for d in devices) else 0.0,
    }


def _tables_config(model: Any, spec: Any) -> dict[str, Any]:
    """A schema model version's settings: the keys, the tables (model kind, rows trained on, context parent)."""
    return {
        "model": spec.model,
        "seed": spec.seed,
        "device": spec.device,
        "max_training_time_s": spec.max_training_time_s,
        "keys": model.keys,
        "order": list(model.order_),
        "tables": {
            table: {"model": model.models_[table].kind, "rows": int(model.rows_[table]),
                    "context": model.layouts_[table].context.parent if model.layouts_[table].context else None}
            for table in model.schema_.tables
        },
    }


def _tables_metrics(model: Any, *, fit_seconds: float) -> dict[str, Any]:
    """What ``train_tables`` reports: its notes, and each table's run (epochs, time, early or timed stop)."""
    per_table = {table: _run_facts(fitted) for table, fitted in model.models_.items()}
    metrics: dict[str, Any] = {"notes": list(model.notes_), "fit_seconds": fit_seconds, "tables": per_table}
    truncation = getattr(model, "truncation_", None)
    if truncation:  # under DP: children per parent kept, and the rows that dropped
        metrics["truncation"] = truncation
    return metrics


def _train_sequences(run: ChildRun, *, store: Any, work: Path) -> dict[str, Any]:
    """A sequence job: read the long table, set histories (or their ends) aside, ``engine.train_sequences``, save.

    No checkpoints, as for a schema: a retried job trains again.
    """
    import engine
    from infra.records.sequence_holdouts import set_aside_sequences

    spec = run.spec
    roles = dict(spec.sequence or {})
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    frame = engine.read(store.get_bytes(run.dataset_key), name=Path(run.dataset_key).name)
    emit("progress", fraction=0.0, message=f"read {frame.height:,} steps of {frame.get_column(roles['entity']).n_unique():,} "
                                           f"histories ({roles['entity']} over {roles['order_by']})")
    training, _, holdout = set_aside_sequences(frame, entity=roles["entity"], order_by=roles["order_by"],
                                               rule=spec.holdout, seed=spec.seed)
    if holdout.has_holdout:
        how = (f"{holdout.holdout_entities:,} whole histories" if holdout.by == "entity"
               else f"the last {holdout.share:.0%} of each history")
        emit("progress", fraction=0.0, message=f"set aside {how} as the holdout (seed {holdout.seed}): "
                                               f"{holdout.rows:,} steps; training on {holdout.training_rows:,}")
    else:
        emit("progress", fraction=0.0, message=f"no holdout: {holdout.reason}")
    emit("progress", fraction=0.0, message="histories train without checkpoints: a retried job starts again")
    model = engine.train_sequences(training, entity=roles["entity"], order_by=roles["order_by"],
                                   context=list(roles.get("context") or []) or None, model=spec.model, seed=spec.seed,
                                   privacy=spec.privacy, max_training_time_s=spec.max_training_time_s,
                                   device=spec.device, on_progress=_TablesProgress(2, part="model (entities, then steps)"))
    fit_wall = time.perf_counter() - started_wall
    learned = {"entity": model.entity_, "order_by": model.order_by_, "context": list(model.context_),
               "steps": list(model.steps_), "entities": int(model.lengths_["entities"]),
               "rows": int(training.height), "min_length": int(model.lengths_["min"]),
               "max_length": int(model.lengths_["max"])}
    runs = {part: _run_facts(fitted) for part, fitted in model.models_.items()}
    return _whole_result(run, store=store, work=work, model=model, model_type="sequences",
                         config={"model": spec.model, "seed": spec.seed, "device": spec.device,
                                 "max_training_time_s": spec.max_training_time_s, "sequence": roles},
                         metrics={"notes": list(model.notes_), "fit_seconds": fit_wall, "sequence": learned,
                                  "models": runs},
                         holdout=holdout.to_dict(), fit_wall=fit_wall, started_cpu=started_cpu)


def _run_facts(fitted: Any) -> dict[str, Any]:
    """How one of a schema's or histories' models trained: epochs, time, early or timed stop, best validation loss."""
    metrics = dict(getattr(fitted, "metrics_", None) or {})
    return {name: _finite(metrics.get(name)) for name in
            ("epochs_run", "epochs_planned", "fit_seconds", "stopped_early", "stopped_on_time", "best_val_loss")}


def _finite(value: Any) -> Any:
    """``value``, or None for a float that is not finite (the result message is strict JSON)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _train(run: ChildRun, *, processes: int) -> dict[str, Any]:
    import engine
    from engine.distributed import broadcast_object
    from engine.models.checkpoints import CHECKPOINT_NAME, model_to_resume
    from engine.models.files import read_model_file
    from infra.storage import open_store

    spec = run.spec
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    store = open_store(run.storage_url).for_tenant(run.tenant)
    work = Path(run.work_dir)
    if spec.is_schema:
        return _train_tables(run, store=store, work=work)
    if spec.is_sequence:
        return _train_sequences(run, store=store, work=work)
    checkpoints = work / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    frame = engine.read(store.get_bytes(run.dataset_key), name=Path(run.dataset_key).name)
    emit("progress", fraction=0.0, message=f"read {frame.height:,} rows x {frame.width} columns")
    frame, holdout = _set_aside_holdout(frame, run, store)

    uploader = _CheckpointUploader(store, local=checkpoints / CHECKPOINT_NAME, keys=run.checkpoint_keys)
    is_rank_zero = _is_rank_zero()

    def on_progress(progress: Any) -> None:
        if not is_rank_zero:
            return
        uploader.sync()  # the engine writes a checkpoint after reporting an epoch: upload it at the next report
        emit("progress", fraction=progress.fraction, epoch=progress.epoch, epochs=progress.epochs,
             message=f"epoch {progress.epoch}/{progress.epochs}", epoch_losses=_epoch_losses(progress))

    # Rank 0 fetches the checkpoint into the folder every rank reads; the broadcast also waits for it.
    restored = broadcast_object(_restore_checkpoint(store, run.checkpoint_keys, checkpoints) if is_rank_zero else None)
    resumed_from = None
    if restored is not None:
        # The model exactly as the interrupted run configured it ("auto" was resolved then).
        resumed_from = restored.epochs_done
        emit("resumed", epoch=resumed_from)
        model = model_to_resume(checkpoints, on_progress=on_progress, checkpoint_every=spec.checkpoint_every)
        model.fit(frame, resume=True)
    else:
        model = engine.train(frame, model=spec.model, seed=spec.seed, epochs=spec.epochs, device=spec.device,
                             privacy=spec.privacy, on_progress=on_progress, checkpoint_dir=str(checkpoints),
                             checkpoint_every=spec.checkpoint_every, **spec.params)
    fit_wall = time.perf_counter() - started_wall
    if not is_rank_zero:
        return {}
    model_path = model.save(work / "model.zip")
    info = store.put_file(run.model_key, model_path, content_type="application/zip")
    saved = read_model_file(model_path).manifest
    on_gpu = str(getattr(model, "device_", "cpu")).startswith("cuda")
    return {
        "object_key": run.model_key,
        "sha256": info.sha256,
        "n_bytes": info.size,
        "model_type": saved["kind"],
        "config": saved["config"],
        "metrics": saved["metrics"],
        "privacy": saved.get("privacy"),
        "holdout": holdout.to_dict(),
        "resumed_from_epoch": resumed_from,
        "epochs_run": len(saved["metrics"].get("history", [])),
        "device": str(getattr(model, "device_", "cpu")),
        "processes": processes,
        "cpu_seconds": time.process_time() - started_cpu,
        "gpu_seconds": fit_wall * processes if on_gpu else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m workers.train_child RUN.json", file=sys.stderr)
        return 2
    run = ChildRun.read(Path(argv[0]).read_text())
    _die_with_parent(run.parent_pid if os.environ.get("WORLD_SIZE") is None else None)
    emit("started", pid=os.getpid())
    try:
        result = train(run)
    except BaseException as error:  # noqa: BLE001 - reported to the worker, which decides
        emit("error", every_rank=True, category=_error_category(error), error_type=type(error).__name__, message=str(error),
             traceback=traceback.format_exc(limit=20))
        return 1
    if result:
        emit("result", **result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
