"""``authn.keys`` alone: which RSA public keys are worth verifying with, and ``SigningKey``.

Moduli and exponents are written by hand (``odd_number``: a fixed odd number of an exact size) and
base64url-encoded as a JWK writes them (RFC 7518 §6.3.1) without ``authn``; a key accepted is checked
against the one ``cryptography`` generated and the one PyJWT reads from the same JWK.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm

from authn.keys import SigningKey, UnusableKey, rsa_public_key
from tests.support.tenant import KID, number_b64url, odd_number, public_jwk, rsa_jwk

MIN_BITS, MAX_BITS = 2048, 8192  # the defaults of AUTH0_JWKS_MIN_RSA_BITS and AUTH0_JWKS_MAX_RSA_BITS
MODULUS_2048 = odd_number(2048)
OVERSIZED = "modulus is over 8192 bits"  # sized from the text, before any arithmetic
BAD_EXPONENT = "exponent is not an odd number from 3 to 2^32"


def key_of(n: int | str, e: int | str, min_bits: int = MIN_BITS, max_bits: int = MAX_BITS) -> RSAPublicKey:
    """The key of ``n`` and ``e`` as a JWK publishes them: a number base64url-encoded, a string as it is."""
    jwk = rsa_jwk(n, e)
    return rsa_public_key(jwk["n"], jwk["e"], min_bits=min_bits, max_bits=max_bits)


def padded_b64url(number: int) -> str:
    """``number`` as a JWK would write it if it kept base64's padding."""
    return base64.urlsafe_b64encode(number.to_bytes((number.bit_length() + 7) // 8, "big")).decode("ascii")


INSANE_KEYS = [
    pytest.param(MODULUS_2048, odd_number(2047), BAD_EXPONENT, id="exponent-2047-bits"),
    pytest.param(MODULUS_2048, 2**32 + 1, BAD_EXPONENT, id="exponent-2^32+1"),
    pytest.param(MODULUS_2048, 65536, BAD_EXPONENT, id="exponent-even"),
    pytest.param(MODULUS_2048, 1, BAD_EXPONENT, id="exponent-1"),
    pytest.param(MODULUS_2048, 0, BAD_EXPONENT, id="exponent-0"),
    pytest.param(MODULUS_2048 - 1, 65537, "modulus is even", id="modulus-even"),
    pytest.param(odd_number(65536), 65537, OVERSIZED, id="modulus-65536-bits"),
    pytest.param(odd_number(16384), 65537, OVERSIZED, id="modulus-16384-bits"),
    pytest.param(odd_number(8200), 65537, "modulus is 8200 bits, outside 2048 to 8192", id="modulus-8200-bits"),
    pytest.param(odd_number(2047), 65537, "modulus is 2047 bits, outside 2048 to 8192", id="modulus-2047-bits"),
    pytest.param(odd_number(1024), 65537, "modulus is 1024 bits, outside 2048 to 8192", id="modulus-1024-bits"),
    pytest.param("", 65537, "modulus is 0 bits, outside 2048 to 8192", id="modulus-empty"),
    pytest.param("%%%", 65537, "n or e is not base64url", id="n-not-base64url"),
    pytest.param(
        "+" + number_b64url(MODULUS_2048)[1:], 65537, "n or e is not base64url", id="n-standard-base64-alphabet"
    ),
    pytest.param(MODULUS_2048, "AQ.B", "n or e is not base64url", id="e-not-base64url"),
    pytest.param(MODULUS_2048, "AQB", "n or e is not base64url", id="e-not-canonical"),
]


@pytest.mark.parametrize(("n", "e", "reason"), INSANE_KEYS)
def test_rsa_public_key_insane_numbers_are_refused_with_the_rule(n, e, reason):
    with pytest.raises(UnusableKey) as raised:
        key_of(n, e)

    assert str(raised.value) == reason


@pytest.mark.parametrize(
    ("n", "e", "named", "not_named"),
    [
        pytest.param(MODULUS_2048, odd_number(2047), "exponent", "modulus", id="exponent-2047-bits"),
        pytest.param(odd_number(16384), 65537, "modulus", "exponent", id="modulus-16384-bits"),
    ],
)
def test_rsa_public_key_oversized_number_reason_names_only_the_rule_broken(n, e, named, not_named):
    with pytest.raises(UnusableKey) as raised:
        key_of(n, e)

    assert named in str(raised.value)
    assert not_named not in str(raised.value)


@pytest.mark.parametrize(
    ("n", "e"),
    [
        pytest.param(MODULUS_2048, 65537, id="2048-bits"),
        pytest.param(odd_number(3072), 65537, id="3072-bits"),
        pytest.param(odd_number(4096), 65537, id="4096-bits"),
        pytest.param(odd_number(8192), 65537, id="8192-bits"),
        pytest.param(MODULUS_2048, 3, id="exponent-3"),
        pytest.param(MODULUS_2048, 2**32 - 1, id="exponent-2^32-1"),
    ],
)
def test_rsa_public_key_sane_numbers_are_accepted(n, e):
    key = key_of(n, e)

    assert key.public_numbers().n == n
    assert key.public_numbers().e == e
    assert key.key_size == n.bit_length()


@pytest.mark.parametrize(
    ("n", "e"),
    [
        pytest.param(None, "AQAB", id="n-missing"),
        pytest.param(number_b64url(MODULUS_2048), None, id="e-missing"),
        pytest.param(MODULUS_2048, "AQAB", id="n-a-number"),
        pytest.param(number_b64url(MODULUS_2048), 65537, id="e-a-number"),
        pytest.param(number_b64url(MODULUS_2048).encode(), "AQAB", id="n-bytes"),
        pytest.param(number_b64url(MODULUS_2048), ["AQAB"], id="e-a-list"),
    ],
)
def test_rsa_public_key_n_or_e_not_a_string_is_refused(n, e):
    with pytest.raises(UnusableKey, match=r"^n or e is missing$"):
        rsa_public_key(n, e, min_bits=MIN_BITS, max_bits=MAX_BITS)


def test_rsa_public_key_of_a_generated_key_is_the_key_itself(rsa_key):
    jwk = public_jwk(rsa_key)  # written by PyJWT
    message = b"header.payload"
    signature = rsa_key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    key = rsa_public_key(jwk["n"], jwk["e"], min_bits=MIN_BITS, max_bits=MAX_BITS)

    assert key.public_numbers() == rsa_key.public_key().public_numbers()
    assert key.public_numbers() == RSAAlgorithm.from_jwk(jwk).public_numbers()
    key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())  # raises unless it is the same key


@pytest.mark.parametrize("bits", [2048, 8192])
def test_rsa_public_key_padded_base64url_is_accepted(bits):
    n = odd_number(bits)

    key = rsa_public_key(padded_b64url(n), padded_b64url(65537), min_bits=MIN_BITS, max_bits=MAX_BITS)

    assert key.public_numbers().n == n


@pytest.mark.parametrize(
    ("n_text", "e_text", "reason"),
    [
        pytest.param("%" * 2 * 1366, "AQAB", OVERSIZED, id="modulus-text-twice-an-8192-bit-one"),
        pytest.param("A" * 2 * 1366, "AQAB", OVERSIZED, id="modulus-text-of-zeros-twice-an-8192-bit-one"),
        pytest.param(number_b64url(MODULUS_2048), "%" * 12, BAD_EXPONENT, id="exponent-text-twice-a-32-bit-one"),
    ],
)
def test_rsa_public_key_text_too_long_for_any_allowed_number_is_refused_before_decoding(n_text, e_text, reason):
    """An 8192-bit modulus takes 1366 base64url characters, a 32-bit exponent 6: text far longer is refused by its
    length, whatever it holds (junk that decoding would refuse, or leading zeros of a small number)."""
    with pytest.raises(UnusableKey) as raised:
        rsa_public_key(n_text, e_text, min_bits=MIN_BITS, max_bits=MAX_BITS)

    assert str(raised.value) == reason


@pytest.mark.parametrize(
    ("bits", "min_bits", "max_bits", "reason"),
    [
        pytest.param(3072, 3072, 4096, None, id="at-a-raised-minimum"),
        pytest.param(4096, 3072, 4096, None, id="at-a-lowered-maximum"),
        pytest.param(2048, 3072, 4096, "modulus is 2048 bits, outside 3072 to 4096", id="under-a-raised-minimum"),
        pytest.param(4104, 3072, 4096, "modulus is 4104 bits, outside 3072 to 4096", id="over-a-lowered-maximum"),
    ],
)
def test_rsa_public_key_size_limits_are_the_callers(bits, min_bits, max_bits, reason):
    if reason is None:
        assert key_of(odd_number(bits), 65537, min_bits, max_bits).key_size == bits
    else:
        with pytest.raises(UnusableKey, match=rf"^{reason}$"):
            key_of(odd_number(bits), 65537, min_bits, max_bits)


# -- SigningKey ---------------------------------------------------------------


def signing_key_of(key: Any) -> SigningKey:
    jwk = public_jwk(key)
    public_key = rsa_public_key(jwk["n"], jwk["e"], min_bits=MIN_BITS, max_bits=MAX_BITS)
    return SigningKey(kid=KID, public_key=public_key, algorithm="RS256", material=(jwk["n"], jwk["e"]))


def test_signing_key_is_read_only(rsa_key):
    key = signing_key_of(rsa_key)

    with pytest.raises(dataclasses.FrozenInstanceError):
        key.kid = "another"
    assert not hasattr(key, "__dict__")  # slots: nothing can be added either


def test_signing_key_equals_only_itself(rsa_key):
    """Caches tell a key still published from a key replaced by identity: equal fields are not the same key."""
    key, same_fields = signing_key_of(rsa_key), signing_key_of(rsa_key)

    assert key.material == same_fields.material
    assert key == key  # noqa: PLR0124 - identity is the point
    assert key != same_fields
    assert len({key, same_fields}) == 2
