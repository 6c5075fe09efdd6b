"""Training jobs, the worker's side: run ``workers.train_child`` and watch it.

The training runs in a child process (``python -m workers.train_child``, or ``torchrun`` for a
distributed job) so that a time limit or a cancellation stops it for real, native code
included: the worker kills the child's whole process group. The child reads the dataset
version, trains, checkpoints to the object store every ``checkpoint_every`` epochs
(``DOPPEL_CHECKPOINT_EVERY_EPOCHS`` by default) under ``jobs/<job id>/checkpoint.zip`` and
saves the model to ``models/<model id>/<job id>.zip``. Before anything reads the rows, the
child sets the job's holdout aside (``infra.records.holdouts``; the rule travels in the job's
payload) and stores its row positions under ``models/<model id>/<job id>.holdout.npy``; the
model version records them in ``metrics["holdout"]`` (lineage). A later attempt of the same
job (after a crash) draws the same split, finds the checkpoint and resumes from it. When the child has saved the model, the
runner registers exactly one model version for the job (``catalog.register_model_version``
is idempotent per job), in the transaction that marks the job succeeded.

Differential privacy: a DP job's (epsilon, delta) was reserved on its dataset's budget when it
was submitted. Just before the child process starts (the first moment the data is read), the
worker commits that reservation, for good (``infra.privacy.job_charges.start_charge``); a job
that fails or is cancelled before then gets it back when its end is recorded. A later attempt
finds the charge committed and commits nothing twice: it resumes from the checkpoint (whose
accountant state continues the same budget) or, without one, stops rather than spend the
budget again. A non-DP job is checked against the tenant's sensitive-dataset policy again.

Distributed: a job whose spec says ``distributed`` is launched as
``python -m torch.distributed.run --standalone --nproc-per-node=N -m workers.train_child RUN``
(``torchrun``; N = the spec's ``processes``, else ``DOPPEL_TORCHRUN_NPROC_PER_NODE``, else
every GPU torch sees). The N processes train one model data-parallel (``engine.distributed``:
each process takes its share of every batch and the gradients are averaged, gloo on CPU and
nccl on GPU); every rank reads the same rows and draws the same holdout, and rank 0 alone
reports, checkpoints and writes to the store.

The job's payload is its ``TrainingJobSpec`` (``infra.jobs.training_spec``); the child gets it
unchanged inside a ``ChildRun`` with this attempt's job id, work folder and store keys.

Schemas (``spec.trains_on == "tables"``): the same child trains the version's related tables
with ``engine.train_tables`` and registers one model version of type "tables" whose
``metrics["holdout"]`` is the schema holdout record (``infra.records.schema_holdouts``).
There is no checkpoint and no resume for a schema: a retried schema job starts again, and
the job's log says so (a DP one whose charge an earlier attempt committed stops instead, as
a table job without a checkpoint does). A schema job is never distributed (the use case
refuses it).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from engine.errors import ConfigError, DoppelError, InputError
from infra.db import TenantSession
from infra.db.models import Job, ModelVersion
from infra.jobs.training_spec import ChildRun, TrainingJobSpec
from infra.privacy import check_can_train
from infra.privacy.job_charges import start_charge
from infra.records import catalog
from infra.records.holdouts import RECORD_KEY, holdout_key
from infra.records.quotas import check_storage
from infra.storage.errors import TransientStorageError
from workers.context import Completion, JobCancelled, JobContext
from workers.train_child import MESSAGE_PREFIX

logger = logging.getLogger(__name__)

POLL_S = 0.2
KILL_WAIT_S = 10.0


class TrainingTimeLimitError(DoppelError):
    """The training ran past its time limit and was stopped."""


class TrainingCrashedError(DoppelError):
    """The training process ended without a result (killed by the system, out of memory, …)."""


def checkpoint_key(job_id: str) -> str:
    """The first of the job's two checkpoint slots (see ``checkpoint_keys``)."""
    return f"jobs/{job_id}/checkpoint.zip"


def checkpoint_keys(job_id: str) -> tuple[str, str]:
    """The job's two checkpoint slots, written in turn.

    A worker killed while it overwrites a checkpoint may leave that object unreadable; the
    other slot still holds the checkpoint before it, so a taken-over job can always resume.
    """
    return checkpoint_key(job_id), f"jobs/{job_id}/checkpoint.previous.zip"


def model_key(model_id: str, job_id: str) -> str:
    return f"models/{model_id}/{job_id}.zip"


def child_command(run_path: Path, *, distributed: bool, nproc_per_node: int = 0) -> list[str]:
    """The command line of the training process (``torchrun`` with ``nproc_per_node`` processes when ``distributed``)."""
    if not distributed:
        return [sys.executable, "-m", "workers.train_child", str(run_path)]
    nproc = nproc_per_node or _visible_gpus()
    if nproc < 1:
        raise ConfigError("a distributed training job needs GPUs, and this worker sees none; send it to a GPU "
                          "worker, set the job's processes, or set DOPPEL_TORCHRUN_NPROC_PER_NODE")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "workers.train_child", str(run_path)]


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count()


class _ChildReader(threading.Thread):
    """Parses the child's ``@doppel`` lines into a queue; other output goes to the log."""

    def __init__(self, stream: IO[str], job_id: str) -> None:
        super().__init__(name=f"train-out-{job_id[:8]}", daemon=True)
        self.stream = stream
        self.job_id = job_id
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()

    def run(self) -> None:
        for line in self.stream:
            if line.startswith(MESSAGE_PREFIX):
                try:
                    self.messages.put(json.loads(line[len(MESSAGE_PREFIX):]))
                    continue
                except json.JSONDecodeError:
                    pass
            logger.info("[train %s] %s", self.job_id[:8], line.rstrip())


def _kill(process: subprocess.Popen[str]) -> None:
    """Kill the child and everything it started (its process group), then reap it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
    try:
        process.wait(timeout=KILL_WAIT_S)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait for anyone
        logger.error("training process %d did not exit after SIGKILL", process.pid)


def _child_run(ctx: JobContext, spec: TrainingJobSpec, *, dataset_key: str, work_dir: Path) -> ChildRun:
    """The job's spec, unchanged, with this attempt's run-time facts."""
    return ChildRun(
        spec=spec, tenant=ctx.tenant, job_id=ctx.job_id, parent_pid=os.getpid(),
        storage_url=ctx.environment.store.url, dataset_key=dataset_key,
        holdout_key=holdout_key(spec.model_id, ctx.job_id), checkpoint_keys=checkpoint_keys(ctx.job_id),
        model_key=model_key(spec.model_id, ctx.job_id), work_dir=str(work_dir),
    )


def _raise_child_error(message: dict[str, Any]) -> None:
    text = message.get("message") or message.get("error_type") or "training failed"
    category = message.get("category")
    if category == "transient":
        raise TransientStorageError(text)
    if category == "input":
        raise InputError(text)
    logger.error("training process failed: %s\n%s", text, message.get("traceback", ""))
    raise TrainingCrashedError(f"training failed ({message.get('error_type', 'error')}): {text}")


def run_training(ctx: JobContext) -> Completion:
    """Train the job's model in a child process; the model version is registered on completion."""
    spec = TrainingJobSpec.from_payload(ctx.payload, settings=ctx.settings)
    dataset_version_id, model_id = spec.dataset_version_id, spec.model_id
    with ctx.session() as session:
        dataset_version = catalog.get_dataset_version(session, dataset_version_id)
        catalog.get_model(session, model_id)
        dataset_key, dataset_id = dataset_version.object_key, dataset_version.dataset_id
    if not dataset_key:
        raise InputError(f"dataset version {dataset_version_id} has no stored data to train on")
    _start_privacy(ctx, spec, dataset_id=dataset_id)
    if spec.is_schema or spec.is_sequence:
        what = "related tables" if spec.is_schema else "histories"
        logger.info("job %s: %s train without checkpoints; a retried attempt starts again", ctx.job_id, what)
        ctx.progress(0.0, f"training {what} (no checkpoints: a retried job starts again)")
    limit_s = min(spec.time_limit_s or ctx.settings.train_time_limit_s, ctx.settings.train_time_limit_s)

    work_dir = Path(tempfile.mkdtemp(prefix=f"doppel-train-{ctx.job_id[:8]}-"))
    try:
        run_path = work_dir / "run.json"
        run_path.write_text(_child_run(ctx, spec, dataset_key=dataset_key, work_dir=work_dir).model_dump_json())
        command = child_command(run_path, distributed=spec.distributed,
                                nproc_per_node=spec.processes or ctx.settings.torchrun_nproc_per_node)
        result = _supervise(ctx, command, limit_s=limit_s)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return _completion(ctx, result, dataset_version_id=dataset_version_id, model_id=model_id)


def _start_privacy(ctx: JobContext, spec: TrainingJobSpec, *, dataset_id: str) -> None:
    """The privacy side of starting: commit a DP job's charge; check a non-DP job against the policy.

    Runs right before the training process reads the data. The job row is locked while the
    charge is committed, so a cancellation either comes first (nothing is committed; the charge
    is released when the cancel is recorded) or finds the training started (no refund).
    """
    if not spec.privacy:
        with ctx.session() as session:
            check_can_train(session, dataset_id=dataset_id, privacy=None)
        return
    resuming = any(ctx.store.exists(key) for key in checkpoint_keys(ctx.job_id))
    with ctx.session() as session:
        cancelled = session.scalar(
            select(Job.cancel_requested).where(Job.tenant_id == session.tenant, Job.id == ctx.job_id).with_for_update()
        )
        if cancelled:
            raise JobCancelled(f"job {ctx.job_id} was cancelled before its training started")
        charge = start_charge(session, job_id=ctx.job_id, dataset_id=dataset_id, resuming=resuming)
    logger.info("job %s: privacy charge epsilon %.6g, delta %.3g on dataset %s is committed", ctx.job_id,
                charge.epsilon, charge.delta, dataset_id)


def _supervise(ctx: JobContext, command: list[str], *, limit_s: float) -> dict[str, Any]:
    """Run the child to its end, relaying progress; kill it on cancel, lost lease or time limit."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True, bufsize=1,
        start_new_session=True,
    )
    reader = _ChildReader(process.stdout, ctx.job_id)  # type: ignore[arg-type]
    reader.start()
    deadline = time.monotonic() + limit_s
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    resumed: int | None = None
    last_checkpoint: int | None = None
    try:
        while True:
            try:
                message = reader.messages.get(timeout=POLL_S)
            except queue.Empty:
                message = None
            if message is not None:
                kind = message.get("type")
                if kind == "progress":
                    ctx.progress(message.get("fraction"), message.get("message"))
                    if message.get("epoch_losses") and message.get("epoch") is not None:
                        ctx.epoch_losses(int(message["epoch"]), message["epoch_losses"])
                elif kind == "resumed":
                    resumed = int(message["epoch"])
                    ctx.progress(None, f"resumed after epoch {resumed} from the last checkpoint")
                elif kind == "checkpoint":
                    last_checkpoint = int(message["epoch"])
                elif kind == "result":
                    result = message
                elif kind == "error":
                    error = message
                continue
            ctx.check()  # raises JobCancelled / LeaseLost
            if time.monotonic() > deadline:
                raise TrainingTimeLimitError(f"the training ran past its time limit of {limit_s:,.0f} s and was stopped")
            if process.poll() is not None and not reader.is_alive() and reader.messages.empty():
                break
    except BaseException:
        _kill(process)
        raise
    finally:
        if process.stdin is not None:
            process.stdin.close()
    process.wait()
    if error is not None:
        _raise_child_error(error)
    if result is None:
        raise TrainingCrashedError(
            f"the training process ended without a result (exit status {process.returncode}); "
            "it may have run out of memory"
        )
    logger.info("job %s: trained (resumed from epoch %s, last checkpoint after epoch %s)", ctx.job_id, resumed,
                last_checkpoint)
    return result


def _holdout_rows(record: dict[str, Any]) -> int:
    """The rows a job set aside: a table's count, or the sum over a schema's tables."""
    rows = record.get("rows") or 0
    return int(sum(rows.values())) if isinstance(rows, dict) else int(rows)


def _completion(ctx: JobContext, result: dict[str, Any], *, dataset_version_id: str, model_id: str) -> Completion:
    store = ctx.store

    def record(session: TenantSession) -> dict[str, Any]:
        existing = session.scalars(
            select(ModelVersion).where(ModelVersion.tenant_id == session.tenant, ModelVersion.job_id == ctx.job_id)
        ).first()
        if existing is None:
            check_storage(session, adding_bytes=int(result["n_bytes"]))
        version = catalog.register_model_version(
            session, model_id=model_id, dataset_version_id=dataset_version_id, model_type=result["model_type"],
            config=result["config"], metrics={**result["metrics"], RECORD_KEY: result["holdout"]},
            privacy_spent=result.get("privacy"),
            object_key=result["object_key"], content_hash=result["sha256"], n_bytes=int(result["n_bytes"]),
            job_id=ctx.job_id, actor=ctx.created_by,
        )
        return {"model_version_id": version.id, "model_id": model_id, "version": version.version}

    return Completion(
        result={
            "object_key": result["object_key"],
            "model_type": result["model_type"],
            "epochs_run": result.get("epochs_run"),
            "epochs_planned": result["metrics"].get("epochs_planned"),
            "stopped_early": bool(result["metrics"].get("stopped_early")),
            "resumed_from_epoch": result.get("resumed_from_epoch"),
            "device": result.get("device"),
            "processes": result.get("processes", 1),
            "holdout_rows": _holdout_rows(result["holdout"]),
        },
        usage={"cpu_seconds": float(result.get("cpu_seconds") or 0.0),
               "gpu_seconds": float(result.get("gpu_seconds") or 0.0),
               "bytes_stored": float(result["n_bytes"])},
        record=record,
        discard=lambda: [store.delete(key) for key in (result["object_key"], result["holdout"].get("positions_key"))
                         if key],
        after_commit=lambda: [store.delete(key) for key in checkpoint_keys(ctx.job_id)],
    )


__all__ = [
    "TrainingCrashedError",
    "TrainingTimeLimitError",
    "checkpoint_key",
    "checkpoint_keys",
    "child_command",
    "model_key",
    "run_training",
]
