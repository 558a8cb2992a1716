"""DPoP proofs (RFC 9449 §4.3): a proof JWT in, the key thumbprint and ``jti`` it vouches for out.

Each rule is stated once, with ``tokens.py``'s strictness: size checked before
parsing, canonical base64url, no duplicate members. Whether the token is
bound to the proof's key, whether a nonce is due, and whether the ``jti`` was
seen before are for the caller (``binding.py``). Knows nothing of HTTP
requests beyond the method and URL it is given.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import Algorithm, get_default_algorithms
from jwt.exceptions import InvalidKeyError

from authn import jose
from authn.errors import InvalidProof
from authn.keys import UnusableKey, rsa_public_key

MAX_PROOF_LENGTH = 4096  # a P-256 proof is about 600 characters; an RSA-4096 one fits too
MAX_JTI_LENGTH = 256
MAX_NONCE_LENGTH = 256
PROOF_TYPE = "dpop+jwt"
# The key type (and curve) each asymmetric algorithm signs with; nothing symmetric, never "none".
KEY_TYPES: dict[str, tuple[str, str | None]] = {
    **{alg: ("EC", curve) for alg, curve in (("ES256", "P-256"), ("ES384", "P-384"), ("ES512", "P-521"))},
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), ("RSA", None)),
    "EdDSA": ("OKP", None),  # Ed25519 or Ed448 (RFC 8037)
    "Ed25519": ("OKP", "Ed25519"),  # RFC 9864's fully specified name: EdDSA on Ed25519 alone
}
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_ALGORITHMS: dict[str, Algorithm] = get_default_algorithms()
_ALGORITHMS["Ed25519"] = _ALGORITHMS["EdDSA"]  # PyJWT's EdDSA verifies with the key it is given; the curve is pinned


@dataclass(frozen=True)
class Proof:
    """What a valid proof vouches for."""

    jkt: str  # RFC 7638 thumbprint of the key that signed it
    jti: str
    iat: float
    nonce: str | None


class ProofValidator:
    """Validates DPoP proofs signed with one of ``algorithms`` and issued within the accepted window."""

    def __init__(
        self,
        *,
        algorithms: Iterable[str],
        max_age: float,
        leeway: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.algorithms = tuple(alg for alg in algorithms if alg in KEY_TYPES)
        self.max_age, self.leeway = max_age, leeway
        self._clock = clock

    def validate(self, proof: str, *, method: str, url: str, access_token: str) -> Proof:
        """The proof's key thumbprint, ``jti``, ``iat`` and ``nonce``, or ``InvalidProof`` saying why not."""
        jws = jose.split_compact_jws(proof) if len(proof) <= MAX_PROOF_LENGTH else None
        if jws is None:
            raise InvalidProof("DPoP proof is not a single compact JWS.")
        header = _members(jws.header)
        alg = header.get("alg")
        if not isinstance(header.get("typ"), str) or header["typ"].lower() != PROOF_TYPE:
            raise InvalidProof('DPoP proof typ is not "dpop+jwt".')
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidProof("DPoP proof algorithm is not allowed.")
        if "crit" in header:
            raise InvalidProof("DPoP proof uses a critical extension that is not understood.")
        key, jkt = _public_key(alg, header.get("jwk"))
        _verify(alg, key, jws.signing_input, jws.signature)
        claims = _members(jws.payload)
        self._check_claims(claims, method=method, url=url, access_token=access_token)
        nonce = claims.get("nonce")
        if nonce is not None and (not isinstance(nonce, str) or not 0 < len(nonce) <= MAX_NONCE_LENGTH):
            raise InvalidProof("DPoP proof nonce is not a string.")
        return Proof(jkt=jkt, jti=claims["jti"], iat=claims["iat"], nonce=nonce)

    def _check_claims(self, claims: dict[str, Any], *, method: str, url: str, access_token: str) -> None:
        if claims.get("htm") != method:
            raise InvalidProof("DPoP proof htm does not match the request method.")
        htu, request_url = claims.get("htu"), normalize_url(url)
        # A request URL that does not parse matches nothing: not even an htu that does not parse either.
        if request_url is None or not isinstance(htu, str) or (htu != url and normalize_url(htu) != request_url):
            raise InvalidProof("DPoP proof htu does not match the request URL.")
        iat, now = claims.get("iat"), self._clock()
        if not _is_number(iat) or not now - self.max_age <= iat <= now + self.leeway:
            raise InvalidProof("DPoP proof iat is outside the accepted window.")
        ath = claims.get("ath")
        if not isinstance(ath, str) or not jose.same_text(ath, access_token_hash(access_token)):
            raise InvalidProof("DPoP proof ath does not match the access token.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise InvalidProof("DPoP proof jti is missing or too long.")


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@functools.lru_cache(maxsize=1024)
def access_token_hash(access_token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token's ASCII (a client sends one token many times)."""
    return jose.b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


def _members(segment: str) -> dict[str, Any]:
    try:
        return jose.parse_segment(segment)
    except ValueError as err:
        raise InvalidProof("DPoP proof is not valid JSON.") from err


def _public_key(alg: str, jwk: Any) -> tuple[Any, str]:
    """The key the ``jwk`` header member publishes (a public key of the type ``alg`` signs with) and its thumbprint."""
    try:
        members, _ = jose.freeze(jwk, 0) if type(jwk) is tuple else (None, 0)
    except ValueError as err:
        raise InvalidProof("DPoP proof jwk is not valid JSON.") from err
    if members is None:
        raise InvalidProof("DPoP proof has no jwk.")
    if PRIVATE_MEMBERS & members.keys():
        raise InvalidProof("DPoP proof jwk holds private key material.")
    kty, curve = KEY_TYPES[alg]
    if members.get("kty") != kty or (curve is not None and members.get("crv") != curve):
        raise InvalidProof("DPoP proof jwk is not a key for its algorithm.")
    material = tuple((name, members.get(name)) for name in jose.THUMBPRINT_MEMBERS[kty])
    try:
        return _loaded_key(alg, material)
    except (InvalidKeyError, UnusableKey, ValueError, TypeError, AttributeError) as err:  # of attacker JSON
        raise InvalidProof("DPoP proof jwk is not a usable public key.") from err


@functools.lru_cache(maxsize=1024)
def _loaded_key(alg: str, material: tuple[tuple[str, Any], ...]) -> tuple[Any, str]:
    """A key and its RFC 7638 thumbprint from the members that define it: a client signs many proofs with
    one key, so each key is checked and loaded once (failures are not cached)."""
    jwk = dict(material)
    if jwk["kty"] == "RSA":  # bounded like a key set's keys before any arithmetic
        key = rsa_public_key(jwk["n"], jwk["e"], min_bits=2048, max_bits=4096)
    elif jwk["kty"] == "OKP" and jwk.get("crv") not in ("Ed25519", "Ed448"):
        raise ValueError("not an EdDSA curve")
    else:
        key = _ALGORITHMS[alg].from_jwk(jwk)
    return key, jose.thumbprint(jwk)


def _verify(alg: str, key: Any, signing_input: str, signature: str) -> None:
    try:
        raw = jose.b64url_decode(signature)
        if alg in _ECDSA:  # directly: PyJWT's wrapper costs a third of a request's non-crypto work here
            size, scheme = _ECDSA[alg]
            if len(raw) != 2 * size:
                raise ValueError("not an ECDSA signature of this curve")
            der = encode_dss_signature(int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big"))
            key.verify(der, signing_input.encode("ascii"), scheme)
            return
        verified = _ALGORITHMS[alg].verify(signing_input.encode("ascii"), key, raw)
    except (InvalidSignature, ValueError, TypeError) as err:
        raise InvalidProof("DPoP proof signature is invalid.") from err
    if not verified:
        raise InvalidProof("DPoP proof signature is invalid.")


# JWS ECDSA (RFC 7518 §3.4): r and s of this many bytes each, and the signature scheme.
_ECDSA = {
    "ES256": (32, ec.ECDSA(hashes.SHA256())),
    "ES384": (48, ec.ECDSA(hashes.SHA384())),
    "ES512": (66, ec.ECDSA(hashes.SHA512())),
}


# -- htu: RFC 3986 §6.2.2 syntax and §6.2.3 scheme-based normalisation -----------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@functools.lru_cache(maxsize=256)  # a server answers a handful of URLs, each many times
def normalize_url(url: str) -> str | None:
    """``scheme://host[:port]/path`` with case, default port, percent-encoding and dot segments normalised.

    Query and fragment are dropped; ``None`` for what is not an absolute http(s) URL.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    host = _PERCENT.sub(_normalize_escape, host).lower()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = _PERCENT.sub(_normalize_escape, parts.path)
    return f"{scheme}://{netloc}{_remove_dot_segments(path) or '/'}"


def _normalize_escape(escape: re.Match[str]) -> str:
    character = chr(int(escape.group()[1:], 16))
    return character if character in _UNRESERVED else escape.group().upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path: ``/a/./b/../c`` is ``/a/c``."""
    output: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    result = "/" + "/".join(output)
    return result + "/" if path.endswith(("/.", "/..")) and not result.endswith("/") else result
