"""Token validation: crafted tokens through the whole Django stack, then ``TokenValidator`` alone.

Tokens PyJWT refuses to make are made by hand (``Forge``): base64url of our own
header and payload text, signed with ``cryptography``. Nothing in ``authn`` is
mocked; outbound connections are observed through PEP 578 audit events.
"""

from __future__ import annotations

import base64
import datetime
import gc
import hashlib
import hmac
import json
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from functools import cached_property
from types import MappingProxyType
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from authn.errors import BadSignature, ExpiredToken, InvalidClaims, MalformedToken, UnknownKey
from authn.jwks import signing_key
from authn.keys import SigningKey
from authn.tokens import TokenValidator
from tests.support.api import PRIVATE_MESSAGE
from tests.support.builders import key_policy, token_validator
from tests.support.network import outbound_connections
from tests.support.tenant import AUDIENCE, ISSUER, KID, TenantServer, public_jwk

MAX_TOKEN_LENGTH = 8192  # AUTH0_MAX_TOKEN_LENGTH's default
ATTACKER_KID = "attacker-key"
B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
DROP = object()  # Forge.header()/claims(): remove this member

INVALID_HEADER, TOKEN_EXPIRED, INVALID_CLAIMS = "invalid_header", "token_expired", "invalid_claims"


# -- hand-made tokens ------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode(part: Any) -> str:
    """A segment: bytes as they are, ``str`` as UTF-8 JSON text, anything else as compact JSON."""
    if isinstance(part, bytes):
        return b64url(part)
    if isinstance(part, str):
        return b64url(part.encode("utf-8"))
    return b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))


def json_text(value: dict[str, Any], **literals: str) -> str:
    """Compact JSON of ``value`` with each of ``literals`` spliced in as raw JSON text (NaN, 1e400...)."""
    marks = {name: f"\x00{name}\x00" for name in literals}
    text = json.dumps({**value, **marks}, separators=(",", ":"))
    for name, literal in literals.items():
        text = text.replace(json.dumps(marks[name]), literal)
    return text


def with_segment(token: str, index: int, segment: str) -> str:
    parts = token.split(".")
    parts[index] = segment
    return ".".join(parts)


def non_canonical(segment: str) -> str:
    """The same bytes, spelt with non-zero padding bits in the last character."""
    assert len(segment) % 4 in (2, 3)
    last = B64URL_ALPHABET.index(segment[-1])
    assert last & 1 == 0
    return segment[:-1] + B64URL_ALPHABET[last | 1]


def length_one_mod_four(segment: str) -> str:
    longer = segment + "A" * ((1 - len(segment)) % 4)
    assert len(longer) % 4 == 1
    return longer


def _changed(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **changes}
    return {name: value for name, value in merged.items() if value is not DROP}


Signer = Callable[[bytes], bytes]


def pkcs1(key: rsa.RSAPrivateKey, digest: type[hashes.HashAlgorithm] = hashes.SHA256) -> Signer:
    return lambda data: key.sign(data, padding.PKCS1v15(), digest())


def pss(key: rsa.RSAPrivateKey) -> Signer:
    return lambda data: key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())


def ecdsa_p256(key: ec.EllipticCurvePrivateKey) -> Signer:
    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def hs256(secret: bytes) -> Signer:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


class Forge:
    """Compact JWS by hand: any header, any payload, any signature.

    ``header``/``payload`` take a dict (compact JSON), a ``str`` (JSON text,
    UTF-8) or ``bytes`` (as they are); the default is a valid one.
    """

    def __init__(self, key: rsa.RSAPrivateKey, attacker_key: rsa.RSAPrivateKey, attacker_url: str) -> None:
        self.key, self.attacker_key, self.attacker_url = key, attacker_key, attacker_url
        self.rs256, self.attacker = pkcs1(key), pkcs1(attacker_key)

    def header(self, **changes: Any) -> dict[str, Any]:
        return _changed({"alg": "RS256", "typ": "JWT", "kid": KID}, changes)

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        valid = {"iss": ISSUER, "sub": "auth0|user-1", "aud": AUDIENCE, "iat": now, "exp": now + 3600}
        return _changed({**valid, "scope": "openid read:messages"}, changes)

    def token(
        self, header: Any = None, payload: Any = None, *, signer: Signer | None = None, signature: str | None = None
    ) -> str:
        head = encode(self.header() if header is None else header)
        body = encode(self.claims() if payload is None else payload)
        return self.signed(f"{head}.{body}", signer, signature)

    def signed(self, signing_input: str, signer: Signer | None = None, signature: str | None = None) -> str:
        if signature is None:
            signature = b64url((signer or self.rs256)(signing_input.encode("ascii")))
        return f"{signing_input}.{signature}"

    def token_with(self, index: int, change: Callable[[str], str]) -> str:
        """A valid token with ``change`` applied to its segment ``index``."""
        token = self.token()
        return with_segment(token, index, change(token.split(".")[index]))

    def of_length(self, length: int) -> str:
        """A valid token exactly ``length`` characters long (a filler claim and header member pad it)."""
        signature_length = len(b64url(self.rs256(b"")))
        for header_pad in range(4):
            head = encode(self.header(x="y" * header_pad))
            for filler in range(max(0, length * 3 // 4 - 600), length * 3 // 4):
                body = encode(self.claims(filler="f" * filler))
                if len(head) + len(body) + signature_length + 2 == length:
                    return self.signed(f"{head}.{body}")
        raise AssertionError(f"no token of length {length}")

    def standard_alphabet(self, index: int) -> str:
        """A validly signed token whose segment ``index`` is spelt with ``+`` and ``/`` instead of ``-`` and ``_``."""
        for nonce in range(100):
            filler = "?>" * (nonce % 3 + 1)  # bytes that base64 spells with + and /
            header, claims = self.header(x=filler), self.claims(jti=str(nonce), x=filler)
            parts = [json.dumps(header).encode(), json.dumps(claims).encode()]
            segments = [b64url(part) for part in parts]
            if index < 2:
                segments[index] = base64.b64encode(parts[index]).decode().rstrip("=")
            token = self.signed(".".join(segments))
            if index == 2:
                token = with_segment(token, 2, token.split(".")[2].translate(str.maketrans("-_", "+/")))
            if "+" in token or "/" in token:
                return token
        raise AssertionError("no segment with - or _")

    @cached_property
    def ec_key(self) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    @cached_property
    def attacker_certificate(self) -> str:
        """The attacker's self-signed certificate, base64 DER as ``x5c`` carries it."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tenant.example.com")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.attacker_key.public_key())
            .serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self.attacker_key, hashes.SHA256())
        )
        return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")

    def public_pem(self, public_format: serialization.PublicFormat) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.PEM, public_format)


@pytest.fixture(scope="module")
def attacker_server(other_rsa_key: rsa.RSAPrivateKey) -> Iterator[TenantServer]:
    server = TenantServer().start()
    server.keys = [public_jwk(other_rsa_key, kid=ATTACKER_KID)]
    yield server
    server.stop()


@pytest.fixture
def attacker(attacker_server: TenantServer) -> TenantServer:
    """An attacker's server publishing ``other_rsa_key`` at every path: no token may make us call it."""
    attacker_server.requests.clear()  # count this test's requests only
    return attacker_server


@pytest.fixture
def forge(rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey, attacker: TenantServer) -> Forge:
    return Forge(rsa_key, other_rsa_key, attacker.url)


# -- 1. crafted tokens are refused -----------------------------------------------


def assert_refused(response: Any, token: str, code: str, error: str = "invalid_token") -> None:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "description"}
    assert body["code"] == code
    assert body["description"]
    assert f'error="{error}"' in response["WWW-Authenticate"]
    sent = response.content.decode() + "".join(f"{name}: {value}\n" for name, value in response.items())
    for piece in {token, *token.split(".")}:
        if len(piece) >= 12:  # a shorter piece may be an honest word of the description
            assert piece not in sent


def row(id_: str, build: Callable[[Forge], str], code: str = INVALID_HEADER, error: str = "invalid_token") -> Any:
    return pytest.param(build, code, error, id=id_)


NONE_SPELLINGS = ("none", "None", "NONE", "nOnE")

ALGORITHM_ROWS = [
    *[
        row(f"alg-{alg}-empty-signature", lambda f, a=alg: f.token(f.header(alg=a), signature=""))
        for alg in NONE_SPELLINGS
    ],
    *[row(f"alg-{alg}-with-signature", lambda f, a=alg: f.token(f.header(alg=a))) for alg in NONE_SPELLINGS],
    row("alg-missing", lambda f: f.token(f.header(alg=DROP))),
    row("alg-null", lambda f: f.token(f.header(alg=None))),
    row("alg-number", lambda f: f.token(f.header(alg=256))),
    row("alg-list", lambda f: f.token(f.header(alg=["RS256"]))),
    row("alg-object", lambda f: f.token(f.header(alg={"name": "RS256"}))),
    row("alg-empty", lambda f: f.token(f.header(alg=""))),
    row("alg-trailing-space", lambda f: f.token(f.header(alg="RS256 "))),
    row("alg-leading-space", lambda f: f.token(f.header(alg=" RS256"))),
    row("alg-lowercase", lambda f: f.token(f.header(alg="rs256"))),
    row("alg-nul-suffix", lambda f: f.token(f.header(alg="RS256\x00"))),
    row(
        "alg-hs256-secret-is-public-key-pem",
        lambda f: f.token(
            f.header(alg="HS256"), signer=hs256(f.public_pem(serialization.PublicFormat.SubjectPublicKeyInfo))
        ),
    ),
    row(
        "alg-hs256-secret-is-pkcs1-pem",
        lambda f: f.token(f.header(alg="HS256"), signer=hs256(f.public_pem(serialization.PublicFormat.PKCS1))),
    ),
    row(
        "alg-hs256-secret-is-published-jwk-json",
        lambda f: f.token(f.header(alg="HS256"), signer=hs256(json.dumps(public_jwk(f.key)).encode())),
    ),
    row("alg-hs256-empty-secret", lambda f: f.token(f.header(alg="HS256"), signer=hs256(b""))),
    row("alg-rs384-valid-signature", lambda f: f.token(f.header(alg="RS384"), signer=pkcs1(f.key, hashes.SHA384))),
    row("alg-rs512-valid-signature", lambda f: f.token(f.header(alg="RS512"), signer=pkcs1(f.key, hashes.SHA512))),
    row("alg-ps256-valid-signature", lambda f: f.token(f.header(alg="PS256"), signer=pss(f.key))),
    row("alg-es256-valid-signature", lambda f: f.token(f.header(alg="ES256"), signer=ecdsa_p256(f.ec_key))),
    row("alg-rs256-with-pss-signature", lambda f: f.token(signer=pss(f.key))),
]

SIGNATURE_ROWS = [
    row("signature-empty", lambda f: f.token(signature="")),
    row("signature-missing-two-segments", lambda f: f.token().rpartition(".")[0]),
    row("signature-from-another-key", lambda f: f.token(signer=f.attacker)),
    row(
        "signature-of-another-token",
        lambda f: with_segment(f.token(), 2, f.token(payload=f.claims(sub="auth0|other")).split(".")[2]),
    ),
    row("payload-tampered-keeps-signature", lambda f: with_segment(f.token(), 1, encode(f.claims(sub="auth0|admin")))),
    row("header-tampered-keeps-signature", lambda f: with_segment(f.token(), 0, encode(f.header(typ="at+jwt")))),
    row("signature-all-zero", lambda f: f.token(signature=b64url(bytes(256)))),
    row("signature-one-byte-more", lambda f: f.token(signer=lambda data: f.rs256(data) + b"\x00")),
    row(
        "signature-one-bit-flipped",
        lambda f: f.token(signer=lambda data: bytes([f.rs256(data)[0] ^ 1]) + f.rs256(data)[1:]),
    ),
]

KEY_INJECTION_ROWS = [
    row(
        "jwk-embedded-with-our-kid",
        lambda f: f.token(f.header(jwk=public_jwk(f.attacker_key, kid=KID)), signer=f.attacker),
    ),
    row(
        "jwk-embedded-without-kid",
        lambda f: f.token(f.header(kid=DROP, jwk=public_jwk(f.attacker_key, kid=ATTACKER_KID)), signer=f.attacker),
    ),
    row(
        "jwk-embedded-with-its-kid",
        lambda f: f.token(
            f.header(kid=ATTACKER_KID, jwk=public_jwk(f.attacker_key, kid=ATTACKER_KID)), signer=f.attacker
        ),
    ),
    row(
        "jku-attacker-url-attacker-kid",
        lambda f: f.token(f.header(kid=ATTACKER_KID, jku=f"{f.attacker_url}/jwks.json"), signer=f.attacker),
    ),
    row("jku-attacker-url-our-kid", lambda f: f.token(f.header(jku=f"{f.attacker_url}/jwks.json"), signer=f.attacker)),
    row(
        "x5u-attacker-url",
        lambda f: f.token(f.header(kid=ATTACKER_KID, x5u=f"{f.attacker_url}/cert.pem"), signer=f.attacker),
    ),
    row("x5u-attacker-url-our-kid", lambda f: f.token(f.header(x5u=f"{f.attacker_url}/cert.pem"), signer=f.attacker)),
    row("x5c-attacker-certificate", lambda f: f.token(f.header(x5c=[f.attacker_certificate]), signer=f.attacker)),
    row(
        "x5c-attacker-certificate-without-kid",
        lambda f: f.token(f.header(kid=DROP, x5c=[f.attacker_certificate]), signer=f.attacker),
    ),
    # Signed with the tenant's real key: only the kid is wrong.
    row("kid-path-traversal", lambda f: f.token(f.header(kid="../../etc/passwd"))),
    row("kid-sql-injection", lambda f: f.token(f.header(kid="' OR 1=1 --"))),
    row("kid-attacker-url", lambda f: f.token(f.header(kid=f"{f.attacker_url}/jwks.json"))),
    row("kid-10-kb", lambda f: f.token(f.header(kid="k" * 10240))),
    row("kid-over-256-chars", lambda f: f.token(f.header(kid="k" * 257))),
    row("kid-number", lambda f: f.token(f.header(kid=1))),
    row("kid-null", lambda f: f.token(f.header(kid=None))),
    row("kid-list", lambda f: f.token(f.header(kid=[KID]))),
    row("kid-object", lambda f: f.token(f.header(kid={"kid": KID}))),
    row("kid-empty", lambda f: f.token(f.header(kid=""))),
    row("kid-missing", lambda f: f.token(f.header(kid=DROP))),
    row("kid-other-case", lambda f: f.token(f.header(kid=KID.upper()))),
    row("kid-trailing-space", lambda f: f.token(f.header(kid=KID + " "))),
    row("kid-nul-suffix", lambda f: f.token(f.header(kid=KID + "\x00"))),
]

TYPE_AND_CRIT_ROWS = [
    *[
        row(f"typ-{typ.replace('/', '-')}", lambda f, t=typ: f.token(f.header(typ=t)))
        for typ in ("JWE", "JOSE", "JOSE+JSON", "id_token+jwt", "dpop+jwt", "logout+jwt", "application/jwt")
    ],
    row("typ-at+jwt-trailing-space", lambda f: f.token(f.header(typ="at+jwt "))),
    row("typ-empty", lambda f: f.token(f.header(typ=""))),
    row("typ-with-media-parameter", lambda f: f.token(f.header(typ="application/at+jwt; charset=utf-8"))),
    row("typ-number", lambda f: f.token(f.header(typ=1))),
    row("typ-list", lambda f: f.token(f.header(typ=["JWT"]))),
    row("typ-null", lambda f: f.token(f.header(typ=None))),
    row("typ-true", lambda f: f.token(f.header(typ=True))),
    row("crit-empty-list", lambda f: f.token(f.header(crit=[]))),
    row("crit-exp", lambda f: f.token(f.header(crit=["exp"]))),
    row("crit-string", lambda f: f.token(f.header(crit="exp"))),
    row("crit-null", lambda f: f.token(f.header(crit=None))),
    row("crit-unknown-extension", lambda f: f.token(f.header(crit=["x-policy"], **{"x-policy": "allow-all"}))),
    row("b64-false-with-crit", lambda f: f.token(f.header(b64=False, crit=["b64"]))),
]

SHAPE_ROWS = [
    row(
        "jwe-five-segments",
        lambda f: ".".join(
            [
                encode({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": KID}),
                b64url(bytes(256)),
                b64url(bytes(12)),
                b64url(b"ciphertext"),
                b64url(bytes(16)),
            ]
        ),
    ),
    row("valid-token-plus-two-segments", lambda f: f.token() + ".AAAA.AAAA"),
    row("valid-token-plus-one-segment", lambda f: f.token() + ".AAAA"),
    row("valid-token-trailing-dot", lambda f: f.token() + "."),
    row("valid-token-leading-dot", lambda f: "." + f.token()),
    row(
        "json-serialization",
        lambda f: json.dumps(
            dict(zip(("protected", "payload", "signature"), f.token().split("."), strict=True)), separators=(",", ":")
        ),
        error="invalid_request",  # not a token68 (RFC 7235): a malformed header, not a token
    ),
    row("only-dots", lambda f: ".."),
    row("empty-header-segment", lambda f: with_segment(f.token(), 0, "")),
    row("empty-payload-segment", lambda f: with_segment(f.token(), 1, "")),
    row("header-padded", lambda f: f.signed(f"{encode(f.header())}=.{encode(f.claims())}"), error="invalid_request"),
    row("signature-padded", lambda f: f.token() + "=="),
    row(
        "all-segments-padded",
        lambda f: ".".join(part + "=" * (-len(part) % 4) for part in f.token(payload=f.claims(x="1")).split(".")),
        error="invalid_request",
    ),
    row("header-standard-alphabet-validly-signed", lambda f: f.standard_alphabet(0)),
    row("payload-standard-alphabet-validly-signed", lambda f: f.standard_alphabet(1)),
    row("signature-standard-alphabet", lambda f: f.standard_alphabet(2)),
    row("zero-width-space-inside", lambda f: f.token().replace(".", ".\u200b", 1), error="invalid_request"),
    row("non-ascii-letter-in-header", lambda f: f.token().replace(".", "é.", 1), error="invalid_request"),
    row("fullwidth-letter-in-signature", lambda f: f.token()[:-1] + "\uff21", error="invalid_request"),
    row("arabic-digit-in-payload", lambda f: f.token().replace(".", ".٣", 1), error="invalid_request"),
    row("header-length-1-mod-4", lambda f: f.signed(f"{length_one_mod_four(encode(f.header()))}.{encode(f.claims())}")),
    row("signature-length-1-mod-4", lambda f: f.token_with(2, length_one_mod_four)),
    row("signature-non-canonical-base64", lambda f: f.token_with(2, non_canonical)),
    row(
        "header-non-canonical-base64-validly-signed",
        lambda f: f.signed(f"{non_canonical(encode(f.header()))}.{encode(f.claims())}"),
    ),
    row("header-json-array", lambda f: f.token([f.header()])),
    row("header-json-string", lambda f: f.token('"RS256"')),
    row("header-json-number", lambda f: f.token("256")),
    row("header-json-null", lambda f: f.token("null")),
    row("header-json-true", lambda f: f.token("true")),
    row("header-empty-object", lambda f: f.token({})),
    row("header-not-json", lambda f: f.token("alg=RS256")),
    row("header-not-utf8", lambda f: f.token(b'{"alg":"RS256","kid":"key-1","x":"\xff"}')),
    row("header-utf16", lambda f: f.token(json.dumps(f.header()).encode("utf-16"))),
    row("header-utf8-bom", lambda f: f.token(b"\xef\xbb\xbf" + json.dumps(f.header()).encode())),
    row(
        "payload-not-utf8",
        lambda f: f.token(payload=json_text(f.claims(), x='"\udcff"').encode("utf-8", "surrogateescape")),
    ),
    row("header-duplicate-alg-none-last", lambda f: f.token('{"alg":"RS256","alg":"none","kid":"key-1"}')),
    row("header-duplicate-alg-rs256-last", lambda f: f.token('{"alg":"none","kid":"key-1","alg":"RS256"}')),
    row("header-duplicate-kid", lambda f: f.token('{"alg":"RS256","kid":"unknown","kid":"key-1"}')),
    row("payload-duplicate-sub", lambda f: f.token(payload=json_text(f.claims())[:-1] + ',"sub":"auth0|admin"}')),
    row(
        "payload-duplicate-exp-expired-first",
        lambda f: f.token(payload=json_text(f.claims(), exp="1")[:-1] + f',"exp":{int(time.time()) + 3600}}}'),
    ),
    row("payload-exp-nan", lambda f: f.token(payload=json_text(f.claims(), exp="NaN"))),
    row("payload-exp-infinity", lambda f: f.token(payload=json_text(f.claims(), exp="Infinity"))),
    row("payload-iat-minus-infinity", lambda f: f.token(payload=json_text(f.claims(), iat="-Infinity"))),
    row("payload-json-array", lambda f: f.token(payload=[f.claims()])),
    row("payload-json-null", lambda f: f.token(payload="null")),
    row("header-nested-2000-deep", lambda f: f.token("[" * 2000 + "]" * 2000)),
    row("header-unclosed-5000-deep", lambda f: f.token("[" * 5000)),
    row("payload-nested-2000-deep", lambda f: f.token(payload=json_text(f.claims(), x="[" * 2000 + "]" * 2000))),
    # Parseable, but nested deeper than a recursive copy of the claims can go.
    row("payload-nested-800-deep-signed", lambda f: f.token(payload=json_text(f.claims(), x="[" * 800 + "]" * 800))),
    row("token-one-over-max-length", lambda f: f.of_length(MAX_TOKEN_LENGTH + 1)),
    row("token-far-over-max-length", lambda f: f.token(payload=f.claims(x="x" * 20000))),
]

WHITESPACE_ROWS = [  # the header then holds more than one credential: a malformed request, not a token
    row("space-inside", lambda f: f.token().replace(".", ". ", 1), error="invalid_request"),
    row("tab-inside", lambda f: f.token().replace(".", "\t.", 1), error="invalid_request"),
    row("no-break-space-inside", lambda f: f.token().replace(".", "\xa0.", 1), error="invalid_request"),
]

CLAIM_ROWS = [
    *[
        row(f"{name}-missing", lambda f, n=name: f.token(payload=f.claims(**{n: DROP})), INVALID_CLAIMS)
        for name in ("exp", "iat", "iss", "aud", "sub")
    ],
    row("exp-numeric-string", lambda f: f.token(payload=f.claims(exp=str(int(time.time()) + 3600))), INVALID_CLAIMS),
    row("exp-true", lambda f: f.token(payload=f.claims(exp=True)), INVALID_CLAIMS),
    row("exp-false", lambda f: f.token(payload=f.claims(exp=False)), INVALID_CLAIMS),
    row("exp-null", lambda f: f.token(payload=f.claims(exp=None)), INVALID_CLAIMS),
    row("exp-1e400", lambda f: f.token(payload=json_text(f.claims(), exp="1e400")), INVALID_CLAIMS),
    row(
        "exp-integer-beyond-float-range",
        lambda f: f.token(payload=json_text(f.claims(), exp="1" + "0" * 400)),
        INVALID_CLAIMS,
    ),
    row("exp-list", lambda f: f.token(payload=f.claims(exp=[int(time.time()) + 3600])), INVALID_CLAIMS),
    row("exp-object", lambda f: f.token(payload=f.claims(exp={"$date": int(time.time()) + 3600})), INVALID_CLAIMS),
    row("iat-string", lambda f: f.token(payload=f.claims(iat=str(int(time.time())))), INVALID_CLAIMS),
    row("iat-true", lambda f: f.token(payload=f.claims(iat=True)), INVALID_CLAIMS),
    row("iat-null", lambda f: f.token(payload=f.claims(iat=None)), INVALID_CLAIMS),
    row("iat-future-beyond-leeway", lambda f: f.token(payload=f.claims(iat=int(time.time()) + 600)), INVALID_CLAIMS),
    row("nbf-future", lambda f: f.token(payload=f.claims(nbf=int(time.time()) + 600)), INVALID_CLAIMS),
    row("nbf-string", lambda f: f.token(payload=f.claims(nbf="0")), INVALID_CLAIMS),
    row("nbf-null", lambda f: f.token(payload=f.claims(nbf=None)), INVALID_CLAIMS),
    row("sub-number", lambda f: f.token(payload=f.claims(sub=12345)), INVALID_CLAIMS),
    row("sub-empty", lambda f: f.token(payload=f.claims(sub="")), INVALID_CLAIMS),
    row("sub-null", lambda f: f.token(payload=f.claims(sub=None)), INVALID_CLAIMS),
    row("sub-list", lambda f: f.token(payload=f.claims(sub=["auth0|user-1"])), INVALID_CLAIMS),
    row("aud-number", lambda f: f.token(payload=f.claims(aud=1)), INVALID_CLAIMS),
    row("aud-list-with-non-string", lambda f: f.token(payload=f.claims(aud=[AUDIENCE, 1])), INVALID_CLAIMS),
    row("aud-empty-list", lambda f: f.token(payload=f.claims(aud=[])), INVALID_CLAIMS),
    row("aud-nested-list", lambda f: f.token(payload=f.claims(aud=[[AUDIENCE]])), INVALID_CLAIMS),
    row("aud-null", lambda f: f.token(payload=f.claims(aud=None)), INVALID_CLAIMS),
    row("aud-empty-string", lambda f: f.token(payload=f.claims(aud="")), INVALID_CLAIMS),
    row("aud-object", lambda f: f.token(payload=f.claims(aud={AUDIENCE: True})), INVALID_CLAIMS),
    *[
        row(f"iss-{name}", lambda f, i=iss: f.token(payload=f.claims(iss=i)), INVALID_CLAIMS)
        for name, iss in [
            ("evil-suffix-domain", "https://tenant.example.com.evil.com/"),
            ("userinfo-trick", "https://tenant.example.com@evil.com/"),
            ("trailing-space", ISSUER + " "),
            ("leading-space", " " + ISSUER),
            ("uppercase-host", "https://TENANT.EXAMPLE.COM/"),
            ("missing-trailing-slash", ISSUER.rstrip("/")),
            ("double-trailing-slash", ISSUER + "/"),
            ("http-scheme", ISSUER.replace("https://", "http://")),
            ("with-path", ISSUER + "oauth/"),
            ("list", [ISSUER]),
            ("null", None),
            ("number", 1),
        ]
    ],
    *[
        row(f"aud-{name}", lambda f, a=aud: f.token(payload=f.claims(aud=a)), INVALID_CLAIMS)
        for name, aud in [
            ("prefix", AUDIENCE[:-1]),
            ("longer", AUDIENCE + "s"),
            ("path-suffix", AUDIENCE + "/admin"),
            ("trailing-slash", AUDIENCE + "/"),
            ("uppercase", AUDIENCE.upper()),
            ("trailing-space", AUDIENCE + " "),
            ("space-separated-list", f"https://other.example.com {AUDIENCE}"),
            ("list-of-look-alikes", [AUDIENCE.upper(), AUDIENCE + "/"]),
        ]
    ],
    row(
        "expired-an-hour-ago",
        lambda f: f.token(payload=f.claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)),
        TOKEN_EXPIRED,
    ),
    row("expired-beyond-leeway", lambda f: f.token(payload=f.claims(exp=int(time.time()) - 120)), TOKEN_EXPIRED),
    row("exp-zero", lambda f: f.token(payload=f.claims(exp=0, iat=0)), TOKEN_EXPIRED),
    row("exp-negative", lambda f: f.token(payload=f.claims(exp=-1, iat=-10)), TOKEN_EXPIRED),
]

BAD_TOKENS = (
    ALGORITHM_ROWS
    + SIGNATURE_ROWS
    + KEY_INJECTION_ROWS
    + TYPE_AND_CRIT_ROWS
    + SHAPE_ROWS
    + WHITESPACE_ROWS
    + CLAIM_ROWS
)


@pytest.mark.parametrize(("build", "code", "error"), BAD_TOKENS)
def test_crafted_token_is_refused(call, tenant, forge, attacker, build, code, error):
    token = build(forge)
    response = call("/api/private", token=token)
    assert_refused(response, token, code, error)
    assert attacker.fetches == 0
    assert tenant.fetches <= 1  # the cold fetch; an unknown kid's refetch waits out the cooldown


def test_crafted_tokens_reach_no_host_but_the_configured_jwks_url(settings, call, tenant, forge, attacker):
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 0  # every token naming an unknown kid gets its refetch
    with outbound_connections() as seen:
        for case in BAD_TOKENS:
            build, _code, _error = case.values
            assert call("/api/private", token=build(forge)).status_code == 401, case.id
    tenant_address = ("127.0.0.1", int(tenant.url.rsplit(":", 1)[1]))
    connects = [address for event, address in seen if event == "socket.connect"]
    assert len(connects) == tenant.fetches > 1  # the instrument sees the fetches it should
    assert set(connects) == {tenant_address}
    assert {host for event, host in seen if event == "socket.getaddrinfo"} == {"127.0.0.1"}
    assert attacker.fetches == 0


# -- 2. well-formed oddities are accepted ----------------------------------------


GOOD_TOKENS = [
    *[
        pytest.param(lambda f, t=typ: f.token(f.header(typ=t)), id=f"typ-{typ.replace('/', '-')}")
        for typ in ("JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT")
    ],
    pytest.param(lambda f: f.token(f.header(typ=DROP)), id="typ-absent"),
    pytest.param(
        lambda f: f.token(payload=f.claims(aud=["https://tenant.example.com/userinfo", AUDIENCE])),
        id="aud-list-with-ours",
    ),
    pytest.param(lambda f: f.token(payload=f.claims(aud=[AUDIENCE])), id="aud-list-of-ours-only"),
    pytest.param(lambda f: f.token(payload=f.claims(exp=time.time() + 3600.5)), id="exp-with-fraction"),
    pytest.param(lambda f: f.token(payload=f.claims(iat=time.time() - 0.25)), id="iat-with-fraction"),
    pytest.param(lambda f: f.token(payload=json_text(f.claims(exp=DROP), exp="4.0e9")), id="exp-in-exponent-notation"),
    pytest.param(lambda f: f.token(payload=f.claims(nbf=int(time.time()) - 60)), id="nbf-in-the-past"),
    pytest.param(lambda f: f.token(payload=f.claims(iat=int(time.time()) + 2)), id="iat-within-leeway"),
    pytest.param(lambda f: f.token(payload=f.claims(scope=DROP)), id="no-scope"),
    pytest.param(
        lambda f: f.token(
            payload=f.claims(
                **{"https://example.com/roles": ["admin"], "org": {"id": 1, "tags": None}, "azp": "client", "gty": "x"}
            )
        ),
        id="extra-claims",
    ),
    pytest.param(lambda f: f.token(f.header(x5t="abc", **{"x-trace": {"id": [1, 2]}})), id="extra-header-members"),
    pytest.param(lambda f: f.token('{"alg":"RS\\u0032\\u0035\\u0036","kid":"key\\u002d1"}'), id="header-json-escapes"),
    pytest.param(lambda f: f.token('{ "alg" : "RS256" ,\n  "kid" : "key-1" }'), id="header-json-whitespace"),
    pytest.param(lambda f: f.token(payload=f.claims(sub="auth0|ユーザー")), id="non-ascii-subject"),
    pytest.param(
        lambda f: f.token(f.header(jku=f"{f.attacker_url}/jwks.json", x5u=f"{f.attacker_url}/c.pem")),
        id="jku-and-x5u-ignored-when-signed-by-tenant",
    ),
    pytest.param(lambda f: f.of_length(MAX_TOKEN_LENGTH), id="token-exactly-max-length"),
]


@pytest.mark.parametrize("build", GOOD_TOKENS)
def test_well_formed_oddity_is_accepted(call, tenant, forge, attacker, build):
    response = call("/api/private", token=build(forge))
    assert response.status_code == 200
    assert response.json() == {"message": PRIVATE_MESSAGE}
    assert attacker.fetches == 0


def test_key_published_without_alg_or_use_is_accepted(call, tenant, rsa_key, make_token):
    jwk = public_jwk(rsa_key)
    del jwk["alg"], jwk["use"]
    tenant.keys = [jwk]
    assert call("/api/private", token=make_token()).status_code == 200


# -- 3. random mutations of a valid token ----------------------------------------

ODD_CHARACTERS = '. \t\n\r=+/\x00\u200b\xa0\xe9\u20ac\U0001d518\ufeff"'  # whitespace, dots, padding, unicode
ODD_TEXT = st.text(st.sampled_from(ODD_CHARACTERS) | st.characters(), min_size=1, max_size=4)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=16,
)
NEAR_HEADERS = st.fixed_dictionaries(
    {"alg": st.sampled_from(["RS256", "none", "HS256", "RS384", "PS256"]), "kid": st.sampled_from([KID, "k2"])},
    optional={"typ": st.sampled_from(["JWT", "at+jwt", "JWE"]), "crit": st.just(["exp"]), "x": JSON_VALUES},
)
NEAR_CLAIMS = st.fixed_dictionaries(
    {"iss": st.just(ISSUER), "aud": st.just(AUDIENCE), "sub": st.text(max_size=8)},
    optional={"exp": st.integers() | st.floats(), "iat": JSON_VALUES, "scope": st.text(max_size=8)},
)


def json_segment(value: Any, ascii_only: bool) -> str:
    return b64url(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


def string_mutations(token: str) -> st.SearchStrategy[str]:
    length = len(token)
    head, body, signature = token.split(".")

    def flip(position: int, bit: int) -> str:
        return token[:position] + chr(ord(token[position]) ^ (1 << bit)) + token[position + 1 :]

    return st.one_of(
        st.builds(flip, st.integers(0, length - 1), st.integers(0, 7)),
        st.permutations([head, body, signature]).map(".".join),
        st.integers(0, length - 1).map(lambda end: token[:end]),
        st.integers(1, length - 1).map(lambda start: token[start:]),
        st.builds(lambda at, text: token[:at] + text + token[at:], st.integers(0, length), ODD_TEXT),
        st.builds(lambda at, text: token[:at] + text + token[at + len(text) :], st.integers(0, length), ODD_TEXT),
    )


def json_mutations(token: str) -> st.SearchStrategy[str]:
    head, body, signature = token.split(".")
    return st.one_of(
        st.builds(lambda v, a: f"{json_segment(v, a)}.{body}.{signature}", JSON_VALUES | NEAR_HEADERS, st.booleans()),
        st.builds(lambda v, a: f"{head}.{json_segment(v, a)}.{signature}", JSON_VALUES | NEAR_CLAIMS, st.booleans()),
        st.builds(lambda s: f"{head}.{body}.{s}", st.text(B64URL_ALPHABET, max_size=400)),
    )


def assert_mutation_answered(call, token: str, mutated: str) -> None:
    response = call("/api/private", token=mutated)
    if mutated.lstrip(" ") == token:  # more spaces after the scheme: RFC 7235 allows any number (1*SP)
        assert response.status_code == 200
        return
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "description"}
    assert body["code"] == INVALID_HEADER
    assert response["WWW-Authenticate"].endswith(('error="invalid_token"', 'error="invalid_request"'))


PROPERTY_SETTINGS = hypothesis_settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_string_mutation_of_valid_token_is_refused(call, tenant, make_token, data):
    token = make_token()
    assert_mutation_answered(call, token, data.draw(string_mutations(token), label="mutated"))


@PROPERTY_SETTINGS
@given(data=st.data())
def test_json_mutation_of_valid_token_is_refused(call, tenant, make_token, data):
    token = make_token()
    assert_mutation_answered(call, token, data.draw(json_mutations(token), label="mutated"))


# -- 4. TokenValidator alone -----------------------------------------------------


class StaticKeySource:
    """A key source holding fixed, really parsed keys; tests add and remove them."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = {key.kid: key for key in keys}

    def get_key(self, kid: str) -> SigningKey | None:
        return self.keys.get(kid)

    def peek(self, kid: str) -> SigningKey | None:
        return self.keys.get(kid)


def published(private_key: rsa.RSAPrivateKey, algorithms: tuple[str, ...] = ("RS256",), **members: Any) -> SigningKey:
    return signing_key(public_jwk(private_key, **members), key_policy(algorithms=algorithms))


def validator_for(keys: StaticKeySource, algorithms: tuple[str, ...] = ("RS256",), **options: Any) -> TokenValidator:
    return token_validator(issuers={ISSUER: keys}, audiences=[AUDIENCE], algorithms=algorithms, **options)


LEEWAY = 300  # wide, so seconds spent by a slow machine cannot move a case across the boundary


@pytest.fixture
def keys(rsa_key) -> StaticKeySource:
    return StaticKeySource(published(rsa_key))


@pytest.mark.parametrize(("offset", "accepted"), [(5, True), (-5, False)], ids=["inside", "outside"])
def test_validator_exp_leeway_boundary(keys, make_token, offset, accepted):
    now = int(time.time())
    token = make_token(exp=now - LEEWAY + offset, iat=now - 3600)
    validator = validator_for(keys, leeway=LEEWAY)
    if accepted:
        assert validator.validate(token).subject == "auth0|user-1"
    else:
        with pytest.raises(ExpiredToken):
            validator.validate(token)


@pytest.mark.parametrize("claim", ["iat", "nbf"])
@pytest.mark.parametrize(("offset", "accepted"), [(-5, True), (5, False)], ids=["inside", "outside"])
def test_validator_future_time_claim_leeway_boundary(keys, make_token, claim, offset, accepted):
    token = make_token(**{claim: int(time.time()) + LEEWAY + offset})
    validator = validator_for(keys, leeway=LEEWAY)
    if accepted:
        assert validator.validate(token).subject == "auth0|user-1"
    else:
        with pytest.raises(InvalidClaims):
            validator.validate(token)


def test_validator_cache_returns_same_object_for_repeated_token(keys, make_token):
    validator, token = validator_for(keys), make_token()
    assert validator.validate(token) is validator.validate(token)


def test_validator_cache_drops_token_once_its_key_is_gone(keys, make_token):
    validator, token = validator_for(keys), make_token()
    validator.validate(token)
    del keys.keys[KID]
    with pytest.raises(UnknownKey):
        validator.validate(token)


def test_validator_cache_revalidates_when_the_key_object_changes(keys, make_token, rsa_key):
    validator, token = validator_for(keys), make_token()
    first = validator.validate(token)
    keys.keys[KID] = published(rsa_key)  # the same key material, as another fetch would parse it
    second = validator.validate(token)
    assert second is not first
    assert second.signing_key is keys.keys[KID]
    assert validator.validate(token) is second


def test_validator_cache_does_not_outlive_expiry(keys, make_token, clock):
    validator = validator_for(keys, leeway=0, clock=clock)
    token = make_token(exp=int(clock()) + 2)
    assert validator.validate(token) is validator.validate(token)
    clock.advance(2)
    with pytest.raises(ExpiredToken):
        validator.validate(token)


def test_validator_claims_and_header_are_read_only(keys, make_token):
    token = make_token(aud=[AUDIENCE, "https://x.example.com"], org={"roles": ["a", "b"]}, permissions=["p:1"])
    access = validator_for(keys).validate(token)
    assert isinstance(access.claims, MappingProxyType)
    assert isinstance(access.header, MappingProxyType)
    assert access.claims["aud"] == (AUDIENCE, "https://x.example.com")
    assert isinstance(access.claims["org"], MappingProxyType)
    assert access.claims["org"]["roles"] == ("a", "b")
    assert access.scopes == frozenset({"openid", "read:messages", "p:1"})
    with pytest.raises(TypeError):
        access.claims["sub"] = "auth0|admin"  # type: ignore[index]
    with pytest.raises(TypeError):
        access.header["alg"] = "none"  # type: ignore[index]
    with pytest.raises(AttributeError):
        access.claims["org"]["roles"].append("c")
    with pytest.raises(AttributeError):
        access.scopes.add("write:messages")  # type: ignore[attr-defined]


def test_validator_key_published_for_another_allowed_algorithm_is_refused(make_token, rsa_key):
    keys = StaticKeySource(published(rsa_key, ("RS256", "RS512"), alg="RS512"))
    validator = validator_for(keys, ("RS256", "RS512"))
    with pytest.raises(UnknownKey):
        validator.validate(make_token())
    assert validator.validate(make_token(alg="RS512")).subject == "auth0|user-1"


def test_validator_error_carries_log_context_but_never_the_token(keys, make_token):
    token = make_token(aud="https://elsewhere.example.com")
    with pytest.raises(InvalidClaims) as caught:
        validator_for(keys).validate(token)
    assert caught.value.log_fields() == {
        "unverified_kid": KID,
        "unverified_iss": ISSUER,
        "unverified_sub": "auth0|user-1",
    }
    assert token not in str(caught.value)
    assert token.split(".")[2] not in caught.value.description


@pytest.mark.parametrize("algorithms", [["HS256"], ["none"], ["RS256", "HS256"], ["RS257"]])
@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(lambda f: f.public_pem(serialization.PublicFormat.SubjectPublicKeyInfo), id="spki-pem"),
        pytest.param(lambda f: f.public_pem(serialization.PublicFormat.PKCS1), id="pkcs1-pem"),
        pytest.param(lambda f: json.dumps(public_jwk(f.key)).encode(), id="jwk-json"),
    ],
)
def test_validator_never_verifies_with_a_non_rsa_algorithm(settings, call, tenant, forge, algorithms, secret):
    """Key confusion: a key published without ``alg``, HS256 configured, the public key as the HMAC secret."""
    tenant.keys = [{name: value for name, value in public_jwk(forge.key).items() if name != "alg"}]
    settings.AUTH0_ALGORITHMS = algorithms  # a misconfiguration check authn.E003 reports
    token = forge.token(forge.header(alg="HS256"), signer=hs256(secret(forge)))
    response = call("/api/private", token=token)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_header"


# -- 5. what an anonymous client can make us spend -----------------------------------


def python_calls(operation: Callable[[], Any]) -> int:
    """How many Python and C functions ``operation`` calls: a measure of work that does not depend on the clock."""
    calls = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        operation()
    except Exception:  # noqa: S110 - refusals are the point here
        pass
    finally:
        sys.setprofile(None)
    return calls


def max_length_payload(unit: str, forge: Forge) -> str:
    """A token of nearly the maximum length whose payload repeats ``unit``, with a signature no key made."""
    header = encode(forge.header())
    room = (MAX_TOKEN_LENGTH - len(header) - 360) * 3 // 4
    body = "[" + ",".join([unit] * (room // (len(unit) + 1))) + "]"
    return f"{header}.{encode(body)}.{b64url(bytes(256))}"


ANONYMOUS_TOKENS = [
    pytest.param(lambda f: max_length_payload("{}", f), id="payload-of-1900-objects"),
    pytest.param(lambda f: max_length_payload('{"a":[{}]}', f), id="payload-of-nested-objects"),
    pytest.param(lambda f: f"{encode(f.header())}.{b64url(secrets_bytes(5800))}.{b64url(bytes(256))}", id="garbage"),
    pytest.param(
        lambda f: f.token(f.header(x="y" * 900), payload=f.claims(), signature=b64url(bytes(256))),
        id="largest-header",
    ),
]


def secrets_bytes(count: int) -> bytes:
    return bytes((index * 7919) % 251 for index in range(count))


@pytest.mark.parametrize("build", ANONYMOUS_TOKENS)
def test_anonymous_token_is_refused_at_the_signature_before_its_payload_is_read(keys, forge, build):
    token = build(forge)
    assert len(token) <= MAX_TOKEN_LENGTH
    with pytest.raises(BadSignature) as refused:
        validator_for(keys).validate(token)
    assert refused.value.description == "Token signature is invalid."


@pytest.mark.parametrize("build", ANONYMOUS_TOKENS)
def test_anonymous_token_costs_no_more_than_a_first_seen_valid_one(keys, forge, make_token, build):
    validator, valid_token, anonymous_token = validator_for(keys), make_token(sub="auth0|first-seen"), build(forge)
    valid = python_calls(lambda: validator.validate(valid_token))
    anonymous = python_calls(lambda: validator.validate(anonymous_token))
    assert anonymous <= valid


def test_oversized_header_is_refused_before_it_is_decoded(keys, forge):
    token, validator = forge.token(forge.header(x="y" * 1100)), validator_for(keys)
    calls = python_calls(lambda: validator.validate(token))
    with pytest.raises(MalformedToken, match="header is too large"):
        validator.validate(token)
    assert calls < 30


@pytest.mark.parametrize("depth", [63, 64, 200])
def test_signed_claims_nested_past_the_limit_are_refused(keys, forge, depth):
    token = forge.token(payload=json_text(forge.claims(), x="[" * depth + "]" * depth))
    if depth + 1 <= 64:  # the claims object is the first level
        assert validator_for(keys).validate(token)
    else:
        with pytest.raises(MalformedToken):
            validator_for(keys).validate(token)


# -- 6. the verified-token cache is bounded in bytes -----------------------------------


def large_claims_token(forge: Forge, index: int, objects: int = 400) -> str:
    """A valid token near the size limit whose claims are many small objects (what a metadata-copying Action makes)."""
    return forge.token(payload=forge.claims(sub=f"auth0|user-{index}", metadata=[{"k": index}] * objects))


def test_cache_holds_large_tokens_within_its_byte_budget(keys, forge):
    budget = 16 * 1024 * 1024  # the default: entries up to 256 KiB are kept
    validator = validator_for(keys, cache_size=4096, cache_bytes=budget)
    tokens = [large_claims_token(forge, index) for index in range(150)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for token in tokens:
            validator.validate(token)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    cache = validator._cache
    assert 0 < len(cache) < len(tokens)  # the budget, not the entry count, evicted
    assert cache.bytes <= budget
    assert held <= budget * 1.1  # the estimate is an upper bound of what the entries really hold
    assert validator.validate(tokens[-1]) is validator.validate(tokens[-1])  # the newest stay cached


def test_token_too_large_for_the_budget_is_validated_but_not_cached(keys, forge):
    validator = validator_for(keys, cache_bytes=64 * 1024)  # entries over 1 KiB are not kept
    token = large_claims_token(forge, 1)
    first = validator.validate(token)
    assert first.size > 1024
    assert validator.validate(token) is not first
    assert len(validator._cache) == 0
