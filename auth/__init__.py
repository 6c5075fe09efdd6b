"""Login and tenants: OIDC sign-in (Streamlit's st.login over Authlib), claims to tenant and
role, and signed share links.

- ``auth.providers``   — the ``[auth]`` section of the secrets file, checked; the provider list.
- ``auth.rules``       — the ``[access]`` rules and the pure mapping claims -> (tenant, role).
- ``auth.provisioning``— ``sign_in(claims, rules=...)``: first-login provisioning, invitations,
  the tenants a user may work in.
- ``auth.gate``        — the Streamlit login gate ``app/main.py`` runs before any page: sign-in
  page, "no access" page, tenant picker, deep links kept across the login, account sidebar.
- ``auth.share_links`` — ``create_share_link`` / ``resolve_share_link`` / ``revoke_share_link``.
- ``auth.deep_links``, ``auth.redaction``, ``auth.identity`` — helpers of the above.

Role checks live in ``infra.records.authz`` (the services call them; ``infra`` never imports
``auth``). Nothing here is imported by ``engine``. Only ``auth.gate`` imports Streamlit.
"""
