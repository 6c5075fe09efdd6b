"""ARGN, the any-order autoregressive network: the model (``model``) and its network (``network``)."""

from engine.models.argn.model import ARGN

__all__ = ["ARGN"]
