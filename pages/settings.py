"""Settings: the workspace's quality-gate thresholds, its quotas and usage, its members, its S3 credentials, API keys.

Everyone sees them; owners and admins change them (the services check the role again). Every member
makes and revokes their own API keys (admins see and revoke everyone's).
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from app.components.acting import acting, attempt
from app.components.api_keys_view import api_keys_view
from app.components.literal_text import markdown_literal
from infra.usecases import quality_gates, s3_sources, workspace_settings
from infra.usecases.quality_gates import GATE_DESCRIPTIONS

ROLES = ["owner", "admin", "member", "viewer"]
GiB = 1024**3

st.title("Settings")
who = acting()
admin = who.allows("admin")
if not admin:
    st.caption(f"Your role here is {who.identity.role}: you can read these settings; owners and admins change them.")

st.subheader("Quality gates", anchor=False)
st.caption("Every assessment in this workspace uses these thresholds. A blocking gate that fails blocks the report; "
           "a warning gate only warns.")
gates = attempt("reading the gates", quality_gates.gate_settings, who.tenant)
if gates is not None:
    table = pl.DataFrame({
        "gate": [g.name for g in gates],
        "threshold": [g.threshold for g in gates],
        "on fail": [g.severity for g in gates],
        "enabled": [g.enabled for g in gates],
        "default": [f"{g.default_threshold:g} ({g.default_severity})" for g in gates],
        "what it checks": [GATE_DESCRIPTIONS.get(g.name, "") for g in gates],
    })
    edited = st.data_editor(
        table, hide_index=True, key="settings_gates", disabled=not admin or ["gate", "default", "what it checks"],
        column_config={
            "threshold": st.column_config.NumberColumn("threshold", min_value=0.0, max_value=1.0, step=0.01,
                                                       format="%.3f"),
            "on fail": st.column_config.SelectboxColumn("on fail", options=["block", "warn"], required=True),
            "enabled": st.column_config.CheckboxColumn("enabled"),
        },
    )
    if not isinstance(edited, pl.DataFrame):
        edited = pl.DataFrame(edited)
    if admin:
        cells = st.columns(2)
        if cells[0].button("Save the gates", type="primary", key="settings_save_gates", icon=":material/save:"):
            wanted = {row["gate"]: {"threshold": float(row["threshold"]), "severity": row["on fail"],
                                    "enabled": bool(row["enabled"])} for row in edited.iter_rows(named=True)}
            if attempt("saving the gates", quality_gates.set_gate_settings, who.tenant, gates=wanted,
                       actor=who.actor) is not None:
                st.success("Gates saved; the next assessments use them.", icon=":material/check_circle:")
        if cells[1].button("Back to the defaults", key="settings_reset_gates", icon=":material/restart_alt:"):
            if attempt("resetting the gates", quality_gates.set_gate_settings, who.tenant, gates={},
                       actor=who.actor) is not None:
                st.session_state.pop("settings_gates", None)
                st.rerun()

st.subheader("Quotas", anchor=False)
quota = attempt("reading the quotas", workspace_settings.quota_view, who.tenant, actor=who.actor)
if quota is not None:
    cells = st.columns(4)
    cells[0].metric("Tier", quota.tier)
    cells[1].metric("Jobs at once", f"{quota.active_jobs} of {quota.max_concurrent_jobs}")
    cells[2].metric("Storage", f"{quota.stored_bytes / GiB:.2f} of {quota.max_stored_bytes / GiB:.0f} GiB")
    cells[3].metric("Rows per generation", f"{quota.max_rows_per_generation:,}")
    if admin:
        with st.expander("Change the quotas (owners and admins)"):
            q = st.columns(3)
            jobs = q[0].number_input("Jobs at once", min_value=0, value=quota.max_concurrent_jobs, step=1,
                                     key="settings_jobs")
            storage = q[1].number_input("Storage (GiB)", min_value=0, value=int(quota.max_stored_bytes // GiB), step=1,
                                        key="settings_storage")
            rows = q[2].number_input("Rows per generation", min_value=0, value=quota.max_rows_per_generation,
                                     step=100_000, key="settings_rows")
            if st.button("Save the quotas", key="settings_save_quotas", icon=":material/save:"):
                if attempt("saving the quotas", workspace_settings.set_quotas, who.tenant, actor=who.actor,
                           max_concurrent_jobs=int(jobs), max_stored_bytes=int(storage) * GiB,
                           max_rows_per_generation=int(rows)) is not None:
                    st.rerun()

st.subheader("Members", anchor=False)
if who.identity.local_mode:
    st.caption("Single-user local mode: the one local user owns this workspace. Members, roles and invitations "
               "come with login (an [auth] section in the secrets file).")
members = attempt("listing the members", workspace_settings.member_list, who.tenant, actor=who.actor) or []
if members:
    st.dataframe(pl.DataFrame({"name": [m.name for m in members], "e-mail": [m.email or "" for m in members],
                               "role": [m.role for m in members]}), hide_index=True)
if admin and members and not who.identity.local_mode:
    with st.expander("Change a member's role (owners and admins)"):
        by_id = {m.user_id: m for m in members}
        c = st.columns([3, 2, 1, 1], vertical_alignment="bottom")
        member_id = c[0].selectbox("Member", list(by_id), format_func=lambda i: by_id[i].name, key="settings_member")
        role = c[1].selectbox("Role", ROLES, index=ROLES.index(by_id[member_id].role), key="settings_role")
        if c[2].button("Change", key="settings_change_role"):
            if attempt("changing the role", workspace_settings.change_role, who.tenant, user_id=member_id, role=role,
                       actor=who.actor) is not None:
                st.rerun()
        if c[3].button("Remove", key="settings_remove_member"):
            if attempt(f"removing {by_id[member_id].name}", workspace_settings.remove_member, who.tenant,
                       user_id=member_id, actor=who.actor) is not None:
                st.toast(f"Removed {markdown_literal(by_id[member_id].name)}.")
                st.rerun()

if admin and not who.identity.local_mode:
    st.markdown("**Invitations**")
    st.caption("An invited address joins with its role at its first sign-in (the identity provider must vouch "
               "for the address).")
    c = st.columns([3, 2, 1], vertical_alignment="bottom")
    email = c[0].text_input("E-mail address", key="settings_invite_email")
    invite_role = c[1].selectbox("Role", ROLES[::-1], key="settings_invite_role")
    if c[2].button("Invite", key="settings_invite", icon=":material/person_add:"):
        invited = attempt("inviting", workspace_settings.invite, who.tenant, email=email, role=invite_role,
                          actor=who.actor)
        if invited is not None:
            st.success(f"Invited {markdown_literal(invited.email)} as {invited.role}.", icon=":material/mail:")
    pending = attempt("listing the invitations", workspace_settings.invitation_list, who.tenant, actor=who.actor) or []
    if pending:
        st.dataframe(pl.DataFrame({
            "e-mail": [i.email for i in pending],
            "role": [i.role for i in pending],
            "expires (UTC)": [f"{i.expires_at:%Y-%m-%d %H:%M}" for i in pending],
            "accepted": [i.accepted for i in pending],
        }), hide_index=True)

st.subheader("S3 credentials", anchor=False)
st.caption("Imports from S3 on the Data page read with these credentials only, never the server's. The secret is "
           "stored encrypted and never shown again.")
s3_source = attempt("reading the S3 credentials", s3_sources.describe, who.tenant, actor=who.actor)
if s3_source is None:
    st.caption("None yet: imports from S3 are refused until an admin adds them.")
else:
    st.markdown(f"Key **{markdown_literal(s3_source.key_id_label)}** · endpoint "
                f"{markdown_literal(s3_source.endpoint_url or 'AWS')} · region {markdown_literal(s3_source.region or 'us-east-1')}"
                f" · buckets: {markdown_literal(', '.join(s3_source.allowed_buckets) or 'any the key can read')}")
if admin:
    with st.expander("Add or replace the S3 credentials (owners and admins)"):
        c = st.columns(2)
        s3_key_id = c[0].text_input("Access key id", key="settings_s3_key_id")
        s3_secret = c[1].text_input("Secret access key", type="password", key="settings_s3_secret",
                                    help="Leave it empty to keep the stored secret of the same key id.")
        c = st.columns(2)
        s3_endpoint = c[0].text_input("Endpoint URL (empty: AWS)", key="settings_s3_endpoint",
                                      value=s3_source.endpoint_url or "" if s3_source else "",
                                      placeholder="https://minio.example.com:9000")
        s3_region = c[1].text_input("Region (empty: us-east-1)", key="settings_s3_region",
                                    value=s3_source.region or "" if s3_source else "")
        s3_buckets = st.text_input("Buckets imports may read (empty: any the key can read)", key="settings_s3_buckets",
                                   value=", ".join(s3_source.allowed_buckets) if s3_source else "",
                                   placeholder="sales-exports, research-data")
        c = st.columns(2)
        if c[0].button("Save the S3 credentials", type="primary", key="settings_s3_save", icon=":material/key:"):
            if attempt("saving the S3 credentials", s3_sources.save_credentials, who.tenant, access_key_id=s3_key_id,
                       secret_access_key=s3_secret, endpoint_url=s3_endpoint, region=s3_region,
                       allowed_buckets=s3_buckets, actor=who.actor) is not None:
                st.session_state.pop("settings_s3_secret", None)
                st.toast("S3 credentials saved.", icon=":material/key:")
                st.rerun()
        if c[1].button("Remove them", key="settings_s3_remove", disabled=s3_source is None, icon=":material/delete:"):
            if attempt("removing the S3 credentials", s3_sources.remove_credentials, who.tenant,
                       actor=who.actor) is not None:
                st.rerun()

st.subheader("API keys", anchor=False)
api_keys_view(who)
