"""The OpenAPI schema at /api/schema/ and Swagger UI at /api/docs/: public, complete, switchable."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.support.api import PRIVATE_MESSAGE, PUBLIC_MESSAGE, SCOPED_MESSAGE

SCHEME, DPOP_SCHEME = "auth0", "auth0DPoP"
ERROR_REF = "#/components/schemas/Error"
SWAGGER_ASSETS = [
    "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
    "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
    "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
]


@pytest.fixture
def schema(api):
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def operation(schema, path):
    return schema["paths"][path]["get"]


def json_schema_ref(response_object):
    return response_object["content"]["application/json"]["schema"]["$ref"]


# -- the schema ------------------------------------------------------------------


def test_schema_lists_the_three_paths_without_trailing_slash(schema):
    assert list(schema["paths"]) == ["/api/public", "/api/private", "/api/private-scoped"]
    assert all(list(item) == ["get"] for item in schema["paths"].values())


def test_schema_declares_bearer_jwt_scheme(schema):
    scheme = schema["components"]["securitySchemes"][SCHEME]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    assert scheme["bearerFormat"] == "JWT"


def test_schema_public_has_no_security_requirement(schema):
    public = operation(schema, "/api/public")
    assert public.get("security", []) == []
    assert set(public["responses"]) == {"200", "406"}


def test_schema_declares_dpop_scheme_beside_bearer(schema):
    scheme = schema["components"]["securitySchemes"][DPOP_SCHEME]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "DPoP"
    assert "DPoP" in scheme["description"]


@pytest.mark.parametrize("path", ["/api/private", "/api/private-scoped"])
def test_schema_private_paths_take_a_bearer_or_a_dpop_token(schema, path):
    assert operation(schema, path)["security"] == [{SCHEME: []}, {DPOP_SCHEME: []}]


@pytest.mark.parametrize(("mode", "schemes"), [("disabled", [SCHEME]), ("required", [DPOP_SCHEME])])
def test_schema_follows_the_dpop_mode(settings, api, mode, schemes):
    settings.AUTH0_DPOP = mode
    document = api.get("/api/schema/?format=json").json()
    assert operation(document, "/api/private")["security"] == [{name: []} for name in schemes]
    assert set(document["components"]["securitySchemes"]) == set(schemes)


@pytest.mark.parametrize(
    ("path", "message"),
    [("/api/public", PUBLIC_MESSAGE), ("/api/private", PRIVATE_MESSAGE), ("/api/private-scoped", SCOPED_MESSAGE)],
)
def test_schema_200_is_the_message(schema, path, message):
    ok = operation(schema, path)["responses"]["200"]
    assert json_schema_ref(ok) == "#/components/schemas/Message"
    assert [e["value"] for e in ok["content"]["application/json"]["examples"].values()] == [{"message": message}]
    assert schema["components"]["schemas"]["Message"]["required"] == ["message"]


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        pytest.param("/api/public", {"406"}, id="public"),
        pytest.param("/api/private", {"401", "406", "503"}, id="private"),
        pytest.param("/api/private-scoped", {"401", "403", "406", "503"}, id="private-scoped"),
    ],
)
def test_schema_errors_use_the_error_schema(schema, path, statuses):
    responses = operation(schema, path)["responses"]
    assert set(responses) - {"200"} == statuses
    for status in statuses:
        assert json_schema_ref(responses[status]) == ERROR_REF, status
        assert responses[status]["description"], status


def test_schema_error_schema_is_code_and_description(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "description"}
    assert set(error["required"]) == {"code", "description"}


@pytest.mark.parametrize(
    ("path", "status", "codes"),
    [
        (
            "/api/private",
            "401",
            {
                "authorization_header_missing",
                "invalid_header",
                "token_expired",
                "invalid_claims",
                "invalid_dpop_proof",
                "use_dpop_nonce",
            },
        ),
        ("/api/private", "503", {"jwks_unavailable", "replay_cache_unavailable"}),
        ("/api/private-scoped", "403", {"insufficient_scope"}),
    ],
)
def test_schema_error_examples_show_the_codes(schema, path, status, codes):
    examples = operation(schema, path)["responses"][status]["content"]["application/json"]["examples"]
    assert {example["value"]["code"] for example in examples.values()} == codes


def test_schema_refusals_document_their_headers(schema):
    responses = operation(schema, "/api/private-scoped")["responses"]
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert "WWW-Authenticate" in responses["403"]["headers"]
    assert "Retry-After" in responses["503"]["headers"]


def test_schema_scoped_operation_names_the_scope(schema):
    scoped = operation(schema, "/api/private-scoped")
    assert "read:messages" in scoped["summary"]
    assert "read:messages" in scoped["description"]
    assert "read:messages" not in operation(schema, "/api/private")["description"]


def test_schema_is_yaml_by_default_and_json_by_accept_header(api):
    assert api.get("/api/schema/")["Content-Type"].startswith("application/vnd.oai.openapi")
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


@pytest.mark.parametrize("authorization", ["Bearer garbage", "Basic dXNlcjpwYXNz"])
def test_schema_and_docs_ignore_any_authorization_header(api, tenant, authorization):
    for path in ("/api/schema/", "/api/docs/"):
        assert api.get(path, HTTP_AUTHORIZATION=authorization).status_code == 200, path
    assert tenant.fetches == 0


def test_schema_generates_valid_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3.")


# -- Swagger UI ------------------------------------------------------------------


def test_docs_render_html_without_token(api):
    response = api.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "/api/schema/" in page
    for asset in SWAGGER_ASSETS:
        assert asset in page


@pytest.mark.parametrize("asset", SWAGGER_ASSETS)
def test_docs_assets_are_served_with_debug_off_and_no_collectstatic(api, settings, asset):
    # WhiteNoise (WHITENOISE_USE_FINDERS) serves them from the sidecar package itself.
    assert settings.DEBUG is False
    response = api.get(asset)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)


# -- API_DOCS_ENABLED --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/schema/", "/api/schema/?format=json", "/api/docs/"])
def test_docs_disabled_are_json_404(api, settings, path):
    settings.API_DOCS_ENABLED = False
    response = api.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "description": "Not found."}


def test_docs_disabled_leave_the_api_alone(api, settings):
    settings.API_DOCS_ENABLED = False
    assert api.get("/api/public").json() == {"message": PUBLIC_MESSAGE}
