"""``engine.load_model``: any saved model, a table's or a schema's, by what the file says it is."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Synthesizer
    from engine.relational.model import RelationalModel
    from engine.sequences.model import SequenceModel


def load_model(path: str | os.PathLike[str] | bytes, *, device: str | None = None) -> Synthesizer | RelationalModel | SequenceModel:
    """Load a model written by ``save``: a table's (directory, zip or zip bytes; see
    ``engine.models.registry.load_model``), a schema's (a directory with ``relational.json``, or
    its zip) or a sequence model's (a zip whose manifest says ``sequences``).
    Nothing in the file is executed: weights are safetensors, the rest JSON."""
    from engine.relational.model import RelationalModel, is_relational

    if is_relational(path):
        from engine.sequences.model import SequenceModel, is_sequence_archive

        if (isinstance(path, bytes) or not Path(path).is_dir()) and is_sequence_archive(path):
            return SequenceModel.load(path, device=device)
        return RelationalModel.load(path, device=device)
    from engine.models.registry import load_model as load_table_model

    return load_table_model(path, device=device)


__all__ = ["load_model"]
