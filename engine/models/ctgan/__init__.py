"""CTGAN, the conditional tabular GAN: the model (``model``), its condition and row samplers
(``sampler``), networks (``nets``), output layout (``layout``), private critic step
(``private``) and chunked multi-threaded generation (``generate``)."""

from engine.models.ctgan.model import CTGAN

__all__ = ["CTGAN"]
