"""The user a validated access token stands for: stateless, nothing in the database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
