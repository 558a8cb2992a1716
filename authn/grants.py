"""What a validated token grants, beyond being valid: scopes, claims, organizations.

The rules every surface applies the same way (DRF permissions, the view
decorator, django-ninja), knowing nothing of any of them:

- a scope is granted by the space-separated ``scope`` claim or the
  ``permissions`` array (settings name both), matched exactly;
- a claim *includes* a value when the value is a whole entry of an array
  claim or a whole space-separated word of a string claim, never a substring;
- an organization entry starting with ``org_`` is an ``org_id``, any other an
  ``org_name``, compared lower-cased (Auth0 Organizations).

A refusal is an ``AuthnError`` of status 403, worded later for the scheme
the token came with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from authn import runtime
from authn.errors import AuthnError, InsufficientClaims, InsufficientScope
from authn.tokens import AccessToken, in_organization

MISSING = object()


def scope_list(scopes: Any, what: str) -> tuple[str, ...]:
    """``scopes`` as a tuple of scope words; ``ImproperlyConfigured`` naming ``what`` and how to write it."""
    if isinstance(scopes, str) or not isinstance(scopes, (list, tuple)):
        raise ImproperlyConfigured(
            f'{what} must be a list of scope strings, e.g. ["read:messages"], not a {type(scopes).__name__} '
            f"({scopes!r})."
        )
    for scope in scopes:
        if not isinstance(scope, str) or not scope or any(character.isspace() for character in scope):
            raise ImproperlyConfigured(
                f"{what} holds {scope!r}, a {type(scope).__name__}: each scope is a non-empty string without "
                'spaces, e.g. ["read:messages"].'
            )
    return tuple(scopes)


def missing_scopes(token: AccessToken, required: Iterable[str]) -> list[str]:
    return [scope for scope in required if scope not in token.scopes]


def check_scopes(token: AccessToken, required: Sequence[str]) -> None:
    """``InsufficientScope`` unless ``token`` grants every one of ``required``."""
    if missing_scopes(token, required):
        raise refusal(InsufficientScope(required), token)


def includes(value: Any, wanted: Any) -> bool:
    """Whether ``wanted`` is a whole entry of an array claim, or a whole word of a space-separated string."""
    if isinstance(value, (list, tuple)):  # of the same type, as equals= compares: JSON's true is not 1
        return any(type(entry) is type(wanted) and entry == wanted for entry in value)
    return isinstance(value, str) and isinstance(wanted, str) and wanted in value.split(" ")


def claim_test(
    name: str, *, equals: Any = MISSING, includes_value: Any = MISSING, check: Callable[[Any], Any] | None = None
) -> Callable[[Any], bool]:
    """The one test a claim is put to: equality, inclusion or a callable; ``ImproperlyConfigured`` unless
    exactly one is given."""
    given = [equals is not MISSING, includes_value is not MISSING, check is not None]
    if not isinstance(name, str) or not name or sum(given) != 1:
        raise ImproperlyConfigured(
            "requires_claim takes a claim name and exactly one test: equals=value, includes=value or check=callable, "
            f'e.g. requires_claim("org_id", equals="org_abc123"); got {name!r} with {sum(given)} tests.'
        )
    if check is not None and not callable(check):
        raise ImproperlyConfigured(f"requires_claim's check must be callable, got {check!r}.")
    if equals is not MISSING:
        return lambda value: type(value) is type(equals) and value == equals
    if includes_value is not MISSING:
        return lambda value: includes(value, includes_value)
    assert check is not None  # noqa: S101 - one of the three is given
    return check


def check_claim(token: AccessToken, name: str, test: Callable[[Any], Any]) -> None:
    """``InsufficientClaims`` unless ``token`` has the claim ``name`` and it passes ``test``."""
    value = token.claims.get(name, MISSING)
    try:
        granted = value is not MISSING and bool(test(value))
    except (TypeError, ValueError, KeyError, AttributeError, IndexError):  # a test meeting a claim of another shape
        granted = False
    if not granted:
        raise refusal(InsufficientClaims(f"Token's {name[:64]} claim does not grant access to this resource."), token)


def organization_list(organizations: Any, what: str) -> tuple[str, ...]:
    """``organizations`` as a tuple of non-empty strings; ``ImproperlyConfigured`` naming ``what`` otherwise."""
    if isinstance(organizations, str) or not isinstance(organizations, (list, tuple)) or not organizations:
        raise ImproperlyConfigured(f'{what} takes organization ids (org_...) or names, e.g. ("org_abc123",).')
    if not all(isinstance(entry, str) and entry for entry in organizations):
        raise ImproperlyConfigured(f"{what} takes non-empty strings, got {organizations!r}.")
    return tuple(organizations)


def check_organization(token: AccessToken, organizations: Iterable[str]) -> None:
    if not in_organization(token.claims, organizations):
        raise refusal(InsufficientClaims("Token's organization does not grant access to this resource."), token)


def refusal(error: AuthnError, token: AccessToken) -> AuthnError:
    """``error``, worded for the scheme ``token`` came with, logging its verified fields."""
    return runtime.verifier().challenges.attach(token.refusing(error), token.scheme)
