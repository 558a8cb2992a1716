"""Every refusal, once: its code and description (what the client reads), status and challenge error.

``tokens.py``, ``jwks.py``, ``dpop.py`` and the DRF adapters raise these;
``exceptions.py`` turns any of them into the DRF exception of its status.
Descriptions are fixed texts, safe to send: never the token, never a
library's message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

LogFields = Callable[[], Mapping[str, Any]]


class AuthnError(Exception):
    """A refused request. Subclasses set the four class attributes."""

    code: ClassVar[str]
    description: str
    status: ClassVar[int] = 401
    challenge_error: ClassVar[str | None] = "invalid_token"  # the ``error`` of WWW-Authenticate; None: no challenge

    def __init__(self, description: str | None = None) -> None:
        if description:
            self.description = description
        super().__init__(self.description)
        # What the refusal log may say about the token, computed only if a line is written.
        self.log_fields: LogFields = dict
        self.scheme = "bearer"  # the scheme of its challenge: the request's, or the one the DPoP mode demands


class MissingCredentials(AuthnError):
    """No Authorization header (DRF's own ``NotAuthenticated``); the challenge names no error."""

    code = "authorization_header_missing"
    description = "Authorization header is expected."
    challenge_error = None


class InvalidRequest(AuthnError):
    code = "invalid_header"
    description = "Authorization header must be Bearer token."
    challenge_error = "invalid_request"


class MalformedToken(AuthnError):
    """Not a well-formed, correctly signed token for an allowed algorithm and key."""

    code = "invalid_header"
    description = "Unable to parse authentication token."


class ExpiredToken(AuthnError):
    code = "token_expired"
    description = "Token is expired."


class InvalidClaims(AuthnError):
    code = "invalid_claims"
    description = "Incorrect claims, please check the audience and issuer."


class InactiveUser(AuthnError):
    code = "user_inactive"
    description = "User is inactive or cannot be mapped to an account."


class InsufficientScope(AuthnError):
    code = "insufficient_scope"
    description = "You don't have access to this resource."
    status = 403
    challenge_error = "insufficient_scope"

    def __init__(self, required_scopes: Sequence[str]) -> None:
        super().__init__()
        self.required_scopes = tuple(required_scopes)


class InvalidProof(AuthnError):
    code = "invalid_dpop_proof"
    description = "DPoP proof is invalid."
    challenge_error = "invalid_dpop_proof"


class NonceRequired(AuthnError):
    code = "use_dpop_nonce"
    description = "DPoP proof must carry the nonce given in the DPoP-Nonce header."
    challenge_error = "use_dpop_nonce"


class Unavailable(AuthnError):
    """Something a decision needs cannot be had now: 503 with ``Retry-After``, no challenge."""

    status = 503
    challenge_error = None

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class KeysUnavailable(Unavailable):
    code = "jwks_unavailable"
    description = "Unable to fetch the signing keys to verify the token; try again later."


class ReplayCacheUnavailable(Unavailable):
    code = "replay_cache_unavailable"
    description = "Unable to check the DPoP proof for replay; try again later."
