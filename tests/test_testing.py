"""authn.testing: a project's tests mint tokens for their own views, with no tenant and no network.

The test issuer's tokens go through the whole Django stack (the example's views, DRF's test client) under
each way the settings can trust issuers. Last, a project of someone else's, written to a temporary
directory, runs its own pytest suite (``auth0_issuer``) and Django's test runner (``TestIssuer`` in a
``SimpleTestCase``) against authn from this checkout.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from authn import runtime
from authn.testing import TEST_AUDIENCE, TEST_ISSUER, TestIssuer
from tests.support.api import SCOPED_MESSAGE
from tests.support.network import outbound_connections
from tests.support.servers import ROOT
from tests.support.tenant import AUDIENCE

PATH = "/api/private-scoped"
URL = f"http://testserver{PATH}"  # what the test client's requests are, as Django builds them
READ = "read:messages"
# A token of an issuer not trusted: its key is unknown (one issuer trusted), or its iss is not one (several).
UNTRUSTED = ("invalid_header", "invalid_claims")


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def assert_refused(response, status: int, *codes: str) -> None:
    assert response.status_code == status
    assert response.json()["code"] in codes
    assert set(response.json()) == {"code", "description"}
    assert response["WWW-Authenticate"]


def resolve_the_tenant(request) -> list[str]:
    return ["tenant.example.com"]


@pytest.fixture
def no_tenant(dev_issuer, settings):
    """Debug off and no domain: nothing is trusted (a test run's usual settings: Django's runner turns DEBUG off).

    The development issuer's settings otherwise: its key file is in ``tmp_path`` should a test turn DEBUG on.
    """
    settings.DEBUG = False
    return settings


@pytest.fixture
def resolver(no_tenant):
    """A resolver naming the tenant for every request: its keys would be fetched from the Internet."""
    no_tenant.AUTH0_DOMAIN = resolve_the_tenant
    no_tenant.AUTH0_AUDIENCE = [AUDIENCE]
    return no_tenant


# Each way the settings trust issuers (a fixture), and the audience the test issuer's tokens carry there.
TRUST = {"no_tenant": TEST_AUDIENCE, "tenant": AUDIENCE, "resolver": AUDIENCE, "dev_issuer": TEST_AUDIENCE}


@pytest.fixture(params=list(TRUST))
def trust(request) -> str:
    request.getfixturevalue(request.param)
    return request.param


# -- the example's views, under each trust ----------------------------------------------


def test_auth0_issuer_under_any_trust_is_accepted_while_open_and_refused_after(trust, auth0_issuer, call):
    with outbound_connections() as seen:
        token = auth0_issuer.token(scope=READ)
        granted = call(PATH, token=token)
        forbidden = call(PATH, token=auth0_issuer.token(scope=""))
    auth0_issuer.stop()
    closed = call(PATH, token=token)  # a tenant's key set is fetched again for a kid it does not know

    assert (granted.status_code, granted.json()) == (200, {"message": SCOPED_MESSAGE})
    assert_refused(forbidden, 403, "insufficient_scope")
    assert_refused(closed, 401, *UNTRUSTED)
    assert seen == []
    assert {name: claims_of(token)[name] for name in ("iss", "aud", "scope")} == {
        "iss": TEST_ISSUER,
        "aud": TRUST[trust],
        "scope": READ,
    }


def test_auth0_issuer_closed_leaves_nothing_trusted(trust):
    tokens = runtime.verifier().tokens
    before = (set(tokens.key_sources), tokens.audiences)

    with TestIssuer():
        assert TEST_ISSUER in runtime.verifier().tokens.key_sources
    tokens = runtime.verifier().tokens

    assert (set(tokens.key_sources), tokens.audiences) == before
    assert TEST_ISSUER not in before[0]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"AUTH0_LEEWAY_SECONDS": 5}, id="leeway"),
        pytest.param({"AUTH0_AUDIENCE": ["https://api.example.com/other"]}, id="audience"),
        pytest.param({"AUTH0_DOMAIN": "tenant.example.com", "AUTH0_AUDIENCE": [AUDIENCE]}, id="tenant-added"),
        pytest.param({"AUTH0_DOMAIN": resolve_the_tenant, "AUTH0_AUDIENCE": [AUDIENCE]}, id="resolver-added"),
        pytest.param({"DEBUG": True}, id="debug-on"),
    ],
)
def test_auth0_issuer_setting_changed_while_open_stays_trusted(no_tenant, auth0_issuer, call, changes):
    before = auth0_issuer.token(scope=READ)
    assert call(PATH, token=before).status_code == 200
    built = runtime.current()

    for name, value in changes.items():
        setattr(no_tenant, name, value)
    after = auth0_issuer.token(scope=READ)

    assert runtime.current() is not built  # the runtime was built again from the new settings
    assert claims_of(after)["aud"] == next(iter(no_tenant.AUTH0_AUDIENCE), TEST_AUDIENCE)
    with outbound_connections() as seen:
        assert [call(PATH, token=token).status_code for token in (before, after)] == [200, 200]
    assert seen == []


def test_auth0_issuer_dpop_bound_token_with_its_proof_is_accepted(no_tenant, auth0_issuer, api, key):
    token = auth0_issuer.token(scope=READ, cnf={"jkt": key.thumbprint})

    response = api.get(PATH, HTTP_AUTHORIZATION=f"DPoP {token}", HTTP_DPOP=key.proof("GET", URL, token=token))
    as_bearer = api.get(PATH, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert (response.status_code, response.json()) == (200, {"message": SCOPED_MESSAGE})
    assert as_bearer.status_code == 401


def test_auth0_issuer_token_times_are_the_runtime_clocks(no_tenant, fake_time, auth0_issuer, call):
    fake_time.advance(-30 * 86400)  # a month ago: the token's times are the clock's, not the real time
    token = auth0_issuer.token(scope=READ)

    assert (claims_of(token)["iat"], claims_of(token)["exp"]) == (int(fake_time.now), int(fake_time.now) + 3600)
    assert call(PATH, token=token).status_code == 200
    fake_time.advance(3600 + 61)  # past exp and the default leeway
    assert_refused(call(PATH, token=token), 401, "token_expired")


def test_auth0_issuer_expired_token_is_refused(no_tenant, fake_time, auth0_issuer, call):
    token = auth0_issuer.token(scope=READ, exp=int(fake_time.now) - 3600)

    assert_refused(call(PATH, token=token), 401, "token_expired")


def test_auth0_issuer_claims_override_and_add(no_tenant, auth0_issuer):
    token = auth0_issuer.token(permissions=[READ], sub="auth0|alice", org_id="org_1", aud="https://elsewhere")

    claims = claims_of(token)
    assert {name: claims[name] for name in ("sub", "permissions", "org_id", "aud")} == {
        "sub": "auth0|alice",
        "permissions": [READ],
        "org_id": "org_1",
        "aud": "https://elsewhere",
    }
    assert "scope" not in claims


def test_auth0_issuer_permissions_grant_the_scope(no_tenant, auth0_issuer, call):
    response = call(PATH, token=auth0_issuer.token(permissions=[READ]))

    assert (response.status_code, response.json()) == (200, {"message": SCOPED_MESSAGE})


@pytest.mark.parametrize(
    ("name", "grant"),
    [
        pytest.param("AUTH0_SCOPE_CLAIM", {"scope": READ}, id="scope"),
        pytest.param("AUTH0_PERMISSIONS_CLAIM", {"permissions": [READ]}, id="permissions"),
    ],
)
def test_auth0_issuer_scopes_are_in_the_claim_the_settings_name(no_tenant, auth0_issuer, call, name, grant):
    setattr(no_tenant, name, "https://example.com/granted")
    token = auth0_issuer.token(**grant)

    assert claims_of(token)["https://example.com/granted"] == next(iter(grant.values()))
    assert call(PATH, token=token).status_code == 200


# -- opening and closing ----------------------------------------------------------------


def test_test_issuer_second_one_open_at_once_is_refused(no_tenant, auth0_issuer, call):
    with pytest.raises(RuntimeError, match="already open"):
        TestIssuer().start()
    with pytest.raises(RuntimeError, match="already open"):
        auth0_issuer.start()

    assert call(PATH, token=auth0_issuer.token(scope=READ)).status_code == 200


def test_test_issuer_start_stop_and_start_again(no_tenant, call):
    issuer = TestIssuer()
    issuer.start()
    token = issuer.token(scope=READ)
    assert call(PATH, token=token).status_code == 200

    issuer.stop()
    issuer.stop()  # a second stop does nothing: a cleanup may run after the test stopped it
    assert call(PATH, token=token).status_code == 401

    issuer.start()
    try:
        assert call(PATH, token=token).status_code == 200
    finally:
        issuer.stop()


@pytest.mark.parametrize("left_by_an_exception", [False, True], ids=["block-ends", "exception"])
def test_test_issuer_with_block_its_tokens_are_refused_after_it(trust, call, left_by_an_exception):
    """The context manager's form: trusted inside the block, refused once it is left, by an exception too."""
    with contextlib.suppress(LookupError), TestIssuer() as issuer:
        token = issuer.token(scope=READ)
        assert call(PATH, token=token).status_code == 200
        if left_by_an_exception:
            raise LookupError("a failing test")

    assert_refused(call(PATH, token=token), 401, *UNTRUSTED)


def test_test_issuer_closed_mints_nothing(no_tenant):
    issuer = TestIssuer()

    with pytest.raises(RuntimeError, match="not open"):
        issuer.token(scope=READ)


def test_test_issuer_key_is_shared_by_the_process(no_tenant):
    with TestIssuer() as first:
        kid = jwt.get_unverified_header(first.token())["kid"]
    with TestIssuer() as second:
        assert jwt.get_unverified_header(second.token())["kid"] == kid


def test_authn_testing_imports_without_pytest_or_django_settings():
    """What unittest alone has: ``TestIssuer``, and no fixture."""
    script = (
        "import sys; sys.modules['pytest'] = None\n"  # `import pytest` raises ImportError
        "import authn.testing\n"
        "assert not hasattr(authn.testing, 'auth0_issuer')\n"
        "print(authn.testing.TestIssuer.__name__)\n"
    )
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}

    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, "TestIssuer\n", "")


# -- a project of someone else's --------------------------------------------------------

ADOPTER = {
    "pytest.ini": """\
[pytest]
DJANGO_SETTINGS_MODULE = shop.settings
""",
    "manage.py": """\
import sys

from django.core.management import execute_from_command_line

if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    execute_from_command_line(sys.argv)
""",
    "shop/__init__.py": "",
    "shop/settings.py": """\
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ["SHOP_SECRET_KEY"]
ROOT_URLCONF = "shop.urls"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "rest_framework", "authn"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
USE_TZ = True
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["authn.authentication.Auth0JWTAuthentication"],
    "EXCEPTION_HANDLER": "authn.handlers.exception_handler",
}
AUTH0_DOMAIN = os.environ.get("AUTH0_DOMAIN", "")  # production's tenant; the tests need none
AUTH0_AUDIENCE = "https://shop.example.com/api"
""",
    "shop/urls.py": """\
from django.urls import path

from shop.views import ReportsApi

urlpatterns = [path("reports", ReportsApi.as_view())]
""",
    "shop/views.py": """\
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.permissions import HasScope


class ReportsApi(APIView):
    permission_classes = [HasScope]
    required_scopes = ["read:reports"]

    def get(self, request):
        return Response({"subject": request.auth.subject, "org": request.auth.claims.get("org_id")})
""",
    "conftest.py": """\
pytest_plugins = ["authn.testing"]
""",
    "test_reports.py": """\
import time

from rest_framework.test import APIClient


def get_reports(token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return APIClient().get("/reports", **headers)


def test_reports_with_the_scope_are_read(auth0_issuer):
    token = auth0_issuer.token(scope="read:reports", sub="auth0|alice", org_id="org_1")

    response = get_reports(token)

    assert response.status_code == 200
    assert response.json() == {"subject": "auth0|alice", "org": "org_1"}


def test_reports_without_the_scope_are_forbidden(auth0_issuer):
    response = get_reports(auth0_issuer.token(scope="write:reports"))

    assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope")


def test_reports_with_an_expired_token_are_refused(auth0_issuer):
    response = get_reports(auth0_issuer.token(scope="read:reports", exp=int(time.time()) - 3600))

    assert (response.status_code, response.json()["code"]) == (401, "token_expired")


def test_reports_with_a_setting_changed_are_read(auth0_issuer, settings):
    settings.AUTH0_LEEWAY_SECONDS = 0

    assert get_reports(auth0_issuer.token(scope="read:reports")).status_code == 200


def test_reports_without_a_token_are_unauthorized():
    assert get_reports().status_code == 401
""",
    "test_reports_unittest.py": """\
from django.test import SimpleTestCase

from authn.testing import TestIssuer


class ReportsTests(SimpleTestCase):
    def setUp(self):
        self.issuer = self.enterContext(TestIssuer())

    def test_reports_with_the_scope_are_read(self):
        token = self.issuer.token(scope="read:reports")
        response = self.client.get("/reports", headers={"Authorization": f"Bearer {token}"})
        self.assertEqual(response.status_code, 200)

    def test_reports_without_the_scope_are_forbidden(self):
        token = self.issuer.token(scope="read:other")
        response = self.client.get("/reports", headers={"Authorization": f"Bearer {token}"})
        self.assertEqual(response.status_code, 403)


class ReportsStartStopTests(SimpleTestCase):
    def setUp(self):
        self.issuer = TestIssuer()
        self.issuer.start()
        self.addCleanup(self.issuer.stop)

    def test_reports_with_the_scope_are_read(self):
        token = self.issuer.token(scope="read:reports")
        response = self.client.get("/reports", headers={"Authorization": f"Bearer {token}"})
        self.assertEqual(response.status_code, 200)
""",
}


@pytest.fixture
def adopter(tmp_path) -> tuple[Path, dict[str, str]]:
    """The project (its directory) and its environment: ``authn`` from this checkout and nothing else of it."""
    site, project = tmp_path / "site", tmp_path / "shop"
    site.mkdir()
    (site / "authn").symlink_to(ROOT / "authn")
    for name, text in ADOPTER.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    keep = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AUTH0_", "DJANGO_", "PYTEST_", "PYTHON", "VIRTUAL_ENV"))
    }
    return project, {**keep, "PYTHONPATH": str(site), "SHOP_SECRET_KEY": secrets.token_urlsafe(50)}


def run_in(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, *args], cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_adopter_pytest_run_with_auth0_issuer_passes(adopter):
    project, env = adopter

    done = run_in(project, env, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error::pytest.PytestCollectionWarning")

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b8 passed\b", done.stdout), done.stdout
    assert "warning" not in done.stdout.lower()


def test_adopter_django_test_runner_with_test_issuer_passes(adopter):
    project, env = adopter

    done = run_in(project, env, "manage.py", "test", "--verbosity", "2")

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"Ran 3 tests", done.stderr), done.stderr
    assert "System check identified no issues" in done.stdout + done.stderr
