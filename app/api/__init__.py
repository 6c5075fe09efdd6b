"""Doppel's REST API (FastAPI, under /api/v1); ``create_app`` builds it (see ``app.api.factory``)."""
