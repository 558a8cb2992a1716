"""The ``Authorization`` header, read as RFC 7235 §2.1 has it: a scheme, one or more spaces, a token68.

The only parser of it in authn: the pipeline takes the token from it, the
DRF class asks which scheme it names, the logs and the nonce middleware too.
"""

from __future__ import annotations

import re

from authn.errors import MalformedAuthorization, MalformedToken

SCHEME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
TOKEN68_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
SCHEME_ROOM = 64  # what a header may hold besides its token: the scheme and the spaces after it


def scheme_of(header: str) -> str | None:
    """The scheme a header names, lowercased; ``None`` if it does not start with one."""
    found = SCHEME.match(header)
    return found.group().lower() if found else None


def token_of(header: str, scheme: str, *, max_length: int) -> str:
    """The token68 of ``<scheme> 1*SP <token68>``; ``MalformedToken`` past ``max_length``, checked first."""
    if len(header) > max_length + SCHEME_ROOM:
        raise MalformedToken  # refused before any parsing: no work proportional to an attacker's input
    written_scheme, space, rest = header.partition(" ")
    token = rest.lstrip(" ")
    if written_scheme.lower() != scheme or not space or not is_token68(token):
        raise MalformedAuthorization
    return token


def is_token68(value: str) -> bool:
    """1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", checked at C speed."""
    body = value.rstrip("=")
    return bool(body) and body.isascii() and not body.encode("ascii").translate(None, TOKEN68_ALPHABET)
