"""Certificate-bound access tokens (RFC 8705 §3): the client certificate the TLS proxy passes on.

The proxy that terminates TLS verifies the client certificate and passes it on in the request header
the settings name, overwriting any copy the client sent. Only that proxy can vouch for the
header, so it is read only from the trusted proxies the settings list: from any
other (a client reaching the server past the proxy) it is ignored, as if no certificate had been
presented. It must hold exactly one certificate, written as the format setting says:

- ``pem``: URL-encoded PEM (nginx's ``$ssl_client_escaped_cert``, AWS ALB's headers);
- ``der``: base64 DER, URL-encoded or not (HAProxy's ``ssl_c_der,base64``, Traefik);
- ``xfcc``: Envoy's ``X-Forwarded-Client-Cert``: one element, its ``Cert`` field (URL-encoded PEM).

Servers join a repeated header with commas: two copies, a bundle, a chain or anything around the
certificate is refused, never read for the first certificate in it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import ipaddress
import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from cryptography import x509
from django.http import HttpRequest

from authn import jose
from authn.defaults import CertificateFormat
from authn.errors import BindingMismatch

MAX_CERTIFICATE_HEADER = 16 * 1024
ANY_PEER = "*"
NOT_PRESENTED = "Token is bound to a client certificate, and none was presented."
UNTRUSTED_PEER = "client certificate header from an untrusted peer"

_PEM = re.compile(r"\s*-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----\s*")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
# Envoy's grammar: elements separated by ",", each of key=value pairs separated by ";"; a value holding
# one of ",;=" is double-quoted, with backslash escapes. One pair, then the separator after it (or the end).
_XFCC_PAIR = re.compile(r'[ \t]*([A-Za-z]+)=("(?:[^"\\]|\\.)*"|[^",;]*)[ \t]*([;,]|\Z)')
_QUOTED_PAIR = re.compile(r"\\(.)")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientCertificates:
    """The client certificate a trusted TLS proxy passes on: where it is, how it is written, who may send it."""

    def __init__(self, *, header: str, form: CertificateFormat, trusted_proxies: tuple[str, ...]) -> None:
        self._meta_key = "HTTP_" + header.upper().replace("-", "_") if header else ""
        self._form = form
        self._networks = trusted_networks(trusted_proxies)

    def check(self, request: HttpRequest, expected: object) -> None:
        """The request's client certificate must be the one whose ``x5t#S256`` the token names."""
        if not self._meta_key:
            raise BindingMismatch("Token is bound to a client certificate, which this server does not check.")
        value = request.META.get(self._meta_key)
        if not value:
            raise BindingMismatch(NOT_PRESENTED)
        peer = request.META.get("REMOTE_ADDR") or ""
        if not self.is_trusted_proxy(peer):
            error = BindingMismatch(NOT_PRESENTED)
            error.log_fields = lambda: {"reason": UNTRUSTED_PEER, "peer": peer}
            raise error
        thumbprint = certificate_thumbprint(value, self._form)
        if not isinstance(expected, str) or not jose.same_text(expected, thumbprint):
            raise BindingMismatch("Token is bound to another client certificate.")

    def is_trusted_proxy(self, address: str) -> bool:
        """Whether ``address`` (the peer's ``REMOTE_ADDR``) is one of the trusted proxies."""
        if self._networks is None:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False  # not an address: a Unix socket's peer has none
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # an IPv4 peer of a dual-stack socket
        return any(ip in network for network in self._networks)


@functools.lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...] | None:
    """The networks ``entries`` name; ``None`` when they name any peer (``*``). An entry that is neither an
    address nor a network is left out (check ``authn.E031`` reports it): fewer peers trusted, never more."""
    if ANY_PEER in entries:
        return None
    return tuple(network for entry in entries if (network := ip_network(entry)) is not None)


def ip_network(entry: str) -> Network | None:
    """The network an address (``10.0.0.7``) or a CIDR network (``10.0.0.0/8``) is; ``None`` if neither."""
    try:
        return ipaddress.ip_network(entry)
    except ValueError:
        return None


@functools.lru_cache(maxsize=64)  # a client presents one certificate on every request; failures are not kept
def certificate_thumbprint(header_value: str, form: str) -> str:
    """base64url(SHA-256(DER)) of the one certificate ``header_value`` holds, written in ``form``."""
    decode = DECODERS.get(form)
    if decode is None:  # check authn.E032 reports it
        raise BindingMismatch("Client certificate header is not in a format this server reads.")
    if len(header_value) > MAX_CERTIFICATE_HEADER:
        raise BindingMismatch("Client certificate is too large.")
    der = decode(header_value)
    try:
        x509.load_der_x509_certificate(der)  # all of it: nothing may follow the certificate
    except ValueError as err:
        raise BindingMismatch("Client certificate is not an X.509 certificate.") from err
    return jose.b64url_encode(hashlib.sha256(der).digest())


def _from_pem(value: str) -> bytes:
    """One URL-encoded PEM certificate, and nothing before or after it."""
    found = _PEM.fullmatch(_unescaped(value))
    if found is None:
        raise BindingMismatch("Client certificate header must hold exactly one PEM certificate.")
    return _base64("".join(found.group(1).split()))


def _from_der(value: str) -> bytes:
    """One base64 DER certificate, on one line; URL-encoded too (as Traefik did before 2.9.4)."""
    text = _unescaped(value)
    if not _BASE64.fullmatch(text):
        raise BindingMismatch("Client certificate header must hold exactly one base64 DER certificate.")
    return _base64(text)


def _from_xfcc(value: str) -> bytes:
    """The ``Cert`` of the one element of an Envoy ``X-Forwarded-Client-Cert`` (``forward_client_cert_details:
    SANITIZE_SET``); a second element, appended by another proxy, is refused."""
    certificates, position = [], 0
    while position < len(value):
        pair = _XFCC_PAIR.match(value, position)
        if pair is None or pair.group(3) == ",":
            raise BindingMismatch("Client certificate header must hold exactly one XFCC element.")
        if pair.group(1).lower() == "cert":
            certificates.append(pair.group(2))
        position = pair.end()
    if len(certificates) != 1:
        raise BindingMismatch("Client certificate header must hold exactly one Cert field.")
    [cert] = certificates
    return _from_pem(_QUOTED_PAIR.sub(r"\1", cert[1:-1]) if cert.startswith('"') else cert)


def _unescaped(value: str) -> str:
    """``value`` with its %XX escapes decoded, which must leave ASCII."""
    try:
        return unquote_to_bytes(value).decode("ascii")
    except UnicodeDecodeError as err:
        raise BindingMismatch("Client certificate is not ASCII.") from err


def _base64(text: str) -> bytes:
    """Base64 with its padding exactly (``b64decode`` lets more through)."""
    try:
        if len(text) % 4:
            raise binascii.Error("not padded to a multiple of 4")
        return base64.b64decode(text, validate=True)
    except binascii.Error as err:
        raise BindingMismatch("Client certificate is not valid base64.") from err


DECODERS: dict[str, Callable[[str], bytes]] = {
    CertificateFormat.PEM: _from_pem,
    CertificateFormat.DER: _from_der,
    CertificateFormat.XFCC: _from_xfcc,
}
