"""Sender-constrained tokens: a token's ``cnf`` claim checked against what the request carries.

- ``jkt`` (RFC 9449): only with the DPoP scheme and a valid, fresh,
  never-replayed proof signed by that key (and carrying a nonce of ours when
  ``AUTH0_DPOP_NONCE`` is on).
- ``x5t#S256`` (RFC 8705): only with that client certificate.
- Any other confirmation method: refused, since nothing here verifies it.

A token without ``cnf`` is a plain bearer token, refused with the DPoP scheme.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.request import Request

from authn import jose, nonces, replay, trust
from authn.errors import InvalidProof, MalformedToken, NonceRequired
from authn.mtls import check_certificate
from authn.tokens import AccessToken

DPOP_KEY, CERTIFICATE = "jkt", "x5t#S256"


class BoundTokenAsBearer(MalformedToken):
    """A DPoP-bound token sent with the Bearer scheme where DPoP is accepted: its challenge offers DPoP too."""

    description = "Token is bound to a DPoP key: send it with the DPoP scheme and a proof."


def check(request: Request, access_token: AccessToken, scheme: str, token: str) -> None:
    """Raises an ``AuthnError`` unless the request satisfies every confirmation method of the token."""
    cnf = access_token.claims.get("cnf")
    if cnf is not None and (not isinstance(cnf, Mapping) or not cnf):
        raise MalformedToken("Token has an unusable cnf claim.")
    methods: Mapping[str, Any] = cnf or {}
    if scheme == "dpop" and DPOP_KEY not in methods:
        raise MalformedToken("Token is not bound to a DPoP key: send it with the Bearer scheme.")
    if scheme != "dpop" and DPOP_KEY in methods:
        if trust.request_policy().dpop_mode == "disabled":
            raise MalformedToken("Token is bound to a DPoP key, and this server does not take DPoP proofs.")
        raise BoundTokenAsBearer
    for method, value in methods.items():
        if method == DPOP_KEY:
            check_proof(request, value, token)
        elif method == CERTIFICATE:
            check_certificate(request, value)
        else:
            raise MalformedToken("Token is bound by a confirmation method this server does not verify.")


def check_proof(request: Request, jkt: Any, token: str) -> None:
    """The request's one DPoP proof must be valid, for this token, signed by ``jkt``'s key, and new."""
    http = request._request  # the HttpRequest: DRF's Request proxies each attribute with a try/except
    proof_header = http.META.get("HTTP_DPOP")
    if not proof_header or "," in proof_header:  # a server joins repeated headers with commas
        raise InvalidProof("Exactly one DPoP proof header is required.")
    policy = trust.request_policy()
    proof = policy.proof_validator.validate(
        proof_header, method=http.method or "", url=http.build_absolute_uri(http.path), access_token=token
    )
    if not isinstance(jkt, str) or not jose.same_text(jkt, proof.jkt):
        raise InvalidProof("DPoP proof is not signed by the key the token is bound to.")
    now = trust.wall_clock()
    if policy.dpop_nonce and (proof.nonce is None or not nonces.is_valid(proof.nonce, policy.dpop_nonce_seconds, now)):
        raise NonceRequired
    replay.remember(proof, policy.replay_store, expires_at=proof.iat + policy.replay_seconds, now=now)
