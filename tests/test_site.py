"""The pages a new user opens first: admin, API docs and the OpenAPI schema."""

import pytest
import yaml
from openapi_spec_validator import validate


@pytest.mark.django_db
def test_admin_login_shows_the_project_name(client, settings):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert settings.PROJECT_NAME in response.content.decode()


@pytest.mark.django_db
def test_admin_index_needs_staff_and_shows_the_environment_badge(client, django_user_model):
    assert client.get("/admin/").status_code == 302
    staff = django_user_model.objects.create_superuser(email="boss@example.com", password="x-long-password-1")
    client.force_login(staff)
    response = client.get("/admin/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/admin/constance/config/" in page
    assert ">Test<" in page.replace("\n", "").replace(" ", "")


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_pages_use_local_assets(client, path):
    response = client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in page
    assert "cdn.jsdelivr.net" not in page


def test_api_schema_is_valid_openapi_3(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_security_headers_are_sent(client):
    response = client.get("/healthz")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_constance_live_settings_are_editable_in_the_admin(admin_client):
    response = admin_client.get("/admin/constance/config/")
    assert response.status_code == 200
    assert "SIGNUPS_OPEN" in response.content.decode()


@pytest.mark.django_db
def test_users_export_through_import_export_with_unfold_forms(admin_client):
    response = admin_client.get("/admin/accounts/user/export/")
    assert response.status_code == 200
    assert "unfold" in response.content.decode().lower()


def test_cors_allows_configured_origins_only(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    allowed = client.get("/healthz", headers={"Origin": "https://app.example.com"})
    denied = client.get("/healthz", headers={"Origin": "https://evil.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Origin" not in denied.headers


def script_src(response) -> list[str]:
    policy = response.headers["Content-Security-Policy"]
    [directive] = [part.split()[1:] for part in policy.split(";") if part.split()[:1] == ["script-src"]]
    return directive


@pytest.mark.parametrize("path", ["/healthz", "/api/docs/", "/api/redoc/"])
def test_pages_outside_the_admin_allow_no_inline_script_and_no_eval(client, path):
    assert script_src(client.get(path)) == ["'self'"]


def test_the_swagger_page_has_no_inline_script(client):
    page = client.get("/api/docs/").content.decode()
    assert "<script>" not in page
    start_up = client.get("/api/docs/?script=")
    assert start_up.status_code == 200
    assert start_up["Content-Type"].startswith("application/javascript")


@pytest.mark.django_db
def test_only_the_admin_allows_eval_for_unfolds_alpine(client):
    assert script_src(client.get("/admin/login/")) == ["'self'", "'unsafe-eval'"]
