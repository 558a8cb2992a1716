"""``auth0_required``: an Auth0 access token for a plain Django function view, sync or ``async def``.

The view runs with ``request.auth`` the validated ``AccessToken``; a refusal is
answered as everywhere else in authn: its status, the JSON body
``{"code", "description"}`` and its headers (the ``WWW-Authenticate``
challenge, ``Retry-After``, ``DPoP-Nonce``), logged once. An ``async def``
view is verified without blocking the event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from inspect import iscoroutinefunction
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponseBase, JsonResponse

from authn import grants, runtime
from authn.errors import AuthnError
from authn.tokens import AccessToken

View = TypeVar("View", bound=Callable[..., Any])


def auth0_required(view: View | None = None, *, scopes: Iterable[str] = ()) -> Any:
    """``@auth0_required`` or ``@auth0_required(scopes=["read:messages"])``: every scope listed is required."""
    required = grants.scope_list(list(scopes) if not isinstance(scopes, str) else scopes, "auth0_required(scopes=...)")

    def decorate(view: View) -> View:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def verified_async(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
                try:
                    granted(await runtime.averify(request), required, request)
                except AuthnError as error:
                    return refusal_response(error, request)
                return await view(request, *args, **kwargs)  # type: ignore[no-any-return]

            return verified_async  # type: ignore[return-value]

        @functools.wraps(view)
        def verified(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                granted(runtime.verify(request), required, request)
            except AuthnError as error:
                return refusal_response(error, request)
            return view(request, *args, **kwargs)  # type: ignore[no-any-return]

        return verified  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate


def granted(token: AccessToken, required: tuple[str, ...], request: HttpRequest) -> None:
    """``request.auth`` is ``token`` once it grants every scope ``required``."""
    grants.check_scopes(token, required)
    request.auth = token  # type: ignore[attr-defined]


def refusal_response(error: AuthnError, request: HttpRequest) -> JsonResponse:
    """The answer to a refused request, logged once."""
    return runtime.answer_refusal(error, request, JsonResponse(error.body, status=error.status))
