"""Access-token validation: a raw compact JWS in, validated claims out.

Each rule of RFC 7515/7519/8725 and RFC 9068 §4 that we enforce is stated once
here; PyJWT supplies only the signature primitives. This module knows nothing
of HTTP requests.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from jwt.algorithms import Algorithm, get_default_algorithms

from authn.jwks import KeySetUnavailable, SigningKey

REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
ACCESS_TOKEN_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})  # media types: case-insensitive
MAX_KID_LENGTH = 256
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# The last character of an unpadded base64url segment may only carry zero bits
# beyond the encoded bytes; anything else is a second spelling of the same bytes.
CANONICAL_LAST_CHAR = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}


class TokenError(Exception):
    """A token is refused. ``code`` and ``description`` are fixed texts, safe to send."""

    code = "invalid_header"
    description = "Unable to parse authentication token."

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description or self.description)
        if description:
            self.description = description
        self.context: Mapping[str, Any] = {}  # unverified kid/iss/sub, for the log only


class MalformedToken(TokenError):
    """Not a well-formed, correctly signed compact JWS for an allowed algorithm and key."""


class ExpiredToken(TokenError):
    code = "token_expired"
    description = "Token is expired."


class InvalidClaims(TokenError):
    code = "invalid_claims"
    description = "Incorrect claims, please check the audience and issuer."


class KeySource(Protocol):
    def get_key(self, kid: str) -> SigningKey | None: ...

    def peek(self, kid: str) -> SigningKey | None: ...


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A validated access token: read-only header and claims, and the scopes it grants."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    scopes: frozenset[str]
    signing_key: SigningKey = field(repr=False, compare=False)

    @property
    def subject(self) -> str:
        return self.claims["sub"]

    @property
    def expires_at(self) -> float:
        return self.claims["exp"]


class TokenValidator:
    """Validates RS256 (or other allowed RSA) access tokens from one issuer for our audiences."""

    def __init__(
        self,
        *,
        issuer: str,
        audiences: Iterable[str],
        algorithms: Iterable[str],
        key_source: KeySource,
        leeway: float = 10,
        scope_claim: str = "scope",
        permissions_claim: str = "permissions",
        max_length: int = 8192,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audiences = frozenset(audiences)
        # Only RSA signatures, whatever the settings say (a misconfigured list is also check authn.E003).
        known = get_default_algorithms()
        self._verifiers: dict[str, Algorithm] = {name: known[name] for name in algorithms if name in RSA_ALGORITHMS}
        self.key_source = key_source
        self._leeway = leeway
        self._scope_claim, self._permissions_claim = scope_claim, permissions_claim
        self._max_length = max_length
        self._cache = VerifiedTokenCache(cache_size)
        self._clock = clock

    def validate(self, token: str) -> AccessToken:
        """The validated token, or ``TokenError``; ``jwks.KeySetUnavailable`` when keys cannot be had."""
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at > self._clock() - self._leeway and (
                self.key_source.peek(cached.header["kid"]) is cached.signing_key
            ):
                return cached
            self._cache.discard(token)
        access_token = self._validate_uncached(token)
        self._cache.put(token, access_token)
        return access_token

    def _validate_uncached(self, token: str) -> AccessToken:
        if len(token) > self._max_length or not COMPACT_JWS.fullmatch(token):
            raise MalformedToken
        signing_input, _, signature_segment = token.rpartition(".")
        header_segment, _, payload_segment = signing_input.partition(".")
        header = decode_json_segment(header_segment)
        payload = decode_json_segment(payload_segment)
        try:
            self._check_header(header)
            key = self._verified_key(header, signing_input, decode_segment(signature_segment))
            self._check_claims(payload)
            frozen_header, frozen_claims = _read_only(header), _read_only(payload)
        except (TokenError, KeySetUnavailable) as err:
            err.context = {"kid": header.get("kid"), "iss": payload.get("iss"), "sub": payload.get("sub")}
            raise
        return AccessToken(header=frozen_header, claims=frozen_claims, scopes=self._scopes(payload), signing_key=key)

    def _check_header(self, header: dict[str, Any]) -> None:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._verifiers:
            raise MalformedToken("Token algorithm is not allowed.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            raise MalformedToken("Unable to find appropriate key.")
        typ = header.get("typ")
        if "typ" in header and (not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES):
            raise MalformedToken("Token type is not an access token.")
        if "crit" in header:  # we understand no extensions (RFC 7515 §4.1.11)
            raise MalformedToken("Token uses a critical extension that is not understood.")

    def _verified_key(self, header: dict[str, Any], signing_input: str, signature: bytes) -> SigningKey:
        # Only the configured key source is consulted: jwk, jku, x5u and x5c are never read.
        key = self.key_source.get_key(header["kid"])
        if key is None or key.algorithm not in (None, header["alg"]):
            raise MalformedToken("Unable to find appropriate key.")
        if not self._verifiers[header["alg"]].verify(signing_input.encode("ascii"), key.public_key, signature):
            raise MalformedToken("Token signature is invalid.")
        return key

    def _check_claims(self, claims: dict[str, Any]) -> None:
        if any(name not in claims for name in REQUIRED_CLAIMS):
            raise InvalidClaims("Token is missing a required claim.")
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
        if not all(_is_numeric_date(value) for value in (exp, iat, nbf)):
            raise InvalidClaims("Token has a time claim that is not a NumericDate.")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise InvalidClaims("Token subject is not a string.")
        if claims["iss"] != self.issuer:
            raise InvalidClaims
        if self.audiences.isdisjoint(_audiences(claims["aud"])):
            raise InvalidClaims
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
    """A bounded LRU of validated tokens, keyed by the full token string."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._entries: OrderedDict[str, AccessToken] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> AccessToken | None:
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None:
                self._entries.move_to_end(token)
            return entry

    def put(self, token: str, access_token: AccessToken) -> None:
        if self._max_size <= 0:
            return
        with self._lock:
            self._entries[token] = access_token
            if len(self._entries) > self._max_size:
                self._entries.popitem(last=False)

    def discard(self, token: str) -> None:
        with self._lock:
            self._entries.pop(token, None)


def decode_segment(segment: str) -> bytes:
    """Bytes of one canonical, unpadded base64url segment (alphabet checked by the caller)."""
    remainder = len(segment) % 4
    if remainder == 1 or (remainder and segment[-1] not in CANONICAL_LAST_CHAR[remainder]):
        raise MalformedToken
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def decode_json_segment(segment: str) -> dict[str, Any]:
    """The JSON object a segment encodes: UTF-8, no duplicate members, no NaN or Infinity."""
    try:
        value = _STRICT_JSON.decode(decode_segment(segment).decode("utf-8"))
    except (ValueError, RecursionError) as err:
        raise MalformedToken from err
    if not isinstance(value, dict):
        raise MalformedToken
    return value


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_STRICT_JSON = json.JSONDecoder(object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant)


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


def _read_only(value: dict[str, Any]) -> Mapping[str, Any]:
    """``_freeze(value)``; JSON the parser could nest deeper than the copy can recurse is malformed."""
    try:
        return _freeze(value)
    except RecursionError as err:
        raise MalformedToken from err


def _freeze(value: Any) -> Any:
    """A read-only copy of parsed JSON: mappings become proxies, lists tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value
