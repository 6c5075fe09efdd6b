"""Fixtures of the page tests (tests/app/test_page_*.py): the seeded embedded workspace.

Defined in ``page_support``; registered here once so that the session-scoped ``workspace``
is seeded once per test run, not once per module.
"""

from tests.app.page_support import app_env, workspace  # noqa: F401
