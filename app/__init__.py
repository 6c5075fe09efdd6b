"""The Streamlit workbench: the launcher, the entry script (``app/main.py``) and shared UI pieces.

Pages (``pages/``) stay thin: they collect input, call a use case in ``infra`` through the
helpers here, and show the result. Nothing in ``app`` touches the database or object store.
"""
