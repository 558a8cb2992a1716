"""Fixtures: RSA keys generated at test time, a stand-in tenant on loopback, a token factory.

What they are built from (the stand-in tenant, clocks, TLS, servers...) is in tests/support/.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient

from authn import conf, runtime
from authn.clock import Clock
from tests.support.clock import FakeClock, SharedClock
from tests.support.dpop_client import ProofKey
from tests.support.tenant import AUDIENCE, ISSUER, KID, TenantServer, start_tenant, trust_tenant
from tests.support.tls import make_certificate_authority

# The services the tests start, the two tenants several modules trust, and authn's own test issuer (the
# fixture ``auth0_issuer``), as an adopter's conftest.py names it.
pytest_plugins = ["tests.support.services", "tests.support.two_tenants", "tests.support.package", "authn.testing"]


@pytest.fixture
def clock() -> FakeClock:
    """Starts at the real time, so tokens minted with real timestamps are current for it."""
    return FakeClock(time.time())


@pytest.fixture
def key() -> ProofKey:
    """A DPoP client's key."""
    return ProofKey()


@pytest.fixture
def bound_token(make_token, key) -> str:
    """A token bound to ``key`` (``cnf.jkt``)."""
    return make_token(cnf={"jkt": key.thumbprint})


@pytest.fixture
def tenant_settings(settings):
    """Debug off, one Auth0 tenant by its domain alone: a production configuration."""
    settings.DEBUG = False
    settings.AUTH0_DOMAIN = "dev-abc.us.auth0.com"
    settings.AUTH0_AUDIENCE = ["https://api.example.com"]
    settings.AUTH0_ISSUER = ""
    settings.AUTH0_JWKS_URL = ""
    return settings


@pytest.fixture
def key_file(tmp_path):
    return tmp_path / "dev-issuer" / "signing-key.pem"


@pytest.fixture
def dev_issuer(settings, key_file):
    """Debug on, no tenant: the development issuer is the one trusted, its key in ``key_file`` (returned)."""
    settings.DEBUG = True
    settings.AUTH0_DOMAIN = ""
    settings.AUTH0_ISSUER = ""
    settings.AUTH0_JWKS_URL = ""
    settings.AUTH0_AUDIENCE = []
    settings.AUTH0_DEV_KEY_FILE = key_file
    return key_file


@pytest.fixture
def shared_clock(tmp_path: Path) -> SharedClock:
    """The clock of servers started with ``tests.support.servers.shared_clock_env``: moved by ``advance()``."""
    return SharedClock(tmp_path / "clock")


@pytest.fixture
def fake_time(clock: FakeClock) -> Iterator[FakeClock]:
    """The whole trust layer (token expiry, key-cache TTLs, cooldowns, stale windows, DPoP) reads ``clock``."""
    runtime.use_clock(Clock.of(clock))
    yield clock
    runtime.use_clock(None)


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def certificate_authority(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PEM files of a CA made for this run (``ca``) and of a 127.0.0.1 server certificate (``cert``, ``key``)."""
    return make_certificate_authority(tmp_path_factory.mktemp("tls"))


def keeps_runtime(request: pytest.FixtureRequest) -> bool:
    """Whether the test's module is marked ``keep_runtime``: it sets what its tests trust once, for all of them,
    and they share authn's runtime (validator, key and token caches) and one API client."""
    return request.node.get_closest_marker("keep_runtime") is not None


@pytest.fixture(autouse=True)
def _fresh_validator(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with no validator, key cache or token cache from another; in a ``keep_runtime``
    module, with the module's, which lives as long as the module's settings (a change rebuilds it)."""
    if keeps_runtime(request):
        yield
        return
    conf.reset()
    runtime.reset()
    yield
    conf.reset()
    runtime.reset()


@pytest.fixture(scope="module")
def tenant_server(rsa_key: rsa.RSAPrivateKey) -> Iterator[TenantServer]:
    """A stand-in tenant publishing ``rsa_key``, for the servers a module starts (they read their settings
    from the environment, not from ``settings``)."""
    server = start_tenant(rsa_key)
    yield server
    server.stop()


@pytest.fixture
def tenant(settings: Any, rsa_key: rsa.RSAPrivateKey) -> Iterator[TenantServer]:
    """A running stand-in tenant publishing ``rsa_key`` as ``KID``, and the settings that trust it."""
    server = TenantServer().start()
    yield trust_tenant(settings, server, rsa_key)
    server.stop()


@pytest.fixture
def dpop(tenant: TenantServer, settings: Any, tmp_path: Path) -> Any:
    """The tenant's settings with DPoP allowed, no nonces, authn's replay store in a file of the test's own."""
    settings.AUTH0_DPOP, settings.AUTH0_DPOP_NONCE = "allowed", False
    settings.AUTH0_DPOP_REPLAY_CACHE, settings.AUTH0_DPOP_REPLAY_FILE = "", str(tmp_path / "jti.sqlite3")
    return settings


@pytest.fixture
def make_token(rsa_key: rsa.RSAPrivateKey) -> Callable[..., str]:
    """``make_token(**claims)``: a valid access token for ``tenant``; each test states what it changes.

    ``drop=("exp",)`` removes claims, ``headers={...}`` adds header members,
    ``key``/``kid``/``alg`` choose the signature.
    """

    def make(
        *,
        key: Any = rsa_key,
        kid: str | None = KID,
        alg: str = "RS256",
        headers: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "sub": "auth0|user-1",
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 3600,
            "scope": "openid read:messages",
            **claims,
        }
        for name in drop:
            payload.pop(name, None)
        header = {"kid": kid, **(headers or {})} if kid is not None else dict(headers or {})
        return jwt.encode(payload, key, algorithm=alg, headers=header)

    return make


@pytest.fixture
def api(request: pytest.FixtureRequest) -> APIClient:
    """A client of the test's own; in a ``keep_runtime`` module, the module's (``module_api``)."""
    if keeps_runtime(request):
        return request.getfixturevalue("module_api")
    return APIClient()


@pytest.fixture(scope="module")
def module_api() -> APIClient:
    """One client for a module: a new one loads the middleware again (~0.1 s with WhiteNoise's finders)."""
    return APIClient()


@pytest.fixture
def call(api: APIClient) -> Callable[..., Any]:
    """``call(path, token=..., authorization=..., **extra)``: a GET through the whole Django stack."""

    def get(path: str, token: str | None = None, authorization: str | None = None, **extra: Any) -> Any:
        if token is not None:
            authorization = f"Bearer {token}"
        if authorization is not None:
            extra["HTTP_AUTHORIZATION"] = authorization
        return api.get(path, **extra)

    return get


# The modules that start real servers and processes, slowest first: run first, pytest-xdist (`make test`
# runs one worker per core) spreads them across its workers instead of leaving one for last.
SLOWEST_MODULES = (
    "test_package",
    "test_adoption",
    "test_operations",
    "test_tokens",
    "test_server",
    "test_devissuer",
    "test_dpop_servers",
    "test_mtls",
    "test_users",
    "test_browser",
    "test_issuers",
    "test_deploy_block",
    "test_channels",
    "test_ninja",
    "test_log_lines",
    "test_testing",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(SLOWEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.module.__name__.rpartition(".")[2], len(rank)) if item.module else 0)
