"""The embedded development issuer, trusted with debug on and no tenant, and ``manage.py mint_token``.

Every test keeps the key in ``tmp_path``: none is ever created inside the repository.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError

from authn import runtime
from authn.defaults import DEFAULTS
from authn.devissuer import DEV_AUDIENCE, DEV_ISSUER, DevIssuer
from authn.jose import b64url_encode
from tests.support.api import PRIVATE_MESSAGE, PUBLIC_MESSAGE, SCOPED_MESSAGE

JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


def mint(*args):
    """``mint_token`` with ``args``: (the token on the last line of stdout, all of stdout)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("mint_token", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue().splitlines()[-1], stdout.getvalue()


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


def assert_error(response, status, code):
    assert response.status_code == status
    assert response.json()["code"] == code


# -- mint_token ------------------------------------------------------------------


def test_mint_token_prints_the_token_alone_on_the_last_line(dev_issuer):
    token, stdout = mint("--scope", "read:messages")
    assert JWT_SHAPE.match(token)
    assert stdout.endswith(token + "\n")
    assert jwt.get_unverified_header(token)["kid"] == runtime.dev_issuer().kid


def test_mint_token_defaults_are_a_dev_tenant_token(dev_issuer):
    token, _ = mint()
    claims = claims_of(token)
    assert claims["iss"] == DEV_ISSUER
    assert claims["aud"] == DEV_AUDIENCE
    assert claims["sub"] == "dev|local-user"
    assert claims["exp"] - claims["iat"] == 3600
    assert "scope" not in claims
    assert "permissions" not in claims


def test_mint_token_with_scope_reads_the_scoped_message(dev_issuer, call):
    token, _ = mint("--scope", "read:messages")
    response = call("/api/private-scoped", token=token)
    assert response.status_code == 200
    assert response.json() == {"message": SCOPED_MESSAGE}


def test_mint_token_without_scope_is_private_but_not_scoped(dev_issuer, call):
    token, _ = mint()
    assert call("/api/private", token=token).json() == {"message": PRIVATE_MESSAGE}
    assert_error(call("/api/private-scoped", token=token), 403, "insufficient_scope")


def test_mint_token_with_permissions_reads_the_scoped_message(dev_issuer, call):
    token, _ = mint("--permissions", "read:messages")
    assert claims_of(token)["permissions"] == ["read:messages"]
    assert call("/api/private-scoped", token=token).status_code == 200


def test_mint_token_honours_sub(dev_issuer, call):
    token, _ = mint("--sub", "auth0|someone-else")
    assert claims_of(token)["sub"] == "auth0|someone-else"
    assert call("/api/private", token=token).status_code == 200


def test_mint_token_honours_ttl(dev_issuer):
    claims = claims_of(mint("--ttl", "120")[0])
    assert claims["exp"] - claims["iat"] == 120


@pytest.mark.parametrize("ttl", ["0", "-5"])
def test_mint_token_refuses_a_non_positive_ttl(dev_issuer, ttl):
    with pytest.raises(CommandError, match="--ttl"):
        mint("--ttl", ttl)


def test_mint_token_for_another_audience_is_invalid_claims(dev_issuer, call):
    token, _ = mint("--scope", "read:messages", "--aud", "https://elsewhere.example.com")
    assert claims_of(token)["aud"] == "https://elsewhere.example.com"
    assert_error(call("/api/private", token=token), 401, "invalid_claims")


def test_mint_token_for_a_configured_audience_is_accepted(dev_issuer, settings, call):
    settings.AUTH0_AUDIENCE = ["https://one.example.com", "https://two.example.com"]
    assert claims_of(mint()[0])["aud"] == "https://one.example.com"
    token, _ = mint("--aud", "https://two.example.com")
    assert call("/api/private", token=token).status_code == 200


def test_mint_token_refuses_when_debug_is_turned_off(dev_issuer, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="AUTH0_DOMAIN is unset and DEBUG is on"):
        mint()
    assert not dev_issuer.exists()


MANAGE_PY = Path(__file__).resolve().parent.parent / "manage.py"


def run_manage_py(cwd: Path, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AUTH0_", "DJANGO_"))}
    env.update(environment)
    command = [sys.executable, str(MANAGE_PY), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


def test_mint_token_from_another_directory_mints_for_the_projects_server(settings, call, tmp_path):
    """An empty environment, as beside `make run`, and another working directory: the key file is the
    project's (beside manage.py), so the token is one the project's server accepts."""
    minted = run_manage_py(tmp_path, "mint_token", "--scope", "read:messages")
    assert minted.returncode == 0, minted.stderr
    assert list(tmp_path.iterdir()) == []
    settings.DEBUG, settings.AUTH0_DOMAIN = True, ""
    settings.AUTH0_DEV_KEY_FILE = DEFAULTS["AUTH0_DEV_KEY_FILE"]  # relative: to the project's directory
    token = minted.stdout.splitlines()[-1]
    assert call("/api/private-scoped", token=token).json() == {"message": SCOPED_MESSAGE}


def test_token_of_another_development_key_is_refused_with_a_log_line_naming_this_servers_key(
    dev_issuer, call, tmp_path, caplog
):
    token = DevIssuer(tmp_path / "another-project" / "key.pem", DEV_ISSUER).mint(audience=DEV_AUDIENCE)
    response = call("/api/private", token=token)
    assert (response.status_code, response.json()["code"]) == (401, "invalid_header")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "authn" and "refused" in r.getMessage()]
    assert 'reason="not signed with this server\'s development key (AUTH0_DEV_KEY_FILE)"' in line


def test_mint_token_refuses_when_debug_is_off_explicitly(tmp_path):
    refused = run_manage_py(tmp_path, "mint_token", DJANGO_DEBUG="false")
    assert refused.returncode == 1
    assert "not active" in refused.stderr
    assert not (tmp_path / ".dev-issuer").exists()


def test_mint_token_refuses_when_a_tenant_is_configured(dev_issuer, settings):
    settings.AUTH0_DOMAIN = "tenant.example.com"
    settings.AUTH0_AUDIENCE = ["https://api.example.com/messages"]
    with pytest.raises(CommandError, match="not active"):
        mint()
    assert not dev_issuer.exists()


# -- the key file ----------------------------------------------------------------


def test_key_file_is_created_owner_only_on_first_use(dev_issuer):
    assert not dev_issuer.exists()
    mint()
    assert stat.S_IMODE(dev_issuer.stat().st_mode) == 0o600
    assert [p.name for p in dev_issuer.parent.iterdir()] == [dev_issuer.name]  # no partial file left


def test_key_file_is_reused(key_file):
    first = DevIssuer(key_file, DEV_ISSUER)
    content = key_file.read_bytes()
    second = DevIssuer(key_file, DEV_ISSUER)
    assert second.kid == first.kid
    assert key_file.read_bytes() == content


def test_token_survives_a_restart(dev_issuer, call):
    token, _ = mint("--scope", "read:messages")
    runtime.reset()  # what a new server process starts with
    assert call("/api/private-scoped", token=token).status_code == 200


def _kid_in_child(key_file, barrier, kids):
    barrier.wait()
    kids.put(DevIssuer(key_file, DEV_ISSUER).kid)


def test_racing_processes_agree_on_one_key(key_file):
    """Gunicorn workers starting together: each may generate a key, only one is kept, all use it."""
    # spawn, not fork: the live server's thread may be running, and forking a threaded process is unsafe.
    context = multiprocessing.get_context("spawn")
    racers = 3
    barrier, kids = context.Barrier(racers), context.Queue()
    processes = [context.Process(target=_kid_in_child, args=(key_file, barrier, kids)) for _ in range(racers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    results = {kids.get(timeout=5) for _ in processes}
    assert results == {DevIssuer(key_file, DEV_ISSUER).kid}
    assert [p.name for p in key_file.parent.iterdir()] == [key_file.name]


def test_kid_is_the_rfc7638_thumbprint(key_file):
    issuer = DevIssuer(key_file, DEV_ISSUER)
    n, e = issuer.get_key(issuer.kid).material
    canonical = f'{{"e":"{e}","kty":"RSA","n":"{n}"}}'  # RFC 7638 §3.3, written out by hand
    assert issuer.kid == b64url_encode(hashlib.sha256(canonical.encode()).digest())
    assert issuer.get_key("another-kid") is None


# -- debug off, no tenant: nothing is trusted ------------------------------------------


@pytest.mark.parametrize("path", ["/api/private", "/api/private-scoped"])
def test_debug_off_without_tenant_refuses_even_dev_tokens(dev_issuer, settings, call, path):
    token, _ = mint("--scope", "read:messages")
    settings.DEBUG = False
    assert runtime.dev_issuer() is None
    assert_error(call(path, token=token), 401, "invalid_header")
    assert_error(call(path), 401, "authorization_header_missing")


def test_debug_off_without_tenant_still_serves_public(dev_issuer, settings, call):
    settings.DEBUG = False
    assert call("/api/public").json() == {"message": PUBLIC_MESSAGE}


def test_debug_off_without_tenant_fails_check_deploy(dev_issuer, settings):
    settings.DEBUG = False
    with pytest.raises(SystemCheckError, match=r"authn\.E007"):
        call_command("check", "--deploy", stdout=io.StringIO(), stderr=io.StringIO())
    assert not dev_issuer.exists()


def test_the_default_key_files_are_git_ignored():
    """The development issuer's key and mint_token's DPoP key beside it: never committed by accident."""
    key_file = Path(DEFAULTS["AUTH0_DEV_KEY_FILE"])
    for path in (key_file, key_file.parent / "dpop-key.pem"):
        command = ["git", "check-ignore", "--no-index", "--quiet", str(path)]
        done = subprocess.run(command, cwd=Path(__file__).resolve().parent.parent, check=False)  # noqa: S603
        assert done.returncode == 0, f"{path} is not git-ignored"
