"""The engine's version, in a module of its own so that any part of the engine can name it
without importing the facade (``engine/__init__.py``)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
