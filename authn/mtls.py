"""Certificate-bound access tokens (RFC 8705 §3): the client certificate the TLS proxy passes on.

The proxy that terminates TLS puts the client certificate, URL-encoded PEM
(nginx's ``$ssl_client_escaped_cert``), in the request header named by
``AUTH0_MTLS_CLIENT_CERT_HEADER``, overwriting any copy the client sent.
"""

from __future__ import annotations

import functools
import hashlib
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.http import HttpRequest

from authn import jose
from authn.conf import auth0_settings
from authn.errors import MalformedToken

MAX_CERTIFICATE_HEADER = 16 * 1024


def check_certificate(request: HttpRequest, expected: object) -> None:
    """The request's client certificate must be the one whose ``x5t#S256`` the token names."""
    header = auth0_settings.mtls_client_cert_header
    if not header:
        raise MalformedToken("Token is bound to a client certificate, which this server does not check.")
    value = request.META.get("HTTP_" + header.upper().replace("-", "_"))
    if not value:
        raise MalformedToken("Token is bound to a client certificate, and none was presented.")
    if not isinstance(expected, str) or not jose.same_text(expected, certificate_thumbprint(value)):
        raise MalformedToken("Token is bound to another client certificate.")


@functools.lru_cache(maxsize=64)  # a client presents one certificate on every request; failures are not kept
def certificate_thumbprint(header_value: str) -> str:
    """base64url(SHA-256(DER)) of the URL-encoded PEM certificate in ``header_value``."""
    if len(header_value) > MAX_CERTIFICATE_HEADER:
        raise MalformedToken("Client certificate is too large.")
    try:
        certificate = x509.load_pem_x509_certificate(unquote(header_value).encode("ascii"))
    except (ValueError, UnicodeEncodeError) as err:
        raise MalformedToken("Client certificate is not a PEM certificate.") from err
    return jose.b64url_encode(hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest())
