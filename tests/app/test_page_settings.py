"""The Settings page: gate thresholds, quotas and members, changed by admins only."""

from __future__ import annotations

from infra.usecases import quality_gates, workspace_settings
from tests.app.page_support import act_as, button, no_traceback, open_page, texts


def gate(workspace, name: str) -> quality_gates.GateSetting:
    return next(g for g in quality_gates.gate_settings(workspace.tenant) if g.name == name)


def test_gates_quotas_and_members_are_shown(app_env):
    at = open_page("settings")
    no_traceback(at)
    gates = at.data_editor[0].value
    assert list(gates["gate"]) == ["column_distance", "correlation_difference", "utility_ratio",
                                   "membership_inference", "exact_copies"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tier"] == "starter" and metrics["Rows per generation"] == "1,000,000"
    members = next(df.value for df in at.dataframe if "role" in df.value.columns)
    assert "owner" in set(members["role"])


def test_an_admin_changes_a_gate_threshold_and_assessments_use_it(app_env):
    try:
        at = open_page("settings", session={"settings_gates": {"edited_rows": {0: {"threshold": 0.3}},
                                                               "added_rows": [], "deleted_rows": []}})
        button(at, "Save the gates").click()
        at.run()
        no_traceback(at)
        assert gate(app_env, "column_distance").threshold == 0.3
        assert quality_gates.tenant_quality_config(app_env.tenant) == {
            "gates": {"column_distance": {"threshold": 0.3, "severity": "block", "enabled": True}}}
    finally:
        quality_gates.set_gate_settings(app_env.tenant, gates={}, actor=app_env.actor)
    assert quality_gates.tenant_quality_config(app_env.tenant) == {}


def test_a_gate_threshold_out_of_range_is_refused_in_words(app_env):
    try:
        quality_gates.set_gate_settings(app_env.tenant, gates={"utility_ratio": {"severity": "explode"}},
                                        actor=app_env.actor)
    except Exception as err:  # noqa: BLE001
        assert "'block' or 'warn'" in str(err)
    else:
        raise AssertionError("an unknown severity was saved")


def test_an_admin_changes_the_quotas(app_env):
    try:
        at = open_page("settings")
        at.number_input(key="settings_rows").set_value(5_000).run()
        button(at, "Save the quotas").click()
        at.run()
        no_traceback(at)
        assert workspace_settings.quota_view(app_env.tenant, actor=app_env.actor).max_rows_per_generation == 5_000
    finally:
        workspace_settings.set_quotas(app_env.tenant, actor=app_env.actor, max_concurrent_jobs=None,
                                      max_stored_bytes=None, max_rows_per_generation=None)


def test_a_viewer_reads_the_settings_without_controls(app_env, monkeypatch):
    act_as(monkeypatch, app_env, "viewer")
    at = open_page("settings")
    no_traceback(at)
    assert any("owners and admins change them" in c for c in texts(at.caption))
    assert not [b for b in at.button if b.label in ("Save the gates", "Save the quotas")]


def test_an_admin_invites_an_address_with_a_role(app_env, monkeypatch):
    act_as(monkeypatch, app_env, "admin")
    at = open_page("settings")
    at.text_input(key="settings_invite_email").input("new.person@example.org")
    at.selectbox(key="settings_invite_role").set_value("member")
    at.run()
    button(at, "Invite").click()
    at.run()
    no_traceback(at)
    assert any("Invited new.person@example.org as member" in s for s in texts(at.success))
    invited = next(df.value for df in at.dataframe if "e-mail" in df.value.columns and "expires (UTC)" in df.value.columns)
    assert "new.person@example.org" in set(invited["e-mail"])


def test_an_address_that_is_not_one_is_refused_in_words(app_env, monkeypatch):
    act_as(monkeypatch, app_env, "admin")
    at = open_page("settings")
    at.text_input(key="settings_invite_email").input("not-an-address").run()
    button(at, "Invite").click()
    at.run()
    no_traceback(at)
    assert any("is not an e-mail address" in e for e in texts(at.error))


def test_an_admin_saves_s3_credentials_and_the_secret_is_never_shown_again(app_env):
    from infra.usecases import s3_sources

    secret = "never-shown-secret-0123456789"
    try:
        at = open_page("settings")
        at.text_input(key="settings_s3_key_id").input("AKIASETTINGSPAGEWXYZ")
        at.text_input(key="settings_s3_secret").input(secret)
        at.text_input(key="settings_s3_region").input("eu-west-1")
        at.text_input(key="settings_s3_buckets").input("team-exports, Research-Data")
        at.run()
        button(at, "Save the S3 credentials").click()
        at.run()
        no_traceback(at)
        view = s3_sources.describe(app_env.tenant, actor=app_env.actor)
        assert view is not None and view.key_id_hint == "WXYZ"
        assert view.allowed_buckets == ("team-exports", "research-data") and view.region == "eu-west-1"
        shown = " ".join(texts(at.markdown) + texts(at.caption) + [str(t.value) for t in at.text_input])
        assert "…WXYZ" in shown and secret not in shown and "AKIASETTINGSPAGEWXYZ" not in " ".join(texts(at.markdown))
    finally:
        s3_sources.remove_credentials(app_env.tenant, actor=app_env.actor)
