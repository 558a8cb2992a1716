"""The three endpoints of the Auth0 quickstart, with its messages verbatim."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.permissions import HasScope


class MessageApi(APIView):
    """A read-only message: GET and HEAD; any other method is 405, before authentication runs."""

    http_method_names = ("get", "head")
    message: str

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method.lower() not in self.http_method_names:
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def get(self, request: Request) -> Response:
        return Response({"message": self.message})


class PublicMessageApi(MessageApi):
    """Anyone may read it; no authentication runs at all."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    message = "Hello from a public endpoint! You don't need to be authenticated to see this."


class PrivateMessageApi(MessageApi):
    permission_classes = (IsAuthenticated,)
    message = "Hello from a private endpoint! You need to be authenticated to see this."


class PrivateScopedMessageApi(MessageApi):
    permission_classes = (HasScope,)
    required_scopes = ("read:messages",)
    message = (
        "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this."
    )
