"""CORS: listed single-page apps may call every endpoint with an Authorization header."""

from __future__ import annotations

import pytest

ALLOWED = "http://localhost:3000"
pytestmark = pytest.mark.example  # the example project's CORS settings, not the library


@pytest.fixture(autouse=True)
def _origins(settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED, "https://app.example.com"]


@pytest.mark.parametrize("path", ["/api/public", "/api/private", "/api/private-scoped"])
def test_cors_preflight_from_listed_origin_allows_authorization_header(api, path):
    response = api.options(
        path,
        HTTP_ORIGIN=ALLOWED,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert "authorization" in response["Access-Control-Allow-Headers"].lower()
    assert "GET" in response["Access-Control-Allow-Methods"]


def test_cors_preflight_from_unlisted_origin_gets_no_allow_origin(api):
    response = api.options(
        "/api/private",
        HTTP_ORIGIN="https://evil.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert "Access-Control-Allow-Origin" not in response


def test_cors_listed_origin_reads_success_and_error_responses(call, tenant, make_token):
    ok = call("/api/private-scoped", token=make_token(), HTTP_ORIGIN="https://app.example.com")
    assert ok.status_code == 200
    assert ok["Access-Control-Allow-Origin"] == "https://app.example.com"
    refused = call("/api/private", HTTP_ORIGIN="https://app.example.com")
    assert refused.status_code == 401
    assert refused["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "www-authenticate" in refused["Access-Control-Expose-Headers"].lower()


def test_cors_unlisted_origin_gets_no_allow_origin(call, tenant, make_token):
    response = call("/api/private", token=make_token(), HTTP_ORIGIN="http://localhost:3001")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response
