"""authn as a reusable app: the wheel of this repository, in someone else's project.

Once per module: ``pip wheel`` builds the wheel from (a clean copy of) the repository root; a fresh
virtual environment gets it and its runtime dependencies only (no drf-spectacular, django-environ,
whitenoise...), those taken from this environment's own installed distributions, so nothing is
downloaded and ``pip check`` vouches for the result; ``django-admin startproject`` makes a project
that adds authn and a few views; three
``runserver`` processes of that project serve it, one per settings module: DRF's stock exception
handler, authn's, and no tenant at all (the development issuer). Requests go over real sockets with
tokens the stand-in tenant's key signs.

Run under xdist with ``--dist loadfile`` (or ``loadscope``): with ``load``, each worker running one of
these tests builds and installs everything again.
"""

from __future__ import annotations

import email.parser
import json
import re
import secrets
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.network import free_port
from tests.support.package import RUNTIME_REQUIREMENTS, Project, fresh_venv, project_env, run
from tests.support.servers import Server, assert_clean, stop, wait_until_serving
from tests.support.tenant import AUDIENCE, ISSUER, TenantServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "newproject"
PROJECT = "mysite"
ADMIN_PASSWORD = secrets.token_urlsafe(16)
ADMIN_API_KEY = secrets.token_hex(20)  # a key of DRF's own tokens (rest_framework.authtoken)
SETTINGS_ADDITION = """

# -- authn, as a project using it adds it --------------------------------------------
INSTALLED_APPS += ["rest_framework", "rest_framework.authtoken", "authn"]
AUTH0_DOMAIN = "tenant.example.com"
AUTH0_ISSUER = {issuer!r}
AUTH0_AUDIENCE = {audience!r}
AUTH0_JWKS_URL = {jwks_url!r}  # plain http is allowed for a loopback host
REST_FRAMEWORK = {{
    "DEFAULT_AUTHENTICATION_CLASSES": ["authn.authentication.Auth0JWTAuthentication"],
    "EXCEPTION_HANDLER": "rest_framework.views.exception_handler",
}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # the tests' own: a fast admin login
"""

URLS_ADDITION = """

from mysite import api

urlpatterns += [
    path("public", api.PublicApi.as_view()),
    path("things", api.ThingsApi.as_view()),
    path("me", api.MeApi.as_view()),
    path("session-after-ours", api.SessionAfterOursApi.as_view()),
    path("basic-after-ours", api.BasicAfterOursApi.as_view()),
    path("token-after-ours", api.TokenAfterOursApi.as_view()),
    path("names", api.NamesApi.as_view()),
]
"""

# One project, three settings modules: each runserver selects its own through DJANGO_SETTINGS_MODULE.
SETTINGS_MODULES = {
    "stock": "",  # settings.py as above: DRF's own exception handler
    "authn": """from .settings import *

REST_FRAMEWORK = {**REST_FRAMEWORK, "EXCEPTION_HANDLER": "authn.handlers.exception_handler"}
""",
    "dev": """from .settings import *

del AUTH0_DOMAIN, AUTH0_ISSUER, AUTH0_AUDIENCE, AUTH0_JWKS_URL  # no tenant, DEBUG on: the development issuer
""",
}

INSTALLED = ["authn", "django", "rest_framework", "jwt", "cryptography", "requests"]
# The admin user (for the session and Basic views) and a DRF token of theirs (for TokenAuthentication).
MAKE_ADMIN = """
import os
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

admin = User.objects.create_superuser("admin", "admin@example.com", os.environ["ADMIN_PASSWORD"])
Token.objects.create(user=admin, key=os.environ["ADMIN_API_KEY"])
"""

NOT_INSTALLED = [
    *("drf_spectacular", "environ", "whitenoise", "corsheaders", "redis", "prometheus_client", "gunicorn"),
    *("channels", "daphne", "ninja", "adrf"),
]


def settings_module(name: str) -> str:
    return f"{PROJECT}.settings" if name == "stock" else f"{PROJECT}.settings_{name}"


def start_project(project: Project, tenant: TenantServer) -> None:
    """``django-admin startproject``, then what a project using authn adds to it."""
    package = project.start_project(PROJECT)
    shutil.copy(FIXTURES / "api.py", package / "api.py")
    with (package / "settings.py").open("a") as settings:
        settings.write(SETTINGS_ADDITION.format(issuer=ISSUER, audience=AUDIENCE, jwks_url=tenant.jwks_url))
    with (package / "urls.py").open("a") as urls:
        urls.write(URLS_ADDITION)
    for name, text in SETTINGS_MODULES.items():
        if text:
            (package / f"settings_{name}.py").write_text(text)


@pytest.fixture(scope="module")
def project(tmp_path_factory, tenant_server, wheel) -> Project:
    """The wheel installed into a fresh venv with authn's runtime dependencies alone; a new project using it."""
    work = tmp_path_factory.mktemp("package")
    python = fresh_venv(work / "venv", RUNTIME_REQUIREMENTS, wheel)
    made = Project(wheel, python, work / "project", settings_module("stock"))
    start_project(made, tenant_server)
    made.manage("migrate", "--noinput")
    return made


def start_runserver(project: Project, settings: str, log: Path) -> Server:
    port = free_port()
    command = [str(project.python), "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    process = subprocess.Popen(  # noqa: S603
        command,
        cwd=project.directory,
        env=project_env(settings_module(settings)),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    return Server(f"http://127.0.0.1:{port}", process, log)


@pytest.fixture(scope="module")
def servers(project, tmp_path_factory) -> Iterator[dict[str, Server]]:
    """One runserver of the project per settings module, started together; the admin user made meanwhile."""
    logs = tmp_path_factory.mktemp("runserver")
    started = {name: start_runserver(project, name, logs / f"{name}.log") for name in SETTINGS_MODULES}
    try:
        project.manage("shell", "-c", MAKE_ADMIN, ADMIN_PASSWORD=ADMIN_PASSWORD, ADMIN_API_KEY=ADMIN_API_KEY)
        for server in started.values():
            if not wait_until_serving(server, "/public"):
                pytest.fail(f"runserver did not answer:\n{server.log_text()}")
        yield started
    finally:
        for server in started.values():
            stop(server)
    for server in started.values():
        assert_clean(server.log_text())


# -- the wheel --------------------------------------------------------------------------


def wheel_names(project: Project) -> list[str]:
    with zipfile.ZipFile(project.wheel) as wheel:
        return wheel.namelist()


def wheel_metadata(project: Project):
    with zipfile.ZipFile(project.wheel) as wheel:
        (name,) = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(wheel.read(name).decode())


def test_wheel_contains_the_authn_package_only(project):
    names = wheel_names(project)
    distribution = "-".join(project.wheel.name.split("-")[:2])  # drf_auth0_authn-<version>
    assert {name.split("/")[0] for name in names} == {"authn", f"{distribution}.dist-info"}
    assert distribution.startswith("drf_auth0_authn-")
    assert not [name for name in names if name.endswith((".pyc", ".pem", ".sqlite3"))]
    assert {"authn/__init__.py", "authn/apps.py", "authn/authentication.py", "authn/handlers.py"} <= set(names)


def test_wheel_contains_the_models_and_their_migrations(project):
    names = wheel_names(project)
    assert {"authn/models.py", "authn/admin.py", "authn/migrations/__init__.py"} <= set(names)
    assert {"authn/migrations/0001_initial.py", "authn/migrations/0002_link_existing_users.py"} <= set(names)
    # The project's migrate (run when it was made) found them in the installed wheel.
    applied = project.manage("showmigrations", "authn").stdout
    assert "[X] 0001_initial" in applied
    assert "[X] 0002_link_existing_users" in applied


@pytest.mark.parametrize("command", ["mint_token", "dpop_proof", "jwks", "runserver"])
def test_wheel_contains_the_management_commands(project, command):
    names = wheel_names(project)
    assert {"authn/management/__init__.py", "authn/management/commands/__init__.py"} <= set(names)
    assert f"authn/management/commands/{command}.py" in names


def test_wheel_metadata_declares_the_runtime_dependencies(project):
    requirements = [Requirement(line) for line in wheel_metadata(project).get_all("Requires-Dist")]
    runtime = {canonicalize_name(req.name): req for req in requirements if req.marker is None}
    assert set(runtime) == {"django", "djangorestframework", "pyjwt", "requests"}
    assert runtime["pyjwt"].extras == {"crypto"}


def in_extra(requirement: Requirement, extra: str) -> bool:
    return requirement.marker is not None and requirement.marker.evaluate({"extra": extra})


def test_wheel_metadata_declares_the_optional_extras(project):
    metadata = wheel_metadata(project)
    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist")]
    extras = {
        extra: {canonicalize_name(req.name) for req in requirements if in_extra(req, extra)}
        for extra in metadata.get_all("Provides-Extra")
    }
    assert extras == {
        "spectacular": {"drf-spectacular"},
        "redis": {"redis"},
        "metrics": {"prometheus-client"},
        "channels": {"channels"},
        "ninja": {"django-ninja"},
        "async": {"adrf"},
    }


# -- the fresh virtual environment ---------------------------------------------------------

IMPORTABLE = """
import importlib, json, sys
found = {}
for name in sys.argv[1:]:
    try:
        module = importlib.import_module(name)
    except ImportError:
        found[name] = None
    else:
        found[name] = getattr(module, "__file__", "")
print(json.dumps(found))
"""


def test_fresh_venv_has_authn_and_its_dependencies_only(project):
    command = [str(project.python), "-c", IMPORTABLE, *INSTALLED, *NOT_INSTALLED]
    found = json.loads(run(command, cwd=project.directory, env=project_env(project.settings_module)).stdout)
    venv = project.python.parent.parent
    # From the fresh venv's site-packages: authn is the installed wheel, not this repository.
    in_venv = {name: found[name] is not None and Path(found[name]).is_relative_to(venv) for name in INSTALLED}
    assert in_venv == dict.fromkeys(INSTALLED, True)
    assert {name: found[name] for name in NOT_INSTALLED} == dict.fromkeys(NOT_INSTALLED)


def test_new_project_passes_its_checks_without_drf_spectacular(servers):
    for server in servers.values():  # runserver ran the system checks before serving
        assert "System check identified no issues (0 silenced)." in server.log_text()


# -- the new project, under DRF's stock exception handler and under authn's ----------------

HANDLERS = ["stock", "authn"]
NO_CREDENTIALS = 'Bearer realm="api", DPoP algs="ES256"'
INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'

# (path, the Authorization header or the claims a token changes, status, code, description, challenge)
REFUSALS = [
    pytest.param(
        "/things", None, 401, "authorization_header_missing", "Authorization header is expected.", NO_CREDENTIALS,
        id="scoped-no-token",
    ),
    pytest.param(
        "/me", None, 401, "authorization_header_missing", "Authorization header is expected.", NO_CREDENTIALS,
        id="authenticated-no-token",
    ),
    pytest.param(
        "/things", "Bearer x.y.z", 401, "invalid_header", "Unable to parse authentication token.", INVALID_TOKEN,
        id="malformed-token",
    ),
    pytest.param(
        "/things", {"exp": 1}, 401, "token_expired", "Token is expired.", INVALID_TOKEN,
        id="expired-token",
    ),
    pytest.param(
        "/me", {"aud": "https://other.example.com"}, 401, "invalid_claims",
        "Incorrect claims, please check the audience and issuer.", INVALID_TOKEN,
        id="other-audience",
    ),
    pytest.param(
        "/me", "Basic YWRtaW46eA==", 401, "invalid_header", "Authorization header must be Bearer token.",
        'Bearer realm="api", error="invalid_request"',
        id="other-scheme-ours-alone",
    ),
    pytest.param(
        "/things", {"scope": "openid read:other"}, 403, "insufficient_scope", "You don't have access to this resource.",
        'Bearer realm="api", error="insufficient_scope", scope="read:things"',
        id="scope-missing",
    ),
]  # fmt: skip

# What DRF's own handler says when no authenticator took the request: its own words, not ours.
DRF_NOT_AUTHENTICATED = "Authentication credentials were not provided."


def authorization(make_token, credentials) -> dict[str, str]:
    if credentials is None:
        return {}
    if isinstance(credentials, dict):
        return {"Authorization": f"Bearer {make_token(**credentials)}"}
    return {"Authorization": credentials}


@pytest.mark.parametrize("handler", HANDLERS)
def test_new_project_scoped_view_with_scope_is_200(servers, make_token, handler):
    response = servers[handler].get("/things", make_token(sub="auth0|ada", scope="openid read:things"))
    assert response.status_code == 200
    assert response.json() == {"things": ["a", "b"], "user": "auth0|ada", "via": "Auth0JWTAuthentication"}


@pytest.mark.parametrize("handler", HANDLERS)
def test_new_project_scope_from_permissions_claim_is_200(servers, make_token, handler):
    response = servers[handler].get("/things", make_token(scope="openid", permissions=["read:things"]))
    assert response.status_code == 200


@pytest.mark.parametrize("handler", HANDLERS)
@pytest.mark.parametrize(("path", "credentials", "status", "code", "description", "challenge"), REFUSALS)
def test_new_project_refusal_has_challenge_and_body(
    servers, make_token, handler, path, credentials, status, code, description, challenge
):
    """DRF's ``{"detail"}`` under the stock handler (with DRF's own text when no credentials were sent),
    our ``{"code", "description"}`` under authn's."""
    response = servers[handler].get(path, **authorization(make_token, credentials))
    assert response.status_code == status
    assert response.headers["WWW-Authenticate"] == challenge
    if handler == "stock":
        detail = DRF_NOT_AUTHENTICATED if code == "authorization_header_missing" else description
        assert response.json() == {"detail": detail}
    else:
        assert response.json() == {"code": code, "description": description}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        pytest.param({}, {"name": ["This field is required."]}, id="missing"),
        pytest.param({"name": "x" * 21}, {"name": ["Ensure this field has no more than 20 characters."]}, id="long"),
    ],
)
def test_new_project_field_errors_are_left_as_drf_renders_them(servers, body, errors):
    responses = {handler: requests.post(servers[handler].url + "/names", json=body, timeout=10) for handler in HANDLERS}
    assert {handler: response.status_code for handler, response in responses.items()} == dict.fromkeys(HANDLERS, 400)
    assert {handler: response.json() for handler, response in responses.items()} == dict.fromkeys(HANDLERS, errors)


def test_new_project_valid_post_is_created(servers):
    response = requests.post(servers["authn"].url + "/names", json={"name": "ada"}, timeout=10)
    assert (response.status_code, response.json()) == (201, {"name": "ada"})


# -- another authentication class after ours ---------------------------------------------


def admin_session(server: Server) -> requests.Session:
    """A browser's session logged in through the admin's login form, with its CSRF cookie."""
    session = requests.Session()
    form = session.get(server.url + "/admin/login/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert csrf is not None, form.text
    login = session.post(
        server.url + "/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": csrf.group(1), "username": "admin", "password": ADMIN_PASSWORD, "next": "/admin/"},
        timeout=10,
        allow_redirects=False,
    )
    assert (login.status_code, login.headers.get("Location")) == (302, "/admin/"), login.text
    assert "sessionid" in session.cookies
    return session


@pytest.mark.parametrize("handler", HANDLERS)
def test_new_project_session_after_ours_reaches_session_authentication(servers, make_token, handler):
    server = servers[handler]
    session = admin_session(server)
    response = session.get(server.url + "/session-after-ours", timeout=10)
    assert (response.status_code, response.json()) == (200, {"user": "admin", "via": "SessionAuthentication"})
    with_token = server.get("/session-after-ours", make_token(sub="auth0|ada"))
    assert with_token.json() == {"user": "auth0|ada", "via": "Auth0JWTAuthentication"}


@pytest.mark.parametrize("handler", HANDLERS)
def test_new_project_session_after_ours_without_session_is_401_with_our_challenge(servers, handler):
    response = servers[handler].get("/session-after-ours")
    assert response.status_code == 401  # DRF asks the first authenticator for the challenge: ours
    assert response.headers["WWW-Authenticate"] == NO_CREDENTIALS


def test_new_project_session_is_not_a_credential_where_ours_is_alone(servers):
    session = admin_session(servers["stock"])
    response = session.get(servers["stock"].url + "/me", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == NO_CREDENTIALS


@pytest.mark.parametrize("handler", HANDLERS)
def test_new_project_basic_after_ours_reaches_basic_authentication(servers, make_token, handler):
    server = servers[handler]
    response = requests.get(server.url + "/basic-after-ours", auth=("admin", ADMIN_PASSWORD), timeout=10)
    assert (response.status_code, response.json()) == (200, {"user": "admin", "via": "BasicAuthentication"})
    assert requests.get(server.url + "/basic-after-ours", auth=("admin", "wrong"), timeout=10).status_code == 401
    assert server.get("/basic-after-ours", make_token(sub="auth0|ada")).json()["via"] == "Auth0JWTAuthentication"
    bad_token = server.get("/basic-after-ours", "x.y.z")  # ours refuses its own scheme: Basic never sees it
    assert (bad_token.status_code, bad_token.headers["WWW-Authenticate"]) == (401, INVALID_TOKEN)


@pytest.mark.parametrize("handler", HANDLERS)
def test_new_project_drf_token_after_ours_reaches_token_authentication(servers, make_token, handler):
    server = servers[handler]
    response = server.get("/token-after-ours", Authorization=f"Token {ADMIN_API_KEY}")
    assert (response.status_code, response.json()) == (200, {"user": "admin", "via": "TokenAuthentication"})
    assert server.get("/token-after-ours", Authorization=f"Token {'0' * 40}").status_code == 401
    assert server.get("/token-after-ours", make_token(sub="auth0|ada")).json()["via"] == "Auth0JWTAuthentication"


# -- the development issuer, without our config/ -----------------------------------------


def mint(project: Project, *args: str) -> str:
    return project.manage("mint_token", *args, settings=settings_module("dev")).stdout.splitlines()[-1]


def test_new_project_mint_token_is_accepted_by_its_development_server_only(servers, project):
    token = mint(project, "--scope", "read:things", "--sub", "dev|ada")
    response = servers["dev"].get("/things", token)
    assert response.status_code == 200
    assert response.json() == {"things": ["a", "b"], "user": "dev|ada", "via": "Auth0JWTAuthentication"}
    assert (project.directory / ".dev-issuer" / "signing-key.pem").is_file()  # beside manage.py, where it ran
    refused = servers["stock"].get("/things", token)  # a server trusting a tenant: not the development issuer
    assert (refused.status_code, refused.headers["WWW-Authenticate"]) == (401, INVALID_TOKEN)


def test_new_project_minted_token_without_scope_is_403(servers, project):
    response = servers["dev"].get("/things", mint(project, "--scope", "openid"))
    assert response.status_code == 403
    assert 'scope="read:things"' in response.headers["WWW-Authenticate"]


def test_new_project_tenant_token_is_refused_by_the_development_server(servers, make_token):
    response = servers["dev"].get("/me", make_token())
    assert response.status_code == 401


def test_new_project_mint_token_refuses_where_a_tenant_is_configured(project):
    command = [str(project.python), "manage.py", "mint_token"]
    done = subprocess.run(  # noqa: S603
        command,
        cwd=project.directory,
        env=project_env(project.settings_module),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "The development issuer is not active" in done.stderr


# -- this project, under DRF's stock exception handler ------------------------------------


@pytest.fixture
def stock_handler(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "EXCEPTION_HANDLER": "rest_framework.views.exception_handler"}


@pytest.mark.parametrize(
    ("path", "credentials", "status", "detail", "challenge"),
    [
        pytest.param("/api/private", None, 401, DRF_NOT_AUTHENTICATED, NO_CREDENTIALS, id="no-token"),
        pytest.param(
            "/api/private", "Bearer x.y.z", 401, "Unable to parse authentication token.", INVALID_TOKEN, id="malformed"
        ),
        pytest.param("/api/private", {"exp": 1}, 401, "Token is expired.", INVALID_TOKEN, id="expired"),
        pytest.param(
            "/api/private", "Token abc", 401, "Authorization header must be Bearer token.",
            'Bearer realm="api", error="invalid_request"', id="other-scheme",
        ),
        pytest.param(
            "/api/private-scoped", {"scope": "openid"}, 403, "You don't have access to this resource.",
            'Bearer realm="api", error="insufficient_scope", scope="read:messages"', id="scope-missing",
        ),
    ],
)  # fmt: skip
def test_stock_handler_in_this_project_keeps_status_and_challenge(
    tenant, stock_handler, make_token, call, path, credentials, status, detail, challenge
):
    header = authorization(make_token, credentials).get("Authorization")
    response = call(path, authorization=header)
    assert response.status_code == status
    assert response["WWW-Authenticate"] == challenge
    assert response.json() == {"detail": detail}


def test_stock_handler_in_this_project_serves_a_valid_token(tenant, stock_handler, make_token, call):
    assert call("/api/private-scoped", make_token()).status_code == 200
