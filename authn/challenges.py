"""The ``WWW-Authenticate`` challenges a refusal is answered with (RFC 6750 §3, RFC 9449 §7.1).

One place decides them all: the scheme a refusal's challenge uses (the
request's, when the DPoP mode accepts it; otherwise the one the mode
demands), what a request without credentials is told, and the words.
"""

from __future__ import annotations

import functools

from authn.defaults import DPoPMode
from authn.errors import AuthnError, BoundTokenAsBearer, InsufficientScope

BEARER, DPOP = "bearer", "dpop"


class Challenges:
    """The challenges of one realm, DPoP mode and list of DPoP algorithms."""

    def __init__(self, *, realm: str, dpop: DPoPMode, dpop_algorithms: tuple[str, ...]) -> None:
        self.realm, self.dpop = realm, dpop
        self._algorithms = " ".join(dpop_algorithms)

    def accepts(self, scheme: str | None) -> bool:
        """Whether this server takes ``scheme`` (lowercased) in an Authorization header at all."""
        return scheme == BEARER or (scheme == DPOP and self.dpop is not DPoPMode.DISABLED)

    def scheme_for(self, scheme: str | None) -> str:
        """The scheme a refusal's challenge uses: the request's when the mode accepts it, else the mode's."""
        if self.dpop is DPoPMode.ALLOWED:
            return DPOP if scheme == DPOP else BEARER
        return DPOP if self.dpop is DPoPMode.REQUIRED else BEARER

    def attach(self, error: AuthnError, scheme: str | None) -> AuthnError:
        """``error``, with the challenge answering it for a request that used ``scheme``."""
        error.challenge = self.for_error(error, self.scheme_for(scheme))
        return error

    def for_error(self, error: AuthnError, scheme: str) -> str | None:
        if error.challenge_error is None:
            return self.for_credentials() if error.status == 401 else None
        scope = " ".join(error.required_scopes) if isinstance(error, InsufficientScope) else ""
        if scheme == DPOP:
            return self._dpop(error.challenge_error, scope)
        if isinstance(error, BoundTokenAsBearer) and self.dpop is DPoPMode.ALLOWED:
            return f"{self._bearer(error.challenge_error)}, {self._dpop()}"  # the scheme it needs, beside its own
        return self._bearer(error.challenge_error, scope)

    def for_credentials(self) -> str:
        """What a request without credentials is told: the schemes this server accepts."""
        if self.dpop is DPoPMode.REQUIRED:
            return self._dpop()
        if self.dpop is DPoPMode.ALLOWED:
            return f"{self._bearer()}, {self._dpop()}"
        return self._bearer()

    def _bearer(self, error: str = "", scope: str = "") -> str:
        return _challenge("Bearer", (("realm", self.realm), ("error", error), ("scope", scope)))

    def _dpop(self, error: str = "", scope: str = "") -> str:
        return _challenge("DPoP", (("error", error), ("scope", scope), ("algs", self._algorithms)))


@functools.lru_cache(maxsize=256)
def _challenge(scheme: str, params: tuple[tuple[str, str], ...]) -> str:
    """``<scheme> name="value", ...`` of the non-empty values (a handful of distinct ones: kept)."""
    return f"{scheme} " + ", ".join(f'{name}="{_quote(value)}"' for name, value in params if value)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
