"""Tokens no key signed, written by hand."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.support.tenant import KID


def hand_made_token(claims: dict[str, Any]) -> str:
    """Header and payload as given, a signature no key made: the claims are whatever a client says."""
    header = {"alg": "RS256", "kid": KID}
    segments = [base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode() for part in (header, claims)]
    return ".".join([*segments, "c2lnbmF0dXJl"])
