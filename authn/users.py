"""The user a validated access token stands for: stateless by default, or a row of the user model."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping
from contextlib import suppress
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import IntegrityError, models, transaction
from django.utils.module_loading import import_string

from authn import conf
from authn.errors import InactiveUser
from authn.models import MAX_ISSUER_LENGTH, MAX_SUBJECT_LENGTH, Identity
from authn.tokens import AccessToken

NAME_SUFFIX_LENGTH = 12  # hex digits marking a derived user name as one identity's: 48 bits


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
    """The user of the token's identity, its (issuer, subject): the one linked to it, else a new one made now.

    A new user has no usable password and is neither staff nor superuser. A user
    made another way (``createsuperuser``, the admin, ``create_user``) is never
    taken over: whatever its name, it is a token's only once linked on purpose
    (``link_identity`` or the admin). The claims hook setting's ``hook(user, token, created)``
    may copy claims onto it.
    """
    issuer, subject = token.issuer, token.subject
    if len(issuer) > MAX_ISSUER_LENGTH or len(subject) > MAX_SUBJECT_LENGTH:
        raise InactiveUser("Token issuer or subject is too long for an identity.")
    user, created = _identity_user(issuer, subject)
    if not user.is_active:
        raise InactiveUser
    hook = claims_hook()
    if hook is not None:
        hook(user, token, created)
    return user


def link_identity(user: Any, *, issuer: str, subject: str) -> Identity:
    """Make ``user`` the user of the identity (``issuer``, ``subject``): from now on its tokens sign in as ``user``.

    The way, with the admin's identities page, to give a token an existing account
    (a staff member, a user made before). ``issuer`` is the token's ``iss`` exactly
    (``https://dev-abc.us.auth0.com/``). Raises ``ValidationError`` if the identity
    has a user already or does not fit.
    """
    identity = Identity(issuer=issuer, subject=subject, user=user)
    identity.full_clean()
    identity.save()
    return identity


def _identity_user(issuer: str, subject: str) -> tuple[Any, bool]:
    """The identity's user and whether it was made now; race-safe: the unique (issuer, subject) decides."""
    user_model = get_user_model()
    field = user_model._meta.get_field(lookup_field(user_model))
    names = _new_user_names(issuer, subject, getattr(field, "max_length", None))
    while True:
        identity = Identity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        if identity is not None:
            return identity.user, False
        name = next(names, None)
        if name is None:
            raise InactiveUser("No user name left for this identity.")
        # The user and its identity together or neither: a request that loses the race to make this identity
        # (or finds the name taken) leaves nothing behind, and looks again.
        with suppress(IntegrityError), transaction.atomic():
            user = user_model._default_manager.create(**{field.name: name}, password=make_password(None))
            Identity.objects.create(issuer=issuer, subject=subject, user=user)
            return user, True


def _new_user_names(issuer: str, subject: str, max_length: int | None) -> Iterator[str]:
    """The names a new identity's user tries in turn: its subject, then the subject cut to fit and marked as its
    own by a digest of the identity, then (should even that be taken) by random suffixes."""
    if max_length is None or len(subject) <= max_length:
        yield subject
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()
    for suffix in (digest, secrets.token_hex(), secrets.token_hex()):
        mark = "#" + suffix[:NAME_SUFFIX_LENGTH]
        yield subject[: max(0, (max_length or len(subject)) - len(mark))] + mark


def lookup_field(user_model: Any) -> str:
    """The lookup field setting, if it names a unique text field of ``user_model``: a new user's name goes there."""
    name = conf.get().user_lookup_field
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
    hook = conf.get().user_claims_hook
    return import_string(hook) if isinstance(hook, str) else hook
