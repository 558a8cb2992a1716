"""A small DPoP client written from RFC 9449, RFC 7515, RFC 7638 and RFC 8037 alone, to check authn against it.

Nothing here imports ``authn``: proofs are assembled by hand (header and payload
JSON, base64url, a signature from ``cryptography``), so a test can also send
what no honest client would: raw JSON with duplicate members, ``alg: none``,
an HMAC signed with the public key, a jwk that is not the signer's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

CURVES = {"secp256r1": ("P-256", hashes.SHA256), "secp384r1": ("P-384", hashes.SHA384)}
# RFC 7638 §3.2: the members a thumbprint covers, by key type.
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
# RFC 8037 §2: the curve name of an Edwards-curve key.
EDWARDS_CURVES = {ed25519.Ed25519PrivateKey: "Ed25519", ed448.Ed448PrivateKey: "Ed448"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 of the required members, in lexicographic order, no whitespace."""
    members = ",".join(f'"{name}":"{jwk[name]}"' for name in THUMBPRINT_MEMBERS[jwk["kty"]])
    return b64url(hashlib.sha256(("{" + members + "}").encode("utf-8")).digest())


def token_hash(token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url of the SHA-256 of the token's ASCII."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def unsigned(number: int, size: int | None = None) -> bytes:
    return number.to_bytes(size or (number.bit_length() + 7) // 8, "big")


def public_jwk(private_key: Any) -> dict[str, Any]:
    """RFC 7518 §6 (EC, RSA) and RFC 8037 §2 (OKP): the public JWK of a private key."""
    for key_type, crv in EDWARDS_CURVES.items():
        if isinstance(private_key, key_type):
            raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return {"kty": "OKP", "crv": crv, "x": b64url(raw)}
    numbers = private_key.public_key().public_numbers()
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        size = (private_key.curve.key_size + 7) // 8
        crv = CURVES[private_key.curve.name][0]
        return {
            "kty": "EC",
            "crv": crv,
            "x": b64url(unsigned(numbers.x, size)),
            "y": b64url(unsigned(numbers.y, size)),
        }
    return {"kty": "RSA", "n": b64url(unsigned(numbers.n)), "e": b64url(unsigned(numbers.e))}


def sign(alg: str, key: Any, signing_input: bytes) -> bytes:
    """The JWS signature (RFC 7518 §3) of ``signing_input`` with ``key`` (bytes for HS256; none: empty)."""
    if alg == "none":
        return b""
    if alg == "HS256":
        return hmac.new(key, signing_input, hashlib.sha256).digest()
    if alg.startswith("ES"):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(CURVES[key.curve.name][1]())))
        size = (key.curve.key_size + 7) // 8
        return unsigned(r, size) + unsigned(s, size)
    if alg == "RS256":
        return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    if alg in ("EdDSA", "Ed25519"):  # RFC 8037 §3.1; Ed25519 is RFC 9864's name for EdDSA on that curve
        return key.sign(signing_input)
    raise ValueError(alg)


def segment(value: dict[str, Any] | str) -> str:
    """A JWS segment: a dict as compact JSON, a string as the exact JSON text given."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return b64url(text.encode("utf-8"))


def compact_jws(header: dict[str, Any] | str, payload: dict[str, Any] | str, alg: str, key: Any) -> str:
    signing_input = f"{segment(header)}.{segment(payload)}"
    return f"{signing_input}.{b64url(sign(alg, key, signing_input.encode('ascii')))}"


class ProofKey:
    """A client's DPoP key: makes proofs (RFC 9449 §4.2), correct unless told otherwise."""

    def __init__(self, private_key: Any = None, alg: str = "ES256") -> None:
        self.private_key = private_key or ec.generate_private_key(ec.SECP256R1())
        self.alg = alg
        self.jwk = public_jwk(self.private_key)
        self.thumbprint = thumbprint(self.jwk)

    def header(self, **changes: Any) -> dict[str, Any]:
        """The proof's JOSE header; a change to ``None`` removes that member."""
        header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk, **changes}
        return {name: value for name, value in header.items() if value is not None}

    def claims(self, method: str, url: str, *, token: str | None = None, **changes: Any) -> dict[str, Any]:
        """The proof's claims for one request; a change to ``None`` removes that claim."""
        claims = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": int(time.time())}
        if token is not None:
            claims["ath"] = token_hash(token)
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def proof(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        header: dict[str, Any] | None = None,
        signer: Any = None,
        sign_as: str | None = None,
        **claims: Any,
    ) -> str:
        """A proof for ``method url`` (and ``token``); ``header`` and ``claims`` change or drop (None) members.

        Signed by ``signer`` (default: this key) with ``sign_as`` (default: the header's ``alg``, else this key's).
        """
        header = self.header(**(header or {}))
        alg = sign_as or (header["alg"] if isinstance(header.get("alg"), str) else self.alg)
        return compact_jws(header, self.claims(method, url, token=token, **claims), alg, signer or self.private_key)
