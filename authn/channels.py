"""Auth0 access tokens for WebSockets under Django Channels (or any ASGI router): ``Auth0AuthMiddleware``.

A WebSocket handshake is an HTTP GET: the middleware makes a Django request
of it and verifies that with the one pipeline (``authn.averify``: the Bearer,
DPoP and mTLS rules of every other surface, never blocking the event loop).
A valid token is ``scope["auth"]`` for the application inside. Any other
handshake is logged once and refused before it is accepted: answered with the
refusal's status, JSON body and headers where the server offers the
``websocket.http.response`` extension (uvicorn), else closed, which the server
answers 403 (daphne).

Browsers cannot set an Authorization header on a WebSocket. They offer the
token as two subprotocols instead, ``new WebSocket(url, ["authn.bearer",
token])``: the middleware reads the pair as ``Authorization: Bearer <token>``,
shows the application the offer without the token, and accepts with
``authn.bearer`` when the application names no subprotocol of its own (a
browser fails a handshake that answers its offer with none). Never a token in
the query string: URLs land in access logs and browser history (RFC 6750 §2.3).

A client that can set headers may use DPoP: its proof names ``GET`` and the
handshake's URL as HTTP has it (``https://`` for a ``wss://`` URL).

Other scopes pass through untouched: ``lifespan`` must reach the application,
and HTTP requests have their own edge (the DRF authentication classes,
``authn.averify`` in a view); they get no ``scope["auth"]``. Nothing here
imports Channels.
"""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest

from authn import runtime
from authn.challenges import BEARER
from authn.errors import AuthnError, BadRequest, MalformedAuthorization
from authn.tokens import AccessToken

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BEARER_SUBPROTOCOL = "authn.bearer"  # offered just before the token: ``["authn.bearer", token]``
HTTP_RESPONSE = "websocket.http.response"  # the ASGI extension letting a handshake be answered with a response
HTTP_SCHEMES = {"ws": "http", "wss": "https"}
POLICY_VIOLATION = 1008  # the close code of a refusal, for servers that pass it on


class Auth0AuthMiddleware:
    """Runs the inner application for a WebSocket handshake with a valid access token, in ``scope["auth"]``;
    refuses every other one before accepting it. Other scopes pass through untouched."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.inner(scope, receive, send)
            return
        request = handshake_request(scope)
        try:
            token, subprotocols = await verified(request, scope.get("subprotocols") or [])
        except AuthnError as error:
            runtime.refusal_log().record(error, request)
            await refuse(error, scope, receive, send)
            return
        if subprotocols is None:
            await self.inner({**scope, "auth": token}, receive, send)
        else:
            inner_scope = {**scope, "auth": token, "subprotocols": subprotocols}
            await self.inner(inner_scope, receive, accepting_with(BEARER_SUBPROTOCOL, send))


def handshake_request(scope: Scope) -> HttpRequest:
    """The handshake as Django's request: a GET, its URL's scheme ``http`` or ``https`` as HTTP has it."""
    http_scope = {**scope, "method": "GET"}
    if scope.get("scheme") in HTTP_SCHEMES:
        http_scope["scheme"] = HTTP_SCHEMES[scope["scheme"]]
    return ASGIRequest(http_scope, io.BytesIO())


async def verified(request: HttpRequest, offered: Sequence[str]) -> tuple[AccessToken, list[str] | None]:
    """The handshake's token, and the subprotocols left for the application when it was offered as one
    (``None``: it came in the Authorization header); raises ``AuthnError``."""
    try:
        subprotocols = take_bearer_subprotocol(request, offered)
    except AuthnError as error:
        raise runtime.verifier().challenges.attach(error, BEARER) from None
    try:
        return await runtime.averify(request), subprotocols
    except SuspiciousOperation as err:  # a Host outside ALLOWED_HOSTS, asked for a DPoP proof's URL
        raise BadRequest from err


def take_bearer_subprotocol(request: HttpRequest, offered: Sequence[str]) -> list[str] | None:
    """Moves a token offered as ``authn.bearer, <token>`` into the request's Authorization header; the
    subprotocols left, or ``None`` when none was offered so."""
    if BEARER_SUBPROTOCOL not in offered:
        return None
    at = offered.index(BEARER_SUBPROTOCOL)
    if offered.count(BEARER_SUBPROTOCOL) > 1 or at + 1 == len(offered):
        raise MalformedAuthorization("The authn.bearer subprotocol must be offered once, followed by the token.")
    if "HTTP_AUTHORIZATION" in request.META:  # RFC 6750 §2: one way per request
        raise MalformedAuthorization("Send the token once: in the Authorization header or as a subprotocol.")
    request.META["HTTP_AUTHORIZATION"] = f"Bearer {offered[at + 1]}"
    return [*offered[: at + 1], *offered[at + 2 :]]


def accepting_with(subprotocol: str, send: Send) -> Send:
    """``send``, naming ``subprotocol`` in an accept that names none."""

    async def send_accepting(message: Message) -> None:
        if message["type"] == "websocket.accept" and not message.get("subprotocol"):
            message = {**message, "subprotocol": subprotocol}
        await send(message)

    return send_accepting


async def refuse(error: AuthnError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answers the handshake with the refusal where the server can send a response, else closes it unaccepted."""
    if (await receive())["type"] != "websocket.connect":
        return  # the client left before its handshake was answered
    if HTTP_RESPONSE not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})
        return
    body = json.dumps(error.body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers.items()]
    await send({"type": "websocket.http.response.start", "status": error.status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})
