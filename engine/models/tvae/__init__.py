"""TVAE, the tabular variational autoencoder: the model (``model``), its output layout (``layout``) and networks (``nets``)."""

from engine.models.tvae.model import TVAE

__all__ = ["TVAE"]
