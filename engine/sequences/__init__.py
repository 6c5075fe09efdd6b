"""Sequences: entities with histories (prices per company, readings per station), learned and drawn as histories.

``engine.train_sequences`` (``engine.sequences.train``) fits a ``SequenceModel``
(``engine.sequences.model``) from a long table; ``checks`` refuses bad input, ``layout`` holds
what each of its two models learns, ``generate`` draws the steps of all entities at once.
"""

from engine.sequences.model import SequenceModel
from engine.sequences.train import train_sequences

__all__ = ["SequenceModel", "train_sequences"]
