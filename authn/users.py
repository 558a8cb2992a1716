"""The user a validated access token stands for: stateless by default, or a row of the user model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.utils.module_loading import import_string

from authn.conf import auth0_settings
from authn.errors import InactiveUser
from authn.tokens import AccessToken


class TokenUser:
    """An authenticated user known only by its token: ``pk``/``id`` is ``sub``, claims are read-only."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, token: AccessToken) -> None:
        self.token = token

    @property
    def pk(self) -> str:
        return self.token.subject

    id = pk
    username = pk

    @property
    def claims(self) -> Mapping[str, Any]:
        return self.token.claims

    @property
    def scopes(self) -> frozenset[str]:
        return self.token.scopes

    def get_username(self) -> str:
        return self.token.subject

    def has_scopes(self, *scopes: str) -> bool:
        return self.token.scopes.issuperset(scopes)

    def __str__(self) -> str:
        return self.token.subject

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenUser) and other.pk == self.pk

    def __hash__(self) -> int:
        return hash(self.pk)


def user_for_token(token: AccessToken) -> Any:
    """The user whose ``AUTH0_USER_LOOKUP_FIELD`` is the token's ``sub``, created on first sight.

    A new user has no usable password and is neither staff nor superuser.
    ``AUTH0_USER_CLAIMS_HOOK(user, token, created)`` may copy claims onto it.
    """
    user_model = get_user_model()
    field_name = lookup_field(user_model)
    max_length = getattr(user_model._meta.get_field(field_name), "max_length", None)
    if max_length is not None and len(token.subject) > max_length:
        raise InactiveUser("Token subject is too long for a user name.")
    user, created = user_model._default_manager.get_or_create(
        **{field_name: token.subject},
        defaults={"password": _unusable_password},  # called only to create
    )
    if not user.is_active:
        raise InactiveUser
    hook = claims_hook()
    if hook is not None:
        hook(user, token, created)
    return user


def _unusable_password() -> str:
    return make_password(None)


def lookup_field(user_model: Any) -> str:
    """``AUTH0_USER_LOOKUP_FIELD``, if it names a unique text field of ``user_model`` (one user per ``sub``)."""
    name = auth0_settings.user_lookup_field
    try:
        field = user_model._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    if not isinstance(field, (models.CharField, models.TextField)) or not field.unique:
        raise ImproperlyConfigured(
            f"AUTH0_USER_LOOKUP_FIELD must name a unique text field of {user_model.__name__}, got {name!r}."
        )
    return name


def claims_hook() -> Any:
    hook = auth0_settings.user_claims_hook
    return import_string(hook) if isinstance(hook, str) else hook
