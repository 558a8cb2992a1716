"""The embedded development issuer: a local RSA key pair that signs and verifies tokens.

It is only a different key source: tokens it mints go through the same
validation as a real tenant's. The private key is generated on first use into
a git-ignored file readable by its owner only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from authn.jwks import SigningKey


class DevIssuerKeyError(Exception):
    """The development issuer's key file exists but cannot be used."""


class DevIssuer:
    """Mints tokens for local work and publishes the one key that verifies them."""

    def __init__(self, key_file: Path, issuer: str) -> None:
        self.key_file = key_file
        self.issuer = issuer
        self._private_key = load_or_create_private_key(key_file)
        public_key = self._private_key.public_key()
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        self.kid = thumbprint(jwk["n"], jwk["e"])
        self._signing_key = SigningKey(
            kid=self.kid, public_key=public_key, algorithm="RS256", material=(jwk["n"], jwk["e"])
        )

    def get_key(self, kid: str) -> SigningKey | None:
        return self._signing_key if kid == self.kid else None

    peek = get_key

    def mint(
        self,
        *,
        audience: str,
        subject: str = "dev|local-user",
        scope: str | None = None,
        permissions: Sequence[str] | None = None,
        ttl: int = 3600,
    ) -> str:
        """A signed access token, shaped like one from an Auth0 tenant."""
        now = int(time.time())
        claims: dict[str, object] = {"iss": self.issuer, "sub": subject, "aud": audience, "iat": now, "exp": now + ttl}
        if scope is not None:
            claims["scope"] = scope
        if permissions is not None:
            claims["permissions"] = list(permissions)
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.kid, "typ": "at+jwt"})


def thumbprint(n: str, e: str) -> str:
    """The RFC 7638 JWK thumbprint of an RSA public key, used as its ``kid``."""
    canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def load_or_create_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The RSA key in ``path``, generated there (mode 0600) if the file does not exist."""
    if not path.exists():
        _create_key_file(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise DevIssuerKeyError(
            f"cannot read the development issuer key {path}: delete it to generate a new one"
        ) from err
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise DevIssuerKeyError(f"{path} is not an RSA key of 2048 bits or more: delete it to generate a new one")
    return key


def _create_key_file(path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
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
