"""The three endpoints of the Auth0 quickstart, with its messages verbatim."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.permissions import HasScope
from authn.schema import FORBIDDEN, NOT_ACCEPTABLE, TOKEN_ERRORS, TOKEN_HEADERS

PUBLIC_MESSAGE = "Hello from a public endpoint! You don't need to be authenticated to see this."
PRIVATE_MESSAGE = "Hello from a private endpoint! You need to be authenticated to see this."
SCOPED_MESSAGE = (
    "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this."
)
READ_MESSAGES = "read:messages"

Message = inline_serializer("Message", fields={"message": serializers.CharField()})


def message_response(message: str) -> OpenApiResponse:
    return OpenApiResponse(
        Message, description="The message.", examples=[OpenApiExample("Message", value={"message": message})]
    )


class MessageApi(APIView):
    """A read-only message: GET and HEAD; any other method is 405, before authentication runs."""

    http_method_names = ("get", "head")
    message: str

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = request.method or ""
        if method.lower() not in self.http_method_names:
            raise MethodNotAllowed(method)
        super().initial(request, *args, **kwargs)

    def get(self, request: Request) -> Response:
        return Response({"message": self.message})


@extend_schema_view(
    get=extend_schema(
        operation_id="public_message",
        summary="Public message",
        tags=["messages"],
        description="Anyone may call it: no token needed, and an Authorization header is ignored.",
        auth=[],
        responses={200: message_response(PUBLIC_MESSAGE), 406: NOT_ACCEPTABLE},
    )
)
class PublicMessageApi(MessageApi):
    """Anyone may read it; no authentication runs at all."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    message = PUBLIC_MESSAGE


@extend_schema_view(
    get=extend_schema(
        operation_id="private_message",
        summary="Private message",
        tags=["messages"],
        description="Any valid access token for this API, whatever its scopes.",
        parameters=TOKEN_HEADERS,
        responses={200: message_response(PRIVATE_MESSAGE), **TOKEN_ERRORS},
    )
)
class PrivateMessageApi(MessageApi):
    permission_classes = (IsAuthenticated,)
    message = PRIVATE_MESSAGE


@extend_schema_view(
    get=extend_schema(
        operation_id="private_scoped_message",
        summary=f"Private message, scope {READ_MESSAGES}",
        tags=["messages"],
        description=(
            f"A valid access token granting the scope `{READ_MESSAGES}`, in its space-separated `scope` claim or its "
            "`permissions` array (Auth0 RBAC); exact, case-sensitive match. A valid token without it gets 403 "
            "`insufficient_scope` and the challenge "
            f'`Bearer realm="api", error="insufficient_scope", scope="{READ_MESSAGES}"`.'
        ),
        parameters=TOKEN_HEADERS,
        responses={200: message_response(SCOPED_MESSAGE), 403: FORBIDDEN, **TOKEN_ERRORS},
    )
)
class PrivateScopedMessageApi(MessageApi):
    permission_classes = (HasScope,)
    required_scopes = (READ_MESSAGES,)
    message = SCOPED_MESSAGE
