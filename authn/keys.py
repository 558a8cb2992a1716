"""Public keys: what a verified signature was checked with, and the only RSA keys worth checking with.

Neutral ground for the token validator, the DPoP proof validator, the key-set
cache and the development issuer: none of them needs another to name a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from authn import jose

MAX_KID_LENGTH = 256
MAX_RSA_EXPONENT = 2**32


class UnusableKey(ValueError):
    """A published key cannot be used; the message says why and is safe to log."""


@dataclass(frozen=True, slots=True, eq=False)
class SigningKey:
    """A public key fit to verify tokens, as published under ``kid``."""

    kid: str
    public_key: RSAPublicKey
    algorithm: str | None  # the JWK's "alg", when it names one
    material: tuple[str, str]  # (n, e) as published, to recognise the same key on refresh


def rsa_public_key(n_text: Any, e_text: Any, *, min_bits: int, max_bits: int) -> RSAPublicKey:
    """The RSA key of a sane modulus and exponent, sizes bounded before any arithmetic on them.

    Raises ``UnusableKey`` saying what is wrong.
    """
    if not isinstance(n_text, str) or not isinstance(e_text, str):
        raise UnusableKey("n or e is missing")
    if len(n_text) > max_bits // 6 + 4:
        raise UnusableKey(f"modulus is over {max_bits} bits")
    if len(e_text) > 8:
        raise UnusableKey("exponent is not an odd number from 3 to 2^32")
    try:
        n = int.from_bytes(jose.b64url_decode_checked(n_text.rstrip("=")), "big")
        e = int.from_bytes(jose.b64url_decode_checked(e_text.rstrip("=")), "big")
    except ValueError as err:
        raise UnusableKey("n or e is not base64url") from err
    bits = n.bit_length()
    if not min_bits <= bits <= max_bits:
        raise UnusableKey(f"modulus is {bits} bits, outside {min_bits} to {max_bits}")
    if n % 2 == 0:
        raise UnusableKey("modulus is even")
    if e % 2 == 0 or not 3 <= e <= MAX_RSA_EXPONENT:
        raise UnusableKey("exponent is not an odd number from 3 to 2^32")
    try:
        return RSAPublicNumbers(e, n).public_key()
    except ValueError as err:
        raise UnusableKey("n or e is unusable") from err
