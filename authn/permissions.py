"""DRF permissions on what a validated access token grants: scopes, claims, organizations.

- ``HasScope`` reads the view's ``required_scopes`` (a list, all of it; or a
  dict by HTTP method) and ``required_alternate_scopes`` (a list of
  alternatives, each a list all of which is required; or a dict of such by
  method). A method a dict does not name is refused; ``HEAD`` follows ``GET``
  unless named. With both declared, the request needs ``required_scopes`` and
  one alternative.
- ``requires_scopes(*scopes)``, ``requires_claim(name, equals=, includes=,
  check=)`` and ``requires_organization(*orgs)`` make permission classes of
  their arguments, for class- and function-based views alike.

Each composes with DRF's ``&``, ``|`` and ``~``: a composed refusal is still
authn's 403 with its challenge. A request without a token is left to DRF,
which answers 401 with the authentication class's challenge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission, BasePermissionMetaclass
from rest_framework.request import Request

from authn import grants
from authn.errors import AuthnError, InsufficientScope
from authn.handlers import Refused
from authn.tokens import AccessToken

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
DENIED = "denied"  # refused, but not by authn: DRF answers (401 without a token, its own 403 otherwise)
Outcome = AuthnError | str | None  # None: granted


class TokenPermissionMetaclass(BasePermissionMetaclass):
    """DRF's operators, composing into authn's composition (whichever side DRF's class is on).

    The stubs say DRF's holders come back; authn's composition is what DRF instantiates just the same.
    """

    def __and__(cls, other: Any) -> Composition:  # type: ignore[override]
        return Composition(All, cls, other)

    def __rand__(cls, other: Any) -> Composition:  # type: ignore[override]
        return Composition(All, other, cls)

    def __or__(cls, other: Any) -> Composition:  # type: ignore[override]
        return Composition(AnyOf, cls, other)

    def __ror__(cls, other: Any) -> Composition:  # type: ignore[override]
        return Composition(AnyOf, other, cls)

    def __invert__(cls) -> Composition:  # type: ignore[override]
        return Composition(Not, cls)


class TokenPermission(BasePermission, metaclass=TokenPermissionMetaclass):
    """A permission on the token: ``outcome()`` says granted, refused by authn (why), or denied otherwise."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return decided(self.outcome(request, view))

    def outcome(self, request: Request, view: Any) -> Outcome:
        token = request.auth
        if not isinstance(token, AccessToken):
            return DENIED  # not authenticated: DRF answers 401 with the authentication class's challenge
        try:
            self.check(token, request, view)
        except AuthnError as error:
            return error
        return None

    def check(self, token: AccessToken, request: Request, view: Any) -> None:
        """Raise the ``AuthnError`` refusing ``token`` for this request, if any."""
        raise NotImplementedError


def decided(outcome: Outcome) -> bool:
    """What DRF is told: granted, or denied; an authn refusal is raised, with its 403 and challenge."""
    if isinstance(outcome, AuthnError):
        raise Refused(outcome)
    return outcome is None


def outcome_of(permission: Any, request: Request, view: Any) -> Outcome:
    if isinstance(permission, (TokenPermission, Composed)):
        return permission.outcome(request, view)
    return None if permission.has_permission(request, view) else DENIED


# -- composition -------------------------------------------------------------------------------


class Composition:
    """What ``&``, ``|`` and ``~`` make of authn's permission classes: a class-like holder DRF instantiates."""

    def __init__(self, operator: type[Composed], *operands: Any) -> None:
        self.operator, self.operands = operator, operands

    def __call__(self, *args: Any, **kwargs: Any) -> Composed:
        return self.operator(*(operand(*args, **kwargs) for operand in self.operands))

    def __and__(self, other: Any) -> Composition:
        return Composition(All, self, other)

    def __rand__(self, other: Any) -> Composition:
        return Composition(All, other, self)

    def __or__(self, other: Any) -> Composition:
        return Composition(AnyOf, self, other)

    def __ror__(self, other: Any) -> Composition:
        return Composition(AnyOf, other, self)

    def __invert__(self) -> Composition:
        return Composition(Not, self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Composition) and (other.operator, other.operands) == (self.operator, self.operands)

    def __hash__(self) -> int:
        return hash((self.operator, self.operands))


class Composed:
    """An instance of a composition: DRF asks it as it asks any permission."""

    def __init__(self, *operands: Any) -> None:
        self.operands = operands

    def has_permission(self, request: Request, view: Any) -> bool:
        return decided(self.outcome(request, view))

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return True  # authn's permissions judge the token, which is the same for every object

    def outcome(self, request: Request, view: Any) -> Outcome:
        raise NotImplementedError


class All(Composed):
    def outcome(self, request: Request, view: Any) -> Outcome:
        for operand in self.operands:
            if (outcome := outcome_of(operand, request, view)) is not None:
                return outcome
        return None


class AnyOf(Composed):
    """Granted when either is; refused with authn's refusal when either gave one."""

    def outcome(self, request: Request, view: Any) -> Outcome:
        outcomes = []
        for operand in self.operands:
            if (outcome := outcome_of(operand, request, view)) is None:
                return None
            outcomes.append(outcome)
        return next((outcome for outcome in outcomes if isinstance(outcome, AuthnError)), DENIED)


class Not(Composed):
    """Granted when the operand is not; its refusal of a token is authn's 403, naming no scope (none would grant
    it), and DRF's without one."""

    def outcome(self, request: Request, view: Any) -> Outcome:
        if outcome_of(self.operands[0], request, view) is not None:
            return None
        token = request.auth
        return grants.refusal(InsufficientScope(()), token) if isinstance(token, AccessToken) else DENIED


# -- scopes the view declares --------------------------------------------------------------------


class HasScope(TokenPermission):
    """Grants what the view's ``required_scopes`` and ``required_alternate_scopes`` declare (exact matches)."""

    def outcome(self, request: Request, view: Any) -> Outcome:
        view_declarations(view)  # a view declaring nothing usable is refused with or without a token
        return super().outcome(request, view)

    def check(self, token: AccessToken, request: Request, view: Any) -> None:
        required, alternatives = declared_scopes(view, request.method or "GET")
        if required is None or alternatives is None:
            raise grants.refusal(InsufficientScope(()), token)  # a method the declaration does not name
        if grants.missing_scopes(token, required) or (
            alternatives and all(grants.missing_scopes(token, alternative) for alternative in alternatives)
        ):
            closest = min(alternatives, key=lambda a: _distance(token, a), default=())
            raise grants.refusal(InsufficientScope((*required, *closest)), token)


def _distance(token: AccessToken, alternative: tuple[str, ...]) -> tuple[int, int]:
    """How far a token is from an alternative: the scopes it lacks, then (fewer first) those it holds."""
    missing = len(grants.missing_scopes(token, alternative))
    return missing, missing - len(alternative)


def declared_scopes(view: Any, method: str) -> tuple[tuple[str, ...] | None, tuple[tuple[str, ...], ...] | None]:
    """The scopes ``view`` requires of ``method``, and the alternatives of which one is required;
    ``None`` for a method a dict does not name. ``ImproperlyConfigured`` for a declaration of another form."""
    scopes, alternates = view_declarations(view)
    return _for_method(scopes, method), _for_method(alternates, method)


_validated: dict[tuple[int, int], tuple[Any, Any, tuple[Any, Any]]] = {}  # by the declarations' identity
MAX_VALIDATED = 1024


def view_declarations(view: Any) -> tuple[Any, Any]:
    """The view's two declarations, validated (once per pair of declaration objects): each a list or a dict by
    method, one of them at least."""
    scopes = getattr(view, "required_scopes", None)
    alternates = getattr(view, "required_alternate_scopes", None)
    found = _validated.get((id(scopes), id(alternates)))
    if found is not None and found[0] is scopes and found[1] is alternates:
        return found[2]
    declarations = _validate(getattr(view, "__name__", type(view).__name__), scopes, alternates)
    if len(_validated) >= MAX_VALIDATED:
        _validated.clear()
    _validated[id(scopes), id(alternates)] = (scopes, alternates, declarations)  # the objects kept: ids stay theirs
    return declarations


def _validate(name: str, scopes: Any, alternates: Any) -> tuple[Any, Any]:
    if scopes is None and alternates is None:
        raise ImproperlyConfigured(
            f"{name} uses HasScope but declares neither required_scopes nor required_alternate_scopes: e.g. "
            'required_scopes = ["read:messages"], or {"GET": ["read:messages"], "POST": ["write:messages"]}. '
            "A function-based view uses @permission_classes([requires_scopes(...)]) instead."
        )
    return (
        _by_method(scopes, f"{name}.required_scopes", _scopes) if scopes is not None else None,
        _by_method(alternates, f"{name}.required_alternate_scopes", _alternatives) if alternates is not None else None,
    )


def _scopes(value: Any, what: str) -> tuple[str, ...]:
    scopes = grants.scope_list(value, what)
    if not scopes:
        raise ImproperlyConfigured(
            f'{what} is empty: name a scope, e.g. ["read:messages"] (a dict may map a method to []).'
        )
    return scopes


def _alternatives(value: Any, what: str) -> tuple[tuple[str, ...], ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ImproperlyConfigured(
            f'{what} must be a list of alternatives, each a list of scopes, e.g. [["read:all"], ["read:own", '
            f'"write:own"]], not {value!r}.'
        )
    return tuple(grants.scope_list(alternative, f"each alternative of {what}") for alternative in value)


def _by_method(value: Any, what: str, read: Callable[[Any, str], Any]) -> Any:
    """A declaration as a list (every method), or validated per method when it is a dict."""
    if not isinstance(value, Mapping):
        return read(value, what)
    unknown = [key for key in value if not isinstance(key, str) or key.upper() not in HTTP_METHODS]
    if unknown:
        raise ImproperlyConfigured(
            f"{what} is a dict by HTTP method, but {unknown!r} is no method: use GET, POST, PUT, PATCH, DELETE..."
        )
    return {key.upper(): read(scopes, f"{what}[{key!r}]") if scopes else () for key, scopes in value.items()}


def _for_method(declared: Any, method: str) -> Any:
    """What a declaration requires of ``method``: all of a list; a dict's entry (``HEAD`` falls back on
    ``GET``), ``None`` when it names neither; nothing (``()``) when nothing is declared."""
    if declared is None:
        return ()
    if not isinstance(declared, dict):
        return declared
    method = method.upper()
    if method == "HEAD" and method not in declared:
        method = "GET"
    return declared.get(method)


# -- permission classes made of their arguments -----------------------------------------------------


def requires_scopes(*scopes: str) -> type[TokenPermission]:
    """A permission class granting a token with every one of ``scopes``."""
    required = grants.scope_list(list(scopes), "requires_scopes(...)")
    if not required:
        raise ImproperlyConfigured('requires_scopes needs at least one scope, e.g. requires_scopes("read:messages").')

    def check(self: TokenPermission, token: AccessToken, request: Request, view: Any) -> None:
        grants.check_scopes(token, required)

    return _permission_class(f"RequiresScopes({' '.join(required)})", check, {"required_scopes": required})


def requires_claim(
    name: str,
    *,
    equals: Any = grants.MISSING,
    includes: Any = grants.MISSING,
    check: Callable[[Any], Any] | None = None,
) -> type[TokenPermission]:
    """A permission class granting a token whose claim ``name`` equals the value, includes it (a whole array
    entry or space-separated word), or passes ``check``; a missing claim is refused."""
    test = grants.claim_test(name, equals=equals, includes_value=includes, check=check)

    def check_token(self: TokenPermission, token: AccessToken, request: Request, view: Any) -> None:
        grants.check_claim(token, name, test)

    return _permission_class(f"RequiresClaim({name})", check_token, {"claim": name})


def requires_organization(*organizations: str) -> type[TokenPermission]:
    """A permission class granting a token of one of ``organizations`` (``org_...`` ids, or names)."""
    accepted = grants.organization_list(list(organizations), "requires_organization(...)")

    def check(self: TokenPermission, token: AccessToken, request: Request, view: Any) -> None:
        grants.check_organization(token, accepted)

    return _permission_class("RequiresOrganization", check, {"organizations": accepted})


def _permission_class(name: str, check: Callable[..., None], attributes: dict[str, Any]) -> type[TokenPermission]:
    return type(name, (TokenPermission,), {"check": check, "__module__": __name__, **attributes})
