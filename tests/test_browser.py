"""A person in a real browser: Swagger UI → Authorize → Try it out → Execute, and the browsable API.

Drives Debian's headless Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``) with
Playwright against pytest-django's live server, trusting the development issuer.
Without Chromium the tests skip, unless ``REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from tests.support.api import PUBLIC_MESSAGE, SCOPED_MESSAGE
from tests.support.browser import CHROMIUM_ARGS, chromium_or_skip

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SCREENSHOT = ARTIFACTS / "swagger-private-scoped.png"
TIMEOUT_MS = 30_000  # generous: a loaded CI machine, a 1.5 MB Swagger UI bundle


@pytest.fixture
def dev_server(live_server, dev_issuer, settings) -> str:
    """The live server's URL, trusting the development issuer."""
    settings.API_DOCS_ENABLED = True
    return live_server.url


@dataclass
class Tab:
    """A browser page, with what went wrong on it: uncaught script errors, failed or refused requests."""

    page: Any
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def assert_nothing_went_wrong(self) -> None:
        assert self.errors == []
        assert self.failed == []


@pytest.fixture
def open_tab(dev_server) -> Iterator[Callable[[], Tab]]:
    """``open_tab()``: a page in a fresh headless Chromium (Playwright gives it a new, empty profile).

    Called from the test body, so that a missing browser under ``REQUIRE_BROWSER=1``
    is a test failure rather than a fixture error.
    """
    with contextlib.ExitStack() as cleanup:

        def open_() -> Tab:
            executable = chromium_or_skip()
            from playwright.sync_api import expect, sync_playwright

            expect.set_options(timeout=TIMEOUT_MS)
            playwright = cleanup.enter_context(sync_playwright())
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            cleanup.callback(browser.close)
            context = browser.new_context(viewport={"width": 1280, "height": 1400})
            context.set_default_timeout(TIMEOUT_MS)
            tab = Tab(context.new_page())
            tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
            tab.page.on("requestfailed", lambda request: tab.failed.append(f"{request.url} {request.failure}"))
            tab.page.on("response", lambda r: r.status >= 400 and tab.failed.append(f"{r.url} {r.status}"))
            return tab

        yield open_


def mint_token(*args: str) -> str:
    stdout = io.StringIO()
    call_command("mint_token", *args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue().splitlines()[-1]


def test_swagger_ui_authorize_and_execute_private_scoped(open_tab, dev_server):
    tab = open_tab()
    page = tab.page
    from playwright.sync_api import expect

    token = mint_token("--scope", "read:messages")
    page.goto(f"{dev_server}/api/docs/")
    operation = page.locator("#operations-messages-private_scoped_message")
    expect(operation).to_be_visible()  # Swagger UI has loaded the schema and rendered it

    # Authorize: paste the token into the bearer scheme's dialog.
    page.locator(".scheme-container button.authorize").click()
    dialog = page.locator(".modal-ux")
    expect(dialog).to_be_visible()
    bearer = dialog.locator("form").filter(has_text="auth0 (http, Bearer)")  # the DPoP scheme is listed too
    bearer.locator("input[aria-label='auth-bearer-value']").fill(token)
    bearer.locator("button.modal-btn.authorize").click()
    expect(bearer.get_by_role("heading", name="Authorized")).to_be_visible()
    bearer.locator("button.btn-done").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".scheme-container button.authorize")).to_have_class(re.compile(r"\blocked\b"))

    # GET /api/private-scoped: Try it out, Execute.
    operation.locator(".opblock-summary-control").click()
    operation.locator("button.try-out__btn").click()
    with page.expect_response(lambda r: r.url.endswith("/api/private-scoped")) as call:
        operation.locator("button.execute").click()
    assert call.value.status == 200
    assert call.value.request.headers["authorization"] == f"Bearer {token}"

    live = operation.locator(".live-responses-table .response")
    expect(live.locator(".response-col_status")).to_have_text("200")
    expect(live.locator(".response-col_description")).to_contain_text(SCOPED_MESSAGE)

    live.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)
    assert SCREENSHOT.stat().st_size > 0
    tab.assert_nothing_went_wrong()  # every asset (Swagger UI's JS and CSS) and call answered


def test_browsable_api_shows_the_public_message(open_tab, dev_server):
    tab = open_tab()
    page = tab.page
    from playwright.sync_api import expect

    response = page.goto(f"{dev_server}/api/public")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    expect(page.locator(".response-info")).to_contain_text("HTTP 200 OK")
    expect(page.locator(".response-info")).to_contain_text(PUBLIC_MESSAGE)
    tab.assert_nothing_went_wrong()
