"""Share links: unguessable, stored hashed, expiring, revocable, and isolated per tenant.

The service tests run on SQLite and PostgreSQL; the row-level-security tests send raw SQL as
the app role (no BYPASSRLS, owns nothing) so that RLS is the only thing in the way.
"""

from __future__ import annotations

import hashlib
import math
import string
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from auth.share_links import (
    ShareLinkExpiredError,
    ShareLinkRevokedError,
    ShareLinkUnknownError,
    create_share_link,
    list_share_links,
    resolve_share_link,
    revoke_share_link,
)
from infra.db import NotFoundError, tenant_session
from infra.db.errors import ConfigError
from tests.auth.conftest import seed_tenant

DAY = timedelta(days=1)


def share(db, tenant, *, expires_in=DAY, now=None) -> str:
    with tenant_session(tenant.name, database=db) as s:
        return create_share_link(s, report_id=tenant.report_id, expires_in=expires_in,
                                 actor=tenant.actors["member"], now=now)


def link_id_of(db, tenant) -> str:
    with tenant_session(tenant.name, database=db) as s:
        return list_share_links(s, actor=tenant.actors["viewer"], report_id=tenant.report_id)[0].id


def test_a_token_carries_at_least_128_random_bits_in_url_safe_characters(db, two_tenants):
    a, _ = two_tenants
    tokens = {share(db, a) for _ in range(3)}
    assert len(tokens) == 3
    for token in tokens:
        assert set(token) <= set(string.ascii_letters + string.digits + "-_")
        assert len(token) * math.log2(64) >= 128


def test_only_the_sha256_of_the_token_is_stored(db, two_tenants):
    a, _ = two_tenants
    token = share(db, a)
    with tenant_session(a.name, database=db) as s:
        rows = [tuple(map(str, row)) for row in s.execute(text("SELECT * FROM share_links")).all()]
    assert not any(token in value for row in rows for value in row)
    assert any(hashlib.sha256(token.encode()).hexdigest() in row for row in rows)


def test_a_valid_token_opens_its_report_and_nothing_else(db, two_tenants):
    a, _ = two_tenants
    shared = resolve_share_link(share(db, a), database=db)
    assert (shared.tenant, shared.report_id) == (a.name, a.report_id)


def test_an_expired_link_says_it_expired(db, two_tenants):
    a, _ = two_tenants
    token = share(db, a, now=datetime.now(UTC) - 2 * DAY)
    with pytest.raises(ShareLinkExpiredError, match="expired on"):
        resolve_share_link(token, database=db)


def test_a_revoked_link_says_it_was_revoked_and_revoking_twice_is_harmless(db, two_tenants):
    a, _ = two_tenants
    token = share(db, a)
    link_id = link_id_of(db, a)
    with tenant_session(a.name, database=db) as s:
        revoke_share_link(s, link_id=link_id, actor=a.actors["member"])
        revoke_share_link(s, link_id=link_id, actor=a.actors["admin"])
    with pytest.raises(ShareLinkRevokedError, match="revoked"):
        resolve_share_link(token, database=db)


@pytest.mark.parametrize("token", ["", "short", "x" * 43, "../../etc/passwd", "a" * 300, "é" * 43])
def test_an_unknown_or_malformed_token_is_simply_not_valid(db, token):
    with pytest.raises(ShareLinkUnknownError, match="not valid"):
        resolve_share_link(token, database=db)


def test_a_token_differing_in_one_character_opens_nothing(db, two_tenants):
    a, _ = two_tenants
    token = share(db, a)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(ShareLinkUnknownError):
        resolve_share_link(tampered, database=db)


def test_expiry_must_be_positive_and_bounded(db, two_tenants):
    a, _ = two_tenants
    for bad in (timedelta(0), -DAY, timedelta(days=31)):
        with pytest.raises(ConfigError):
            share(db, a, expires_in=bad)


def test_tenant_b_cannot_share_a_report_of_tenant_a_and_learns_nothing(db, two_tenants):
    a, b = two_tenants
    with pytest.raises(NotFoundError) as guessed:
        with tenant_session(b.name, database=db) as s:
            create_share_link(s, report_id=a.report_id, expires_in=DAY, actor=b.actors["owner"])
    with pytest.raises(NotFoundError) as unknown:
        with tenant_session(b.name, database=db) as s:
            create_share_link(s, report_id="00000000-0000-4000-8000-000000000000", expires_in=DAY, actor=b.actors["owner"])
    assert str(guessed.value).replace(a.report_id, "ID") == str(unknown.value).replace(
        "00000000-0000-4000-8000-000000000000", "ID"
    )


def test_tenant_b_cannot_revoke_or_list_the_links_of_tenant_a(db, two_tenants):
    a, b = two_tenants
    token = share(db, a)
    link_id = link_id_of(db, a)
    with pytest.raises(NotFoundError, match="share link"):
        with tenant_session(b.name, database=db) as s:
            revoke_share_link(s, link_id=link_id, actor=b.actors["owner"])
    with tenant_session(b.name, database=db) as s:
        assert list_share_links(s, actor=b.actors["owner"]) == []
    assert resolve_share_link(token, database=db).tenant == a.name


def test_an_admin_of_a_acting_in_b_cannot_share_b_reports(db, two_tenants):
    a, b = two_tenants
    with pytest.raises(Exception, match="not a member"):
        with tenant_session(b.name, database=db) as s:
            create_share_link(s, report_id=b.report_id, expires_in=DAY, actor=a.actors["admin"])


# --- PostgreSQL: row-level security and the lookup function --------------------------------


@pytest.fixture
def pg_pair(postgres_setup):
    return postgres_setup, seed_tenant(postgres_setup.database, prefix="a"), seed_tenant(postgres_setup.database, prefix="b")


@pytest.mark.services
def test_rls_hides_another_tenants_share_links_from_raw_sql(pg_pair):
    setup, a, b = pg_pair
    share(setup.database, a)
    with tenant_session(b.name, database=setup.database) as s:
        assert s.execute(text("SELECT count(*) FROM share_links")).scalar_one() == 0
        assert s.execute(text("UPDATE share_links SET revoked_at = now() WHERE tenant_id = :a"),
                         {"a": a.name}).rowcount == 0
        assert s.execute(text("SELECT count(*) FROM tenant_directory WHERE tenant = :a"), {"a": a.name}).scalar_one() == 0
    with tenant_session(a.name, database=setup.database) as s:
        assert s.execute(text("SELECT count(*) FROM share_links WHERE revoked_at IS NULL")).scalar_one() == 1


@pytest.mark.services
def test_without_a_tenant_the_app_role_sees_no_link_and_no_route(pg_pair):
    setup, a, _ = pg_pair
    share(setup.database, a)
    engine = create_engine(setup.app_url)
    try:
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM share_links")).scalar_one() == 0
            assert c.execute(text("SELECT count(*) FROM tenant_directory")).scalar_one() == 0
    finally:
        engine.dispose()


@pytest.mark.services
def test_the_lookup_function_answers_one_exact_hash_only(pg_pair):
    setup, a, _ = pg_pair
    token = share(setup.database, a)
    digest = hashlib.sha256(token.encode()).hexdigest()
    engine = create_engine(setup.app_url)
    lookup = text("SELECT * FROM doppel_directory_lookup(:kind, :key)")
    try:
        with engine.connect() as c:
            assert c.execute(lookup, {"kind": "share_link", "key": digest}).scalars().all() == [a.name]
            for probe in (digest[:10] + "%", "%", digest.upper(), ""):
                assert c.execute(lookup, {"kind": "share_link", "key": probe}).scalars().all() == [], probe
    finally:
        engine.dispose()


@pytest.mark.services
def test_the_lookup_function_is_security_definer_with_a_fixed_search_path(postgres_setup):
    engine = create_engine(postgres_setup.owner_url)
    try:
        with engine.connect() as c:
            secdef, config, public_exec = c.execute(text(
                "SELECT p.prosecdef, p.proconfig, has_function_privilege('public', p.oid, 'EXECUTE') "
                "FROM pg_proc p WHERE p.proname = 'doppel_directory_lookup'"
            )).one()
    finally:
        engine.dispose()
    assert secdef is True and config == ["search_path=pg_catalog, pg_temp"] and public_exec is False


@pytest.mark.services
def test_a_tenant_cannot_plant_a_route_or_a_link_for_another_tenant(pg_pair):
    setup, a, b = pg_pair
    with pytest.raises(DBAPIError, match="row-level security"):
        with tenant_session(b.name, database=setup.database) as s:
            s.execute(text("INSERT INTO tenant_directory (kind, lookup_key, tenant, created_at) "
                           "VALUES ('share_link', :k, :a, now())"), {"k": "f" * 64, "a": a.name})
    with pytest.raises(DBAPIError, match="row-level security"):
        with tenant_session(b.name, database=setup.database) as s:
            s.execute(text("INSERT INTO share_links (id, tenant_id, report_id, token_hash, created_at, expires_at) "
                           "VALUES (gen_random_uuid()::text, :a, :r, :h, now(), now() + interval '1 day')"),
                      {"a": a.name, "r": a.report_id, "h": "e" * 64})


@pytest.mark.services
def test_the_app_role_may_only_revoke_a_link_not_rewrite_it(pg_pair):
    setup, a, _ = pg_pair
    share(setup.database, a)
    with pytest.raises(DBAPIError, match="permission denied"):
        with tenant_session(a.name, database=setup.database) as s:
            s.execute(text("UPDATE share_links SET expires_at = now() + interval '10 years'"))
