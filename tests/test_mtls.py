"""Certificate-bound tokens (RFC 8705 §3): the client certificate a TLS proxy passes on, from trusted proxies only.

In-process, through the whole Django stack (the DRF test client, ``REMOTE_ADDR`` set per request): each
format a proxy writes, each malformed header, trusted and untrusted peers, the system checks. For real:
nginx terminating mutual TLS in front of gunicorn, and an attacker reaching gunicorn straight.
Certificates and thumbprints come from ``tests.support.tls`` (RFC 8705 §3.1, without ``authn``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.checks import Error, run_checks
from django.test import override_settings

from tests.support.api import SCOPED_MESSAGE
from tests.support.network import free_port
from tests.support.servers import COMMANDS, Server, assert_clean, start, stop, tenant_env
from tests.support.services import NginxServer
from tests.support.tenant import trusting
from tests.support.tls import (
    certificate_thumbprint,
    der,
    escaped_pem,
    issue_client_certificate,
    pem,
    self_signed_certificate,
)
from tests.support.waiting import wait_for

PATH = "/api/private-scoped"
CERT_HEADER = "X-Client-Cert"
REFUSED = ("invalid_header", 'Bearer realm="api", error="invalid_token"')
NONE_PRESENTED = "Token is bound to a client certificate, and none was presented."
UNTRUSTED = "client certificate header from an untrusted peer"

CLIENT = self_signed_certificate("client")  # the certificate the token is bound to
OTHER = self_signed_certificate("someone-else")


pytestmark = pytest.mark.keep_runtime


@pytest.fixture(scope="module", autouse=True)
def _trusted_tenant(tenant_server) -> Iterator[None]:
    """The module's tenant and the mTLS defaults, whatever the environment says (FORWARDED_ALLOW_IPS...).

    The validator and its key set are built once and kept from test to test (``keep_runtime``); a test
    changing an ``AUTH0_*`` setting still gets a fresh one, as authn rebuilds it on ``setting_changed``.
    """
    with override_settings(
        **trusting(tenant_server),
        AUTH0_DPOP="allowed",
        AUTH0_MTLS_CLIENT_CERT_HEADER=CERT_HEADER,
        AUTH0_MTLS_CLIENT_CERT_FORMAT="pem",
        AUTH0_MTLS_TRUSTED_PROXIES=["127.0.0.1", "::1"],
        AUTH0_REFUSAL_LOG_RATE=0,
    ):
        yield


@pytest.fixture
def token(make_token) -> str:
    return make_token(cnf={"x5t#S256": certificate_thumbprint(CLIENT)})


def assert_refused(response, *secrets_sent: str) -> None:
    assert response.status_code == 401
    assert response.json()["code"] == REFUSED[0]
    assert response["WWW-Authenticate"] == REFUSED[1]
    for secret in secrets_sent:
        assert secret not in response.content.decode()


# -- what each proxy writes ----------------------------------------------------------------------------------------


def b64_der(certificate: x509.Certificate, tail: bytes = b"") -> str:
    """As HAProxy's ``ssl_c_der,base64`` and Traefik's ``X-Forwarded-Tls-Client-Cert``: base64 DER, one line."""
    return base64.b64encode(der(certificate) + tail).decode("ascii")


def pem_block(body: str) -> str:
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def envoy_element(certificate: x509.Certificate, cert_field: str = "Cert", quoted: bool = True) -> str:
    """One element of Envoy's ``X-Forwarded-Client-Cert`` with ``set_current_client_cert_details`` on Subject,
    Cert and URI: ``By`` and ``Hash`` always, the certificate URL-encoded (unreserved characters left as they are)."""
    value = escaped_pem(certificate)
    digest = hashlib.sha256(der(certificate)).hexdigest()
    cert = f'{cert_field}="{value}"' if quoted else f"{cert_field}={value}"
    return f'By=spiffe://cluster.local/ns/api/sa/api;Hash={digest};{cert};Subject="CN=client";URI=spiffe://client'


def private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


@pytest.mark.parametrize(
    ("form", "header"),
    [
        pytest.param("pem", escaped_pem(CLIENT), id="pem-nginx-escaped-cert"),
        pytest.param("pem", quote(pem(CLIENT), safe="+/="), id="pem-aws-alb-base64-characters-left"),
        pytest.param("der", b64_der(CLIENT), id="der-haproxy-traefik"),
        pytest.param("der", quote(b64_der(CLIENT), safe=""), id="der-url-escaped-traefik-before-2.9.4"),
        pytest.param("xfcc", envoy_element(CLIENT), id="xfcc-envoy-sanitize-set"),
        pytest.param("xfcc", envoy_element(CLIENT, quoted=False), id="xfcc-cert-unquoted"),
        pytest.param("xfcc", envoy_element(CLIENT, cert_field="cert"), id="xfcc-key-case-insensitive"),
        pytest.param(
            "xfcc",
            f'Subject="CN=a\\"b,c;d=e";Cert="{escaped_pem(CLIENT)}";DNS=client.example.com',
            id="xfcc-separators-and-escaped-quote-inside-quotes",
        ),
    ],
)
def test_certificate_bound_token_with_its_certificate_in_each_format_is_accepted(settings, call, token, form, header):
    settings.AUTH0_MTLS_CLIENT_CERT_FORMAT = form
    response = call(PATH, token=token, HTTP_X_CLIENT_CERT=header)
    assert response.status_code == 200
    assert response.json() == {"message": SCOPED_MESSAGE}


@pytest.mark.parametrize(
    ("form", "header"),
    [
        pytest.param("pem", None, id="pem-no-header"),
        pytest.param("pem", "", id="pem-empty"),
        pytest.param("pem", escaped_pem(OTHER), id="pem-another-certificate"),
        pytest.param("pem", f"{escaped_pem(CLIENT)},{escaped_pem(CLIENT)}", id="pem-two-headers-joined"),
        pytest.param("pem", f"{escaped_pem(CLIENT)},{escaped_pem(OTHER)}", id="pem-two-headers-its-own-first"),
        pytest.param("pem", quote(pem(CLIENT) + pem(OTHER), safe=""), id="pem-bundle"),
        pytest.param("pem", quote(pem(CLIENT) * 2, safe=""), id="pem-bundle-of-itself-twice"),
        pytest.param("pem", quote("junk\n" + pem(CLIENT), safe=""), id="pem-junk-before"),
        pytest.param("pem", quote(pem(CLIENT) + "junk\n", safe=""), id="pem-junk-after"),
        pytest.param("pem", quote(pem(CLIENT).replace("CERTIFICATE", "X509 CRL"), safe=""), id="pem-other-label"),
        pytest.param("pem", quote(pem(CLIENT).replace("\nM", "\n!M", 1), safe=""), id="pem-not-base64"),
        pytest.param("pem", "garbage", id="pem-not-pem"),
        pytest.param("pem", quote(pem_block("AAAA")), id="pem-bad-der"),
        pytest.param("pem", quote(pem_block(b64_der(CLIENT, tail=b"\x00"))), id="pem-trailing-byte-after-the-der"),
        pytest.param("pem", quote(private_key_pem(), safe=""), id="pem-a-private-key"),
        pytest.param("pem", "%FF%FE%00", id="pem-not-ascii"),
        pytest.param("pem", "%ZZ" * 10, id="pem-bad-escapes"),
        pytest.param("pem", "A" * 20_000, id="pem-oversized"),
        pytest.param("pem", b64_der(CLIENT), id="pem-given-base64-der"),
        pytest.param("der", escaped_pem(CLIENT), id="der-given-pem"),
        pytest.param("der", f"{b64_der(CLIENT)},{b64_der(OTHER)}", id="der-traefik-chain-of-two"),
        pytest.param("der", f"{b64_der(CLIENT)},{b64_der(CLIENT)}", id="der-two-headers-joined"),
        pytest.param("der", b64_der(CLIENT, tail=b"\x00"), id="der-trailing-byte"),
        pytest.param("der", b64_der(CLIENT) + "=", id="der-bad-padding"),
        pytest.param("der", base64.encodebytes(der(CLIENT)).decode("ascii"), id="der-line-breaks"),
        pytest.param("der", "!!!!", id="der-not-base64"),
        pytest.param("der", base64.b64encode(b"\x30\x03\x02\x01\x01").decode("ascii"), id="der-not-a-certificate"),
        pytest.param("xfcc", f"{envoy_element(CLIENT)},{envoy_element(CLIENT)}", id="xfcc-two-elements"),
        pytest.param("xfcc", f"{envoy_element(CLIENT)},{envoy_element(OTHER)}", id="xfcc-two-elements-its-own-first"),
        pytest.param("xfcc", envoy_element(OTHER), id="xfcc-another-certificate"),
        pytest.param("xfcc", envoy_element(CLIENT, cert_field="Chain"), id="xfcc-chain-without-cert"),
        pytest.param("xfcc", f"{envoy_element(CLIENT)};Cert={escaped_pem(CLIENT)}", id="xfcc-two-cert-fields"),
        pytest.param("xfcc", f'Cert="{quote(pem(CLIENT) + pem(OTHER), safe="")}"', id="xfcc-cert-bundle"),
        pytest.param("xfcc", f'Cert="{escaped_pem(CLIENT)}', id="xfcc-unterminated-quote"),
        pytest.param("xfcc", f'Cert="{escaped_pem(CLIENT)}"junk', id="xfcc-junk-after-the-quotes"),
        pytest.param("xfcc", f";Cert={escaped_pem(CLIENT)}", id="xfcc-empty-pair"),
        pytest.param("xfcc", escaped_pem(CLIENT), id="xfcc-given-pem"),
        pytest.param("xfcc", "garbage", id="xfcc-not-key-value"),
    ],
)
def test_certificate_bound_token_without_exactly_its_certificate_is_refused(
    settings, call, token, caplog, form, header
):
    settings.AUTH0_MTLS_CLIENT_CERT_FORMAT = form
    extra = {} if header is None else {"HTTP_X_CLIENT_CERT": header}
    with caplog.at_level(logging.INFO, logger="authn"):
        response = call(PATH, token=token, **extra)
    assert_refused(response, token)
    assert "Traceback" not in caplog.text


# -- which peers may set the header --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "peer"),
    [
        pytest.param(["127.0.0.1", "::1"], "127.0.0.1", id="default-ipv4-loopback"),
        pytest.param(["127.0.0.1", "::1"], "::1", id="default-ipv6-loopback"),
        pytest.param("10.0.0.0/8, 192.0.2.7", "10.20.30.40", id="network-in-a-comma-separated-string"),
        pytest.param("10.0.0.0/8, 192.0.2.7", "192.0.2.7", id="address-in-a-comma-separated-string"),
        pytest.param(["10.0.0.0/8"], "::ffff:10.1.2.3", id="ipv4-mapped-ipv6-peer"),
        pytest.param(["2001:db8::/32"], "2001:db8::1", id="ipv6-network"),
        pytest.param(["*"], "203.0.113.9", id="any-peer-chosen-explicitly"),
    ],
)
def test_certificate_header_from_a_trusted_proxy_is_read(settings, call, token, proxies, peer):
    settings.AUTH0_MTLS_TRUSTED_PROXIES = proxies
    response = call(PATH, token=token, REMOTE_ADDR=peer, HTTP_X_CLIENT_CERT=escaped_pem(CLIENT))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("proxies", "peer"),
    [
        pytest.param(["127.0.0.1", "::1"], "203.0.113.9", id="default-remote-peer"),
        pytest.param(["127.0.0.1", "::1"], "127.0.0.2", id="default-other-loopback-address"),
        pytest.param(["10.0.0.0/8"], "10.0.0.0.1", id="not-an-address"),
        pytest.param(["10.0.0.0/8"], "", id="no-address-unix-socket"),
        pytest.param(["10.0.0.0/8"], "11.0.0.1", id="outside-the-network"),
        pytest.param([], "127.0.0.1", id="no-proxy-trusted"),
    ],
)
def test_certificate_header_from_an_untrusted_peer_is_ignored(settings, call, token, caplog, proxies, peer):
    settings.AUTH0_MTLS_TRUSTED_PROXIES = proxies
    with caplog.at_level(logging.INFO, logger="authn"):
        response = call(PATH, token=token, REMOTE_ADDR=peer, HTTP_X_CLIENT_CERT=escaped_pem(CLIENT))
    assert_refused(response, token)
    assert response.json()["description"] == NONE_PRESENTED
    [line] = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert line.refusal["reason"] == UNTRUSTED
    assert line.refusal["peer"] == peer
    assert escaped_pem(CLIENT)[40:80] not in caplog.text
    assert token not in caplog.text


def test_certificate_bound_token_is_refused_when_no_header_is_configured(settings, call, token):
    settings.AUTH0_MTLS_CLIENT_CERT_HEADER = ""
    assert_refused(call(PATH, token=token, HTTP_X_CLIENT_CERT=escaped_pem(CLIENT)), token)


@pytest.mark.parametrize("expected", [pytest.param("\u00e9" * 43, id="non-ascii"), pytest.param(5, id="number")])
def test_certificate_thumbprint_claim_that_is_not_base64url_is_refused(call, make_token, expected):
    token = make_token(cnf={"x5t#S256": expected})
    assert_refused(call(PATH, token=token, HTTP_X_CLIENT_CERT=escaped_pem(CLIENT)), token)


# -- system checks ---------------------------------------------------------------------------------------------------


def error_ids() -> set[str]:
    return {m.id for m in run_checks() if isinstance(m, Error)}


MTLS_CHECKS = {"authn.E019", "authn.E031", "authn.E032", "authn.E033"}


@pytest.mark.parametrize(
    ("setting", "value", "error"),
    [
        pytest.param("AUTH0_MTLS_CLIENT_CERT_HEADER", "X Client Cert", "authn.E019", id="header-name-with-spaces"),
        pytest.param("AUTH0_MTLS_CLIENT_CERT_HEADER", "X_Client_Cert", "authn.E019", id="header-name-underscores"),
        pytest.param("AUTH0_MTLS_TRUSTED_PROXIES", "10.0.0.0/33", "authn.E031", id="proxies-bad-prefix"),
        pytest.param("AUTH0_MTLS_TRUSTED_PROXIES", "10.0.0.1/8", "authn.E031", id="proxies-host-bits-set"),
        pytest.param("AUTH0_MTLS_TRUSTED_PROXIES", "proxy.internal", "authn.E031", id="proxies-a-host-name"),
        pytest.param("AUTH0_MTLS_TRUSTED_PROXIES", ["127.0.0.1", 3], "authn.E031", id="proxies-not-a-string"),
        pytest.param("AUTH0_MTLS_TRUSTED_PROXIES", 5, "authn.E031", id="proxies-a-number"),
        pytest.param("AUTH0_MTLS_CLIENT_CERT_FORMAT", "base64", "authn.E032", id="format-unknown"),
        pytest.param("AUTH0_MTLS_CLIENT_CERT_FORMAT", "PEM", "authn.E032", id="format-case"),
        pytest.param("AUTH0_MTLS_CLIENT_CERT_FORMAT", None, "authn.E032", id="format-none"),
        pytest.param("AUTH0_MTLS_TRUSTED_PROXIES", [], "authn.E033", id="header-with-no-proxy-trusted"),
    ],
)
def test_check_mtls_misconfiguration_is_error(settings, setting, value, error):
    setattr(settings, setting, value)
    assert error_ids() & MTLS_CHECKS == {error}


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="module-defaults"),
        pytest.param({"AUTH0_MTLS_TRUSTED_PROXIES": "*"}, id="any-peer"),
        pytest.param({"AUTH0_MTLS_TRUSTED_PROXIES": "10.0.0.0/8, ::1, 192.0.2.7"}, id="networks-and-addresses"),
        pytest.param({"AUTH0_MTLS_CLIENT_CERT_FORMAT": "der"}, id="der"),
        pytest.param(
            {"AUTH0_MTLS_CLIENT_CERT_FORMAT": "xfcc", "AUTH0_MTLS_CLIENT_CERT_HEADER": "X-Forwarded-Client-Cert"},
            id="xfcc",
        ),
        pytest.param({"AUTH0_MTLS_CLIENT_CERT_HEADER": "", "AUTH0_MTLS_TRUSTED_PROXIES": []}, id="mtls-off"),
    ],
)
def test_check_mtls_configuration_passes(settings, overrides):
    for name, value in overrides.items():
        setattr(settings, name, value)
    assert not error_ids() & MTLS_CHECKS


def test_check_authn_defaults_pass_the_mtls_checks(settings):
    for name in ("AUTH0_MTLS_CLIENT_CERT_HEADER", "AUTH0_MTLS_CLIENT_CERT_FORMAT", "AUTH0_MTLS_TRUSTED_PROXIES"):
        delattr(settings, name)
    assert not error_ids() & MTLS_CHECKS


# -- for real: nginx terminating mutual TLS in front of gunicorn ---------------------------------------------------

PROXY_ADDRESS = "127.0.0.2"  # nginx connects to gunicorn from here; an attacker on the host from 127.0.0.1


def nginx_config(port: int, upstream: int, files: dict[str, Path]) -> str:
    return f"""
server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {files["cert"]};
    ssl_certificate_key {files["key"]};
    ssl_client_certificate {files["ca"]};
    ssl_verify_client on;
    location / {{
        proxy_pass http://127.0.0.1:{upstream};
        proxy_bind {PROXY_ADDRESS};
        proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
    }}
}}
"""


class ProxiedApi:
    """gunicorn trusting only the proxy's address, and nginx in front of it asking for client certificates."""

    def __init__(self, gunicorn: Server, nginx: NginxServer, files: dict[str, Path]) -> None:
        self.gunicorn, self.nginx, self.files = gunicorn, nginx, files

    def via_proxy(self, token: str, client: tuple[str, str], **headers: str) -> requests.Response:
        url = f"https://127.0.0.1:{self.nginx.port}{PATH}"
        headers["Authorization"] = f"Bearer {token}"
        return requests.get(url, headers=headers, cert=client, verify=str(self.files["ca"]), timeout=15)


@pytest.fixture(scope="module")
def proxied_api(nginx, tenant_server, certificate_authority, tmp_path_factory) -> Iterator[ProxiedApi]:
    files = certificate_authority  # nginx's certificate, and the CA its clients' certificates must come from
    port = free_port()
    env = {**tenant_env(tenant_server), "AUTH0_MTLS_CLIENT_CERT_HEADER": CERT_HEADER}
    env["FORWARDED_ALLOW_IPS"] = PROXY_ADDRESS  # gunicorn's own, which the project's settings read too
    command = [*COMMANDS["gunicorn"](port), "--workers", "1"]
    server = start(command, env, tmp_path_factory.mktemp("gunicorn") / "log", port)
    try:
        nginx.start(nginx_config(nginx.port, port, files))
        yield ProxiedApi(server, nginx, files)
    finally:
        stop(server)
    assert_clean(server.log_text())


def test_via_nginx_the_client_with_its_certificate_is_accepted(proxied_api, make_token):
    certificate, client = issue_client_certificate(proxied_api.files, "victim")
    token = make_token(cnf={"x5t#S256": certificate_thumbprint(certificate)})
    response = proxied_api.via_proxy(token, client)
    assert response.status_code == 200
    assert response.json() == {"message": SCOPED_MESSAGE}


def test_via_nginx_another_client_cannot_send_the_victims_certificate_header(proxied_api, make_token):
    victim, _ = issue_client_certificate(proxied_api.files, "victim-2")
    _, attacker = issue_client_certificate(proxied_api.files, "attacker")
    token = make_token(cnf={"x5t#S256": certificate_thumbprint(victim)})
    response = proxied_api.via_proxy(token, attacker, **{CERT_HEADER: escaped_pem(victim)})
    assert response.status_code == 401  # nginx replaced the header with the attacker's own certificate
    assert response.json()["code"] == REFUSED[0]


def test_straight_to_gunicorn_the_victims_public_certificate_is_refused(proxied_api, make_token):
    victim, _ = issue_client_certificate(proxied_api.files, "victim-3")
    token = make_token(cnf={"x5t#S256": certificate_thumbprint(victim)})
    response = proxied_api.gunicorn.get(PATH, token, **{CERT_HEADER: escaped_pem(victim)})
    assert response.status_code == 401
    assert response.json() == {"code": REFUSED[0], "description": NONE_PRESENTED}
    assert response.headers["WWW-Authenticate"] == REFUSED[1]
    assert wait_for(lambda: UNTRUSTED in proxied_api.gunicorn.log_text(), timeout=10)
    assert escaped_pem(victim)[40:80] not in proxied_api.gunicorn.log_text()
    assert token not in proxied_api.gunicorn.log_text()
