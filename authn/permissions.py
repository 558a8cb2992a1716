"""DRF permission: the access token must grant every scope the view declares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from authn import runtime
from authn.errors import InsufficientScope
from authn.handlers import Refused
from authn.tokens import AccessToken


def declared_scopes(view: Any) -> Sequence[str]:
    """The view's ``required_scopes``: a non-empty list or tuple of strings, or ImproperlyConfigured."""
    scopes = getattr(view, "required_scopes", None)
    if not isinstance(scopes, (list, tuple)) or not scopes or not all(isinstance(s, str) and s for s in scopes):
        raise ImproperlyConfigured(
            f"{getattr(view, '__name__', type(view).__name__)} uses HasScope but does not declare required_scopes "
            '(a non-empty list of scope strings, e.g. required_scopes = ["read:messages"]).'
        )
    return scopes


class HasScope(BasePermission):
    """Grants when the token grants all of the view's ``required_scopes`` (exact, case-sensitive).

    A scope is granted by the space-separated ``scope`` claim or the ``permissions``
    array claim (Auth0 RBAC); both claim names are settings.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        required = declared_scopes(view)
        token = request.auth
        if not isinstance(token, AccessToken):
            return False  # not authenticated: DRF answers 401 with the authenticator's challenge
        if not token.scopes.issuperset(required):
            error = InsufficientScope(required)
            error.log_fields = lambda: {"kid": token.kid, "iss": token.issuer, "sub": token.subject}
            raise Refused(runtime.verifier().challenges.attach(error, token.scheme))
        return True
