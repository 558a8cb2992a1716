"""Every refusal, once: its status, code and description (what the client reads) and its challenge error.

``authn.verify`` and the permissions raise these; each surface answers one
with ``status``, the body ``{"code": code, "description": description}`` and
``headers`` (``WWW-Authenticate``, ``Retry-After``, ``DPoP-Nonce``).
Descriptions are fixed texts, safe to send: never the token, never a
library's message. Class names say what happened; several share a code (the
contract's ``invalid_header`` covers a malformed token and a bad signature
alike).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

LogFields = Callable[[], Mapping[str, Any]]


class AuthnError(Exception):
    """A refused request. Subclasses set ``code``, ``description``, ``status`` and ``challenge_error``."""

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
        self.challenge: str | None = None  # WWW-Authenticate, as ``authn.challenges`` words it for the request

    @property
    def body(self) -> dict[str, str]:
        """The response body this refusal is answered with."""
        return {"code": self.code, "description": self.description}

    @property
    def headers(self) -> dict[str, str]:
        """The response headers this refusal is answered with."""
        return {"WWW-Authenticate": self.challenge} if self.challenge else {}


class MissingCredentials(AuthnError):
    """No Authorization header; the challenge names the schemes accepted and no error."""

    code = "authorization_header_missing"
    description = "Authorization header is expected."
    challenge_error = None


class MalformedAuthorization(AuthnError):
    """An Authorization header that is not ``<scheme> <one token68>`` of an accepted scheme."""

    code = "invalid_header"
    description = "Authorization header must be Bearer token."
    challenge_error = "invalid_request"


class InvalidToken(AuthnError):
    """The token cannot be trusted; the subclasses say why."""

    code = "invalid_header"
    description = "Unable to parse authentication token."


class MalformedToken(InvalidToken):
    """Not a well-formed token of an allowed algorithm and type, or too large."""


class UnknownKey(InvalidToken):
    """No key of a trusted issuer has the token's ``kid``; ``reason``, for the log, may say why."""

    description = "Unable to find appropriate key."
    reason: str | None = None


class BadSignature(InvalidToken):
    description = "Token signature is invalid."


class BindingMismatch(InvalidToken):
    """The token's ``cnf`` claim is not satisfied by what the request carries."""

    description = "Token is bound to a key or certificate this request does not prove it holds."


class BoundTokenAsBearer(BindingMismatch):
    """A DPoP-bound token sent with the Bearer scheme where DPoP is accepted: its challenge offers DPoP too."""

    description = "Token is bound to a DPoP key: send it with the DPoP scheme and a proof."


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


class InsufficientClaims(AuthnError):
    """A valid token whose claims do not allow this resource: a claim test, an organization."""

    code = "insufficient_claims"
    description = "Token's claims do not grant access to this resource."
    status = 403
    challenge_error = "insufficient_scope"  # RFC 6750's one error for a token that is valid but not enough


class InvalidProof(AuthnError):
    code = "invalid_dpop_proof"
    description = "DPoP proof is invalid."
    challenge_error = "invalid_dpop_proof"


class NonceRequired(AuthnError):
    """A DPoP proof without a current nonce of ours: answered with a fresh one (RFC 9449 §8)."""

    code = "use_dpop_nonce"
    description = "DPoP proof must carry the nonce given in the DPoP-Nonce header."
    challenge_error = "use_dpop_nonce"

    def __init__(self, nonce: str) -> None:
        super().__init__()
        self.nonce = nonce

    @property
    def headers(self) -> dict[str, str]:
        return {**super().headers, "DPoP-Nonce": self.nonce}


class BadRequest(AuthnError):
    """A request Django itself answers 400 (a Host outside ``ALLOWED_HOSTS``), refused where no Django handler
    runs (a WebSocket handshake); no challenge."""

    code = "bad_request"
    description = "Bad request."
    status = 400
    challenge_error = None


class Unavailable(AuthnError):
    """Something a decision needs cannot be had now: 503 with ``Retry-After``, no challenge."""

    status = 503
    challenge_error = None

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class KeysUnavailable(Unavailable):
    code = "jwks_unavailable"
    description = "Unable to fetch the signing keys to verify the token; try again later."


class ReplayStoreUnavailable(Unavailable):
    code = "replay_cache_unavailable"
    description = "Unable to check the DPoP proof for replay; try again later."
