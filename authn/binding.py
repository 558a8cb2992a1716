"""Sender-constrained tokens: a token's ``cnf`` claim checked against what the request carries.

- ``jkt`` (RFC 9449): only with the DPoP scheme and a valid, fresh,
  never-replayed proof signed by that key (and carrying a nonce of ours when
  nonces are on).
- ``x5t#S256`` (RFC 8705): only with that client certificate.
- Any other confirmation method: refused, since nothing here verifies it.

A token without ``cnf`` is a plain bearer token, refused with the DPoP scheme.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from authn import jose, nonces, replay
from authn.challenges import DPOP
from authn.clock import Clock
from authn.defaults import DPoPMode
from authn.dpop import ProofValidator
from authn.errors import BindingMismatch, BoundTokenAsBearer, InvalidProof, NonceRequired
from authn.mtls import ClientCertificates
from authn.tokens import AccessToken

DPOP_KEY, CERTIFICATE = "jkt", "x5t#S256"


class SenderConstraints:
    """Checks that a request proves it holds what its token is bound to."""

    def __init__(
        self,
        *,
        dpop: DPoPMode,
        proofs: ProofValidator,
        replay_store: replay.ReplayStore,
        replay_seconds: float,
        nonce_seconds: float | None,
        certificates: ClientCertificates,
        clock: Clock,
    ) -> None:
        self._dpop, self._proofs = dpop, proofs
        self._replay_store, self._replay_seconds = replay_store, replay_seconds
        self._nonce_seconds = nonce_seconds  # None: no nonces asked for
        self._certificates = certificates
        self._clock = clock

    def check(self, request: HttpRequest, access_token: AccessToken, scheme: str, token: str) -> None:
        """Raises an ``AuthnError`` unless the request satisfies every confirmation method of the token."""
        cnf = access_token.claims.get("cnf")
        if cnf is not None and (not isinstance(cnf, Mapping) or not cnf):
            raise BindingMismatch("Token has an unusable cnf claim.")
        methods: Mapping[str, Any] = cnf or {}
        if scheme == DPOP and DPOP_KEY not in methods:
            raise BindingMismatch("Token is not bound to a DPoP key: send it with the Bearer scheme.")
        if scheme != DPOP and DPOP_KEY in methods:
            if self._dpop is DPoPMode.DISABLED:
                raise BindingMismatch("Token is bound to a DPoP key, and this server does not take DPoP proofs.")
            raise BoundTokenAsBearer
        for method, value in methods.items():
            if method == DPOP_KEY:
                self._check_proof(request, value, token)
            elif method == CERTIFICATE:
                self._certificates.check(request, value)
            else:
                raise BindingMismatch("Token is bound by a confirmation method this server does not verify.")

    def _check_proof(self, request: HttpRequest, jkt: Any, token: str) -> None:
        """The request's one DPoP proof must be valid, for this token, signed by ``jkt``'s key, and new."""
        proof_header = request.META.get("HTTP_DPOP")
        if not proof_header or "," in proof_header:  # a server joins repeated headers with commas
            raise InvalidProof("Exactly one DPoP proof header is required.")
        proof = self._proofs.validate(
            proof_header, method=request.method or "", url=request.build_absolute_uri(request.path), access_token=token
        )
        if not isinstance(jkt, str) or not jose.same_text(jkt, proof.jkt):
            raise InvalidProof("DPoP proof is not signed by the key the token is bound to.")
        now = self._clock.wall()
        lifetime = self._nonce_seconds
        if lifetime is not None and (proof.nonce is None or not nonces.is_valid(proof.nonce, lifetime, now)):
            raise NonceRequired(nonces.issue(now))
        replay.remember(proof, self._replay_store, expires_at=proof.iat + self._replay_seconds, now=now)
