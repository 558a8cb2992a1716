"""An adopter's project: ``startproject`` plus the files of tests/fixtures/adopter (the documentation's
examples, included there as they are), authn's wheel with its ``ninja``, ``channels`` and ``async`` extras.

Every public name on its own URL: DRF views (per-method and alternative scopes, claims and organizations
composed with DRF's operators, a function-based view), plain Django views (sync and ``async def``), adrf,
django-ninja and a Channels consumer. Served by uvicorn (ASGI, with the Channels routing) and by gunicorn
(WSGI), called over real sockets with tokens the stand-in tenant's key signs; then the project's own pytest
run with ``auth0_issuer``; and the one line that makes a server refuse a broken configuration.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.network import free_port
from tests.support.package import EXTRAS, RUNTIME_REQUIREMENTS, Project, fresh_venv, project_env
from tests.support.servers import STARTUP_TIMEOUT, Server, assert_clean, halt, wait_until_serving
from tests.support.tenant import AUDIENCE, ISSUER, TenantServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "adopter"
PACKAGE = "mysite"
# What the adopter installs beside the wheel: its extras, the servers, and pytest for its own tests.
REQUIREMENTS = [
    *RUNTIME_REQUIREMENTS,
    *(requirement for extra in ("ninja", "channels", "async") for requirement in EXTRAS[extra]),
    *("uvicorn", "websockets", "gunicorn", "pytest", "pytest-django"),
]
TENANT_SETTINGS = """from .settings import *

AUTH0_DOMAIN = "tenant.example.com"
AUTH0_AUDIENCE = {audience!r}
AUTH0_ISSUER = {issuer!r}
AUTH0_JWKS_URL = {jwks_url!r}  # plain http is allowed for a loopback host
"""
PYTEST_INI = f"[pytest]\nDJANGO_SETTINGS_MODULE = {PACKAGE}.settings\n"
NO_CREDENTIALS = 'Bearer realm="api", DPoP algs="ES256"'


def insufficient(scope: str = "") -> str:
    return 'Bearer realm="api", error="insufficient_scope"' + (f', scope="{scope}"' if scope else "")


def make_project(project: Project, tenant: TenantServer) -> None:
    """``startproject``, then the adopter's files, each where the documentation puts it."""
    package = project.start_project(PACKAGE)
    for name in ("views.py", "async_views.py", "ninja_api.py", "consumers.py", "asgi.py"):
        shutil.copy(FIXTURES / name, package / name)
    for name, addition in (("settings.py", "settings_addition.py"), ("urls.py", "urls_addition.py")):
        with (package / name).open("a") as file:
            file.write("\n" + (FIXTURES / addition).read_text())
    with (package / "wsgi.py").open("a") as file:
        file.write("\n" + (FIXTURES / "wsgi_addition.py").read_text())
    settings = TENANT_SETTINGS.format(audience=AUDIENCE, issuer=ISSUER, jwks_url=tenant.jwks_url)
    (package / "settings_tenant.py").write_text(settings)
    for name in ("conftest.py", "test_messages.py"):
        shutil.copy(FIXTURES / name, project.directory / name)
    (project.directory / "pytest.ini").write_text(PYTEST_INI)


@pytest.fixture(scope="module")
def adopter(tmp_path_factory, tenant_server, wheel) -> Project:
    work = tmp_path_factory.mktemp("adopter")
    project = Project(wheel, fresh_venv(work / "venv", REQUIREMENTS, wheel), work / "project", f"{PACKAGE}.settings")
    make_project(project, tenant_server)
    project.manage("migrate", "--noinput")
    return project


SERVE = {
    "uvicorn": lambda port: ["-m", "uvicorn", f"{PACKAGE}.asgi:application", "--port", str(port)],
    "gunicorn": lambda port: [
        *("-m", "gunicorn", f"{PACKAGE}.wsgi:application", "--bind", f"127.0.0.1:{port}"),
        *("--workers", "1", "--threads", "4", "--no-control-socket"),
    ],
}


def serve(project: Project, command: str, log: Path, settings: str = "settings_tenant", **env: str) -> Server:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [str(project.python), *SERVE[command](port)],
        cwd=project.directory,
        env=project_env(f"{PACKAGE}.{settings}", **env),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Server(f"http://127.0.0.1:{port}", process, log)


def serving(project: Project, command: str, log: Path) -> Iterator[Server]:
    """The project served by ``command`` with the tenant's settings, until the module is done with it."""
    served = serve(project, command, log)
    try:
        if not wait_until_serving(served, "/admin/login/"):
            pytest.fail(f"{command} did not answer within {STARTUP_TIMEOUT} s:\n{served.log_text()}")
        yield served
    finally:
        halt(served)
    assert_clean(served.log_text())
    assert f"Trusting Auth0 issuer {ISSUER}" in served.log_text()  # authn.serving's line


@pytest.fixture(scope="module")
def uvicorn_server(adopter, tmp_path_factory) -> Iterator[Server]:
    """ASGI, with the Channels routing: the HTTP surface and the WebSocket one."""
    yield from serving(adopter, "uvicorn", tmp_path_factory.mktemp("uvicorn") / "server.log")


@pytest.fixture(scope="module")
def gunicorn_server(adopter, tmp_path_factory) -> Iterator[Server]:
    yield from serving(adopter, "gunicorn", tmp_path_factory.mktemp("gunicorn") / "server.log")


@pytest.fixture(scope="module", params=sorted(SERVE))
def server(request) -> Server:
    return request.getfixturevalue(f"{request.param}_server")


def call(server: Server, method: str, path: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, server.url + path, headers=headers, timeout=15)


# (method, path, the token's claims or None for no token, status, code, challenge)
CASES = [
    # HasScope by method: GET (and HEAD) read:messages, POST write:messages, PUT named by no one
    pytest.param("GET", "/messages", {"scope": "read:messages"}, 200, None, None, id="messages-get"),
    pytest.param("HEAD", "/messages", {"scope": "read:messages"}, 200, None, None, id="messages-head-follows-get"),
    pytest.param("HEAD", "/messages", {"scope": "write:messages"}, 403, "", insufficient("read:messages"),
                 id="messages-head-without-read"),
    pytest.param("POST", "/messages", {"scope": "write:messages"}, 201, None, None, id="messages-post"),
    pytest.param("POST", "/messages", {"scope": "read:messages"}, 403, "insufficient_scope",
                 insufficient("write:messages"), id="messages-post-without-write"),
    pytest.param("PUT", "/messages", {"scope": "read:messages write:messages"}, 403, "insufficient_scope",
                 insufficient(), id="messages-put-not-named"),
    pytest.param("GET", "/messages", None, 401, "authorization_header_missing", NO_CREDENTIALS, id="messages-no-token"),
    # alternatives
    pytest.param("GET", "/reports", {"scope": "read:reports"}, 200, None, None, id="reports-first"),
    pytest.param("GET", "/reports", {"scope": "read:own read:summary"}, 200, None, None, id="reports-second"),
    pytest.param("GET", "/reports", {"scope": "read:own"}, 403, "insufficient_scope",
                 insufficient("read:own read:summary"), id="reports-half"),
    # composition: admin | (organization & claim)
    pytest.param("GET", "/acme", {"org_id": "org_acme", "roles": ["editor"]}, 200, None, None, id="acme-editor"),
    pytest.param("GET", "/acme", {"org_id": "org_acme", "roles": ["viewer"]}, 403, "insufficient_claims",
                 insufficient(), id="acme-viewer"),
    pytest.param("GET", "/acme", {"org_id": "org_other", "roles": ["editor"]}, 403, "insufficient_claims",
                 insufficient(), id="acme-other-organization"),
    # a function-based view
    pytest.param("GET", "/message-count", {"scope": "read:messages"}, 200, None, None, id="function-view"),
    pytest.param("GET", "/message-count", {"scope": ""}, 403, "insufficient_scope", insufficient("read:messages"),
                 id="function-view-without-scope"),
    # plain Django views
    pytest.param("GET", "/plain-messages", {"scope": "read:messages"}, 200, None, None, id="plain"),
    pytest.param("GET", "/plain-messages", {"scope": ""}, 403, "insufficient_scope", insufficient("read:messages"),
                 id="plain-without-scope"),
    pytest.param("GET", "/whoami", {"scope": ""}, 200, None, None, id="plain-async"),
    pytest.param("GET", "/whoami", None, 401, "authorization_header_missing", NO_CREDENTIALS,
                 id="plain-async-no-token"),
    # adrf
    pytest.param("GET", "/async-messages", {"scope": "read:messages"}, 200, None, None, id="adrf"),
    pytest.param("GET", "/async-messages", {"scope": ""}, 403, "insufficient_scope", insufficient("read:messages"),
                 id="adrf-without-scope"),
    # django-ninja, registered
    pytest.param("GET", "/ninja/messages", {"scope": "read:messages"}, 200, None, None, id="ninja"),
    pytest.param("GET", "/ninja/async-messages", {"scope": "read:messages"}, 200, None, None, id="ninja-async"),
    pytest.param("GET", "/ninja/async-messages", {"scope": ""}, 403, "insufficient_scope",
                 insufficient("read:messages"), id="ninja-async-without-scope"),
    pytest.param("GET", "/ninja/messages", None, 401, "authorization_header_missing", NO_CREDENTIALS,
                 id="ninja-no-token"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "claims", "status", "code", "challenge"), CASES)
def test_adopter_surface_answers(server, make_token, method, path, claims, status, code, challenge):
    response = call(server, method, path, make_token(**claims) if claims is not None else None)
    assert response.status_code == status, response.text
    if challenge is not None:
        assert response.headers["WWW-Authenticate"] == challenge
    if code:  # HEAD has no body to carry one
        assert response.json()["code"] == code
    elif method == "HEAD":
        assert response.content == b""


def test_adopter_expired_token_is_refused_on_every_surface(server, make_token):
    expired = make_token(exp=1)
    for path in ("/messages", "/message-count", "/plain-messages", "/whoami", "/async-messages", "/ninja/messages"):
        response = call(server, "GET", path, expired)
        assert (response.status_code, response.json()["code"]) == (401, "token_expired"), path


# -- Channels, under uvicorn -------------------------------------------------------------------------


def handshake(server: Server, token: str | None, **options):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return connect(server.url.replace("http://", "ws://") + "/ws/messages", additional_headers=headers, **options)


def test_channels_handshake_with_the_scope_is_accepted(uvicorn_server, make_token):
    with handshake(uvicorn_server, make_token(sub="auth0|ws", scope="read:messages")) as socket:
        assert socket.recv(timeout=10) == '{"sub": "auth0|ws"}'


def test_channels_browser_token_as_a_subprotocol_is_accepted(uvicorn_server, make_token):
    offer = ["authn.bearer", make_token(sub="auth0|browser", scope="read:messages")]
    with handshake(uvicorn_server, None, subprotocols=offer) as socket:
        assert socket.subprotocol == "authn.bearer"
        assert socket.recv(timeout=10) == '{"sub": "auth0|browser"}'


@pytest.mark.parametrize(
    ("claims", "status", "challenge"),
    [
        pytest.param(None, 401, NO_CREDENTIALS, id="no-token"),
        pytest.param({"exp": 1}, 401, 'Bearer realm="api", error="invalid_token"', id="expired"),
        pytest.param({"scope": ""}, 403, None, id="consumer-closes-before-accept"),
    ],
)
def test_channels_refused_handshake_is_never_accepted(uvicorn_server, make_token, claims, status, challenge):
    with pytest.raises(InvalidStatus) as refused:
        handshake(uvicorn_server, make_token(**claims) if claims is not None else None)
    response = refused.value.response
    assert response.status_code == status
    if challenge is not None:
        assert response.headers["WWW-Authenticate"] == challenge


# -- the adopter's own tests --------------------------------------------------------------------------


def test_adopters_pytest_run_with_auth0_issuer_passes(adopter):
    done = subprocess.run(  # noqa: S603
        [str(adopter.python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=adopter.directory,
        env=project_env(f"{PACKAGE}.settings"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout


# -- the adopter's start-up line ------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(SERVE))
def test_broken_configuration_stops_the_server_one_line_per_error(adopter, command, tmp_path):
    """authn.serving in wsgi.py / asgi.py: exit non-zero before serving, no traceback."""
    environment = {"AUTH0_DOMAIN": "https://x", "AUTH0_AUDIENCE": "https://api.example.com"}
    served = serve(adopter, command, tmp_path / "server.log", settings="settings", **environment)
    try:
        served.process.wait(timeout=STARTUP_TIMEOUT)
    finally:
        halt(served)
    output = served.log_text()
    assert served.process.returncode != 0
    assert "authn.E001: AUTH0_DOMAIN must list bare host names: 'https://x'" in output
    assert "Refusing to serve: 1 system check error(s)." in output
    assert "Traceback" not in output


@pytest.mark.parametrize("command", sorted(SERVE))
def test_debug_off_serves_despite_djangos_own_deploy_advice(adopter, command, tmp_path):
    """A fresh project with debug off: Django's deploy checks are check --deploy's, not a reason to stop."""
    served = serve(adopter, command, tmp_path / "server.log", settings="settings_production")
    try:
        assert wait_until_serving(served, "/admin/login/"), served.log_text()
    finally:
        halt(served)
    assert "Refusing to serve" not in served.log_text()


@pytest.fixture(scope="module", autouse=True)
def production_settings(adopter) -> None:
    """Debug off, the tenant trusted, the project's hosts allowed: a deployment that has not yet taken
    Django's own deploy advice (its startproject SECRET_KEY, no HSTS...)."""
    settings = "from .settings_tenant import *\n\nDEBUG = False\nALLOWED_HOSTS = ['127.0.0.1']\n"
    (adopter.directory / PACKAGE / "settings_production.py").write_text(settings)
