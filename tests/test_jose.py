"""``authn.jose`` alone: compact JWS splitting, canonical base64url, strict JSON, frozen copies, thumbprints.

Expected values come from elsewhere: the RFCs' own examples (RFC 7515 A.1, RFC 4648 §10, RFC 7638 §3.1,
RFC 8037 A.3), Python's ``base64`` and ``re`` as second implementations checked against many generated
inputs, JSON written by hand, and ``tracemalloc`` for what a frozen copy really holds.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
import re
import tracemalloc
from types import MappingProxyType

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from authn import jose
from tests.support.dpop_client import public_jwk as client_jwk
from tests.support.rfc_examples import RFC7638_EXAMPLE, RFC8037_EXAMPLE

PROPERTY_SETTINGS = hypothesis_settings(max_examples=300, deadline=None)

# RFC 7515 Appendix A.1: a JWS with HMAC SHA-256, its key and its compact serialization.
RFC7515_KEY = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
RFC7515_HEADER = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
RFC7515_PAYLOAD = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
RFC7515_SIGNATURE = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC7515_JWS = f"{RFC7515_HEADER}.{RFC7515_PAYLOAD}.{RFC7515_SIGNATURE}"

# RFC 4648 §10, in the URL-safe alphabet without padding (RFC 7515 §2), and bytes only it spells differently.
BASE64URL_VECTORS = [
    (b"", ""),
    (b"f", "Zg"),
    (b"fo", "Zm8"),
    (b"foo", "Zm9v"),
    (b"foob", "Zm9vYg"),
    (b"fooba", "Zm9vYmE"),
    (b"foobar", "Zm9vYmFy"),
    (b"\xfb\xff", "-_8"),
    (b"\xff\xff\xfe", "___-"),
]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def from_base64url(text: str) -> bytes:
    """RFC 7515 §2 base64url decoding by Python's ``base64``: it ignores non-zero bits past the last byte."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- compact JWS ----------------------------------------------------------------


def test_split_compact_jws_rfc7515_example_into_its_segments():
    split = jose.split_compact_jws(RFC7515_JWS)

    assert split == (f"{RFC7515_HEADER}.{RFC7515_PAYLOAD}", RFC7515_HEADER, RFC7515_PAYLOAD, RFC7515_SIGNATURE)
    # The segments are the RFC's: its key signs its signing input into its signature.
    expected = hmac.new(from_base64url(RFC7515_KEY), split.signing_input.encode("ascii"), hashlib.sha256).digest()
    assert jose.b64url_decode(split.signature) == expected
    assert jose.parse_segment(split.header) == {"typ": "JWT", "alg": "HS256"}
    assert jose.parse_segment(split.payload) == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("abc", id="one-segment"),
        pytest.param("a.b", id="two-segments"),
        pytest.param("a.b.c.d", id="four-segments"),
        pytest.param("a.b.c.d.e", id="five-segments-jwe"),
        pytest.param("..", id="only-dots"),
        pytest.param(".b.c", id="empty-header"),
        pytest.param("a..c", id="empty-payload"),
        pytest.param("a.b.", id="empty-signature"),
        pytest.param("a.b.c=", id="padding"),
        pytest.param("a+.b.c", id="standard-alphabet-plus"),
        pytest.param("a.b/.c", id="standard-alphabet-slash"),
        pytest.param("a.b.c ", id="trailing-space"),
        pytest.param("a.\u200bb.c", id="zero-width-space"),
        pytest.param("a\u00e9.b.c", id="non-ascii-letter"),
        pytest.param("a.\u0663.c", id="non-ascii-digit"),
        pytest.param("a.b.\uff21", id="fullwidth-letter"),
        pytest.param("a.b.c\x00", id="nul"),
    ],
)
def test_split_compact_jws_anything_but_three_base64url_segments_is_none(token):
    assert jose.split_compact_jws(token) is None


def split_by_regex(token: str) -> tuple[str, str, str] | None:
    """A second implementation: three dot-separated runs of the base64url alphabet."""
    found = re.fullmatch(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)", token)
    return found.groups() if found else None


# Runs of base64url characters and of what a segment must not hold, joined by one to five dots.
SEGMENT_LIKE = st.text(st.sampled_from("Aa0_-=+/ \u00e9\x00\u0663\uff21"), max_size=4)
TOKEN_LIKE = st.lists(SEGMENT_LIKE, max_size=5).map(".".join)


@PROPERTY_SETTINGS
@given(token=TOKEN_LIKE)
def test_split_compact_jws_agrees_with_a_regular_expression(token):
    split = jose.split_compact_jws(token)

    assert (split[1:] if split else None) == split_by_regex(token)


# -- base64url ------------------------------------------------------------------


@pytest.mark.parametrize(("data", "text"), BASE64URL_VECTORS)
def test_b64url_encode_and_decode_rfc4648_vectors(data, text):
    assert jose.b64url_encode(data) == text
    assert jose.b64url_decode(text) == data


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=64))
def test_b64url_decode_inverts_pythons_encoding(data):
    assert jose.b64url_decode(base64.urlsafe_b64encode(data).decode().rstrip("=")) == data


@pytest.mark.parametrize("prefix", ["A", "AA", "AAAAA", "AAAAAA"], ids=["2-chars", "3-chars", "6-chars", "7-chars"])
def test_b64url_decode_only_the_canonical_last_character_is_accepted(prefix):
    """Of the 64 characters that may end a segment, those whose bits past the last byte are not zero spell the
    same bytes a second way: refused. The canonical spelling is the one Python's encoder writes back."""
    for last in ALPHABET:
        text = prefix + last
        decoded = from_base64url(text)
        if base64.urlsafe_b64encode(decoded).decode().rstrip("=") == text:
            assert jose.b64url_decode(text) == decoded
        else:
            with pytest.raises(ValueError, match="not canonical base64url"):
                jose.b64url_decode(text)


@pytest.mark.parametrize("text", ["A", "AAAAA", "Zm9vY"])
def test_b64url_decode_length_one_more_than_a_multiple_of_four_is_refused(text):
    with pytest.raises(ValueError, match="not canonical base64url"):
        jose.b64url_decode(text)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("AQ==", id="padded"),
        pytest.param("A+B/", id="standard-alphabet"),
        pytest.param("AQ B", id="space"),
        pytest.param(b"AQAB", id="bytes"),
        pytest.param(65537, id="number"),
        pytest.param(None, id="null"),
    ],
)
def test_b64url_decode_checked_refuses_what_is_not_a_base64url_string(value):
    with pytest.raises(ValueError, match=r"^not a base64url string$"):
        jose.b64url_decode_checked(value)


def test_b64url_decode_checked_decodes_a_base64url_string():
    assert jose.b64url_decode_checked("AQAB") == (65537).to_bytes(3, "big")


# -- strict JSON ------------------------------------------------------------------


def test_parse_objects_come_out_as_member_pairs_keeping_duplicates():
    document = b' {"a": 1, "b": [true, null, {"c": "d"}], "a": 2.5}\n'

    assert jose.parse(document) == (("a", 1), ("b", [True, None, (("c", "d"),)]), ("a", 2.5))


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(b'{"exp": NaN}', id="nan"),
        pytest.param(b'{"exp": Infinity}', id="infinity"),
        pytest.param(b'{"exp": -Infinity}', id="minus-infinity"),
        pytest.param(b"", id="empty"),
        pytest.param(b"   ", id="only-whitespace"),
        pytest.param(b"{} []", id="two-values"),
        pytest.param(b"{}x", id="trailing-text"),
        pytest.param(b'{"a": 1,}', id="trailing-comma"),
        pytest.param(b"{'a': 1}", id="single-quotes"),
        pytest.param(b'{"a": "\xff"}', id="not-utf8"),
        pytest.param('{"a": 1}'.encode("utf-16"), id="utf16"),
        pytest.param(b'\xef\xbb\xbf{"a": 1}', id="utf8-byte-order-mark"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-100000-deep"),
        pytest.param(b"[" * 5000, id="unclosed-5000-deep"),
    ],
)
def test_parse_what_rfc8259_does_not_allow_is_refused(document):
    with pytest.raises(ValueError):  # noqa: PT011 - the decoder's own messages differ by case
        jose.parse(document)


def test_members_top_level_object_as_a_dict_nested_objects_stay_pairs():
    assert jose.members(jose.parse(b'{"a": {"b": 1}, "c": [2]}')) == {"a": (("b", 1),), "c": [2]}


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(b'{"alg": "RS256", "alg": "none"}', id="duplicate-name"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"RS256"', id="string"),
        pytest.param(b"256", id="number"),
        pytest.param(b"null", id="null"),
    ],
)
def test_members_refuses_a_duplicate_name_or_anything_but_an_object(document):
    with pytest.raises(ValueError, match=r"^(duplicate member name|not a JSON object)$"):
        jose.members(jose.parse(document))


def test_parse_segment_is_the_object_a_base64url_segment_encodes():
    segment = base64.urlsafe_b64encode(b'{"alg":"ES256","typ":"dpop+jwt"}').decode().rstrip("=")

    assert jose.parse_segment(segment) == {"alg": "ES256", "typ": "dpop+jwt"}


# -- frozen copies --------------------------------------------------------------------


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_freeze_copy_is_read_only_all_the_way_down():
    frozen, _ = jose.freeze(jose.members(jose.parse(b'{"a": {"b": [1, {"c": "d"}]}}')), 30)

    assert frozen == {"a": {"b": (1, {"c": "d"})}}
    assert type(frozen) is MappingProxyType
    assert type(frozen["a"]) is MappingProxyType
    assert type(frozen["a"]["b"]) is tuple
    assert type(frozen["a"]["b"][1]) is MappingProxyType
    with pytest.raises(TypeError):
        frozen["a"]["b"][1]["c"] = "e"


def test_freeze_refuses_a_nested_duplicate_name():
    with pytest.raises(ValueError, match=r"^duplicate member name$"):
        jose.freeze(jose.members(jose.parse(b'{"a": {"sub": "x", "sub": "admin"}}')), 40)


@pytest.mark.parametrize(("depth", "accepted"), [(1, True), (63, True), (64, True), (65, False), (200, False)])
def test_freeze_nesting_up_to_max_depth_is_accepted(depth, accepted):
    """``MAX_DEPTH`` levels of arrays or objects, the outermost one counted."""
    value = jose.parse(nested_arrays(depth))
    if accepted:
        frozen, _ = jose.freeze(value, 2 * depth)
        for _ in range(depth - 1):
            (frozen,) = frozen
        assert frozen == ()
    else:
        with pytest.raises(ValueError, match=r"^JSON nested too deeply$"):
            jose.freeze(value, 2 * depth)


SHAPES = {
    "many-small-objects": json.dumps({"metadata": [{"k": 1}] * 400}),
    "many-members": json.dumps({f"m{index}": f"v{index}" for index in range(500)}),
    "long-ascii-string": json.dumps({"s": "x" * 10_000}),
    "astral-characters-raw": json.dumps({"s": "\U0001f600" * 1000}, ensure_ascii=False),
    "astral-characters-escaped": json.dumps({"s": "\U0001f600" * 1000}),
    "numbers": json.dumps({"n": list(range(10**6, 10**6 + 1000)), "f": [n / 3 for n in range(500)]}),
    "large-integers": json.dumps({"n": [10**300 + n for n in range(50)]}),
    "nested": json.dumps({"a": [[[{"b": [1, 2, {"c": "d"}]}]]] * 100}),
    "empty-containers": json.dumps({"a": [[]] * 500, "o": [{}] * 500}),
}


@pytest.mark.parametrize("text", SHAPES.values(), ids=SHAPES.keys())
def test_freeze_size_is_an_upper_bound_of_the_memory_the_copy_holds(text):
    """What the parsed and frozen copy keeps alive, measured by ``tracemalloc``, never exceeds the size given."""
    document = text.encode("utf-8")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        frozen, size = jose.freeze(jose.members(jose.parse(document)), len(document))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert frozen
    assert 0 < held <= size


# -- constant-time comparison -------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected", "same"),
    [
        ("GET", "GET", True),
        ("GET", "get", False),
        ("https://api.example.com/a", "https://api.example.com/b", False),
        ("abc", "ab", False),
        ("", "", True),
        ("caf\u00e9", "cafe\u0301", False),  # the same text to a reader, not the same characters
        ("\udcff", "\udcff", True),  # a lone surrogate, as an attacker's JSON escape may hold
        ("\udcff", "x", False),
    ],
)
def test_same_text_is_equality(given, expected, same):
    assert jose.same_text(given, expected) is same


@PROPERTY_SETTINGS
@given(given=st.text(st.characters(codec=None)), expected=st.text(st.characters(codec=None)))
def test_same_text_agrees_with_equality_whatever_the_characters(given, expected):
    assert jose.same_text(given, expected) is (given == expected)
    assert jose.same_text(given, given)


# -- RFC 7638 thumbprints -----------------------------------------------------------------


def test_thumbprint_matches_the_rfc7638_example():
    assert jose.thumbprint(RFC7638_EXAMPLE) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_matches_the_rfc8037_example():
    assert jose.thumbprint(RFC8037_EXAMPLE) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"  # A.3


def test_thumbprint_of_an_ec_key_is_the_hash_of_its_required_members_in_order():
    jwk = client_jwk(ec.generate_private_key(ec.SECP256R1()))
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'  # RFC 7638 §3.2, by hand

    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")
    assert jose.thumbprint({**jwk, "kid": "k", "use": "sig", "alg": "ES256", "d": "private"}) == expected


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param({"kty": "oct", "k": "c2VjcmV0"}, id="symmetric"),
        pytest.param({"n": RFC7638_EXAMPLE["n"], "e": "AQAB"}, id="no-kty"),
        pytest.param({"kty": "RSA", "n": RFC7638_EXAMPLE["n"]}, id="rsa-without-e"),
        pytest.param({"kty": "RSA", "n": RFC7638_EXAMPLE["n"], "e": 65537}, id="rsa-e-a-number"),
        pytest.param({"kty": "EC", "crv": "P-256", "x": "AAAA"}, id="ec-without-y"),
    ],
)
def test_thumbprint_of_no_known_public_key_is_refused(jwk):
    with pytest.raises(ValueError, match=r"^not a public key of a known type$"):
        jose.thumbprint(jwk)
