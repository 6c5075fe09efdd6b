"""What a training checkpoint says about itself, and the model that continues it.

A checkpoint (``checkpoint.zip`` in a fit's ``checkpoint_dir``) is the engine's own file:
callers that move it around (the platform's training jobs upload it to the object store and
resume a taken-over job from it) read it only through ``checkpoint_info`` and
``model_to_resume``, never its manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.models.files import CHECKPOINT_NAME, ModelFileError, read_model_file

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Progress, Synthesizer


@dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint's model kind, the epochs it has done and the parameters of its run."""

    kind: str
    epochs_done: int
    config: dict[str, Any]


def checkpoint_info(path: str | Path) -> CheckpointInfo:
    """Read ``path`` (a checkpoint file); ``ModelFileError`` when it is not a readable checkpoint."""
    from engine.models.registry import available_kinds

    manifest = read_model_file(Path(path), known_kinds=set(available_kinds())).manifest
    try:
        info = manifest["checkpoint"]
        return CheckpointInfo(kind=str(manifest["kind"]), epochs_done=int(info["epoch"]) + 1, config=dict(info["config"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"{path}: not a training checkpoint ({type(err).__name__}: {err})") from None


def model_to_resume(
    checkpoint_dir: str | Path, *, on_progress: Callable[[Progress], None] | None = None, checkpoint_every: int | None = None
) -> Synthesizer:
    """The model (kind and parameters of the interrupted run) whose ``fit(data, resume=True)``
    continues the checkpoint in ``checkpoint_dir``, writing further checkpoints there."""
    from engine.models.registry import model_class

    info = checkpoint_info(Path(checkpoint_dir) / CHECKPOINT_NAME)
    cls = model_class(info.kind)
    params = cls.config_class.from_saved(info.config)
    params.update(checkpoint_dir=str(checkpoint_dir), checkpoint_every=checkpoint_every)
    return cls(on_progress=on_progress, **params)


__all__ = ["CHECKPOINT_NAME", "CheckpointInfo", "checkpoint_info", "model_to_resume"]
