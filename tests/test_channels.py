"""``authn.channels.Auth0AuthMiddleware``: WebSocket handshakes verified by the one pipeline.

In process, Channels' communicators play the server: ``WebsocketCommunicator``
one that, like daphne, only knows ``websocket.close`` for a refusal, and an
``ApplicationCommunicator`` with the ``websocket.http.response`` extension,
like uvicorn. Then real uvicorn and daphne servers on loopback, and a client
from the ``websockets`` library.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import ApplicationCommunicator, WebsocketCommunicator
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from authn.channels import BEARER_SUBPROTOCOL, Auth0AuthMiddleware
from tests.support.browser import CHROMIUM_ARGS, chromium_or_skip
from tests.support.dpop_client import ProofKey
from tests.support.network import free_port
from tests.support.servers import Server, assert_clean, start, stop, tenant_env
from tests.support.tenant import ISSUER, serve

PATH = "/ws/subject"
SUBJECT = "auth0|user-1"  # make_token's
TIMEOUT = 10  # seconds an exchange may take before the test fails: a bound, never a measurement
DPOP_KEY = ProofKey()
HTTP_RESPONSE = "websocket.http.response"

Headers = list[tuple[bytes, bytes]]


class SubjectConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        await self.send(text_data=self.scope["auth"].subject)


class OfferedConsumer(AsyncWebsocketConsumer):
    """Accepts with the first subprotocol offered and sends back every one it was shown."""

    async def connect(self) -> None:
        await self.accept(subprotocol=self.scope["subprotocols"][0])
        await self.send(text_data=json.dumps(self.scope["subprotocols"]))


def authorization(value: str) -> Headers:
    return [(b"authorization", value.encode())]


@dataclass(frozen=True)
class Offer:
    """What a client sends with its handshake."""

    headers: Headers
    subprotocols: tuple[str, ...] = ()


@dataclass(frozen=True)
class Handshake:
    accepted: bool
    detail: Any  # the subprotocol accepted with, or the close code of a refusal
    received: str | None  # the consumer's first message


def handshake(offer: Offer, consumer: type[AsyncWebsocketConsumer] = SubjectConsumer) -> Handshake:
    """``offer`` made to ``Auth0AuthMiddleware(consumer)`` through a server without the HTTP response extension."""

    async def attempt() -> Handshake:
        application = Auth0AuthMiddleware(consumer.as_asgi())
        communicator = WebsocketCommunicator(application, PATH, offer.headers, list(offer.subprotocols))
        accepted, detail = await communicator.connect(TIMEOUT)
        received = await communicator.receive_from(TIMEOUT) if accepted else None
        if accepted:
            await communicator.disconnect(timeout=TIMEOUT)
        else:
            await communicator.wait(TIMEOUT)  # the middleware is done, and raised nothing
        return Handshake(accepted, detail, received)

    return asyncio.run(attempt())


def websocket_scope(offer: Offer, **members: Any) -> dict[str, Any]:
    scope = {"type": "websocket", "path": PATH, "query_string": b"", "headers": offer.headers}
    return {**scope, "subprotocols": list(offer.subprotocols), **members}


def exchange(scope: dict[str, Any], first: str = "websocket.connect") -> list[dict[str, Any]]:
    """Every message ``Auth0AuthMiddleware(SubjectConsumer)`` sends for the handshake of ``scope``, the client
    sending ``first``; an accepted client leaves once the consumer has spoken."""

    async def attempt() -> list[dict[str, Any]]:
        communicator = ApplicationCommunicator(Auth0AuthMiddleware(SubjectConsumer.as_asgi()), scope)
        await communicator.send_input({"type": first})
        sent = []
        if first == "websocket.connect":
            sent.append(await communicator.receive_output(TIMEOUT))
        if sent and sent[0]["type"] == "websocket.accept":
            sent.append(await communicator.receive_output(TIMEOUT))
            await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait(TIMEOUT)  # the application is done, and raised nothing
        while not communicator.output_queue.empty():
            sent.append(communicator.output_queue.get_nowait())
        return sent

    return asyncio.run(attempt())


@dataclass(frozen=True)
class Denial:
    status: int
    headers: dict[str, str]
    body: Any


def denial(offer: Offer, **members: Any) -> Denial:
    """The HTTP response refusing ``offer``, from a server offering the ``websocket.http.response`` extension."""
    start_message, *rest = exchange(websocket_scope(offer, extensions={HTTP_RESPONSE: {}}, **members))
    assert start_message["type"] == "websocket.http.response.start"
    assert [message["type"] for message in rest] == ["websocket.http.response.body"]
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in start_message["headers"]}
    return Denial(start_message["status"], headers, json.loads(rest[0]["body"]))


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.getMessage().startswith("refused ")]


def dpop_offer(make_token: Callable[..., str], *, url: str) -> Offer:
    """A DPoP-bound token and its proof for a GET of ``url``, sent to ``url``'s host."""
    token = make_token(cnf={"jkt": DPOP_KEY.thumbprint})
    proof = DPOP_KEY.proof("GET", url, token=token)
    host = urlsplit(url).netloc.encode()
    return Offer([(b"host", host), *authorization(f"DPoP {token}"), (b"dpop", proof.encode())])


# -- accepted --------------------------------------------------------------------------------------


def test_handshake_with_valid_token_runs_the_consumer_with_it(tenant, make_token):
    done = handshake(Offer(authorization(f"Bearer {make_token()}")))
    assert (done.accepted, done.received) == (True, SUBJECT)
    assert done.detail is None  # no subprotocol offered, none chosen


def test_subprotocol_token_is_accepted_with_authn_bearer(tenant, make_token):
    done = handshake(Offer([], (BEARER_SUBPROTOCOL, make_token())))
    assert (done.accepted, done.detail, done.received) == (True, BEARER_SUBPROTOCOL, SUBJECT)


def test_subprotocol_token_is_hidden_from_the_consumer_and_its_choice_kept(tenant, make_token):
    done = handshake(Offer([], ("chat.v2", BEARER_SUBPROTOCOL, make_token())), OfferedConsumer)
    assert (done.accepted, done.detail) == (True, "chat.v2")
    assert json.loads(done.received) == ["chat.v2", BEARER_SUBPROTOCOL]


@pytest.mark.parametrize(("scheme", "url_scheme"), [("ws", "http"), ("wss", "https"), (None, "http")])
def test_dpop_handshake_with_proof_for_its_http_url_is_accepted(dpop, make_token, scheme, url_scheme):
    """A client that can set headers (not a browser) proves a DPoP key: its proof names the handshake's GET
    and URL as HTTP has them."""
    offer = dpop_offer(make_token, url=f"{url_scheme}://127.0.0.1{PATH}")
    scope = websocket_scope(offer, **({"scheme": scheme} if scheme else {}))
    assert [message["type"] for message in exchange(scope)] == ["websocket.accept", "websocket.send"]


# -- refused ---------------------------------------------------------------------------------------

NO_CREDENTIALS = 'Bearer realm="api", DPoP algs="ES256"'
INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'
INVALID_REQUEST = 'Bearer realm="api", error="invalid_request"'

REFUSALS = [
    pytest.param(lambda t: Offer([]), "authorization_header_missing", NO_CREDENTIALS, id="no-token"),
    pytest.param(lambda t: Offer(authorization("Bearer x.y.z")), "invalid_header", INVALID_TOKEN, id="bad-token"),
    pytest.param(lambda t: Offer(authorization(f"Bearer {t(exp=1)}")), "token_expired", INVALID_TOKEN, id="expired"),
    pytest.param(
        lambda t: Offer(authorization(f"Bearer {t(aud='https://x')}")), "invalid_claims", INVALID_TOKEN, id="other-aud"
    ),
    pytest.param(
        lambda t: Offer(authorization(f"Bearer {t(cnf={'jkt': DPOP_KEY.thumbprint})}")),
        "invalid_header",
        f'{INVALID_TOKEN}, DPoP algs="ES256"',
        id="dpop-bound-without-proof",
    ),
    pytest.param(
        lambda t: Offer(authorization(f"Bearer {t(iss='https://evil.example.com/')}")),
        "invalid_claims",
        INVALID_TOKEN,
        id="other-issuer",
    ),
    pytest.param(
        lambda t: Offer(authorization(f"Bearer {t(cnf={'x5t#S256': 'abc'})}")),
        "invalid_header",
        INVALID_TOKEN,
        id="certificate-bound-without-certificate",
    ),
    pytest.param(
        lambda t: Offer(authorization("Bearer " + "a" * 9000)), "invalid_header", INVALID_TOKEN, id="oversized-header"
    ),
    pytest.param(lambda t: Offer(authorization("Basic dTpw")), "invalid_header", INVALID_REQUEST, id="basic"),
    pytest.param(
        lambda t: Offer([], (BEARER_SUBPROTOCOL, t(exp=1))), "token_expired", INVALID_TOKEN, id="subprotocol-expired"
    ),
    pytest.param(
        lambda t: Offer([], (BEARER_SUBPROTOCOL, "x.y.z")), "invalid_header", INVALID_TOKEN, id="subprotocol-bad-token"
    ),
    pytest.param(
        lambda t: Offer([], (BEARER_SUBPROTOCOL,)), "invalid_header", INVALID_REQUEST, id="subprotocol-without-token"
    ),
    pytest.param(
        lambda t: Offer([], (BEARER_SUBPROTOCOL, t(), BEARER_SUBPROTOCOL, t())),
        "invalid_header",
        INVALID_REQUEST,
        id="subprotocol-twice",
    ),
    pytest.param(
        lambda t: Offer(authorization(f"Bearer {t()}"), (BEARER_SUBPROTOCOL, t())),
        "invalid_header",
        INVALID_REQUEST,
        id="header-and-subprotocol",
    ),
]


def credentials(offer: Offer) -> list[str]:
    """What ``offer`` carries that a log must never hold: the Authorization header's credentials, the tokens
    offered as subprotocols."""
    sent = [value.decode().rpartition(" ")[2] for name, value in offer.headers if name == b"authorization"]
    return [*sent, *(protocol for protocol in offer.subprotocols if protocol != BEARER_SUBPROTOCOL)]


@pytest.mark.parametrize(("offer", "code", "challenge"), REFUSALS)
def test_refused_handshake_is_closed_before_accept_and_logged_once(tenant, make_token, caplog, offer, code, challenge):
    caplog.set_level("INFO", logger="authn")
    offered = offer(make_token)
    done = handshake(offered)
    assert done.accepted is False
    [line] = refusal_lines(caplog)
    assert f"code={code} " in line
    assert f"path='{PATH}'" in line
    assert not [credential for credential in credentials(offered) if credential in caplog.text]


@pytest.mark.parametrize(("offer", "code", "challenge"), REFUSALS)
def test_refused_handshake_is_answered_with_the_denial_response(tenant, make_token, offer, code, challenge):
    refused = denial(offer(make_token))
    assert refused.status == 401
    assert refused.body["code"] == code
    assert set(refused.body) == {"code", "description"}
    assert refused.headers["www-authenticate"] == challenge
    assert refused.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("offer", "level", "code"),
    [
        pytest.param(lambda t: Offer(authorization(f"Bearer {t(exp=1)}")), logging.INFO, "token_expired", id="header"),
        pytest.param(
            lambda t: Offer([], (BEARER_SUBPROTOCOL, t(aud="https://x"))), logging.INFO, "invalid_claims", id="offered"
        ),
        pytest.param(lambda t: Offer(authorization(f"Bearer {t()}")), logging.WARNING, "jwks_unavailable", id="503"),
    ],
)
def test_refused_handshake_log_names_the_tokens_kid_iss_and_sub(tenant, make_token, caplog, offer, level, code):
    """Like every refusal's line: INFO, WARNING for a 503, with what the token says (unverified: it was refused)."""
    if code == "jwks_unavailable":
        tenant.respond = serve(500, "down")
    caplog.set_level("INFO", logger="authn")
    denial(offer(make_token))
    [record] = [r for r in caplog.records if r.getMessage().startswith("refused ")]
    assert record.levelno == level
    line = record.getMessage()
    assert f"code={code} " in line
    assert "unverified_kid='key-1'" in line
    assert f"unverified_iss='{ISSUER}'" in line
    assert f"unverified_sub='{SUBJECT}'" in line


def test_handshake_of_an_organization_not_listed_is_refused_like_a_wrong_audience(tenant, settings, make_token, caplog):
    """``AUTH0_ORGANIZATIONS`` holds for WebSockets too: 401 ``invalid_claims``, logged once; a listed one is in."""
    settings.AUTH0_ORGANIZATIONS = ["org_abc", "acme"]
    caplog.set_level("INFO", logger="authn")
    refused = denial(Offer(authorization(f"Bearer {make_token(org_id='org_other', org_name='other')}")))
    assert (refused.status, refused.body["code"]) == (401, "invalid_claims")
    assert refused.headers["www-authenticate"] == INVALID_TOKEN
    assert len(refusal_lines(caplog)) == 1
    done = handshake(Offer(authorization(f"Bearer {make_token(org_name='Acme')}")))
    assert (done.accepted, done.received) == (True, SUBJECT)


def test_denial_response_never_echoes_the_token(tenant, make_token):
    token = make_token(exp=1)
    refused = denial(Offer([], (BEARER_SUBPROTOCOL, token)))
    assert token not in json.dumps([refused.headers, refused.body])


def test_dpop_handshake_with_host_outside_allowed_hosts_is_refused_400(dpop, make_token):
    """Django answers a Host it does not serve 400; so does the handshake, when the proof's URL needs it."""
    refused = denial(dpop_offer(make_token, url=f"http://evil.example{PATH}"))
    assert (refused.status, refused.body["code"]) == (400, "bad_request")
    assert "www-authenticate" not in refused.headers


def test_dpop_handshake_without_nonce_is_answered_with_one(dpop, make_token):
    dpop.AUTH0_DPOP_NONCE = True
    refused = denial(dpop_offer(make_token, url=f"http://127.0.0.1{PATH}"))
    assert (refused.status, refused.body["code"]) == (401, "use_dpop_nonce")
    assert refused.headers["dpop-nonce"]
    assert 'error="use_dpop_nonce"' in refused.headers["www-authenticate"]


def test_handshake_while_keys_are_unreachable_is_answered_503_with_retry_after(tenant, settings, make_token):
    settings.AUTH0_JWKS_URL = f"http://127.0.0.1:{free_port()}/.well-known/jwks.json"  # nothing listens there
    refused = denial(Offer(authorization(f"Bearer {make_token()}")))
    assert (refused.status, refused.body["code"]) == (503, "jwks_unavailable")
    assert int(refused.headers["retry-after"]) > 0
    assert "www-authenticate" not in refused.headers


def test_client_gone_before_its_handshake_is_answered_nothing(tenant):
    assert exchange(websocket_scope(Offer([])), first="websocket.disconnect") == []


# -- other scopes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("scope_type", ["http", "lifespan"])
def test_other_scopes_pass_through_untouched(scope_type):
    seen = []

    async def inner(scope, receive, send) -> None:
        seen.append(scope)

    scope = {"type": scope_type, "path": PATH, "headers": []}
    asyncio.run(Auth0AuthMiddleware(inner)(scope, None, None))
    assert seen == [scope]
    assert seen[0] is scope


# -- real servers ----------------------------------------------------------------------------------

SERVERS = {
    "uvicorn": lambda port: [sys.executable, "-m", "uvicorn", "tests.channels_asgi:application", "--port", str(port)],
    "daphne": lambda port: [
        *(sys.executable, "-m", "daphne", "--bind", "127.0.0.1", "--port", str(port)),
        "tests.channels_asgi:application",
    ],
}
# What a refusal's handshake is answered: the refusal itself where the server can send it, else 403.
DENIED_STATUS = {"uvicorn": 401, "daphne": 403}


@dataclass
class WebSocketServer:
    name: str
    served: Server

    def url(self, path: str = "/ws/subject") -> str:
        return self.served.url.replace("http://", "ws://") + path


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request, tenant_server, tmp_path_factory) -> Iterator[WebSocketServer]:
    port = free_port()
    env = tenant_env(tenant_server) | {"DJANGO_SETTINGS_MODULE": "tests.channels_settings"}
    log = tmp_path_factory.mktemp(request.param) / "server.log"
    served = start(SERVERS[request.param](port), env, log, port)  # HTTP, to Django: /api/public answers
    yield WebSocketServer(request.param, served)
    stop(served)
    assert_clean(served.log_text())


def test_server_handshake_with_valid_token_receives_the_subject(server, make_token):
    headers = {"Authorization": f"Bearer {make_token()}"}
    with connect(server.url(), additional_headers=headers, open_timeout=TIMEOUT) as websocket:
        assert websocket.recv(timeout=TIMEOUT) == SUBJECT


def test_server_handshake_with_subprotocol_token_receives_the_subject(server, make_token):
    offered = [BEARER_SUBPROTOCOL, make_token()]
    with connect(server.url(), subprotocols=offered, open_timeout=TIMEOUT) as websocket:
        assert websocket.subprotocol == BEARER_SUBPROTOCOL
        assert websocket.recv(timeout=TIMEOUT) == SUBJECT


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        pytest.param({}, "authorization_header_missing", id="no-token"),
        pytest.param({"Authorization": "Bearer x.y.z"}, "invalid_header", id="bad-token"),
    ],
)
def test_server_refused_handshake_is_denied_never_opened(server, headers, code):
    log_lines = server.served.log_text().count(f"refused status=401 code={code} ")
    with pytest.raises(InvalidStatus) as refused:
        connect(server.url(), additional_headers=headers, open_timeout=TIMEOUT)
    response = refused.value.response
    assert response.status_code == DENIED_STATUS[server.name]
    if server.name == "uvicorn":
        assert json.loads(response.body)["code"] == code
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="api"')
    assert server.served.log_text().count(f"refused status=401 code={code} ") == log_lines + 1


def test_server_expired_token_is_denied_with_its_challenge(server, make_token):
    with pytest.raises(InvalidStatus) as refused:
        connect(server.url(), subprotocols=[BEARER_SUBPROTOCOL, make_token(exp=1)], open_timeout=TIMEOUT)
    response = refused.value.response
    assert response.status_code == DENIED_STATUS[server.name]
    if server.name == "uvicorn":
        assert json.loads(response.body) == {"code": "token_expired", "description": "Token is expired."}
        assert response.headers["WWW-Authenticate"] == INVALID_TOKEN


# The browser's way, as the docs write it: the token offered as a subprotocol after "authn.bearer".
BROWSER_SOCKET = """([url, token]) => new Promise((resolve) => {
    const socket = new WebSocket(url, ["authn.bearer", token]);
    socket.onmessage = (event) => { resolve({protocol: socket.protocol, message: event.data}); socket.close(); };
    socket.onclose = (event) => resolve({closed: event.code});
})"""


@pytest.mark.browser
def test_server_browser_offering_its_token_as_a_subprotocol_is_accepted(server, make_token):
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(server.served.url + "/api/public")
            accepted = page.evaluate(BROWSER_SOCKET, [server.url(), make_token()])
            refused = page.evaluate(BROWSER_SOCKET, [server.url(), make_token(exp=1)])
        finally:
            browser.close()
    assert accepted == {"protocol": BEARER_SUBPROTOCOL, "message": SUBJECT}
    assert refused == {"closed": 1006}  # all a page learns of a refused handshake
