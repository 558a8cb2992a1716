"""The embedded development issuer: a local RSA key pair that signs and verifies tokens.

It is only a different key source: tokens it mints go through the same
validation as a real tenant's. The private key is generated on first use into
a git-ignored file readable by its owner only; so is the P-256 key a local
DPoP client signs its proofs with. ``LocalIssuer`` is the same with a key held
in memory alone (``authn.testing``'s issuer).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from authn.dpop import access_token_hash
from authn.jose import thumbprint
from authn.keys import SigningKey

DEV_ISSUER = "https://dev-issuer.localhost/"
DEV_AUDIENCE = "https://messages-api.localhost"  # the audience of its tokens when none is configured


class DevIssuerKeyError(Exception):
    """The development issuer's key file exists but cannot be used."""


class LocalIssuer:
    """Mints tokens with a key this process holds and publishes the one key that verifies them."""

    def __init__(self, private_key: rsa.RSAPrivateKey, issuer: str) -> None:
        self.issuer = issuer
        self._private_key = private_key
        public_key = private_key.public_key()
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        self.kid = thumbprint(jwk)
        self._signing_key = SigningKey(
            kid=self.kid, public_key=public_key, algorithm="RS256", material=(jwk["n"], jwk["e"])
        )

    def get_key(self, kid: str) -> SigningKey | None:
        return self._signing_key if kid == self.kid else None

    peek = get_key

    def ready(self) -> bool:
        """Always: the key is in the process."""
        return True

    def mint(
        self,
        *,
        audience: str,
        subject: str = "dev|local-user",
        scope: str | None = None,
        permissions: Sequence[str] | None = None,
        ttl: int = 3600,
        cnf: Mapping[str, str] | None = None,
        issued_at: float | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed access token, shaped like one from an Auth0 tenant; ``cnf`` binds it to a key.

        Issued at ``issued_at`` (default: now); ``extra_claims`` override or add to the others.
        """
        now = int(time.time() if issued_at is None else issued_at)
        claims: dict[str, object] = {"iss": self.issuer, "sub": subject, "aud": audience, "iat": now, "exp": now + ttl}
        if scope is not None:
            claims["scope"] = scope
        if permissions is not None:
            claims["permissions"] = list(permissions)
        if cnf is not None:
            claims["cnf"] = dict(cnf)
        claims.update(extra_claims or {})
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.kid, "typ": "at+jwt"})


class DevIssuer(LocalIssuer):
    """The development issuer: its key in a file, so every worker and ``mint_token`` share it."""

    def __init__(self, key_file: Path, issuer: str) -> None:
        super().__init__(load_or_create_private_key(key_file), issuer)
        self.key_file = key_file
        # What a refusal of a kid it does not know is logged with: most often a token minted with another key
        # file (another project directory, or one since deleted).
        self.unknown_key_reason = "not signed with this server's development key (AUTH0_DEV_KEY_FILE)"


def load_or_create_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The RSA key in ``path``, generated there (mode 0600) if the file does not exist."""
    key = _load_or_create(path, lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise DevIssuerKeyError(f"{path} is not an RSA key of 2048 bits or more: delete it to generate a new one")
    return key


def load_or_create_dpop_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The P-256 key in ``path`` a local client signs DPoP proofs with, generated there if missing."""
    key = _load_or_create(path, lambda: ec.generate_private_key(ec.SECP256R1()))
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise DevIssuerKeyError(f"{path} is not a P-256 key: delete it to generate a new one")
    return key


def _load_or_create(path: Path, generate: Callable[[], Any]) -> Any:
    if not path.exists():
        _create_key_file(path, generate())
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise DevIssuerKeyError(f"cannot read the key {path}: delete it to generate a new one") from err


def _create_key_file(path: Path, key: Any) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    try:
        os.link(partial, path)  # atomic and never overwrites: concurrent workers agree on one key
    except FileExistsError:
        pass
    finally:
        partial.unlink()


def dpop_public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    return ECAlgorithm.to_jwk(key.public_key(), as_dict=True)


def sign_dpop_proof(
    key: ec.EllipticCurvePrivateKey, *, method: str, url: str, token: str | None = None, nonce: str | None = None
) -> str:
    """A fresh DPoP proof (RFC 9449 §4.2) for one request, signed ES256 with ``key``."""
    claims: dict[str, object] = {
        "jti": secrets.token_urlsafe(24),
        "htm": method.upper(),
        "htu": url.split("#", maxsplit=1)[0].split("?", maxsplit=1)[0],
        "iat": int(time.time()),
    }
    if token is not None:
        claims["ath"] = access_token_hash(token)
    if nonce is not None:
        claims["nonce"] = nonce
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": dpop_public_jwk(key)})
