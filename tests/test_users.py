"""``Auth0UserAuthentication``: the token's identity, its (issuer, subject), as a row of the project's user model.

In process, a view of this module with ``authentication_classes = [Auth0UserAuthentication]`` is
called through DRF's request factory. A token becomes only the user authn made for its identity, or
one the project linked to it on purpose: never a local account that happens to bear its ``sub``, nor
another issuer's user of the same ``sub`` (two HTTPS tenants and tokens of each: the ``tenants`` and
``token_of`` fixtures of tests/support/two_tenants.py). The race on the first request of a new identity is
run for real: one gunicorn (several workers x threads) of this project on a real PostgreSQL, selecting the
class through ``tests/user_mapping_settings.py``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from django.contrib import admin
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.template import engines
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from authn import checks
from authn.authentication import Auth0UserAuthentication
from authn.models import Identity
from authn.tokens import AccessToken
from authn.users import link_identity
from tests.support.api import PRIVATE_MESSAGE
from tests.support.network import free_port
from tests.support.servers import COMMANDS, ROOT, assert_clean, start, stop, tenant_env
from tests.support.tenant import ISSUER
from tests.support.two_tenants import domain_of

USER_CLASS = "authn.authentication.Auth0UserAuthentication"
INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'


class WhoAmI(APIView):
    """A view of someone else's project: Django users, not token users."""

    authentication_classes = (Auth0UserAuthentication,)
    permission_classes = (IsAuthenticated,)

    def get(self, request):
        return Response({"username": request.user.get_username()})


who_am_i = WhoAmI.as_view()


def get(token):
    """GET the view with ``token``: (the response, the DRF request it answered)."""
    response = who_am_i(APIRequestFactory().get("/me", HTTP_AUTHORIZATION=f"Bearer {token}"))
    return response, response.renderer_context["request"]


def user_of(token):
    response, request = get(token)
    assert response.status_code == 200, response.data
    return request.user


def identities():
    """Every identity: (issuer, subject, the user name it signs in as)."""
    return set(Identity.objects.values_list("issuer", "subject", "user__username"))


hook_calls = []


def copy_email_claim(user, token, created):
    """A claims hook, named by its dotted path in one test: records its call and copies ``email``."""
    hook_calls.append((user, token, created))
    if user.email != token.claims.get("email", ""):
        user.email = token.claims.get("email", "")
        user.save(update_fields=["email"])


@pytest.fixture
def hook():
    hook_calls.clear()
    yield hook_calls
    hook_calls.clear()


pytestmark = pytest.mark.django_db


# -- the user row ------------------------------------------------------------------


def test_user_authentication_first_request_creates_an_unprivileged_user(tenant, make_token):
    user = user_of(make_token(sub="auth0|new-1"))
    assert isinstance(user, User)
    assert user.username == "auth0|new-1"
    assert not user.has_usable_password()
    assert (user.is_active, user.is_staff, user.is_superuser) == (True, False, False)
    assert User.objects.filter(username="auth0|new-1").count() == 1
    assert identities() == {(ISSUER, "auth0|new-1", "auth0|new-1")}


def test_user_authentication_admin_claims_in_token_grant_no_privileges(tenant, make_token):
    user = user_of(make_token(sub="auth0|new-2", is_staff=True, is_superuser=True, permissions=["admin"]))
    assert (user.is_staff, user.is_superuser) == (False, False)


def test_user_authentication_next_request_finds_the_same_row(tenant, make_token):
    first = user_of(make_token(sub="auth0|again"))
    second = user_of(make_token(sub="auth0|again", scope="other", jti="second"))
    assert first.pk == second.pk
    assert User.objects.filter(username="auth0|again").count() == 1


def test_user_authentication_request_auth_is_the_access_token(tenant, make_token):
    response, request = get(make_token(sub="auth0|auth", scope="read:messages write:x"))
    assert response.data == {"username": "auth0|auth"}
    assert isinstance(request.auth, AccessToken)
    assert request.auth.subject == request.user.username == "auth0|auth"
    assert request.auth.scopes == frozenset({"read:messages", "write:x"})


# -- identities: a token becomes the user authn made for its (issuer, subject), or one linked on purpose --

PASSWORD = "a-long-password-1"
LOCAL_ACCOUNTS = [
    pytest.param(lambda: User.objects.create_superuser("admin", "admin@example.com", PASSWORD), id="superuser"),
    pytest.param(lambda: User.objects.create_user("ops", is_staff=True), id="staff"),
    pytest.param(lambda: User.objects.create_user("auth0|bob", password=PASSWORD), id="local-user"),
    pytest.param(lambda: User.objects.create_user("auth0|carol"), id="local-user-without-password"),
]


def account(user):
    """What a user row is: a change to any of it would be someone signing in as it."""
    user.refresh_from_db()
    return (user.username, user.password, user.is_staff, user.is_superuser, user.is_active)


@pytest.mark.parametrize("make_account", LOCAL_ACCOUNTS)
def test_user_authentication_sub_of_a_local_account_gets_a_new_unprivileged_user(tenant, make_token, make_account):
    local = make_account()
    before = account(local)

    user = user_of(make_token(sub=local.username, is_staff=True, is_superuser=True))

    assert user.pk != local.pk
    assert user.username != local.username
    assert user.username.startswith(local.username)  # the subject, and what makes it another name
    assert (user.is_staff, user.is_superuser, user.has_usable_password()) == (False, False, False)
    assert user_of(make_token(sub=local.username, jti="again")).pk == user.pk
    assert account(local) == before
    assert identities() == {(ISSUER, local.username, user.username)}


def test_user_authentication_derived_name_taken_still_gets_a_new_user(tenant, make_token):
    local = User.objects.create_user("admin")
    first = user_of(make_token(sub="admin"))
    derived = first.username
    first.delete()  # its identity goes with it
    squatter = User.objects.create_user(derived)  # the name a second try would derive, taken meanwhile

    user = user_of(make_token(sub="admin", jti="again"))

    assert user.pk not in {local.pk, squatter.pk}
    assert user.username not in {"admin", derived}
    assert user_of(make_token(sub="admin", jti="third")).pk == user.pk


def resolve_both(tenants):
    first, second = tenants
    return lambda request: [domain_of(first), domain_of(second)]


@pytest.mark.parametrize(
    "domains",
    [
        pytest.param(lambda tenants: [domain_of(tenant) for tenant in tenants], id="listed"),
        pytest.param(resolve_both, id="resolver"),
    ],
)
def test_user_authentication_same_sub_at_another_issuer_is_another_user(settings, tenants, token_of, domains):
    settings.AUTH0_DOMAIN = domains(tenants)
    first, second = tenants
    alice = user_of(token_of(first, sub="auth0|alice"))
    alice.groups.add(Group.objects.create(name="editors"))
    alice.user_permissions.add(Permission.objects.get(codename="view_user"))

    other = user_of(token_of(second, sub="auth0|alice"))

    assert other.pk != alice.pk
    assert other.username not in {"auth0|alice", ""}
    assert not other.groups.exists()
    assert not other.has_perm("auth.view_user")
    assert user_of(token_of(first, sub="auth0|alice", jti="again")).pk == alice.pk
    assert user_of(token_of(second, sub="auth0|alice", jti="again")).pk == other.pk
    assert identities() == {
        (first.issuer, "auth0|alice", "auth0|alice"),
        (second.issuer, "auth0|alice", other.username),
    }


def test_user_authentication_identity_linked_on_purpose_is_the_linked_user(tenant, make_token):
    staff = User.objects.create_user("ops", is_staff=True)
    link_identity(staff, issuer=ISSUER, subject="auth0|ops")

    user = user_of(make_token(sub="auth0|ops"))

    assert (user.pk, user.is_staff) == (staff.pk, True)
    assert User.objects.count() == 1


def test_user_authentication_one_user_may_be_linked_at_several_issuers(tenants, token_of):
    first, second = tenants
    alice = user_of(token_of(first, sub="auth0|alice"))
    link_identity(alice, issuer=second.issuer, subject="google-oauth2|1234")

    assert user_of(token_of(second, sub="google-oauth2|1234")).pk == alice.pk
    assert user_of(token_of(second, sub="auth0|alice")).pk != alice.pk


def test_identity_admin_lists_identities_and_adds_a_link(admin_client, tenant, make_token):
    staff = User.objects.create_user("ops", is_staff=True)
    user_of(make_token(sub="auth0|made-by-authn"))

    added = admin_client.post(
        "/admin/authn/identity/add/", {"issuer": ISSUER, "subject": "auth0|ops", "user": staff.pk}
    )

    assert added.status_code == 302, added.content.decode()
    assert user_of(make_token(sub="auth0|ops")).pk == staff.pk
    listing = admin_client.get("/admin/authn/identity/")
    assert listing.status_code == 200
    assert "auth0|ops" in listing.content.decode()
    assert "auth0|made-by-authn" in listing.content.decode()


def test_token_user_is_still_the_default_and_creates_no_row(tenant, make_token, call):
    response = call("/api/private", make_token(sub="auth0|stateless"))
    assert response.json() == {"message": PRIVATE_MESSAGE}
    assert not User.objects.exists()
    assert not Identity.objects.exists()


# -- Django's permissions, groups, templates and admin audit ------------------------


def test_user_authentication_has_perm_follows_granted_permission(tenant, make_token):
    token = make_token(sub="auth0|perm")
    assert not user_of(token).has_perm("auth.view_user")
    User.objects.get(username="auth0|perm").user_permissions.add(Permission.objects.get(codename="view_user"))
    assert user_of(token).has_perm("auth.view_user")
    assert not user_of(token).has_perm("auth.delete_user")


def test_user_authentication_has_perm_follows_group_membership(tenant, make_token):
    token = make_token(sub="auth0|grouped")
    assert not user_of(token).has_perm("auth.change_group")
    editors = Group.objects.create(name="editors")
    editors.permissions.add(Permission.objects.get(codename="change_group"))
    User.objects.get(username="auth0|grouped").groups.add(editors)
    user = user_of(token)
    assert user.has_perm("auth.change_group")
    assert user.get_group_permissions() == {"auth.change_group"}


def test_user_authentication_user_is_in_templates(tenant, make_token):
    user_of(make_token(sub="auth0|templated")).user_permissions.add(Permission.objects.get(codename="view_user"))
    _, request = get(make_token(sub="auth0|templated", jti="second"))
    template = engines["django"].from_string(
        "{{ user.get_username }}|{{ user.is_authenticated }}|{{ perms.auth.view_user }}|{{ perms.auth.add_user }}"
    )
    # DRF sets the user on the Django request too: context processors see it.
    assert template.render(request=request._request) == "auth0|templated|True|True|False"


def test_user_authentication_admin_log_entry_names_the_user(tenant, make_token):
    _, request = get(make_token(sub="auth0|auditor"))
    group = Group.objects.create(name="audited")
    admin.site.get_model_admin(Group).log_addition(request, group, "Added.")
    entry = LogEntry.objects.get()
    assert (entry.user, entry.action_flag, entry.object_repr) == (request.user, ADDITION, "audited")


# -- refusals ------------------------------------------------------------------------


def inactive_user():
    return User.objects.create_user("gone", is_active=False)


@pytest.mark.parametrize(
    "deactivated",
    [
        pytest.param(
            lambda token: User.objects.filter(pk=user_of(token).pk).update(is_active=False), id="made-by-authn"
        ),
        pytest.param(lambda token: link_identity(inactive_user(), issuer=ISSUER, subject="auth0|gone"), id="linked"),
    ],
)
def test_user_authentication_inactive_user_is_refused(tenant, make_token, deactivated):
    deactivated(make_token(sub="auth0|gone", jti="before"))
    response, _ = get(make_token(sub="auth0|gone"))
    assert response.status_code == 401
    assert response.data == {
        "code": "user_inactive",
        "description": "User is inactive or cannot be mapped to an account.",
    }
    assert response["WWW-Authenticate"] == INVALID_TOKEN


def test_user_authentication_inactive_user_refusal_is_logged_once_with_the_tokens_kid_iss_and_sub(
    tenant, make_token, caplog
):
    """A valid token refused for its user: one line naming the code and the token's kid, iss and sub."""
    link_identity(inactive_user(), issuer=ISSUER, subject="auth0|gone")
    token = make_token(sub="auth0|gone")
    with caplog.at_level(logging.INFO, logger="authn"):
        assert get(token)[0].status_code == 401
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert "code=user_inactive " in line
    assert "kid='key-1'" in line  # unverified_ or not: either says what the token names
    assert f"iss='{ISSUER}'" in line
    assert "sub='auth0|gone'" in line
    assert token.split(".")[2] not in caplog.text


LENGTHS = [
    pytest.param(150, 200, id="as-long-as-a-username"),
    pytest.param(151, 200, id="longer-than-a-username"),
    pytest.param(255, 200, id="as-long-as-an-identity-holds"),
    pytest.param(256, 401, id="one-longer"),
    pytest.param(1000, 401, id="far-longer"),
]


@pytest.mark.parametrize(("length", "status"), LENGTHS)
def test_user_authentication_subject_longer_than_an_identity_holds_is_refused(tenant, make_token, length, status):
    sub = "auth0|" + "x" * (length - 6)
    response, request = get(make_token(sub=sub))
    assert response.status_code == status
    if status == 401:
        assert response.data["code"] == "user_inactive"
        assert response["WWW-Authenticate"] == INVALID_TOKEN
        assert not User.objects.exists()
    else:
        assert len(request.user.username) <= 150
        assert identities() == {(ISSUER, sub, request.user.username)}


@pytest.mark.parametrize(("length", "status"), LENGTHS)
def test_user_authentication_issuer_longer_than_an_identity_holds_is_refused(
    tenant, make_token, settings, length, status
):
    issuer = ISSUER + "x" * (length - len(ISSUER))
    settings.AUTH0_ISSUER = issuer
    response, _ = get(make_token(iss=issuer, sub="auth0|far"))
    assert response.status_code == status
    if status == 401:
        assert response.data["code"] == "user_inactive"
        assert not User.objects.exists()
    else:
        assert identities() == {(issuer, "auth0|far", "auth0|far")}


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"exp": 1}, id="expired"),
        pytest.param({"aud": "https://other.example.com"}, id="other-audience"),
    ],
)
def test_user_authentication_refused_token_creates_no_user(tenant, make_token, changes):
    response, _ = get(make_token(sub="auth0|refused", **changes))
    assert response.status_code == 401
    assert not User.objects.exists()


def test_user_authentication_malformed_token_creates_no_user(tenant):
    response, _ = get("x.y.z")
    assert (response.status_code, response.data["code"]) == (401, "invalid_header")
    assert not User.objects.exists()


# -- AUTH0_USER_LOOKUP_FIELD ----------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        pytest.param("email", id="not-unique"),
        pytest.param("first_name", id="not-unique-either"),
        pytest.param("nickname", id="no-such-field"),
    ],
)
def test_user_lookup_field_not_unique_is_improperly_configured(tenant, make_token, settings, field):
    settings.AUTH0_USER_LOOKUP_FIELD = field
    with pytest.raises(ImproperlyConfigured, match="AUTH0_USER_LOOKUP_FIELD must name a unique text field of User"):
        get(make_token(sub="auth0|lookup"))
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "field",
    [
        pytest.param("email", id="not-unique"),
        pytest.param("nickname", id="no-such-field"),
    ],
)
def test_user_lookup_field_check_e017_when_the_class_is_a_default(settings, field):
    settings.AUTH0_USER_LOOKUP_FIELD = field
    assert checks.check_user_lookup_field() == []  # the class is not in use: nothing to say
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_AUTHENTICATION_CLASSES": [USER_CLASS]}
    assert [error.id for error in checks.check_user_lookup_field()] == ["authn.E017"]


def test_user_lookup_field_that_cannot_hold_a_sub_fails_check_e017(settings):
    settings.AUTH0_USER_LOOKUP_FIELD = "id"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_AUTHENTICATION_CLASSES": [USER_CLASS]}
    assert [error.id for error in checks.check_user_lookup_field()] == ["authn.E017"]


def test_user_lookup_field_username_passes_the_check(settings):
    settings.AUTH0_USER_LOOKUP_FIELD = "username"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_AUTHENTICATION_CLASSES": [USER_CLASS]}
    assert checks.check_user_lookup_field() == []


# -- AUTH0_USER_CLAIMS_HOOK -------------------------------------------------------------


def test_user_claims_hook_callable_gets_user_token_and_created(tenant, make_token, settings, hook):
    settings.AUTH0_USER_CLAIMS_HOOK = copy_email_claim
    first = user_of(make_token(sub="auth0|hooked", email="ada@example.com"))
    second = user_of(make_token(sub="auth0|hooked", email="ada@example.com", jti="second"))
    assert [created for _, _, created in hook] == [True, False]
    assert [user.pk for user, _, _ in hook] == [first.pk, second.pk]
    assert all(isinstance(token, AccessToken) and token.subject == "auth0|hooked" for _, token, _ in hook)
    assert User.objects.get(username="auth0|hooked").email == "ada@example.com"


def test_user_claims_hook_dotted_path_copies_claims(tenant, make_token, settings, hook):
    settings.AUTH0_USER_CLAIMS_HOOK = "tests.test_users.copy_email_claim"
    assert user_of(make_token(sub="auth0|dotted", email="grace@example.com")).email == "grace@example.com"
    assert user_of(make_token(sub="auth0|dotted", email="grace@navy.mil", jti="later")).email == "grace@navy.mil"
    assert [created for _, _, created in hook] == [True, False]
    assert User.objects.get(username="auth0|dotted").email == "grace@navy.mil"


def test_user_claims_hook_not_called_for_refused_user(tenant, make_token, settings, hook):
    settings.AUTH0_USER_CLAIMS_HOOK = copy_email_claim
    link_identity(inactive_user(), issuer=ISSUER, subject="auth0|inactive-hooked")
    assert get(make_token(sub="auth0|inactive-hooked"))[0].status_code == 401
    assert hook == []


# -- upgrading: the rows the previous version made keep their tokens --------------------------

UPGRADED_ISSUER = "https://login.example.com/"  # AUTH0_ISSUER overriding the domain's: the issuer that counts


@pytest.fixture
def migrate_authn():
    """``migrate_authn(target)``: authn's migrations run to ``target`` (``None``: none applied) on the test
    database, with Django's migration executor; all of them applied again after the test."""

    def migrate(target):
        MigrationExecutor(connection).migrate([("authn", target)])

    yield migrate
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("authn")[0][1])


@pytest.fixture
def upgraded(tenant, settings, migrate_authn):
    """The previous version's rows, made before authn's data migration runs: the single issuer has a domain
    and an ``AUTH0_ISSUER`` of its own."""
    settings.AUTH0_ISSUER = UPGRADED_ISSUER
    migrate_authn(None)
    migrate_authn("0001_initial")
    rows = {
        "legacy": User.objects.create_user("auth0|legacy"),  # what the previous version made: unusable password
        "staff": User.objects.create_user("auth0|staff", is_staff=True),
        "superuser": User.objects.create_superuser("auth0|root", "root@example.com", None),
        "local": User.objects.create_user("auth0|local", password=PASSWORD),
        "linked": User.objects.create_user("auth0|linked"),
    }
    link_identity(rows["linked"], issuer="https://elsewhere.example.com/", subject="auth0|elsewhere")
    return rows


@pytest.mark.django_db(transaction=True)
def test_link_existing_users_migration_links_the_rows_the_previous_version_made(upgraded, make_token, migrate_authn):
    migrate_authn("0002_link_existing_users")

    assert identities() == {
        (UPGRADED_ISSUER, "auth0|legacy", "auth0|legacy"),
        ("https://elsewhere.example.com/", "auth0|elsewhere", "auth0|linked"),
    }
    assert user_of(make_token(iss=UPGRADED_ISSUER, sub="auth0|legacy")).pk == upgraded["legacy"].pk
    for name in ("staff", "superuser", "local", "linked"):  # to be linked on purpose, if at all
        user = user_of(make_token(iss=UPGRADED_ISSUER, sub=upgraded[name].username, jti=name))
        assert user.pk not in {row.pk for row in upgraded.values()}, name
        assert (user.is_staff, user.is_superuser) == (False, False)


@pytest.mark.parametrize(
    "domain",
    [
        pytest.param(["tenant.example.com", "login.example.com"], id="two-domains"),
        pytest.param(lambda request: ["tenant.example.com"], id="resolver"),
        pytest.param("", id="no-domain"),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_link_existing_users_migration_links_nothing_without_one_static_issuer(
    upgraded, settings, migrate_authn, domain
):
    settings.AUTH0_DOMAIN = domain
    migrate_authn("0002_link_existing_users")
    assert identities() == {("https://elsewhere.example.com/", "auth0|elsewhere", "auth0|linked")}


def test_makemigrations_check_models_unchanged_finds_nothing_to_make():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)  # exits non-zero when one is missing


# -- concurrent first requests: one gunicorn on PostgreSQL -------------------------------

SUBJECTS_PER_BURST = 3
REQUESTS_PER_SUBJECT = 20


@pytest.fixture(scope="module")
def user_mapping_server(tenant_server, postgres_server, tmp_path_factory):
    """gunicorn (2 workers x 8 threads) of this project, Auth0UserAuthentication as default, on PostgreSQL."""
    database_url = postgres_server.create_database()
    env = tenant_env(tenant_server) | {
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "tests.user_mapping_settings",
    }
    # The server starts while the tables are made: nothing reads them before the test's first request.
    migrate = [sys.executable, "manage.py", "migrate", "--noinput"]
    migrating = subprocess.Popen(migrate, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
    port = free_port()
    command = [*COMMANDS["gunicorn"](port), "--threads", "8"]  # the last of each option wins
    served = start(command, env, tmp_path_factory.mktemp("user-mapping") / "server.log", port)
    output, _ = migrating.communicate(timeout=60)
    if migrating.returncode != 0:
        stop(served)
        pytest.fail(f"migrate failed:\n{output.decode(errors='replace')}")
    yield served, database_url
    stop(served)
    assert_clean(served.log_text())


LOCAL_SUPERUSER = """
INSERT INTO auth_user (username, password, is_staff, is_superuser, is_active, first_name, last_name, email, date_joined)
VALUES (%s, 'md5$salt$hash', true, true, true, '', '', '', now())
"""
# Per identity of the burst: how many there are, and how many of their users are not plain.
IDENTITIES = """
SELECT i.subject, count(*), count(*) FILTER (
    WHERE u.is_staff OR u.is_superuser OR NOT u.is_active OR u.password NOT LIKE '!%%'
)
FROM authn_identity i JOIN auth_user u ON u.id = i.user_id
WHERE i.issuer = %s AND i.subject = ANY(%s) GROUP BY i.subject
"""


def test_user_authentication_concurrent_first_requests_create_one_user_per_identity(user_mapping_server, make_token):
    server, database_url = user_mapping_server
    subjects = [f"auth0|burst-{uuid.uuid4().hex}" for _ in range(SUBJECTS_PER_BURST)]
    with psycopg.connect(database_url) as database:
        # One of the subjects is a local superuser's name: its identity races for a name of its own.
        database.execute(LOCAL_SUPERUSER, [subjects[0]])
        (users_before,) = database.execute("SELECT count(*) FROM auth_user").fetchone()
    tokens = [make_token(sub=sub, jti=uuid.uuid4().hex) for sub in subjects for _ in range(REQUESTS_PER_SUBJECT)]
    assert len(set(tokens)) == len(tokens)
    ready = threading.Barrier(len(tokens))

    def first_request(token: str) -> requests.Response:
        ready.wait(timeout=30)
        return server.get("/api/private", token)

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        responses = list(pool.map(first_request, tokens))

    assert [response.status_code for response in responses] == [200] * len(tokens)
    assert {response.json()["message"] for response in responses} == {PRIVATE_MESSAGE}
    with psycopg.connect(database_url) as database:
        rows = database.execute(IDENTITIES, [ISSUER, subjects]).fetchall()
        (users_after,) = database.execute("SELECT count(*) FROM auth_user").fetchone()
        (superusers,) = database.execute("SELECT count(*) FROM auth_user WHERE is_superuser").fetchone()
    assert {subject: (count, privileged) for subject, count, privileged in rows} == dict.fromkeys(subjects, (1, 0))
    assert users_after - users_before == SUBJECTS_PER_BURST
    assert superusers == 1
