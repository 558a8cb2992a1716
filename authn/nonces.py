"""DPoP server nonces (RFC 9449 §8) that every worker and host can check without shared state.

A nonce is the time it was issued and an HMAC of that time under a key
derived from ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` still verify, so the
secret can be rotated). It is accepted for the nonce lifetime setting's seconds and
cannot be forged without the secret.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.crypto import salted_hmac

from authn import jose

SALT = "authn.dpop.nonce"
FUTURE_SKEW = 5  # seconds: a nonce another host issued a moment "later" is still good


def issue(now: float) -> str:
    stamp = int(now)
    return f"{stamp:x}.{_mac(stamp, settings.SECRET_KEY)}"


def is_valid(nonce: str, lifetime: float, now: float) -> bool:
    """Whether this API issued ``nonce`` no more than ``lifetime`` seconds ago."""
    stamp_text, _, mac = nonce.partition(".")
    if not 0 < len(stamp_text) <= 12 or any(c not in "0123456789abcdef" for c in stamp_text):
        return False
    stamp = int(stamp_text, 16)
    if not now - lifetime <= stamp <= now + FUTURE_SKEW:
        return False
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(jose.same_text(mac, _mac(stamp, secret)) for secret in secrets)


@functools.lru_cache(maxsize=64)  # every request in one second shares its nonce
def _mac(stamp: int, secret: str | bytes) -> str:
    return jose.b64url_encode(salted_hmac(SALT, str(stamp), secret=secret, algorithm="sha256").digest()[:18])
