"""django-ninja auth by an Auth0 access token: ``Bearer`` (RFC 6750), ``DPoP`` (RFC 9449), mTLS-bound (RFC 8705).

A thin adapter over authn's one pipeline, for sync and async operations
alike. ninja awaits what an auth object marked ``is_async`` returns when the
operation is async, and takes it as it is when the operation is sync; so
``Auth0Bearer`` answers an async operation (called on the event loop) with a
coroutine of ``authn.averify``, whose key fetches and replay-store round trips
wait in a worker thread, and a sync one with ``authn.verify``'s token.

A refusal raises ``Refused``, a ninja ``HttpError`` of the refusal's status:
ninja's default handler already answers it with that status and
``{"detail": description}``. ``register(api)`` makes the answer authn's: the
body ``{"code", "description"}``, the ``WWW-Authenticate`` challenge,
``Retry-After`` and ``DPoP-Nonce``, and one refusal log line.

It refuses every request it cannot verify, one without an ``Authorization``
header too; listed with other auth callbacks (``auth=[APIKey(), Auth0Bearer()]``),
it goes last: ninja tries them in order and stops at the first that refuses.

Nothing else in authn imports this module: authn works without django-ninja.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Coroutine, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.security.http import HttpAuthBase

from authn import grants, runtime
from authn.errors import AuthnError
from authn.tokens import AccessToken


class Refused(HttpError):
    """An ``AuthnError`` as ninja answers it: its status and description; ``register`` adds the rest."""

    def __init__(self, error: AuthnError) -> None:
        super().__init__(error.status, error.description)
        self.error = error


class Auth0Bearer(HttpAuthBase):
    """An Auth0 access token granting every one of ``scopes`` (exact, case-sensitive); ``request.auth`` is it."""

    openapi_scheme = "bearer"
    openapi_bearerFormat = "JWT"  # the OpenAPI field, as ninja reads it: the name after ``openapi_``

    def __init__(self, scopes: Sequence[str] = ()) -> None:
        self.scopes = grants.scope_list(scopes, "Auth0Bearer(scopes=...)")
        super().__init__()
        # ninja then hands an async operation's call on to be awaited, and takes a sync one's result as it is.
        self.is_async = True

    def __call__(self, request: HttpRequest) -> AccessToken | Coroutine[Any, Any, AccessToken]:
        if _on_event_loop():
            return self._averified(request)
        try:
            return self.granting(runtime.verify(request))
        except AuthnError as error:
            raise Refused(error) from error

    async def _averified(self, request: HttpRequest) -> AccessToken:
        try:
            return self.granting(await runtime.averify(request))
        except AuthnError as error:
            raise Refused(error) from error

    def granting(self, token: AccessToken) -> AccessToken:
        """``token``, when it grants every scope required; else ``InsufficientScope`` worded for its scheme."""
        grants.check_scopes(token, self.scopes)
        return token


def register(api: NinjaAPI) -> None:
    """Answer ``api``'s refusals as authn does: its body, status and headers, logged once. Once per API;
    a second call changes nothing."""
    api.add_exception_handler(Refused, functools.partial(answer, api=api))


def answer(request: HttpRequest, exc: Refused, *, api: NinjaAPI) -> HttpResponse:
    """The response refusing ``request``: ``{"code", "description"}``, the refusal's status and headers."""
    error = exc.error
    return runtime.answer_refusal(error, request, api.create_response(request, error.body, status=error.status))


def _on_event_loop() -> bool:
    """Whether ninja calls from an async operation: sync operations run outside any event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
