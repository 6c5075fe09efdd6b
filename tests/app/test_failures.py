"""Errors reach the page as one message: the engine's own, or a generic one with a reference."""

from __future__ import annotations

import logging
import re

from app.failures import user_message
from engine.errors import InputError, LimitExceededError


def test_engine_errors_are_shown_as_raised():
    try:
        raise LimitExceededError("data.csv is 300 MB; the limit is 200 MB")
    except InputError as err:
        assert user_message(err, action="profiling data.csv") == "data.csv is 300 MB; the limit is 200 MB"


def test_unexpected_errors_get_a_generic_message_and_a_logged_traceback(caplog):
    with caplog.at_level(logging.ERROR, logger="doppel.app"):
        try:
            {}["missing"]
        except KeyError as err:
            message = user_message(err, action="profiling data.csv")
    reference = re.search(r"reference ([0-9a-f]{8})", message).group(1)
    assert "missing" not in message and "KeyError" not in message
    assert "profiling data.csv" in message
    record = next(r for r in caplog.records if reference in r.getMessage())
    assert record.exc_info is not None and record.exc_info[0] is KeyError
