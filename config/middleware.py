"""Middleware that serves the Django site (admin) and stays out of the bearer-token API's way.

The API has no sessions, no Django users and no flash messages: its requests
skip those three layers. Subclassing keeps Django's admin checks satisfied.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponseBase

API_PREFIX = "/api/"


class SiteOnlyMixin:
    """Runs the middleware for every path except the API's."""

    get_response: Any

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


class SiteSessionMiddleware(SiteOnlyMixin, SessionMiddleware):
    pass


class SiteAuthenticationMiddleware(SiteOnlyMixin, AuthenticationMiddleware):
    pass


class SiteMessageMiddleware(SiteOnlyMixin, MessageMiddleware):
    pass
