"""DPoP proofs (RFC 9449 §4.3): a proof JWT in, the key thumbprint and ``jti`` it vouches for out.

Each rule is stated once, with ``tokens.py``'s strictness: size checked before
parsing, canonical base64url, no duplicate members. Whether the token is
bound to the proof's key, whether a nonce is due, and whether the ``jti`` was
seen before are for the caller (``confirmation.py``). Knows nothing of HTTP
requests beyond the method and URL it is given.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jwt.algorithms import Algorithm, get_default_algorithms
from jwt.exceptions import InvalidKeyError

from authn import jose
from authn.errors import InvalidProof
from authn.jwks import KeySetError, rsa_public_key

MAX_PROOF_LENGTH = 4096  # a P-256 proof is about 600 characters; an RSA-4096 one fits too
MAX_JTI_LENGTH = 256
MAX_NONCE_LENGTH = 256
PROOF_TYPE = "dpop+jwt"
# The key type (and curve) each asymmetric algorithm signs with; nothing symmetric, never "none".
KEY_TYPES: dict[str, tuple[str, str | None]] = {
    **{alg: ("EC", curve) for alg, curve in (("ES256", "P-256"), ("ES384", "P-384"), ("ES512", "P-521"))},
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), ("RSA", None)),
    "EdDSA": ("OKP", None),
}
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_ALGORITHMS: dict[str, Algorithm] = get_default_algorithms()


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
        max_age: float = 300,
        leeway: float = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.algorithms = tuple(alg for alg in algorithms if alg in KEY_TYPES)
        self.max_age, self.leeway = max_age, leeway
        self._clock = clock

    def validate(self, proof: str, *, method: str, url: str, access_token: str) -> Proof:
        """The proof's key thumbprint, ``jti``, ``iat`` and ``nonce``, or ``InvalidProof`` saying why not."""
        if len(proof) > MAX_PROOF_LENGTH or not jose.COMPACT_JWS.fullmatch(proof):
            raise InvalidProof("DPoP proof is not a single compact JWS.")
        header_segment, payload_segment, signature = proof.split(".")
        header = _members(header_segment)
        alg = header.get("alg")
        if not isinstance(header.get("typ"), str) or header["typ"].lower() != PROOF_TYPE:
            raise InvalidProof('DPoP proof typ is not "dpop+jwt".')
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidProof("DPoP proof algorithm is not allowed.")
        if "crit" in header:
            raise InvalidProof("DPoP proof uses a critical extension that is not understood.")
        jwk = _public_jwk(header.get("jwk"), alg)
        _verify(alg, jwk, proof.rpartition(".")[0], signature)
        claims = _members(payload_segment)
        self._check_claims(claims, method=method, url=url, access_token=access_token)
        nonce = claims.get("nonce")
        if nonce is not None and (not isinstance(nonce, str) or not 0 < len(nonce) <= MAX_NONCE_LENGTH):
            raise InvalidProof("DPoP proof nonce is not a string.")
        return Proof(jkt=jose.thumbprint(jwk), jti=claims["jti"], iat=claims["iat"], nonce=nonce)

    def _check_claims(self, claims: dict[str, Any], *, method: str, url: str, access_token: str) -> None:
        if claims.get("htm") != method:
            raise InvalidProof("DPoP proof htm does not match the request method.")
        htu = claims.get("htu")
        if not isinstance(htu, str) or normalize_url(htu) != normalize_url(url):
            raise InvalidProof("DPoP proof htu does not match the request URL.")
        iat = claims.get("iat")
        now = self._clock()
        if type(iat) not in (int, float) or not now - self.max_age <= iat <= now + self.leeway:
            raise InvalidProof("DPoP proof iat is outside the accepted window.")
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath, access_token_hash(access_token)):
            raise InvalidProof("DPoP proof ath does not match the access token.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise InvalidProof("DPoP proof jti is missing or too long.")


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token's ASCII."""
    return jose.b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


def _members(segment: str) -> dict[str, Any]:
    try:
        return jose.parse_segment(segment)
    except ValueError as err:
        raise InvalidProof("DPoP proof is not valid JSON.") from err


def _public_jwk(value: Any, alg: str) -> Mapping[str, Any]:
    """The ``jwk`` header member: a public key of the type ``alg`` signs with."""
    try:
        jwk, _ = jose.freeze(value, 0) if type(value) is tuple else (None, 0)
    except ValueError as err:
        raise InvalidProof("DPoP proof jwk is not valid JSON.") from err
    if jwk is None:
        raise InvalidProof("DPoP proof has no jwk.")
    if PRIVATE_MEMBERS & jwk.keys():
        raise InvalidProof("DPoP proof jwk holds private key material.")
    kty, curve = KEY_TYPES[alg]
    if jwk.get("kty") != kty or (curve is not None and jwk.get("crv") != curve):
        raise InvalidProof("DPoP proof jwk is not a key for its algorithm.")
    return jwk


def _verify(alg: str, jwk: Mapping[str, Any], signing_input: str, signature: str) -> None:
    try:
        key = _public_key(alg, jwk)
        verified = _ALGORITHMS[alg].verify(signing_input.encode("ascii"), key, jose.b64url_decode(signature))
    except (InvalidKeyError, KeySetError, ValueError, TypeError) as err:
        raise InvalidProof("DPoP proof jwk is not a usable public key.") from err
    if not verified:
        raise InvalidProof("DPoP proof signature is invalid.")


def _public_key(alg: str, jwk: Mapping[str, Any]) -> Any:
    if jwk["kty"] == "RSA":  # bounded like a key set's keys before any arithmetic
        return rsa_public_key(jwk.get("n"), jwk.get("e"), min_bits=2048, max_bits=4096)
    if jwk["kty"] == "OKP" and jwk.get("crv") not in ("Ed25519", "Ed448"):
        raise ValueError("not an EdDSA curve")
    return _ALGORITHMS[alg].from_jwk(dict(jwk))


# -- htu: RFC 3986 §6.2.2 syntax and §6.2.3 scheme-based normalisation -----------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


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
