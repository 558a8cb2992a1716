"""DRF authentication by an Auth0 access token: ``Bearer`` (RFC 6750) or ``DPoP`` (RFC 9449).

A thin adapter over ``authn.verify``. A scheme this class does not take is
left to the authentication classes listed after it; listed alone, it refuses
it. The same classes work in adrf's async views, which run authentication in
a worker thread.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from authn import runtime, users
from authn.errors import AuthnError, MalformedAuthorization
from authn.handlers import Refused
from authn.tokens import AccessToken


class Auth0JWTAuthentication(BaseAuthentication):
    """An Auth0 access token; ``request.user`` is a stateless ``TokenUser``, ``request.auth`` the token."""

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None
        verifier = runtime.verifier()
        if not verifier.accepts(header) and len(request.authenticators or ()) > 1:
            return None  # another authentication class may take this scheme
        try:
            access_token = verifier.verify(request._request)
        except AuthnError as error:
            raise Refused(error) from error
        try:
            return self.user_for(access_token), access_token
        except AuthnError as error:  # no user for it: worded for the scheme the token came with
            raise Refused(verifier.challenges.attach(access_token.refusing(error), access_token.scheme)) from error

    def user_for(self, access_token: AccessToken) -> Any:
        """The ``request.user`` the token stands for."""
        return users.TokenUser(access_token)

    def authenticate_header(self, request: Request) -> str:
        """What a request no authentication class took is told; DRF asks the first class listed."""
        header = request.META.get("HTTP_AUTHORIZATION")
        verifier = runtime.verifier()
        challenges = verifier.challenges
        if header is None:
            return challenges.for_credentials()
        if not verifier.accepts(header) and (other := self._others_challenge(request)):
            return other  # the scheme of another class listed: its challenge
        return challenges.for_error(MalformedAuthorization(), challenges.scheme_for(None)) or ""

    def _others_challenge(self, request: Request) -> str | None:
        for other in request.authenticators or ():
            found = getattr(other, "authenticate_header", None) if other is not self else None
            if found is not None and isinstance(value := found(request), str) and value:
                return value
        return None


class Auth0UserAuthentication(Auth0JWTAuthentication):
    """Like ``Auth0JWTAuthentication``, with ``request.user`` the user model's row of the token's identity."""

    def user_for(self, access_token: AccessToken) -> Any:
        return users.user_for_token(access_token)
