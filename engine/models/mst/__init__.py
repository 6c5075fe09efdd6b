"""MST, the marginal-based DP model: the model (``model``)."""

from engine.models.mst.model import MST

__all__ = ["MST"]
