"""Engine messages in the UI's words (``app.failures.ui_words``): what to do on which page, no argument names.

The page test drives the Data page into an engine error that names ``allow_private=True`` (the
wording of the refusal a user met): the page says what to do instead.
"""

from __future__ import annotations

import pytest

from app.failures import ui_words, user_message
from engine.errors import InputError, UnsafeConnectionError
from tests.app.page_support import button, no_traceback, open_page, texts

ENGINE_REFUSAL = ("database host '127.0.0.1' is a loopback address; private, loopback, link-local and other "
                  "non-public addresses are refused unless allow_private=True")


@pytest.mark.parametrize(("engine_text", "ui_text"), [
    ("pass holdout= (real rows the generator never saw) to allow for those.",
     "choose a holdout on the Quality page (real rows the generator never saw) to allow for those."),
    ("holdout has column(s) the real table lacks ['fnlwgt']; pass holdout=None to assess without one",
     "holdout has column(s) the real table lacks ['fnlwgt']; choose no holdout on the Quality page to assess without one"),
    ("set allow_private=True to connect", "ask an admin to allow private hosts to connect"),
    ("no target given; pass target= to measure utility",
     "no target given; choose a target column on the Quality page to measure utility"),
    ("Train with differential privacy (engine.Privacy(epsilon=...)), for fewer epochs",
     "Train with differential privacy (a privacy budget (epsilon) on the Train page), for fewer epochs"),
])
def test_engine_phrases_become_what_the_user_does_on_which_page(engine_text, ui_text):
    assert ui_words(engine_text) == ui_text


def test_any_other_argument_name_is_said_in_words():
    assert ui_words("pass checkpoint_every= to save more often") == "set the checkpoint every to save more often"


def test_data_and_conditions_are_left_as_they_are():
    text = "generated 200 rows where sex == 'Female' and age >= 65 from 'a=b.csv'"
    assert ui_words(text) == text


def test_an_error_raised_on_purpose_is_shown_in_the_ui_s_words():
    message = user_message(UnsafeConnectionError(ENGINE_REFUSAL), action="listing the tables")
    assert "allow_private" not in message and message.endswith("unless an admin allows private hosts")
    assert user_message(InputError("plain words"), action="x") == "plain words"


def test_the_data_page_never_shows_allow_private(app_env, monkeypatch):
    import engine

    def refuse(*args: object, **kwargs: object) -> None:
        raise UnsafeConnectionError(ENGINE_REFUSAL)

    monkeypatch.setattr(engine, "read_sql", refuse)  # the engine's refusal, as the issue quotes it
    at = open_page("data")
    at.text_input(key="db_url").input("postgresql://postgres@127.0.0.1:5432/test").run()
    button(at, "List tables").click()
    at.run()
    no_traceback(at)
    shown = texts(at.error)
    assert any("unless an admin allows private hosts" in e for e in shown), shown
    everything = " ".join(shown + texts(at.markdown) + texts(at.caption) + texts(at.warning) + texts(at.info))
    assert "allow_private" not in everything
