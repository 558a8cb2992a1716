"""Every request's one path from its ``Authorization`` header to a validated ``AccessToken``.

The steps, each ruled elsewhere: the header's grammar (``authn.header``), the
issuers a resolver trusts for the request (``authn.issuers``), the token
(``authn.tokens``), its sender constraint (``authn.binding``); a refusal is
worded with its challenge (``authn.challenges``). Nothing here knows DRF.

The outcome is remembered on the request, so asking again (a view after its
authentication class did) gives the same answer without a second proof check.
``averify`` checks inline what needs no waiting (a bearer token whose key is
at hand) and runs the rest in a worker thread: a key fetch, a replay-store
round trip or a project's resolver never blocks the event loop.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest

from authn.binding import SenderConstraints
from authn.challenges import BEARER, DPOP, Challenges
from authn.defaults import DPoPMode
from authn.errors import AuthnError, MalformedAuthorization, MissingCredentials
from authn.header import scheme_of, token_of
from authn.issuers import Resolver
from authn.tokens import AccessToken, TokenValidator, WouldBlock

OUTCOME = "_authn_outcome"  # the request attribute remembering the token or the refusal


class Verifier:
    """Verifies requests against one snapshot of the settings, with the collaborators it is handed."""

    def __init__(
        self,
        *,
        tokens: TokenValidator,
        resolver: Resolver | None,
        constraints: SenderConstraints,
        challenges: Challenges,
        max_token_length: int,
    ) -> None:
        self.tokens, self.challenges = tokens, challenges
        self._resolver, self._constraints = resolver, constraints
        self._max_token_length = max_token_length

    def accepts(self, header: str) -> bool:
        """Whether an ``Authorization`` header names a scheme this server takes."""
        return self.challenges.accepts(scheme_of(header))

    def verify(self, request: HttpRequest) -> AccessToken:
        """The request's validated token; an ``AuthnError`` (its challenge attached) refusing it."""
        return self._remembered(request, may_block=True)

    async def averify(self, request: HttpRequest) -> AccessToken:
        """``verify``, never blocking the event loop."""
        try:
            return self._remembered(request, may_block=False)
        except WouldBlock:
            return await sync_to_async(self._remembered, thread_sensitive=False)(request, may_block=True)

    def _remembered(self, request: Any, *, may_block: bool) -> AccessToken:
        request = getattr(request, "_request", request)  # DRF's Request wraps the HttpRequest
        outcome = getattr(request, OUTCOME, None)
        if outcome is None:
            try:
                outcome = self._verified(request, may_block=may_block)
            except AuthnError as error:
                outcome = error
            setattr(request, OUTCOME, outcome)
        if isinstance(outcome, AuthnError):
            raise outcome
        return outcome

    def _verified(self, request: HttpRequest, *, may_block: bool) -> AccessToken:
        header = request.META.get("HTTP_AUTHORIZATION")
        scheme = scheme_of(header) if header is not None else None
        try:
            if header is None:
                raise MissingCredentials
            if scheme is None or not self.challenges.accepts(scheme):
                raise MalformedAuthorization
            token = token_of(header, scheme, max_length=self._max_token_length)
            if scheme == BEARER and self.challenges.dpop is DPoPMode.REQUIRED:
                raise MalformedAuthorization("Authorization header must be DPoP token.")
            if not may_block and (scheme == DPOP or self._resolver is not None):
                raise WouldBlock  # a replay-store round trip, or the project's own code
            issuers = self._resolver(request) if self._resolver is not None else None
            access_token = self.tokens.validate(token, issuers, may_block=may_block)
            try:
                self._constraints.check(request, access_token, scheme, token)
            except AuthnError as error:
                access_token.refusing(error)  # its line names the token, valid but not proven held
                raise
        except AuthnError as error:
            self.challenges.attach(error, scheme)
            raise
        return access_token
