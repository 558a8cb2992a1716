"""Sender-constrained tokens through the whole Django stack: DPoP proofs (RFC 9449), modes, nonces (mTLS: test_mtls).

Proofs come from ``tests.support.dpop_client``, written from the RFCs without ``authn``;
thumbprints are computed there too, and checked against RFC 7638's own example.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import secrets
import sqlite3
import stat
import string
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from django.core.cache import caches
from django.core.checks import Error, Warning, run_checks
from django.core.management import call_command
from django.test import override_settings
from django.urls import re_path

from authn import runtime
from authn.clock import Clock
from authn.errors import InvalidProof
from authn.replay import host_store
from messages_api.views import PrivateScopedMessageApi
from tests.support.api import SCOPED_MESSAGE
from tests.support.builders import proof_validator
from tests.support.checkout import ROOT
from tests.support.clock import FakeClock
from tests.support.dpop_client import ProofKey, b64url, compact_jws, segment, sign, thumbprint, token_hash, unsigned
from tests.support.dpop_client import public_jwk as client_jwk
from tests.support.network import free_port
from tests.support.rfc_examples import RFC7638_EXAMPLE, RFC8037_EXAMPLE
from tests.support.tenant import ISSUER, TenantServer, trusting
from tests.support.tls import certificate_thumbprint, escaped_pem, self_signed_certificate

PATH = "/api/private-scoped"
URL = f"http://testserver{PATH}"  # what the test client's requests are, as Django builds them
PROOF_REFUSED = ("invalid_dpop_proof", 'DPoP error="invalid_dpop_proof", algs="ES256"')
TOKEN_REFUSED = ("invalid_header", 'DPoP error="invalid_token", algs="ES256"')
BEARER_TOKEN_REFUSED = ("invalid_header", 'Bearer realm="api", error="invalid_token"')
# A DPoP-bound token sent as Bearer where DPoP is accepted: both schemes offered (RFC 9449 §7.1).
BOUND_AS_BEARER_REFUSED = ("invalid_header", 'Bearer realm="api", error="invalid_token", DPoP algs="ES256"')
NONCE_REQUIRED = ("use_dpop_nonce", 'DPoP error="use_dpop_nonce", algs="ES256"')
BASE64URL_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"

# A route whose path has characters a client may percent-encode (used with pytest.mark.urls).
urlpatterns = [re_path("^api/caf\u00e9~/?$", PrivateScopedMessageApi.as_view())]


pytestmark = pytest.mark.keep_runtime


@pytest.fixture(scope="module", autouse=True)
def tenant(tenant_server, tmp_path_factory) -> Iterator[TenantServer]:
    """The module's stand-in tenant (conftest's ``tenant`` is per test), and the DPoP defaults whatever the
    environment says, with authn's replay store in a file of the module's own.

    With the module clock below, the validator and its key set are built once and kept from test to test
    (``keep_runtime``: a key set fetch costs ~0.1 s); a test changing an ``AUTH0_*`` setting still gets a
    fresh one, as authn rebuilds it on ``setting_changed``.
    """
    with override_settings(
        **trusting(tenant_server),
        AUTH0_DPOP="allowed",
        AUTH0_DPOP_NONCE=False,
        AUTH0_MTLS_CLIENT_CERT_HEADER="",
        AUTH0_REFUSAL_LOG_RATE=0,
        AUTH0_DPOP_REPLAY_CACHE="",
        AUTH0_DPOP_REPLAY_FILE=str(tmp_path_factory.mktemp("replay") / "jti.sqlite3"),
    ):
        yield tenant_server


@pytest.fixture(scope="module")
def module_clock() -> Iterator[FakeClock]:
    clock = FakeClock(time.time())
    runtime.use_clock(Clock.of(clock))
    yield clock
    runtime.use_clock(None)


@pytest.fixture(autouse=True)
def fake_time(module_clock) -> FakeClock:
    """The clock the trust layer reads in this module (proof iat, token expiry, key cache), at the real time."""
    module_clock.now = time.time()
    return module_clock


@pytest.fixture
def send(api) -> Callable[..., Any]:
    """``send(token, proof, path=PATH, scheme="DPoP", **extra)``: a GET with that Authorization and DPoP header."""

    def get(token: str | None, proof: str | None = None, path: str = PATH, scheme: str = "DPoP", **extra: Any) -> Any:
        if token is not None:
            extra["HTTP_AUTHORIZATION"] = f"{scheme} {token}"
        if proof is not None:
            extra["HTTP_DPOP"] = proof
        return api.get(path, **extra)

    return get


def assert_refused(response, status: int, code: str, challenge: str | None, *secrets_sent: str) -> None:
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.get("WWW-Authenticate") == challenge
    body = response.content.decode()
    for secret in secrets_sent:
        assert secret not in body


# -- the independent implementation, against RFC 7638 ---------------------------------------------


def test_thumbprint_of_rfc7638_example_key_is_the_rfc_value():
    assert thumbprint(RFC7638_EXAMPLE) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_okp_thumbprint_of_rfc8037_example_key_is_the_rfc_value():
    """RFC 8037 A.1 and A.3: the public JWK of its Ed25519 private key, and that key's thumbprint."""
    private_key = ed25519.Ed25519PrivateKey.from_private_bytes(
        base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
    )
    jwk = client_jwk(private_key)
    assert jwk == RFC8037_EXAMPLE
    assert thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_client_proofs_verify_with_pyjwt(key):
    proof = key.proof("GET", URL, token="a.b.c")
    header = jwt.get_unverified_header(proof)
    verified = jwt.decode(proof, jwt.PyJWK(header["jwk"], "ES256").key, algorithms=["ES256"])
    assert header["typ"] == "dpop+jwt"
    assert verified["ath"] == b64url(hashlib.sha256(b"a.b.c").digest())


# -- a valid proof -----------------------------------------------------------------------------


def test_dpop_bound_token_with_valid_proof_is_accepted(send, key, bound_token):
    response = send(bound_token, key.proof("GET", URL, token=bound_token))
    assert response.status_code == 200
    assert response.json() == {"message": SCOPED_MESSAGE}
    assert "DPoP-Nonce" not in response  # nonces are off by default


@pytest.mark.parametrize("scheme", ["dpop", "DPOP", pytest.param("DPoP  ", id="DPoP-three-spaces")])
def test_dpop_scheme_is_case_insensitive_with_any_spaces(send, key, bound_token, scheme):
    assert send(bound_token, key.proof("GET", URL, token=bound_token), scheme=scheme).status_code == 200


def test_head_request_needs_a_proof_for_head(api, key, bound_token):
    headers = {"HTTP_AUTHORIZATION": f"DPoP {bound_token}"}
    assert api.head(PATH, HTTP_DPOP=key.proof("HEAD", URL, token=bound_token), **headers).status_code == 200
    refused = api.head(PATH, HTTP_DPOP=key.proof("GET", URL, token=bound_token), **headers)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == PROOF_REFUSED[1]


def test_rs256_proof_is_accepted_when_listed_and_refused_with_a_private_member(
    settings, send, make_token, other_rsa_key
):
    settings.AUTH0_DPOP_ALGORITHMS = ["ES256", "RS256"]
    rsa_key = ProofKey(other_rsa_key, alg="RS256")
    token = make_token(cnf={"jkt": rsa_key.thumbprint})
    assert send(token, rsa_key.proof("GET", URL, token=token)).status_code == 200
    refused = send(token, rsa_key.proof("GET", URL, token=token, htm="POST"))
    assert refused["WWW-Authenticate"] == 'DPoP error="invalid_dpop_proof", algs="ES256 RS256"'
    prime = b64url(unsigned(other_rsa_key.private_numbers().p))
    with_prime = rsa_key.proof("GET", URL, token=token, header={"jwk": {**rsa_key.jwk, "p": prime}})
    assert send(token, with_prime).json()["code"] == "invalid_dpop_proof"  # a private member, if not d


EDWARDS_KEYS = {"Ed25519": ed25519.Ed25519PrivateKey.generate, "Ed448": ed448.Ed448PrivateKey.generate}


@pytest.mark.parametrize(
    ("curve", "alg", "listed", "status"),
    [
        pytest.param("Ed25519", "Ed25519", ["Ed25519"], 200, id="Ed25519-listed"),
        pytest.param("Ed25519", "EdDSA", ["EdDSA"], 200, id="EdDSA-Ed25519-listed"),
        pytest.param("Ed448", "EdDSA", ["EdDSA"], 200, id="EdDSA-Ed448-listed"),
        pytest.param("Ed25519", "Ed25519", ["ES256", "EdDSA", "Ed25519"], 200, id="Ed25519-among-others"),
        pytest.param("Ed25519", "Ed25519", ["ES256"], 401, id="Ed25519-not-listed"),
        pytest.param("Ed25519", "EdDSA", ["ES256"], 401, id="EdDSA-not-listed"),
        pytest.param("Ed25519", "EdDSA", ["Ed25519"], 401, id="EdDSA-where-only-Ed25519-is-listed"),
        pytest.param("Ed25519", "Ed25519", ["EdDSA"], 401, id="Ed25519-where-only-EdDSA-is-listed"),
        pytest.param("Ed448", "Ed25519", ["Ed25519"], 401, id="Ed25519-naming-an-Ed448-key"),
    ],
)
def test_edwards_curve_proof_is_accepted_only_when_its_alg_is_listed(
    settings, send, make_token, curve, alg, listed, status
):
    settings.AUTH0_DPOP_ALGORITHMS = listed
    client = ProofKey(EDWARDS_KEYS[curve](), alg=alg)
    token = make_token(cnf={"jkt": client.thumbprint})
    response = send(token, client.proof("GET", URL, token=token))
    assert response.status_code == status
    if status == 401:
        assert response.json()["code"] == "invalid_dpop_proof"


def test_edwards_curve_proof_signed_by_another_key_is_refused(settings, send, make_token):
    settings.AUTH0_DPOP_ALGORITHMS = ["Ed25519"]
    client = ProofKey(ed25519.Ed25519PrivateKey.generate(), alg="Ed25519")
    token = make_token(cnf={"jkt": client.thumbprint})
    forged = client.proof("GET", URL, token=token, signer=ed25519.Ed25519PrivateKey.generate())
    assert send(token, forged).json()["code"] == "invalid_dpop_proof"
    assert send(token, client.proof("GET", URL, token=token)).status_code == 200


# -- every rule of RFC 9449 §4.3, refused --------------------------------------------------------


@dataclass
class Attempt:
    """What a refusal case sends: a proof (None: no DPoP header), and the token if not the usual bound one."""

    proof: str | None
    token: str | None = None


@dataclass
class Case:
    """What a refusal case builds from: the client's key, a token bound to it, other keys."""

    key: ProofKey
    token: str
    make_token: Callable[..., str]
    other_key: ProofKey
    rsa: ProofKey

    def proof(self, **changes: Any) -> str:
        return self.key.proof("GET", URL, token=self.token, **changes)

    def bound(self, **cnf: Any) -> str:
        return self.make_token(cnf=cnf)

    def raw(self, header: str | dict[str, Any], payload: str | dict[str, Any], alg: str = "ES256") -> str:
        return compact_jws(header, payload, alg, self.key.private_key)

    def sending(self, token: str) -> Attempt:
        """A valid proof for ``token``, sent with it: only what the token's ``cnf`` says is refused."""
        return Attempt(self.key.proof("GET", URL, token=token), token=token)

    def header_json(self) -> str:
        return json.dumps(self.key.header(), separators=(",", ":"))

    def claims_json(self) -> str:
        return json.dumps(self.key.claims("GET", URL, token=self.token), separators=(",", ":"))


def non_canonical(text: str) -> str:
    """Another spelling of the same bytes: unused low bits of the last character set (RFC 4648 §3.5)."""
    assert len(text) % 4 in (2, 3)
    spelled = text[:-1] + BASE64URL_ALPHABET[BASE64URL_ALPHABET.index(text[-1]) + 1]
    pad = "=" * (-len(text) % 4)
    assert base64.urlsafe_b64decode(spelled + pad) == base64.urlsafe_b64decode(text + pad)
    return spelled


def non_canonical_segment(case: Case, which: str, spell: Callable[[str], str] = non_canonical) -> str:
    """A proof whose header or payload segment is spelled by ``spell``, and signed as spelled.

    JSON whitespace pads the segment's JSON so that its last character has unused bits.
    """
    header, payload = case.header_json(), case.claims_json()
    if which == "header":
        header += " " * ((1 - len(header)) % 3)
        header_segment, payload_segment = spell(segment(header)), segment(payload)
    else:
        payload += " " * ((1 - len(payload)) % 3)
        header_segment, payload_segment = segment(header), spell(segment(payload))
    signing_input = f"{header_segment}.{payload_segment}"
    return f"{signing_input}.{b64url(sign('ES256', case.key.private_key, signing_input.encode()))}"


def non_canonical_signature(case: Case) -> str:
    proof = case.proof()
    signing_input, _, signature = proof.rpartition(".")
    return f"{signing_input}.{non_canonical(signature)}"


def point_off_the_curve(case: Case) -> str:
    y = bytearray(base64.urlsafe_b64decode(case.key.jwk["y"] + "="))
    y[-1] ^= 1
    return case.proof(header={"jwk": {**case.key.jwk, "y": b64url(bytes(y))}})


def with_alg_none(case: Case, signature: str) -> str:
    header = segment({"typ": "dpop+jwt", "alg": "none", "jwk": case.key.jwk})
    return f"{header}.{segment(case.key.claims('GET', URL, token=case.token))}.{signature}"


def hs256_with_jwk_as_secret(case: Case) -> str:
    secret = json.dumps(case.key.jwk, separators=(",", ":")).encode()
    return case.proof(header={"alg": "HS256"}, signer=secret)


def duplicate_in_header(case: Case) -> str:
    return case.raw(case.header_json()[:-1] + ',"alg":"ES256"}', case.claims_json())


def duplicate_in_payload(case: Case) -> str:
    return case.raw(case.header_json(), case.claims_json()[:-1] + ',"htm":"GET"}')


def duplicate_in_jwk(case: Case) -> str:
    jwk = json.dumps(case.key.jwk, separators=(",", ":"))[:-1] + f',"x":"{case.key.jwk["x"]}"}}'
    return case.raw('{"typ":"dpop+jwt","alg":"ES256","jwk":' + jwk + "}", case.claims_json())


def bound_to(other: ProofKey, case: Case) -> Attempt:
    """A proof by ``other`` for a token bound to ``other``: only what ``other``'s algorithm breaks is refused."""
    token = case.bound(jkt=other.thumbprint)
    return Attempt(other.proof("GET", URL, token=token), token=token)


def p384_key() -> ProofKey:
    return ProofKey(ec.generate_private_key(ec.SECP384R1()), alg="ES384")


REFUSALS = [
    # exactly one DPoP header holding a compact JWS
    pytest.param(lambda c: Attempt(None), PROOF_REFUSED, id="no-proof-header"),
    pytest.param(lambda c: Attempt(""), PROOF_REFUSED, id="empty-proof-header"),
    pytest.param(lambda c: Attempt(f"{c.proof()},{c.proof()}"), PROOF_REFUSED, id="two-proofs-joined-by-comma"),
    pytest.param(lambda c: Attempt(f"{c.proof()}, {c.proof()}"), PROOF_REFUSED, id="two-proofs-comma-space"),
    pytest.param(lambda c: Attempt("not-a-jwt"), PROOF_REFUSED, id="not-a-jws"),
    pytest.param(lambda c: Attempt(c.proof() + ".e30"), PROOF_REFUSED, id="four-segments"),
    pytest.param(lambda c: Attempt(c.proof() + "="), PROOF_REFUSED, id="padded-signature"),
    pytest.param(lambda c: Attempt(c.proof() + "\u00e9"), PROOF_REFUSED, id="non-ascii"),
    pytest.param(lambda c: Attempt(c.proof(pad="x" * 4000)), PROOF_REFUSED, id="oversized-proof"),
    pytest.param(lambda c: Attempt(non_canonical_segment(c, "header")), PROOF_REFUSED, id="non-canonical-header"),
    pytest.param(lambda c: Attempt(non_canonical_segment(c, "payload")), PROOF_REFUSED, id="non-canonical-payload"),
    pytest.param(lambda c: Attempt(non_canonical_signature(c)), PROOF_REFUSED, id="non-canonical-signature"),
    pytest.param(lambda c: Attempt(duplicate_in_header(c)), PROOF_REFUSED, id="duplicate-member-in-header"),
    pytest.param(lambda c: Attempt(duplicate_in_payload(c)), PROOF_REFUSED, id="duplicate-member-in-payload"),
    pytest.param(lambda c: Attempt(duplicate_in_jwk(c)), PROOF_REFUSED, id="duplicate-member-in-jwk"),
    pytest.param(lambda c: Attempt(c.raw("[]", c.claims_json())), PROOF_REFUSED, id="header-not-an-object"),
    pytest.param(lambda c: Attempt(c.raw(c.header_json(), '"claims"')), PROOF_REFUSED, id="payload-not-an-object"),
    # typ
    pytest.param(lambda c: Attempt(c.proof(header={"typ": None})), PROOF_REFUSED, id="typ-missing"),
    pytest.param(lambda c: Attempt(c.proof(header={"typ": "JWT"})), PROOF_REFUSED, id="typ-JWT"),
    pytest.param(lambda c: Attempt(c.proof(header={"typ": "at+jwt"})), PROOF_REFUSED, id="typ-at+jwt"),
    pytest.param(lambda c: Attempt(c.proof(header={"typ": 1})), PROOF_REFUSED, id="typ-number"),
    # alg: allowed, asymmetric, never none or HMAC
    pytest.param(lambda c: Attempt(with_alg_none(c, "")), PROOF_REFUSED, id="alg-none-unsigned"),
    pytest.param(lambda c: Attempt(with_alg_none(c, "c2ln")), PROOF_REFUSED, id="alg-none-with-signature"),
    pytest.param(lambda c: Attempt(hs256_with_jwk_as_secret(c)), PROOF_REFUSED, id="hs256-signed-with-jwk"),
    pytest.param(lambda c: Attempt(c.proof(header={"alg": None}, sign_as="ES256")), PROOF_REFUSED, id="alg-missing"),
    pytest.param(lambda c: Attempt(c.proof(header={"alg": "es256"}, sign_as="ES256")), PROOF_REFUSED, id="alg-case"),
    pytest.param(lambda c: bound_to(p384_key(), c), PROOF_REFUSED, id="alg-ES384-not-listed"),
    pytest.param(lambda c: bound_to(c.rsa, c), PROOF_REFUSED, id="alg-RS256-not-listed"),
    pytest.param(lambda c: Attempt(c.proof(header={"crit": ["exp"]})), PROOF_REFUSED, id="crit-header"),
    # jwk: a public key for alg, which verifies the signature
    pytest.param(lambda c: Attempt(c.proof(header={"jwk": None})), PROOF_REFUSED, id="jwk-missing"),
    pytest.param(lambda c: Attempt(c.proof(header={"jwk": json.dumps(c.key.jwk)})), PROOF_REFUSED, id="jwk-a-string"),
    pytest.param(lambda c: Attempt(c.proof(header={"jwk": [c.key.jwk]})), PROOF_REFUSED, id="jwk-an-array"),
    pytest.param(
        lambda c: Attempt(c.proof(header={"jwk": {**c.key.jwk, "d": b64url(secrets.token_bytes(32))}})),
        PROOF_REFUSED,
        id="jwk-with-private-d",
    ),
    pytest.param(
        lambda c: Attempt(c.proof(header={"jwk": {**c.key.jwk, "k": b64url(secrets.token_bytes(32))}})),
        PROOF_REFUSED,
        id="jwk-with-secret-k",
    ),
    pytest.param(lambda c: Attempt(c.proof(header={"jwk": p384_key().jwk})), PROOF_REFUSED, id="jwk-P-384-for-ES256"),
    pytest.param(lambda c: Attempt(c.proof(header={"jwk": c.rsa.jwk})), PROOF_REFUSED, id="jwk-RSA-for-ES256"),
    pytest.param(
        lambda c: Attempt(c.proof(header={"jwk": {**c.key.jwk, "kty": "OKP"}})), PROOF_REFUSED, id="jwk-kty-OKP"
    ),
    pytest.param(
        lambda c: Attempt(c.proof(header={"jwk": {**c.key.jwk, "x": "AAAA"}})), PROOF_REFUSED, id="jwk-x-too-short"
    ),
    pytest.param(lambda c: Attempt(point_off_the_curve(c)), PROOF_REFUSED, id="jwk-point-not-on-curve"),
    pytest.param(lambda c: Attempt(c.proof(signer=c.other_key.private_key)), PROOF_REFUSED, id="signed-by-another-key"),
    pytest.param(
        lambda c: Attempt(c.proof().rpartition(".")[0] + "." + b64url(bytes(64))), PROOF_REFUSED, id="zero-signature"
    ),
    # htm
    pytest.param(lambda c: Attempt(c.proof(htm="get")), PROOF_REFUSED, id="htm-lowercase"),
    pytest.param(lambda c: Attempt(c.proof(htm="POST")), PROOF_REFUSED, id="htm-other-method"),
    pytest.param(lambda c: Attempt(c.proof(htm=None)), PROOF_REFUSED, id="htm-missing"),
    pytest.param(lambda c: Attempt(c.proof(htm=["GET"])), PROOF_REFUSED, id="htm-array"),
    # htu
    pytest.param(lambda c: Attempt(c.proof(htu=f"http://evil.example{PATH}")), PROOF_REFUSED, id="htu-other-host"),
    pytest.param(lambda c: Attempt(c.proof(htu="http://testserver/api/private")), PROOF_REFUSED, id="htu-other-path"),
    pytest.param(lambda c: Attempt(c.proof(htu=f"https://testserver{PATH}")), PROOF_REFUSED, id="htu-other-scheme"),
    pytest.param(lambda c: Attempt(c.proof(htu=f"http://testserver:8080{PATH}")), PROOF_REFUSED, id="htu-other-port"),
    pytest.param(lambda c: Attempt(c.proof(htu=f"http://testserver:443{PATH}")), PROOF_REFUSED, id="htu-port-443"),
    pytest.param(lambda c: Attempt(c.proof(htu=URL + "/")), PROOF_REFUSED, id="htu-trailing-slash"),
    pytest.param(lambda c: Attempt(c.proof(htu=PATH)), PROOF_REFUSED, id="htu-relative"),
    pytest.param(lambda c: Attempt(c.proof(htu=f"//testserver{PATH}")), PROOF_REFUSED, id="htu-scheme-relative"),
    pytest.param(lambda c: Attempt(c.proof(htu=f"ftp://testserver{PATH}")), PROOF_REFUSED, id="htu-ftp"),
    pytest.param(
        lambda c: Attempt(c.proof(htu=f"http://user@testserver{PATH}")), PROOF_REFUSED, id="htu-with-userinfo"
    ),
    pytest.param(
        lambda c: Attempt(c.proof(htu="http://testserver/api/private%2Dscoped%2F")),
        PROOF_REFUSED,
        id="htu-encoded-slash",
    ),
    pytest.param(lambda c: Attempt(c.proof(htu=None)), PROOF_REFUSED, id="htu-missing"),
    pytest.param(lambda c: Attempt(c.proof(htu=1)), PROOF_REFUSED, id="htu-number"),
    pytest.param(lambda c: Attempt(c.proof(htu="http://testserver:99999/x")), PROOF_REFUSED, id="htu-bad-port"),
    # iat (its window: test_proof_iat_window_edges)
    pytest.param(lambda c: Attempt(c.proof(iat=None)), PROOF_REFUSED, id="iat-missing"),
    pytest.param(lambda c: Attempt(c.proof(iat=str(c.key.claims("GET", URL)["iat"]))), PROOF_REFUSED, id="iat-string"),
    pytest.param(lambda c: Attempt(c.proof(iat=True)), PROOF_REFUSED, id="iat-true"),
    pytest.param(lambda c: Attempt(c.proof(iat=0)), PROOF_REFUSED, id="iat-epoch"),
    pytest.param(lambda c: Attempt(c.proof(iat=10**400)), PROOF_REFUSED, id="iat-huge"),
    # ath
    pytest.param(lambda c: Attempt(c.proof(ath=None)), PROOF_REFUSED, id="ath-missing"),
    pytest.param(lambda c: Attempt(c.proof(ath=b64url(secrets.token_bytes(32)))), PROOF_REFUSED, id="ath-wrong"),
    pytest.param(lambda c: Attempt(c.proof(ath=token_hash(c.bound(jkt="x")))), PROOF_REFUSED, id="ath-other-token"),
    pytest.param(
        lambda c: Attempt(c.proof(ath=hashlib.sha256(c.token.encode()).hexdigest())), PROOF_REFUSED, id="ath-hex"
    ),
    pytest.param(lambda c: Attempt(c.proof(ath=token_hash(c.token) + "=")), PROOF_REFUSED, id="ath-padded"),
    pytest.param(lambda c: Attempt(c.proof(ath=5)), PROOF_REFUSED, id="ath-number"),
    pytest.param(lambda c: Attempt(c.proof(ath="\u00e9" * 43)), PROOF_REFUSED, id="ath-non-ascii"),
    # jti
    pytest.param(lambda c: Attempt(c.proof(jti=None)), PROOF_REFUSED, id="jti-missing"),
    pytest.param(lambda c: Attempt(c.proof(jti="")), PROOF_REFUSED, id="jti-empty"),
    pytest.param(lambda c: Attempt(c.proof(jti="j" * 257)), PROOF_REFUSED, id="jti-too-long"),
    pytest.param(lambda c: Attempt(c.proof(jti=12345)), PROOF_REFUSED, id="jti-number"),
    pytest.param(lambda c: Attempt(c.proof(jti=["a"])), PROOF_REFUSED, id="jti-array"),
    # nonce, when a proof carries one unasked
    pytest.param(lambda c: Attempt(c.proof(nonce=5)), PROOF_REFUSED, id="nonce-number"),
    pytest.param(lambda c: Attempt(c.proof(nonce="")), PROOF_REFUSED, id="nonce-empty"),
    pytest.param(lambda c: Attempt(c.proof(nonce="n" * 257)), PROOF_REFUSED, id="nonce-too-long"),
    # the token's cnf
    pytest.param(lambda c: c.sending(c.bound(jkt=c.other_key.thumbprint)), PROOF_REFUSED, id="cnf-jkt-other-key"),
    pytest.param(lambda c: c.sending(c.bound(jkt=c.key.thumbprint.lower())), PROOF_REFUSED, id="cnf-jkt-case"),
    pytest.param(lambda c: c.sending(c.bound(jkt="\u00e9" * 43)), PROOF_REFUSED, id="cnf-jkt-non-ascii"),
    pytest.param(lambda c: c.sending(c.bound(jkt=5)), PROOF_REFUSED, id="cnf-jkt-number"),
    pytest.param(lambda c: c.sending(c.make_token(cnf="jkt")), TOKEN_REFUSED, id="cnf-a-string"),
    pytest.param(
        lambda c: c.sending(c.make_token(cnf=[{"jkt": c.key.thumbprint}])),
        TOKEN_REFUSED,
        id="cnf-an-array",
    ),
    pytest.param(lambda c: c.sending(c.make_token(cnf={})), TOKEN_REFUSED, id="cnf-empty"),
    pytest.param(lambda c: c.sending(c.make_token()), TOKEN_REFUSED, id="no-cnf"),
    pytest.param(lambda c: c.sending(c.bound(**{"x5t#S256": "abc"})), TOKEN_REFUSED, id="cnf-certificate-only"),
    pytest.param(
        lambda c: c.sending(c.bound(jkt=c.key.thumbprint, jwk=c.key.jwk)),
        TOKEN_REFUSED,
        id="cnf-jkt-and-unknown-method",
    ),
]


@pytest.fixture
def case(key, bound_token, make_token, other_rsa_key) -> Case:
    return Case(key, bound_token, make_token, ProofKey(), ProofKey(other_rsa_key, alg="RS256"))


@pytest.mark.parametrize(("build", "refusal"), REFUSALS)
def test_proof_breaking_a_rule_is_refused(send, case, build, refusal):
    attempt = build(case)
    token = attempt.token or case.token
    response = send(token, attempt.proof)
    assert_refused(response, 401, *refusal, token, *([attempt.proof] if attempt.proof else []))


@pytest.mark.parametrize(
    ("htu", "path"),
    [
        pytest.param(URL, PATH, id="identical"),
        pytest.param(f"HTTP://testserver{PATH}", PATH, id="uppercase-scheme"),
        pytest.param(f"http://TestServer{PATH}", PATH, id="uppercase-host"),
        pytest.param(f"http://testserver:80{PATH}", PATH, id="explicit-default-port"),
        pytest.param(f"http://testserver:{PATH}", PATH, id="empty-port"),
        pytest.param("http://testserver/api/private%2Dscoped", PATH, id="percent-encoded-unreserved"),
        pytest.param("http://testserver/api/private%2dscoped", PATH, id="lowercase-percent-hex"),
        pytest.param("http://testserver/api/%70rivate-scoped", PATH, id="percent-encoded-letter"),
        pytest.param(f"http://testserver/api/./x/..{PATH.removeprefix('/api')}", PATH, id="dot-segments"),
        pytest.param(f"{URL}?page=2", PATH, id="htu-with-query"),
        pytest.param(f"{URL}#top", PATH, id="htu-with-fragment"),
        pytest.param(URL, f"{PATH}?page=2", id="request-with-query"),
        pytest.param(f"{URL}/", f"{PATH}/", id="trailing-slash-both"),
    ],
)
def test_proof_htu_matching_after_normalisation_is_accepted(send, key, bound_token, htu, path):
    assert send(bound_token, key.proof("GET", htu, token=bound_token), path=path).status_code == 200


@pytest.mark.parametrize(
    ("host", "htu"),
    [
        pytest.param("TestServer", URL, id="uppercase-host-header"),
        pytest.param("testserver:80", URL, id="host-header-with-default-port"),
        pytest.param("testserver:8000", f"http://TESTSERVER:8000{PATH}", id="other-port-both"),
    ],
)
def test_request_url_is_normalised_too(send, key, bound_token, host, htu):
    assert send(bound_token, key.proof("GET", htu, token=bound_token), HTTP_HOST=host).status_code == 200


def test_proof_htu_with_percent_encoded_host_matches(send, key, bound_token):
    proof = key.proof("GET", f"http://test%73erver{PATH}", token=bound_token)
    assert send(bound_token, proof).status_code == 200


UNPARSEABLE_HOST = "127.0.0.1:99999"  # an allowed host with a port out of range: Django builds a URL nothing parses
UNPARSEABLE_URL = f"http://{UNPARSEABLE_HOST}{PATH}"
HTU_FOR_AN_UNPARSEABLE_URL = [
    pytest.param("", id="htu-empty"),
    pytest.param("x", id="htu-not-a-url"),
    pytest.param("wss://evil/ws", id="htu-websocket"),
    pytest.param(UNPARSEABLE_URL, id="htu-the-same-unparseable-url"),
]


@pytest.mark.parametrize("htu", HTU_FOR_AN_UNPARSEABLE_URL)
def test_request_url_that_does_not_parse_refuses_any_proof(settings, send, key, bound_token, htu):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    proof = key.proof("GET", htu, token=bound_token)
    response = send(bound_token, proof, HTTP_HOST=UNPARSEABLE_HOST)
    assert_refused(response, 401, *PROOF_REFUSED, bound_token, proof)


@pytest.mark.parametrize("htu", HTU_FOR_AN_UNPARSEABLE_URL)
def test_proof_validator_refuses_a_request_url_that_does_not_parse(key, htu):
    validator = proof_validator()
    with pytest.raises(InvalidProof, match="htu"):
        validator.validate(
            key.proof("GET", htu, token="a.b.c"), method="GET", url=UNPARSEABLE_URL, access_token="a.b.c"
        )


@pytest.mark.parametrize("htu", ["", "x", "wss://evil/ws", "http://testserver:99999/x"])
def test_proof_validator_refuses_an_htu_that_does_not_parse(key, htu):
    validator = proof_validator()
    with pytest.raises(InvalidProof, match="htu"):
        validator.validate(key.proof("GET", htu, token="a.b.c"), method="GET", url=URL, access_token="a.b.c")


@pytest.mark.urls("tests.test_dpop")
@pytest.mark.parametrize(
    "htu",
    [
        pytest.param("http://testserver/api/caf%C3%A9~", id="as-django-builds-it"),
        pytest.param("http://testserver/api/caf%c3%a9~", id="lowercase-percent-hex"),
        pytest.param("http://testserver/api/caf%C3%A9%7E", id="tilde-percent-encoded"),
        pytest.param("http://testserver/api/caf%c3%a9%7e", id="both"),
    ],
)
def test_proof_htu_percent_encoding_is_normalised(send, key, bound_token, htu):
    response = send(bound_token, key.proof("GET", htu, token=bound_token), path="/api/caf%C3%A9~")
    assert response.status_code == 200


@pytest.mark.parametrize("which", ["header", "payload"])
def test_proof_with_padded_json_spelled_canonically_is_accepted(send, case, which):
    """The control for the non-canonical cases: the same construction, spelled canonically, passes."""
    assert send(case.token, non_canonical_segment(case, which, spell=lambda text: text)).status_code == 200


def test_typ_is_compared_as_a_media_type(send, key, bound_token):
    proof = key.proof("GET", URL, token=bound_token, header={"typ": "DPoP+JWT"})
    assert send(bound_token, proof).status_code == 200


@pytest.mark.parametrize("algorithms", [["ES256", "HS256"], ["ES256", "none"]])
def test_symmetric_or_none_alg_is_refused_even_when_listed(settings, send, case, algorithms):
    settings.AUTH0_DPOP_ALGORITHMS = algorithms
    proof = hs256_with_jwk_as_secret(case) if "HS256" in algorithms else with_alg_none(case, "")
    assert send(case.token, proof).json()["code"] == "invalid_dpop_proof"


# -- the iat window, on the fake clock ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "offset", "status"),
    [
        pytest.param({}, -300, 200, id="default-oldest-accepted"),
        pytest.param({}, -301, 401, id="default-too-old"),
        pytest.param({}, 30, 200, id="default-furthest-future-accepted"),
        pytest.param({}, 31, 401, id="default-too-far-in-future"),
        pytest.param({"AUTH0_DPOP_MAX_AGE_SECONDS": 60, "AUTH0_DPOP_LEEWAY_SECONDS": 0}, -60, 200, id="max-age-60"),
        pytest.param({"AUTH0_DPOP_MAX_AGE_SECONDS": 60, "AUTH0_DPOP_LEEWAY_SECONDS": 0}, -61, 401, id="older-than-60"),
        pytest.param({"AUTH0_DPOP_MAX_AGE_SECONDS": 60, "AUTH0_DPOP_LEEWAY_SECONDS": 0}, 0, 200, id="leeway-0-now"),
        pytest.param({"AUTH0_DPOP_MAX_AGE_SECONDS": 60, "AUTH0_DPOP_LEEWAY_SECONDS": 0}, 1, 401, id="leeway-0-future"),
    ],
)
def test_proof_iat_window_edges(settings, fake_time, send, key, bound_token, window, offset, status):
    for name, value in window.items():
        setattr(settings, name, value)
    fake_time.now = float(int(fake_time.now))
    proof = key.proof("GET", URL, token=bound_token, iat=int(fake_time.now) + offset)
    response = send(bound_token, proof)
    assert response.status_code == status
    if status == 401:
        assert_refused(response, 401, *PROOF_REFUSED, bound_token, proof)


def test_proof_iat_window_follows_the_clock(fake_time, send, key, bound_token):
    """A proof made now is refused once the clock has moved past its window: the iat check reads the clock."""
    proof = key.proof("GET", URL, token=bound_token, iat=int(fake_time.now))
    fake_time.advance(301)
    assert send(bound_token, proof).json()["code"] == "invalid_dpop_proof"


# -- modes ---------------------------------------------------------------------------------------------

NO_CREDENTIALS = "authorization_header_missing"
DPOP_INVALID_REQUEST = 'DPoP error="invalid_request", algs="ES256"'
BEARER_INVALID_REQUEST = 'Bearer realm="api", error="invalid_request"'


# (mode, what is sent): (status, code, challenge); "bound" is a DPoP-bound token, sent with a valid proof as DPoP.
MODES = {
    ("allowed", "nothing"): (401, NO_CREDENTIALS, 'Bearer realm="api", DPoP algs="ES256"'),
    ("allowed", "bearer-unbound"): (200, None, None),
    ("allowed", "bearer-bound"): (401, *BOUND_AS_BEARER_REFUSED),
    ("allowed", "dpop-bound"): (200, None, None),
    ("allowed", "dpop-unbound"): (401, *TOKEN_REFUSED),
    ("required", "nothing"): (401, NO_CREDENTIALS, 'DPoP algs="ES256"'),
    ("required", "bearer-unbound"): (401, "invalid_header", DPOP_INVALID_REQUEST),
    ("required", "bearer-bound"): (401, "invalid_header", DPOP_INVALID_REQUEST),
    ("required", "dpop-bound"): (200, None, None),
    ("required", "dpop-unbound"): (401, *TOKEN_REFUSED),
    ("disabled", "nothing"): (401, NO_CREDENTIALS, 'Bearer realm="api"'),
    ("disabled", "bearer-unbound"): (200, None, None),
    ("disabled", "bearer-bound"): (401, *BEARER_TOKEN_REFUSED),
    ("disabled", "dpop-bound"): (401, "invalid_header", BEARER_INVALID_REQUEST),
    ("disabled", "dpop-unbound"): (401, "invalid_header", BEARER_INVALID_REQUEST),
}


@pytest.fixture(scope="class", params=["allowed", "required", "disabled"])
def mode(request) -> Iterator[str]:
    """``AUTH0_DPOP``, set once per mode for the class (a change rebuilds the validator, which fetches keys again)."""
    with override_settings(AUTH0_DPOP=request.param):
        yield request.param


class TestModes:
    """Each ``AUTH0_DPOP`` mode for every kind of request."""

    @pytest.mark.parametrize("sent", ["nothing", "bearer-unbound", "bearer-bound", "dpop-bound", "dpop-unbound"])
    def test_dpop_mode_decides_which_scheme_is_accepted(self, mode, send, make_token, key, bound_token, sent):
        status, code, challenge = MODES[mode, sent]
        scheme, _, binding = sent.partition("-")
        token = {"bound": bound_token, "unbound": make_token()}.get(binding)
        proof = key.proof("GET", URL, token=token) if scheme == "dpop" else None
        response = send(token, proof, scheme={"dpop": "DPoP", "bearer": "Bearer"}.get(scheme, ""))
        assert response.status_code == status
        if status == 200:
            assert response.json() == {"message": SCOPED_MESSAGE}
        else:
            assert_refused(response, status, code, challenge, *[s for s in (token, proof) if s])


def test_bound_token_as_bearer_with_a_valid_proof_is_still_refused(send, key, bound_token):
    response = send(bound_token, key.proof("GET", URL, token=bound_token), scheme="Bearer")
    assert_refused(response, 401, *BOUND_AS_BEARER_REFUSED, bound_token)


def test_bound_token_as_bearer_challenge_offers_the_listed_dpop_algorithms(settings, send, bound_token):
    settings.AUTH0_DPOP_ALGORITHMS = ["ES256", "Ed25519"]
    response = send(bound_token, scheme="Bearer")
    challenge = 'Bearer realm="api", error="invalid_token", DPoP algs="ES256 Ed25519"'
    assert_refused(response, 401, "invalid_header", challenge, bound_token)


ERRORS_PAGE = " ".join((ROOT / "docs" / "index.md").read_text().split())


def dpop_without_scope(case: Case) -> tuple[str, str, str]:
    token = case.make_token(scope="openid", cnf={"jkt": case.key.thumbprint})
    return "DPoP", token, case.key.proof("GET", URL, token=token)


# Each refusal the documentation's error table lists, in the default mode: (scheme, token, proof) sent, and the
# challenge answered.
DOCUMENTED_CHALLENGES = [
    pytest.param(lambda c: ("", None, None), 401, "authorization_header_missing",
                 'Bearer realm="api", DPoP algs="ES256"', id="no-credentials"),
    pytest.param(lambda c: ("Basic", "dXNlcjpwYXNz", None), 401, "invalid_header",
                 'Bearer realm="api", error="invalid_request"', id="another-scheme"),
    pytest.param(lambda c: ("Bearer", "x.y.z", None), 401, *BEARER_TOKEN_REFUSED, id="malformed-token"),
    pytest.param(lambda c: ("Bearer", c.make_token(exp=1_600_000_000, iat=1_599_990_000), None), 401,
                 "token_expired", 'Bearer realm="api", error="invalid_token"', id="expired-token"),
    pytest.param(lambda c: ("Bearer", c.make_token(aud="https://other.example.com"), None), 401, "invalid_claims",
                 'Bearer realm="api", error="invalid_token"', id="other-audience"),
    pytest.param(lambda c: ("Bearer", c.bound(**{"x5t#S256": "abc"}), None), 401, *BEARER_TOKEN_REFUSED,
                 id="certificate-bound-without-certificate"),
    pytest.param(lambda c: ("Bearer", c.make_token(scope="openid"), None), 403, "insufficient_scope",
                 'Bearer realm="api", error="insufficient_scope", scope="read:messages"', id="bearer-scope"),
    pytest.param(lambda c: ("DPoP", c.token, None), 401, *PROOF_REFUSED, id="dpop-without-proof"),
    pytest.param(lambda c: ("DPoP", c.make_token(), None), 401, *TOKEN_REFUSED, id="dpop-unbound-token"),
    pytest.param(dpop_without_scope, 403, "insufficient_scope",
                 'DPoP error="insufficient_scope", scope="read:messages", algs="ES256"', id="dpop-scope"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "status", "code", "challenge"), DOCUMENTED_CHALLENGES)
def test_documented_challenges_are_unchanged(send, case, build, status, code, challenge):
    scheme, token, proof = build(case)
    assert_refused(send(token, proof, scheme=scheme), status, code, challenge)
    assert f"`{challenge}`" in ERRORS_PAGE


def test_insufficient_scope_through_dpop_gets_the_dpop_challenge(send, make_token, key):
    token = make_token(scope="openid", cnf={"jkt": key.thumbprint})
    response = send(token, key.proof("GET", URL, token=token))
    assert_refused(
        response, 403, "insufficient_scope", 'DPoP error="insufficient_scope", scope="read:messages", algs="ES256"'
    )


def test_token_failure_through_dpop_keeps_its_code_with_the_dpop_challenge(send, make_token, key):
    token = make_token(exp=1_600_000_000, iat=1_599_990_000, cnf={"jkt": key.thumbprint})
    response = send(token, key.proof("GET", URL, token=token))
    assert_refused(response, 401, "token_expired", 'DPoP error="invalid_token", algs="ES256"', token)


def test_public_endpoint_ignores_dpop_headers(send, key, bound_token):
    assert send(bound_token, "garbage", path="/api/public").status_code == 200


# -- replay ----------------------------------------------------------------------------------------------


def test_replayed_proof_is_refused(send, key, bound_token):
    proof = key.proof("GET", URL, token=bound_token)
    assert send(bound_token, proof).status_code == 200
    assert_refused(send(bound_token, proof), 401, *PROOF_REFUSED, bound_token, proof)
    assert send(bound_token, key.proof("GET", URL, token=bound_token)).status_code == 200  # a fresh one is fine


def test_same_jti_under_another_key_is_not_a_replay(send, make_token):
    first, second = ProofKey(), ProofKey()
    for client in (first, second):
        token = make_token(cnf={"jkt": client.thumbprint})
        assert send(token, client.proof("GET", URL, token=token, jti="shared-jti")).status_code == 200


def test_same_jti_from_the_same_key_is_a_replay_for_another_token(send, make_token, key):
    first, second = (make_token(cnf={"jkt": key.thumbprint}, sub=sub) for sub in ("auth0|a", "auth0|b"))
    assert send(first, key.proof("GET", URL, token=first, jti="once")).status_code == 200
    assert send(second, key.proof("GET", URL, token=second, jti="once")).json()["code"] == "invalid_dpop_proof"


def test_refused_proof_does_not_use_up_its_jti(send, key, bound_token):
    assert send(bound_token, key.proof("GET", URL, token=bound_token, jti="j1", htm="PUT")).status_code == 401
    assert send(bound_token, key.proof("GET", URL, token=bound_token, jti="j1")).status_code == 200


def test_replay_cache_is_the_configured_alias(settings, send, key, bound_token):
    locmem = "django.core.cache.backends.locmem.LocMemCache"
    settings.CACHES = {
        "default": {"BACKEND": locmem, "LOCATION": f"default-{uuid.uuid4()}"},
        "replay": {"BACKEND": locmem, "LOCATION": f"replay-{uuid.uuid4()}"},
    }
    settings.AUTH0_DPOP_REPLAY_CACHE = "replay"
    proof = key.proof("GET", URL, token=bound_token)
    assert send(bound_token, proof).status_code == 200
    caches["default"].clear()
    assert send(bound_token, proof).status_code == 401
    caches["replay"].clear()  # only forgetting the named cache lets the proof through again
    assert send(bound_token, proof).status_code == 200


@pytest.fixture
def unreachable_replay_cache(settings):
    """Django's Redis backend pointed at a loopback port nobody listens on, as the replay cache."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.AUTH0_DPOP_REPLAY_CACHE = "default"


def test_unreachable_replay_cache_fails_closed_with_503(unreachable_replay_cache, send, call, make_token, key, caplog):
    token = make_token(cnf={"jkt": key.thumbprint})
    proof = key.proof("GET", URL, token=token)
    with caplog.at_level(logging.INFO, logger="authn"):
        response = send(token, proof)
    assert_refused(response, 503, "replay_cache_unavailable", None, token, proof)
    assert int(response["Retry-After"]) >= 1
    [line] = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert line.levelno == logging.WARNING
    assert "scheme='dpop'" in line.getMessage()
    assert token not in caplog.text
    assert proof not in caplog.text
    assert "Traceback" not in caplog.text
    assert call(PATH, token=make_token()).status_code == 200  # Bearer needs no replay cache
    assert call("/api/public").status_code == 200


# -- authn's replay store: one file every worker of the host shares ----------------------------------------------

REPLAY_WINDOW = 330  # seconds a proof is remembered past its iat: the default max age (300) and leeway (30)
REPLAY_STORE_UNAVAILABLE = ("replay_cache_unavailable", None)


@pytest.fixture
def replay_file(settings, tmp_path) -> Path:
    """A replay store of this test's own."""
    settings.AUTH0_DPOP_REPLAY_FILE = str(tmp_path / "jti.sqlite3")
    return tmp_path / "jti.sqlite3"


def assert_store_unavailable(response, *secrets_sent: str) -> None:
    assert_refused(response, 503, *REPLAY_STORE_UNAVAILABLE, *secrets_sent)
    assert int(response["Retry-After"]) >= 1


def test_replay_after_320_other_proofs_is_refused_to_the_end_of_its_window(fake_time, send, key, bound_token):
    """A per-process cache culling at 300 entries accepted it again; the store keeps every entry until it expires."""
    fake_time.now = float(int(fake_time.now))
    victim = key.proof("GET", URL, token=bound_token, iat=int(fake_time.now) + 30)  # valid until iat + 300
    assert send(bound_token, victim).status_code == 200
    for _ in range(320):
        assert send(bound_token, key.proof("GET", URL, token=bound_token, iat=int(fake_time.now))).status_code == 200
    fake_time.advance(REPLAY_WINDOW - 1)  # the victim's last second of validity, the others long expired
    assert_refused(send(bound_token, victim), 401, *PROOF_REFUSED, bound_token, victim)


def test_full_replay_store_refuses_new_proofs_until_entries_expire(
    settings, replay_file, fake_time, send, call, make_token, key, bound_token, caplog
):
    settings.AUTH0_DPOP_REPLAY_MAX_ENTRIES = 3

    def fresh() -> str:
        return key.proof("GET", URL, token=bound_token, iat=int(fake_time.now))

    fake_time.now = float(int(fake_time.now))
    for _ in range(3):
        assert send(bound_token, fresh()).status_code == 200
    with caplog.at_level(logging.INFO, logger="authn"):
        refused = send(bound_token, proof := fresh())
    assert_store_unavailable(refused, bound_token, proof)
    [line] = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert line.refusal["reason"] == "full"
    assert call(PATH, token=make_token()).status_code == 200  # Bearer needs no replay store
    fake_time.advance(REPLAY_WINDOW - 1)  # nothing has expired: nothing is forgotten
    assert_store_unavailable(send(bound_token, fresh()))
    fake_time.advance(1)  # the first three have expired
    for _ in range(3):
        assert send(bound_token, fresh()).status_code == 200
    assert_store_unavailable(send(bound_token, fresh()))


def test_replay_store_sized_for_two_windows_of_steady_traffic_never_fills(
    settings, replay_file, fake_time, send, key, bound_token
):
    """A proof every 5 s, 66 a window: what has expired is dropped as it goes, so 200 proofs pass through 140."""
    settings.AUTH0_DPOP_REPLAY_MAX_ENTRIES = 140
    fake_time.now = float(int(fake_time.now))
    first = key.proof("GET", URL, token=bound_token, iat=int(fake_time.now))
    assert send(bound_token, first).status_code == 200
    for step in range(1, 201):
        fake_time.advance(5)
        assert send(bound_token, key.proof("GET", URL, token=bound_token, iat=int(fake_time.now))).status_code == 200
        if step == 60:  # 300 s on: the first proof's last second, and still remembered
            assert send(bound_token, first).json()["code"] == "invalid_dpop_proof"


def test_locked_replay_store_answers_503_and_serves_again_once_released(replay_file, send, key, bound_token, caplog):
    assert send(bound_token, key.proof("GET", URL, token=bound_token)).status_code == 200  # creates the store
    holder = sqlite3.connect(replay_file, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than a worker waits
        with caplog.at_level(logging.INFO, logger="authn"):
            response = send(bound_token, proof := key.proof("GET", URL, token=bound_token))
        assert_store_unavailable(response, bound_token, proof)
        [line] = [r for r in caplog.records if r.getMessage().startswith("refused")]
        assert line.refusal["reason"] == "sqlite3.OperationalError"
        assert "Traceback" not in caplog.text
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    assert send(bound_token, proof).status_code == 200  # refused unchecked, so not used up


@pytest.mark.parametrize("made_again_by_another_worker", [False, True])
def test_replay_store_deleted_while_serving_is_followed_to_the_new_file(
    settings, replay_file, fake_time, send, key, bound_token, made_again_by_another_worker
):
    """SQLite would go on writing to the deleted file, alone with it: every worker moves to the new one."""
    assert send(bound_token, key.proof("GET", URL, token=bound_token)).status_code == 200
    for path in replay_file.parent.glob(f"{replay_file.name}*"):  # and SQLite's journal beside it
        path.unlink()
    if made_again_by_another_worker:
        host_store(str(replay_file), 100).check()
    fake_time.advance(1)  # a worker looks at the file once a second
    proof = key.proof("GET", URL, token=bound_token, iat=int(fake_time.now))
    assert send(bound_token, proof).status_code == 200
    settings.AUTH0_DPOP_REPLAY_MAX_ENTRIES = 1000  # a store of its own, as another worker opens the file anew
    assert send(bound_token, proof).json()["code"] == "invalid_dpop_proof"


def make_directory(path: Path) -> None:
    path.mkdir()


def make_garbage(path: Path) -> None:
    path.write_bytes(secrets.token_bytes(4096))


def make_readable_by_others(path: Path) -> None:
    path.write_bytes(b"")
    path.chmod(0o644)


def make_symlink(path: Path) -> None:
    target = path.with_name("elsewhere.sqlite3")
    target.write_bytes(b"")
    target.chmod(0o600)
    path.symlink_to(target)


def make_another_applications_database(path: Path) -> None:
    """A SQLite file that is someone else's: a table of the store's name, other columns (fails for root too)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE turns (id INTEGER PRIMARY KEY)")
        db.commit()
    path.chmod(0o600)


def make_read_only(path: Path) -> None:
    path.write_bytes(b"")
    path.chmod(0o400)


@pytest.mark.parametrize(
    ("name", "prepare"),
    [
        pytest.param("missing/jti.sqlite3", lambda path: None, id="in-a-missing-directory"),
        pytest.param("jti.sqlite3", make_directory, id="a-directory"),
        pytest.param("jti.sqlite3", make_garbage, id="not-a-database"),
        pytest.param("jti.sqlite3", make_readable_by_others, id="readable-by-others"),
        pytest.param("jti.sqlite3", make_symlink, id="a-symlink"),
        pytest.param("jti.sqlite3", make_another_applications_database, id="another-applications-database"),
        pytest.param(
            "jti.sqlite3",
            make_read_only,
            id="read-only",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files"),
        ),
    ],
)
def test_unusable_replay_store_answers_503_without_a_traceback(
    settings, tmp_path, send, call, make_token, key, bound_token, caplog, name, prepare
):
    path = tmp_path / name
    prepare(path)
    settings.AUTH0_DPOP_REPLAY_FILE = str(path)
    with caplog.at_level(logging.INFO, logger="authn"):
        response = send(bound_token, proof := key.proof("GET", URL, token=bound_token))
    assert_store_unavailable(response, bound_token, proof)
    assert "Traceback" not in caplog.text
    assert call(PATH, token=make_token()).status_code == 200  # Bearer needs no replay store


def test_default_replay_store_is_private_to_the_user_in_the_temp_directory(
    settings, tmp_path, monkeypatch, send, key, bound_token
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    settings.AUTH0_DPOP_REPLAY_FILE = ""
    proof = key.proof("GET", URL, token=bound_token)
    assert send(bound_token, proof).status_code == 200
    directory = tmp_path / f"authn-dpop-replay-{os.getuid()}"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "jti.sqlite3").stat().st_mode) == 0o600
    assert send(bound_token, proof).json()["code"] == "invalid_dpop_proof"


def test_default_replay_store_directory_others_may_write_is_refused(
    settings, tmp_path, monkeypatch, send, key, bound_token
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    settings.AUTH0_DPOP_REPLAY_FILE = ""
    directory = tmp_path / f"authn-dpop-replay-{os.getuid()}"
    directory.mkdir()
    directory.chmod(0o777)  # as if someone else made it first
    assert_store_unavailable(send(bound_token, key.proof("GET", URL, token=bound_token)))
    assert not (directory / "jti.sqlite3").exists()


# -- server nonces ----------------------------------------------------------------------------------------------


@pytest.fixture
def fetch_nonce(send, key, bound_token) -> Callable[[], str]:
    """A nonce the API hands out: its answer to a proof without one."""

    def fetch() -> str:
        response = send(bound_token, key.proof("GET", URL, token=bound_token))
        assert_refused(response, 401, *NONCE_REQUIRED, bound_token)
        return response["DPoP-Nonce"]

    return fetch


def forge_stamp(nonce: str) -> str:
    stamp, _, mac = nonce.partition(".")
    return f"{int(stamp, 16) + 1:x}.{mac}"


def forge_mac(nonce: str) -> str:
    stamp, _, mac = nonce.partition(".")
    return f"{stamp}.{b64url(secrets.token_bytes(len(mac) * 3 // 4))}"


NONCE_SECONDS = 60
ORIGIN = "https://app.example.com"


@pytest.fixture(scope="class")
def nonces_on() -> Iterator[None]:
    """``AUTH0_DPOP_NONCE`` on, with a 60 s lifetime, set once for the class; the project installs the middleware."""
    with override_settings(AUTH0_DPOP_NONCE=True, AUTH0_DPOP_NONCE_SECONDS=NONCE_SECONDS):
        yield


@pytest.mark.usefixtures("nonces_on")
class TestNonces:
    """Server nonces: asked for, honoured, expiring, unforgeable."""

    def test_nonce_required_then_retry_with_it_is_accepted(self, send, key, bound_token):
        first = send(bound_token, key.proof("GET", URL, token=bound_token))
        assert_refused(first, 401, *NONCE_REQUIRED, bound_token)
        nonce = first["DPoP-Nonce"]
        retry = send(bound_token, key.proof("GET", URL, token=bound_token, nonce=nonce))
        assert retry.status_code == 200
        assert retry["DPoP-Nonce"]

    def test_nonce_mode_leaves_bearer_clients_alone(self, call, make_token):
        response = call(PATH, token=make_token())
        assert response.status_code == 200
        assert "DPoP-Nonce" not in response

    def test_nonce_mode_refusal_of_a_bad_proof_carries_a_nonce_too(self, send, key, bound_token):
        response = send(bound_token, key.proof("GET", URL, token=bound_token, htm="POST"))
        assert_refused(response, 401, *PROOF_REFUSED, bound_token)
        assert response["DPoP-Nonce"]

    @pytest.mark.parametrize(("elapsed", "status"), [(NONCE_SECONDS - 5, 200), (NONCE_SECONDS + 5, 401)])
    def test_nonce_expires_after_its_lifetime(
        self, settings, fake_time, fetch_nonce, send, key, bound_token, elapsed, status
    ):
        nonce = fetch_nonce()
        fake_time.advance(elapsed)
        response = send(bound_token, key.proof("GET", URL, token=bound_token, nonce=nonce, iat=int(fake_time.now)))
        assert response.status_code == status
        if status == 401:
            assert_refused(response, 401, *NONCE_REQUIRED, bound_token)

    @pytest.mark.parametrize(
        "forge",
        [
            pytest.param(forge_stamp, id="stamp-moved"),
            pytest.param(forge_mac, id="random-mac"),
            pytest.param(lambda nonce: nonce.partition(".")[0], id="stamp-only"),
            pytest.param(lambda nonce: nonce.partition(".")[0] + ".", id="empty-mac"),
            pytest.param(lambda nonce: "." + nonce.partition(".")[2], id="mac-only"),
            pytest.param(lambda nonce: nonce.upper(), id="uppercase"),
            pytest.param(lambda nonce: "ffffffffffff." + nonce.partition(".")[2], id="far-future"),
            pytest.param(lambda nonce: "garbage", id="garbage"),
            pytest.param(lambda nonce: nonce.partition(".")[0] + ".\u00e9" * 24, id="non-ascii-mac"),
        ],
    )
    def test_forged_nonce_is_refused(self, fetch_nonce, send, key, bound_token, forge):
        forged = forge(fetch_nonce())
        response = send(bound_token, key.proof("GET", URL, token=bound_token, nonce=forged))
        assert_refused(response, 401, *NONCE_REQUIRED, bound_token)

    def test_nonce_issued_under_another_secret_key_is_refused(self, settings, fetch_nonce, send, key, bound_token):
        ours = settings.SECRET_KEY
        settings.SECRET_KEY = secrets.token_urlsafe(50)
        foreign = fetch_nonce()
        settings.SECRET_KEY = ours
        response = send(bound_token, key.proof("GET", URL, token=bound_token, nonce=foreign))
        assert_refused(response, 401, *NONCE_REQUIRED, bound_token)

    def test_nonce_issued_under_a_fallback_secret_key_is_accepted(self, settings, fetch_nonce, send, key, bound_token):
        old = settings.SECRET_KEY
        nonce = fetch_nonce()
        settings.SECRET_KEY = secrets.token_urlsafe(50)
        settings.SECRET_KEY_FALLBACKS = [old]
        assert send(bound_token, key.proof("GET", URL, token=bound_token, nonce=nonce)).status_code == 200

    def test_cors_exposes_the_dpop_nonce(self, settings, send, key, bound_token):
        settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
        response = send(bound_token, key.proof("GET", URL, token=bound_token), HTTP_ORIGIN=ORIGIN)
        assert response["Access-Control-Allow-Origin"] == ORIGIN
        assert response["DPoP-Nonce"]
        exposed = {name.strip() for name in response["Access-Control-Expose-Headers"].lower().split(",")}
        assert {"dpop-nonce", "www-authenticate"} <= exposed


# -- certificate-bound tokens (RFC 8705 §3): tests/test_mtls.py; here, a token bound both ways ------------------


def test_token_bound_by_both_methods_needs_both(settings, send, make_token, key):
    settings.AUTH0_MTLS_CLIENT_CERT_HEADER = "X-Client-Cert"
    client = self_signed_certificate("client")
    token = make_token(cnf={"jkt": key.thumbprint, "x5t#S256": certificate_thumbprint(client)})
    certificate = {"HTTP_X_CLIENT_CERT": escaped_pem(client)}
    assert send(token, key.proof("GET", URL, token=token), **certificate).status_code == 200
    assert send(token, key.proof("GET", URL, token=token)).status_code == 401
    assert send(token, None, **certificate).status_code == 401


# -- behind a proxy: the URL Django builds -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trust_proxy", "htu", "status"),
    [
        pytest.param(True, f"https://api.example.com{PATH}", 200, id="trusted-proxy-public-url"),
        pytest.param(True, URL, 401, id="trusted-proxy-internal-url"),
        pytest.param(False, f"https://api.example.com{PATH}", 401, id="untrusted-forwarded-headers"),
        pytest.param(False, URL, 200, id="untrusted-internal-url"),
    ],
)
def test_htu_is_the_url_django_builds_behind_a_proxy(settings, send, key, bound_token, trust_proxy, htu, status):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "api.example.com"]
    if trust_proxy:
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        settings.USE_X_FORWARDED_HOST = True
    forwarded = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "api.example.com"}
    assert send(bound_token, key.proof("GET", htu, token=bound_token), **forwarded).status_code == status


# -- CORS -----------------------------------------------------------------------------------------------------------


def test_cors_preflight_allows_the_dpop_header(settings, api):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    response = api.options(
        PATH,
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,dpop",
    )
    assert response.status_code == 200
    allowed = {name.strip() for name in response["Access-Control-Allow-Headers"].lower().split(",")}
    assert {"authorization", "dpop"} <= allowed


@pytest.mark.parametrize(
    "cnf",
    [
        pytest.param({"jwk": {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}}, id="jwk"),
        pytest.param({"kid": "some-key"}, id="kid"),
        pytest.param({}, id="empty"),
        pytest.param("jkt", id="not-an-object"),
    ],
)
def test_bearer_token_with_a_cnf_this_server_cannot_verify_is_refused(api, make_token, cnf):
    response = api.get(PATH, HTTP_AUTHORIZATION=f"Bearer {make_token(cnf=cnf)}")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_header"


# -- the refusal log ----------------------------------------------------------------------------------------------


def test_dpop_refusal_log_names_the_scheme_and_never_the_token_or_proof(send, key, bound_token, caplog):
    proof = key.proof("GET", URL, token=bound_token, htm="POST")
    with caplog.at_level(logging.INFO, logger="authn"):
        send(bound_token, proof)
        send(bound_token, proof, scheme="Bearer")
    dpop_line, bearer_line = (r for r in caplog.records if r.getMessage().startswith("refused"))
    assert "code=invalid_dpop_proof" in dpop_line.getMessage()
    assert "scheme='dpop'" in dpop_line.getMessage()
    assert dpop_line.refusal["scheme"] == "dpop"
    assert "scheme='bearer'" in bearer_line.getMessage()
    for secret in (bound_token, proof, *proof.split("."), bound_token.split(".")[2]):
        assert secret not in caplog.text


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda c: ("Bearer", c.token, None), id="bound-token-as-bearer"),
        pytest.param(lambda c: ("DPoP", c.token, c.proof(htm="POST")), id="proof-for-another-method"),
        pytest.param(lambda c: ("DPoP", c.token, None), id="no-proof"),
        pytest.param(lambda c: ("DPoP", c.make_token(), c.key.proof("GET", URL)), id="unbound-token-as-dpop"),
        pytest.param(lambda c: ("Bearer", c.bound(**{"x5t#S256": "abc"}), None), id="certificate-bound-without-it"),
    ],
)
def test_binding_refusal_log_names_the_tokens_kid_iss_and_sub(send, case, caplog, build):
    """A token refused for what the request fails to prove was parsed, its signature checked: its line names its
    kid, iss and sub like any other refusal of a parseable token."""
    scheme, token, proof = build(case)
    with caplog.at_level(logging.INFO, logger="authn"):
        assert send(token, proof, scheme=scheme).status_code == 401
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert "kid='key-1'" in line  # unverified_ or not: either says what the token names
    assert f"iss='{ISSUER}'" in line
    assert "sub='auth0|user-1'" in line


@pytest.mark.parametrize(
    ("mode", "authorization", "logged"),
    [
        pytest.param("required", "Bearer {token}", "bearer", id="bearer-in-required-mode"),
        pytest.param("disabled", "DPoP {token}", "dpop", id="dpop-in-disabled-mode"),
        pytest.param("allowed", "Basic dXNlcjpwYXNz", "basic", id="another-scheme"),
    ],
)
def test_refusal_log_names_the_scheme_the_request_used_not_the_challenge(
    settings, api, make_token, caplog, mode, authorization, logged
):
    settings.AUTH0_DPOP = mode
    with caplog.at_level(logging.INFO, logger="authn"):
        response = api.get(PATH, HTTP_AUTHORIZATION=authorization.format(token=make_token()))
    assert response.status_code == 401
    [line] = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert line.refusal["scheme"] == logged


# -- trying it locally: mint_token --dpop-key and dpop_proof ------------------------------------------------------


def last_line(command: str, *args: str) -> str:
    stdout = io.StringIO()
    call_command(command, *args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue().splitlines()[-1]


def test_mint_token_and_dpop_proof_commands_make_a_pair_the_api_accepts(dev_issuer, api, send, tmp_path):
    key_file = tmp_path / "client" / "dpop.pem"
    token = last_line("mint_token", "--dpop-key", str(key_file), "--scope", "read:messages")
    proof = last_line("dpop_proof", "--url", URL, "--token", token, "--key", str(key_file))
    # Checked independently: the token names the thumbprint of the key in the file, and the proof carries it.
    private_key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    expected = thumbprint(client_jwk(private_key))
    assert jwt.decode(token, options={"verify_signature": False})["cnf"] == {"jkt": expected}
    assert thumbprint(jwt.get_unverified_header(proof)["jwk"]) == expected
    assert send(token, proof).status_code == 200
    assert send(token, proof).json()["code"] == "invalid_dpop_proof"  # a proof is good once
    again = last_line("dpop_proof", "--url", URL, "--token", token, "--key", str(key_file))
    assert send(token, again).status_code == 200
    head = last_line("dpop_proof", "--url", URL, "--method", "head", "--token", token, "--key", str(key_file))
    assert api.head(PATH, HTTP_AUTHORIZATION=f"DPoP {token}", HTTP_DPOP=head).status_code == 200


def test_dpop_proof_command_answers_a_nonce(dev_issuer, settings, send, tmp_path):
    settings.AUTH0_DPOP_NONCE = True
    key_file = tmp_path / "dpop.pem"
    token = last_line("mint_token", "--dpop-key", str(key_file), "--scope", "read:messages")
    first = send(token, last_line("dpop_proof", "--url", URL, "--token", token, "--key", str(key_file)))
    assert first.json()["code"] == "use_dpop_nonce"
    args = ("--url", URL, "--token", token, "--key", str(key_file), "--nonce", first["DPoP-Nonce"])
    assert send(token, last_line("dpop_proof", *args)).status_code == 200


# -- system checks ------------------------------------------------------------------------------------------------


def check_ids(kind: type = Error, deploy: bool = False) -> set[str]:
    return {m.id for m in run_checks(include_deployment_checks=deploy) if type(m) is kind}


@pytest.mark.parametrize(
    ("setting", "value", "error"),
    [
        pytest.param("AUTH0_DPOP", "sometimes", "authn.E013", id="mode-unknown"),
        pytest.param("AUTH0_DPOP", "Allowed", "authn.E013", id="mode-case"),
        pytest.param("AUTH0_DPOP_ALGORITHMS", ["HS256"], "authn.E014", id="algs-hmac"),
        pytest.param("AUTH0_DPOP_ALGORITHMS", ["none"], "authn.E014", id="algs-none"),
        pytest.param("AUTH0_DPOP_ALGORITHMS", [], "authn.E014", id="algs-empty"),
        pytest.param("AUTH0_DPOP_ALGORITHMS", ["ES256", "HS256"], "authn.E014", id="algs-with-hmac"),
        pytest.param("AUTH0_DPOP_ALGORITHMS", "ES256", "authn.E014", id="algs-a-string"),
        pytest.param("AUTH0_DPOP_REPLAY_CACHE", "nowhere", "authn.E015", id="replay-cache-unknown-alias"),
        pytest.param("AUTH0_DPOP_NONCE", "yes", "authn.E008", id="nonce-not-boolean"),
    ],
)
def test_check_dpop_misconfiguration_is_error(settings, setting, value, error):
    setattr(settings, setting, value)
    assert error in check_ids()


def test_check_dummy_replay_cache_is_error(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    settings.AUTH0_DPOP_REPLAY_CACHE = "default"
    assert "authn.E015" in check_ids()
    settings.AUTH0_DPOP = "disabled"
    assert "authn.E015" not in check_ids()


def test_check_deploy_warns_that_the_host_replay_store_is_not_shared_across_hosts(settings):
    [warning] = [m for m in run_checks(include_deployment_checks=True) if m.id == "authn.W001"]
    assert "other hosts" in warning.msg
    assert "AUTH0_DPOP_REPLAY_CACHE" in warning.hint
    assert "authn.W001" not in check_ids(Warning)  # only with --deploy
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}}
    settings.AUTH0_DPOP_REPLAY_CACHE = "default"
    assert "authn.W001" not in check_ids(Warning, deploy=True)
    settings.AUTH0_DPOP_REPLAY_CACHE = ""
    settings.AUTH0_DPOP = "disabled"
    assert "authn.W001" not in check_ids(Warning, deploy=True)


@pytest.mark.parametrize(
    ("backend", "location"),
    [
        pytest.param("django.core.cache.backends.locmem.LocMemCache", "replay", id="LocMemCache"),
        pytest.param("django.core.cache.backends.filebased.FileBasedCache", "{tmp_path}/cache", id="FileBasedCache"),
        pytest.param("django.core.cache.backends.db.DatabaseCache", "replay_cache", id="DatabaseCache"),
    ],
)
def test_check_replay_cache_that_culls_entries_is_error(settings, tmp_path, backend, location):
    settings.CACHES = {
        **settings.CACHES,
        "replay": {"BACKEND": backend, "LOCATION": location.format(tmp_path=tmp_path)},
    }
    settings.AUTH0_DPOP_REPLAY_CACHE = "replay"
    [error] = [m for m in run_checks() if m.id == "authn.E027"]
    assert f"'replay' is a {backend.rpartition('.')[2]}" in error.msg
    assert "before they expire" in error.msg
    assert "AUTH0_DPOP_REPLAY_CACHE" in error.hint
    settings.AUTH0_DPOP = "disabled"
    assert "authn.E027" not in check_ids()


@pytest.mark.parametrize(
    ("value", "prepare"),
    [
        pytest.param("{tmp_path}/missing/jti.sqlite3", lambda tmp_path: None, id="in-a-missing-directory"),
        pytest.param("{tmp_path}", lambda tmp_path: None, id="a-directory"),
        pytest.param("{tmp_path}/jti.sqlite3", lambda tmp_path: make_readable_by_others(tmp_path / "jti.sqlite3"),
                     id="readable-by-others"),
        pytest.param(42, lambda tmp_path: None, id="not-a-path"),
    ],
)  # fmt: skip
def test_check_replay_store_that_cannot_be_used_is_error(settings, tmp_path, value, prepare):
    prepare(tmp_path)
    settings.AUTH0_DPOP_REPLAY_FILE = value.format(tmp_path=tmp_path) if isinstance(value, str) else value
    [error] = [m for m in run_checks() if m.id == "authn.E028"]
    assert "AUTH0_DPOP_REPLAY_FILE" in error.msg + error.hint
    settings.AUTH0_DPOP_REPLAY_CACHE = "default"  # not used then
    assert "authn.E028" not in check_ids()


def test_check_replay_store_in_a_usable_file_passes(settings, tmp_path):
    settings.AUTH0_DPOP_REPLAY_FILE = str(tmp_path / "jti.sqlite3")
    assert not {"authn.E027", "authn.E028"} & check_ids()
    assert stat.S_IMODE((tmp_path / "jti.sqlite3").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("setting", "value"), [("AUTH0_DPOP_REPLAY_MAX_ENTRIES", 0), ("AUTH0_DPOP_REPLAY_MAX_ENTRIES", "9")]
)
def test_check_replay_store_size_that_is_not_positive_is_error(settings, setting, value):
    setattr(settings, setting, value)
    assert "authn.E008" in check_ids()


def test_check_nonce_without_its_middleware_is_error(settings):
    settings.AUTH0_DPOP_NONCE = True
    assert "authn.E016" not in check_ids()
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "authn.middleware.DPoPNonceMiddleware"]
    assert "authn.E016" in check_ids()


@pytest.mark.parametrize("algorithms", [["Ed25519"], ["EdDSA"], ["ES256", "Ed25519", "EdDSA", "RS256"]])
def test_check_edwards_curve_dpop_algorithms_pass(settings, algorithms):
    settings.AUTH0_DPOP_ALGORITHMS = algorithms
    assert "authn.E014" not in check_ids()


def test_check_default_dpop_settings_pass(settings):
    dpop_checks = {"authn.E013", "authn.E014", "authn.E015", "authn.E016", "authn.E027", "authn.E028"}
    assert not dpop_checks & check_ids(deploy=True)
