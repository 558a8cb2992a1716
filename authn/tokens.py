"""Access-token validation: a raw compact JWS in, validated claims out.

Each rule of RFC 7515/7519/8725 and RFC 9068 §4 that we enforce is stated once
here; PyJWT supplies only the signature primitives. Work before the signature
is bounded and cheap: sizes first, then the header (at most 1 KiB) and its
``alg``, ``kid``, ``typ`` and ``crit``, then the key of the token's issuer and
the signature, and only then the claims. With several issuers the payload is
parsed once before the key lookup, because its ``iss`` picks the key set.
This module knows nothing of HTTP requests.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from jwt.algorithms import Algorithm, get_default_algorithms

from authn import jose, metrics
from authn.errors import AuthnError, BadSignature, ExpiredToken, InvalidClaims, MalformedToken, UnknownKey
from authn.keys import MAX_KID_LENGTH, SigningKey

REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
ACCESS_TOKEN_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})  # media types: case-insensitive
MAX_HEADER_SEGMENT = 1368  # base64url of 1 KiB: a real JOSE header is far smaller
ORGANIZATION_ID_PREFIX = "org_"
CACHE_ENTRY_OVERHEAD = 400  # bytes a cache entry costs besides its token and validated form


class WouldBlock(Exception):
    """Validating would wait on the network: the token's key is not at hand."""


class KeySource(Protocol):
    def get_key(self, kid: str) -> SigningKey | None: ...

    def peek(self, kid: str) -> SigningKey | None: ...

    def ready(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A validated access token: read-only header and claims, the scopes it grants, who issued it."""

    issuer: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    scopes: frozenset[str]
    signing_key: SigningKey = field(repr=False, compare=False)
    size: int = field(default=0, repr=False, compare=False)  # bytes the validated form takes

    @property
    def subject(self) -> str:
        subject: str = self.claims["sub"]
        return subject

    @property
    def expires_at(self) -> float:
        expires_at: float = self.claims["exp"]
        return expires_at

    @property
    def kid(self) -> str:
        kid: str = self.header["kid"]
        return kid

    @property
    def scheme(self) -> str:
        """The scheme it is accepted with: ``"dpop"`` when bound to a DPoP key (``cnf.jkt``), else ``"bearer"``."""
        cnf = self.claims.get("cnf")
        return "dpop" if isinstance(cnf, Mapping) and "jkt" in cnf else "bearer"

    def refusing(self, error: AuthnError) -> AuthnError:
        """``error``, refusing this validated token: its log line names the token's kid, iss and sub too."""
        own = error.log_fields
        error.log_fields = lambda: {"kid": self.kid, "iss": self.issuer, "sub": self.subject, **own()}
        return error


class TokenValidator:
    """Validates RS256 (or other allowed RSA) access tokens from the trusted issuers for our audiences.

    ``issuers`` maps each issuer (the exact ``iss``) to its key source; a
    mapping that creates key sources on demand serves issuers decided per
    request, passed to ``validate()``.
    """

    def __init__(
        self,
        *,
        issuers: Mapping[str, KeySource],
        audiences: Iterable[str],
        algorithms: Iterable[str],
        organizations: Iterable[str] = (),
        leeway: float,
        scope_claim: str,
        permissions_claim: str,
        max_length: int,
        cache_size: int,
        cache_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key_sources = issuers
        self.issuers = frozenset(issuers)
        self.audiences = frozenset(audiences)
        self.organizations = tuple(organizations)  # none: any organization, or none at all
        # Only RSA signatures, whatever the settings say (a misconfigured list is also check authn.E003).
        known = get_default_algorithms()
        self._verifiers: dict[str, Algorithm] = {name: known[name] for name in algorithms if name in RSA_ALGORITHMS}
        self._leeway = leeway
        self._scope_claim, self._permissions_claim = scope_claim, permissions_claim
        self._max_length = max_length
        self._cache = VerifiedTokenCache(cache_size, cache_bytes)
        self._clock = clock

    def validate(self, token: str, issuers: Collection[str] | None = None, *, may_block: bool = True) -> AccessToken:
        """The validated token, or an ``AuthnError`` (``KeysUnavailable`` when keys cannot be had).

        ``issuers``: those trusted for this request, instead of the mapping's. Without ``may_block``,
        ``WouldBlock`` instead of waiting for a key that is not at hand.
        """
        allowed = self.issuers if issuers is None else issuers
        cached = self._cache.get(token)
        if cached is not None:
            if self._still_valid(cached, allowed):
                metrics.TOKEN_CACHE_HITS.inc()
                return cached
            self._cache.discard(token)
        metrics.TOKEN_CACHE_MISSES.inc()
        access_token = self._validate_uncached(token, allowed, per_request=issuers is not None, may_block=may_block)
        self._cache.put(token, access_token)
        return access_token

    def _still_valid(self, cached: AccessToken, allowed: Collection[str]) -> bool:
        if cached.issuer not in allowed or cached.expires_at <= self._clock() - self._leeway:
            return False
        key_source = self.key_sources.get(cached.issuer)  # looked at, not made: a resolver's may be gone
        return key_source is not None and key_source.peek(cached.kid) is cached.signing_key

    def _validate_uncached(
        self, token: str, allowed: Collection[str], *, per_request: bool, may_block: bool
    ) -> AccessToken:
        jws = jose.split_compact_jws(token) if len(token) <= self._max_length else None
        if jws is None:
            raise MalformedToken
        header_segment, payload_segment = jws.header, jws.payload
        if len(header_segment) > MAX_HEADER_SEGMENT:
            raise MalformedToken("Token header is too large.")
        header = _parsed(header_segment)
        self._check_header(header)
        try:
            issuer, claims = self._issuer(payload_segment, allowed, per_request=per_request)
            key = self._verified_key(issuer, header, jws.signing_input, jws.signature, may_block=may_block)
            if claims is None:
                claims = _parsed(payload_segment)
            self._check_claims(claims, issuer)
            frozen_header, header_size = _frozen(header, len(header_segment))
            frozen_claims, claims_size = _frozen(claims, len(payload_segment))
        except AuthnError as err:
            # The kid is a string (checked above); a key source may say why it has no key of that kid.
            err.log_fields = _UnverifiedFields(header["kid"], payload_segment, getattr(err, "reason", None))
            raise
        return AccessToken(
            issuer=issuer,
            header=frozen_header,
            claims=frozen_claims,
            scopes=self._scopes(claims),
            signing_key=key,
            size=header_size + claims_size + sys.getsizeof(token) + CACHE_ENTRY_OVERHEAD,
        )

    def _check_header(self, header: dict[str, Any]) -> None:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._verifiers:
            raise MalformedToken("Token algorithm is not allowed.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            raise UnknownKey
        typ = header.get("typ")
        if "typ" in header and (not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES):
            raise MalformedToken("Token type is not an access token.")
        if "crit" in header:  # we understand no extensions (RFC 7515 §4.1.11)
            raise MalformedToken("Token uses a critical extension that is not understood.")

    def _issuer(
        self, payload_segment: str, allowed: Collection[str], *, per_request: bool
    ) -> tuple[str, dict[str, Any] | None]:
        """The issuer whose keys may verify the token, and the claims if they had to be read to know it.

        The one configured issuer is known without reading the payload (its ``iss`` is checked with
        the other claims); a resolver's list is checked against the token's ``iss`` first.
        """
        if not per_request and len(allowed) <= 1:
            if not allowed:
                raise UnknownKey  # nothing is trusted
            return next(iter(allowed)), None
        claims = _parsed(payload_segment)
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or issuer not in allowed:
            raise InvalidClaims  # before any key is looked up: no network request for a stranger's token
        return issuer, claims

    def _verified_key(
        self, issuer: str, header: dict[str, Any], signing_input: str, signature: str, *, may_block: bool
    ) -> SigningKey:
        # Only the issuer's key source is consulted: jwk, jku, x5u and x5c are never read.
        source = self.key_sources[issuer]
        key = source.get_key(header["kid"]) if may_block else source.peek(header["kid"])
        if key is None and not may_block:
            raise WouldBlock
        if key is None or key.algorithm not in (None, header["alg"]):
            error = UnknownKey()
            error.reason = getattr(source, "unknown_key_reason", None)
            raise error
        try:
            signature_bytes = jose.b64url_decode(signature)
        except ValueError as err:
            raise MalformedToken from err
        if not self._verifiers[header["alg"]].verify(signing_input.encode("ascii"), key.public_key, signature_bytes):
            raise BadSignature
        return key

    def _check_claims(self, claims: dict[str, Any], issuer: str) -> None:
        if any(name not in claims for name in REQUIRED_CLAIMS):
            raise InvalidClaims("Token is missing a required claim.")
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
        if not all(_is_numeric_date(value) for value in (exp, iat, nbf)):
            raise InvalidClaims("Token has a time claim that is not a NumericDate.")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise InvalidClaims("Token subject is not a string.")
        if claims["iss"] != issuer:
            raise InvalidClaims
        if self.audiences.isdisjoint(_audiences(claims["aud"])):
            raise InvalidClaims
        if self.organizations and not in_organization(claims, self.organizations):
            raise InvalidClaims("Token's organization is not one this API accepts.")
        now = self._clock()
        if exp <= now - self._leeway:
            raise ExpiredToken
        if iat > now + self._leeway or nbf > now + self._leeway:
            raise InvalidClaims("Token is not valid yet.")

    def _scopes(self, claims: dict[str, Any]) -> frozenset[str]:
        scope = claims.get(self._scope_claim)
        permissions = claims.get(self._permissions_claim)
        granted = set(scope.split(" ")) if isinstance(scope, str) else set()
        if isinstance(permissions, list):
            granted.update(item for item in permissions if isinstance(item, str))
        granted.discard("")
        return frozenset(granted)


class VerifiedTokenCache:
    """An LRU of validated tokens keyed by the full token string, bounded in entries and in bytes.

    A token taking more than 1/64 of the byte budget is not cached at all, so
    a worker's memory does not depend on what an issuer puts in its tokens.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self._max_entries, self._max_bytes = max_entries, max_bytes
        self._max_entry_bytes = max_bytes // 64
        self._entries: OrderedDict[str, AccessToken] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> AccessToken | None:
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None:
                self._entries.move_to_end(token)
            return entry

    def put(self, token: str, access_token: AccessToken) -> None:
        if self._max_entries <= 0 or access_token.size > self._max_entry_bytes:
            return
        with self._lock:
            previous = self._entries.pop(token, None)
            if previous is not None:
                self._bytes -= previous.size
            self._entries[token] = access_token
            self._bytes += access_token.size
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                self._bytes -= self._entries.popitem(last=False)[1].size

    def discard(self, token: str) -> None:
        with self._lock:
            entry = self._entries.pop(token, None)
            if entry is not None:
                self._bytes -= entry.size


@dataclass(frozen=True)
class _UnverifiedFields:
    """What the refusal log may say of a refused token: its kid, and the iss and sub it claims.

    Called only when the log needs them (``authn.logs`` bounds how often), so a flood of refused tokens
    costs next to no payload parsing; equal for equal tokens, so the log can remember them.
    """

    kid: str
    payload_segment: str
    reason: str | None = None

    def __call__(self) -> dict[str, Any]:
        try:
            claims = jose.parse_segment(self.payload_segment)
        except ValueError:
            claims = {}
        fields = {"unverified_kid": self.kid, "unverified_iss": claims.get("iss"), "unverified_sub": claims.get("sub")}
        return {**fields, "reason": self.reason} if self.reason else fields


def _parsed(segment: str) -> dict[str, Any]:
    try:
        return jose.parse_segment(segment)
    except ValueError as err:
        raise MalformedToken from err


def _frozen(value: dict[str, Any], segment_length: int) -> tuple[Mapping[str, Any], int]:
    try:
        return jose.freeze(value, segment_length * 3 // 4)
    except ValueError as err:
        raise MalformedToken from err


def in_organization(claims: Mapping[str, Any], organizations: Iterable[str]) -> bool:
    """Whether the token's ``org_id``, or its ``org_name`` lower-cased, is one of ``organizations``: an entry
    starting with ``org_`` is an id, any other a name (Auth0 Organizations)."""
    org_id, org_name = claims.get("org_id"), claims.get("org_name")
    for entry in organizations:
        if entry.startswith(ORGANIZATION_ID_PREFIX):
            if isinstance(org_id, str) and org_id == entry:
                return True
        elif isinstance(org_name, str) and org_name.lower() == entry.lower():
            return True
    return False


def _is_numeric_date(value: Any) -> bool:
    # bool is an int subclass in Python; JSON true is not a NumericDate. The bound refuses NaN and
    # infinities, and treats 10**400 like 1e400 (which parses as inf) without converting it to float.
    return type(value) in (int, float) and abs(value) <= sys.float_info.max


def _audiences(aud: Any) -> frozenset[str]:
    if isinstance(aud, str):
        return frozenset((aud,))
    if isinstance(aud, list) and all(isinstance(item, str) for item in aud):
        return frozenset(aud)
    return frozenset()
