"""Access tokens for a project's own tests: no tenant, no network, the same validation as a real tenant's.

``TestIssuer`` makes this process trust an RSA key it holds in memory, besides
whatever the settings trust (none, a tenant list, a resolver, the development
issuer), from ``start()`` to ``stop()`` or for a ``with`` block; the runtime
keeps trusting it when the settings change meanwhile. Its ``token()`` mints an
access token for the views under test. With ``pytest_plugins = ["authn.testing"]``
in a ``conftest.py``, the ``auth0_issuer`` fixture is one open for the test.

The key is made once for the process (an RSA-2048 key takes tens of
milliseconds to make) and every test issuer signs with it: one is open at a
time, and a second ``start()`` meanwhile is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from authn import conf, runtime
from authn.devissuer import LocalIssuer
from authn.runtime import ExtraIssuer

TEST_ISSUER = "https://test-issuer.authn.invalid/"  # .invalid is reserved (RFC 2606): never a real tenant
TEST_AUDIENCE = "https://api.authn.invalid"  # its tokens' audience when the settings name none
TEST_SUBJECT = "auth0|test-user"

_key: LocalIssuer | None = None
_open: TestIssuer | None = None
_lock = threading.Lock()


def signer() -> LocalIssuer:
    """The process's test key, made on first use."""
    global _key  # noqa: PLW0603 - one key per process: each test making its own would cost it ~50 ms
    with _lock:
        if _key is None:
            _key = LocalIssuer(rsa.generate_private_key(public_exponent=65537, key_size=2048), TEST_ISSUER)
        return _key


class TestIssuer:
    """An issuer this process trusts only while it is open, for ``TEST_AUDIENCE`` and the settings' audiences."""

    __test__ = False  # pytest: a module importing it holds no test class of that name
    issuer = TEST_ISSUER

    def start(self) -> TestIssuer:
        """Trust it from now on; ``RuntimeError`` while another (or this one) is open."""
        global _open  # noqa: PLW0603 - what the process trusts is the process's
        source = signer()
        with _lock:
            if _open is not None:
                raise RuntimeError(
                    "A TestIssuer is already open in this process, and one is open at a time: use that one "
                    "(in pytest, the auth0_issuer fixture's), or stop() it before starting another."
                )
            _open = self
            runtime.trust_also(TEST_ISSUER, ExtraIssuer(source, TEST_AUDIENCE))
        return self

    def stop(self) -> None:
        """No longer trust it: its tokens are refused from now on. Stopping it again does nothing."""
        global _open  # noqa: PLW0603
        with _lock:
            if _open is self:
                runtime.trust_also(TEST_ISSUER, None)
                _open = None

    def __enter__(self) -> TestIssuer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def audience(self) -> str:
        """The audience its tokens carry: the first the settings name, else ``TEST_AUDIENCE``."""
        return next(iter(conf.get().audience), TEST_AUDIENCE)

    def token(
        self,
        *,
        scope: str | None = None,
        permissions: Sequence[str] | None = None,
        sub: str = TEST_SUBJECT,
        **claims: Any,
    ) -> str:
        """A signed RS256 access token, issued now on the runtime's clock for an hour; ``claims`` override or add
        (``org_id=...``, ``cnf={"jkt": ...}`` to bind it to a DPoP key, ``exp=...`` in the past...).

        ``scope`` and ``permissions`` go in the claims the settings read them from.
        """
        if _open is not self:
            raise RuntimeError("This TestIssuer is not open: start() it, or mint inside its with block.")
        settings = conf.get()
        granted: dict[str, Any] = {} if scope is None else {settings.scope_claim: scope}
        if permissions is not None:
            granted[settings.permissions_claim] = list(permissions)
        return signer().mint(
            audience=self.audience,
            subject=sub,
            issued_at=runtime.current().clock.wall(),
            extra_claims={**granted, **claims},
        )


try:
    import pytest
except ImportError:  # unittest alone: TestIssuer, without the fixture
    pass
else:

    @pytest.fixture
    def auth0_issuer() -> Iterator[TestIssuer]:
        """A ``TestIssuer`` open for the test, closed after it."""
        with TestIssuer() as issuer:
            yield issuer
