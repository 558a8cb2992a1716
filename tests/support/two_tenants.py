"""Fixtures (a pytest plugin, registered in tests/conftest.py): two HTTPS stand-in tenants trusted by domain.

``AUTH0_DOMAIN`` lists both (``127.0.0.1:P1,127.0.0.1:P2``) and the test CA is trusted through
``SSL_CERT_FILE`` alone. Each tenant publishes its own RSA key under the same kid, so only a token's ``iss``
can pick the key set. ``token_of(tenant, **claims)`` makes a valid token of either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.tenant import AUDIENCE, TenantServer, start_tenant

COOLDOWN = 5  # the tenants' AUTH0_JWKS_COOLDOWN_SECONDS: tests move the clock past it
TTL = 600  # their AUTH0_JWKS_CACHE_SECONDS likewise


def domain_of(tenant: TenantServer) -> str:
    """The ``AUTH0_DOMAIN`` entry of an HTTPS ``tenant``: ``127.0.0.1:PORT``."""
    return tenant.url.removeprefix("https://")


@pytest.fixture
def tenants(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    certificate_authority: dict[str, Path],
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
) -> Iterator[tuple[TenantServer, TenantServer]]:
    """Two HTTPS tenants, each publishing its own key as ``KID``, and the settings that trust both by domain."""
    first, second = start_tenant(rsa_key, certificate_authority), start_tenant(other_rsa_key, certificate_authority)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate_authority["ca"]))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)  # the test CA is trusted through SSL_CERT_FILE alone
    settings.AUTH0_DOMAIN = [domain_of(first), domain_of(second)]
    settings.AUTH0_ISSUER = ""
    settings.AUTH0_JWKS_URL = ""
    settings.AUTH0_AUDIENCE = [AUDIENCE]
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = COOLDOWN
    settings.AUTH0_JWKS_CACHE_SECONDS = TTL
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
def first(tenants: tuple[TenantServer, TenantServer]) -> TenantServer:
    return tenants[0]


@pytest.fixture
def second(tenants: tuple[TenantServer, TenantServer]) -> TenantServer:
    return tenants[1]


@pytest.fixture
def stranger(certificate_authority: dict[str, Path], rsa_key: rsa.RSAPrivateKey) -> Iterator[TenantServer]:
    """A third HTTPS tenant nobody lists, publishing the first tenant's key: its tokens are genuinely signed."""
    server = start_tenant(rsa_key, certificate_authority)
    yield server
    server.stop()


@pytest.fixture
def token_of(
    make_token: Callable[..., str],
    tenants: tuple[TenantServer, TenantServer],
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
) -> Callable[..., str]:
    """``token_of(tenant, **claims)``: a valid token of ``tenant``, its ``iss`` and signed with its key."""
    keys = {tenants[0]: rsa_key, tenants[1]: other_rsa_key}

    def make(tenant: TenantServer, **claims: Any) -> str:
        return make_token(**{"iss": tenant.issuer, "key": keys[tenant], **claims})

    return make
