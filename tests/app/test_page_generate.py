"""The Generate page: rows, seed, format, the conditions builder and its expression, progress, preview, download."""

from __future__ import annotations

from app.components.pickers import SELECTED
from infra.usecases import job_board
from tests.app.page_support import button, no_traceback, open_page, texts, wait_for_job


def open_generate(workspace):
    return open_page("generate", session={SELECTED["model_version"]: workspace.model_version_id})


def add_condition(at, column: str, operator: str, value=None):
    at.selectbox(key="generate_column").set_value(column).run()
    at.selectbox(key="generate_operator").set_value(operator).run()
    if value is not None:
        if operator == "is one of":
            at.multiselect(key=f"generate_values_{column}").set_value(value).run()
        elif isinstance(value, str):
            at.selectbox(key=f"generate_value_{column}").set_value(value).run()
        else:
            at.number_input(key=f"generate_number_{column}").set_value(value).run()
    button(at, "Add").click()
    return at.run()


def test_generating_rows_with_a_condition_shows_them_and_offers_the_file(app_env):
    at = open_generate(app_env)
    at.number_input(key="generate_rows").set_value(150)
    at.selectbox(key="generate_format").set_value("csv")
    at.run()
    at = add_condition(at, "sex", "equals", "Female")
    assert at.code[0].value == "sex == 'Female'"
    button(at, "Generate").click()
    at.run()
    no_traceback(at)
    job_id = at.session_state["generate_last_job_id"]
    assert job_board.get_job(app_env.tenant, job_id=job_id, actor=app_env.actor).payload["conditions"] == "sex == 'Female'"
    assert wait_for_job(app_env.tenant, job_id, app_env.actor).state == "succeeded"
    at.run()
    no_traceback(at)
    assert any("Generated 150 rows" in s for s in texts(at.success))
    preview = next(df.value for df in at.dataframe if "sex" in df.value.columns)
    assert set(preview["sex"]) == {"Female"} and len(preview) == 20
    assert [d for d in at.get("download_button")], "a download button for the generated file"


def test_the_expression_joins_every_condition_and_a_row_can_be_removed(app_env):
    at = open_generate(app_env)
    at = add_condition(at, "age", "greater than", 40)
    at = add_condition(at, "workclass", "is one of", ["Private", "State-gov"])
    assert at.code[0].value == "age > 40 and workclass in ['Private', 'State-gov']"
    [remove] = [b for b in at.button if b.key == "generate_remove_0"]
    remove.click()
    at.run()
    assert at.code[0].value == "workclass in ['Private', 'State-gov']"


def test_a_column_name_the_language_cannot_spell_goes_as_a_dict_for_equality(app_env):
    at = open_generate(app_env)
    at.number_input(key="generate_rows").set_value(50).run()
    at = add_condition(at, "hours-per-week", "equals", 40)
    button(at, "Generate").click()
    at.run()
    no_traceback(at)
    job_id = at.session_state["generate_last_job_id"]
    assert job_board.get_job(app_env.tenant, job_id=job_id, actor=app_env.actor).payload["conditions"] == {"hours-per-week": 40}
    wait_for_job(app_env.tenant, job_id, app_env.actor)


def test_a_comparison_on_such_a_column_is_refused_in_words(app_env):
    at = open_generate(app_env)
    at = add_condition(at, "hours-per-week", "greater than", 40)
    button(at, "Generate").click()
    at.run()
    no_traceback(at)
    assert any("hours-per-week" in e and "cannot spell" in e for e in texts(at.error))
    assert "generate_last_job_id" not in at.session_state


def test_a_condition_no_row_can_meet_fails_with_the_reason(app_env):
    at = open_generate(app_env)
    at.number_input(key="generate_rows").set_value(50).run()
    at = add_condition(at, "age", "greater than", 1000)
    button(at, "Generate").click()
    at.run()
    job_id = at.session_state.get("generate_last_job_id")
    if job_id is not None:  # refused when the job ran: the job's error says why
        assert wait_for_job(app_env.tenant, job_id, app_env.actor).state == "failed"
        at.run()
    no_traceback(at)
    assert any("age > 1000" in e for e in texts(at.error))
