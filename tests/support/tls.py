"""TLS for the tests: certificate authorities and certificates made at test time, never committed.

A thumbprint here is computed from RFC 8705 §3.1 alone (SHA-256 of the DER), without ``authn``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import ssl
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> x509.Certificate:
    """``subject``'s certificate for ``key``, signed by ``issuer_key``, valid from 5 minutes ago for a day."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _issued(
    ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name, subject: x509.Name, usage: x509.ObjectIdentifier
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """An end-entity certificate the CA issued for ``subject``, for ``usage`` (server or client authentication)."""
    key = ec.generate_private_key(ec.SECP256R1())
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.ExtendedKeyUsage([usage]), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
    ]
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        extensions.append((x509.SubjectAlternativeName(names), False))
    return _certificate(subject, key, ca_name, ca_key, extensions), key


def _write(directory: Path, name: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    (directory / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}-key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def make_certificate_authority(directory: Path) -> dict[str, Path]:
    """A CA made for this test run (``ca``; its key ``ca-key``) and a certificate it issued for 127.0.0.1
    (``cert``, ``key``): paths of the PEM files."""
    ca_key, ca_name = ec.generate_private_key(ec.SECP256R1()), _name("messages-api test CA")
    ca_certificate = _certificate(
        ca_name,
        ca_key,
        ca_name,
        ca_key,
        [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (CA_KEY_USAGE, True),
            (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
        ],
    )
    _write(directory, "ca", ca_certificate, ca_key)
    _write(directory, "server", *_issued(ca_key, ca_name, _name("127.0.0.1"), ExtendedKeyUsageOID.SERVER_AUTH))
    return {
        "ca": directory / "ca.pem",
        "ca-key": directory / "ca-key.pem",
        "cert": directory / "server.pem",
        "key": directory / "server-key.pem",
    }


def issue_client_certificate(files: dict[str, Path], common_name: str) -> tuple[x509.Certificate, tuple[str, str]]:
    """A client certificate for ``common_name`` from the CA of ``make_certificate_authority``, and the paths of
    its PEM and key files (as ``requests`` takes them: ``cert=``)."""
    ca_key = serialization.load_pem_private_key(files["ca-key"].read_bytes(), password=None)
    ca_name = x509.load_pem_x509_certificate(files["ca"].read_bytes()).subject
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    certificate, key = _issued(ca_key, ca_name, _name(common_name), ExtendedKeyUsageOID.CLIENT_AUTH)
    directory = files["ca"].parent
    _write(directory, common_name, certificate, key)
    return certificate, (str(directory / f"{common_name}.pem"), str(directory / f"{common_name}-key.pem"))


def server_tls_context(files: dict[str, Path]) -> ssl.SSLContext:
    """A server-side context presenting the certificate of ``make_certificate_authority``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files["cert"], files["key"])
    return context


# -- client certificates as a TLS proxy passes them on ---------------------------------------------------------


def self_signed_certificate(common_name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    return _certificate(_name(common_name), key, _name(common_name), key)


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def escaped_pem(certificate: x509.Certificate) -> str:
    """As nginx's ``$ssl_client_escaped_cert``: the PEM, URL-encoded."""
    return quote(pem(certificate), safe="")


def certificate_thumbprint(certificate: x509.Certificate) -> str:
    """RFC 8705 §3.1 ``x5t#S256``: base64url (unpadded) of the SHA-256 of the certificate's DER."""
    return base64.urlsafe_b64encode(hashlib.sha256(der(certificate)).digest()).decode("ascii").rstrip("=")
