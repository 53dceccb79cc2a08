"""The home page at /, the API's root at /api/, the admin's sign-in and "View site", and the API docs' assets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.template.loader import get_template
from django.urls import resolve

from cfg.exceptions import ConfigurationError
from config.config import ProjectConfig
from modules.pages.docs import REMOTE_LOGO

PASSWORD = "a-long-admin-password-1"
# Every src and href of a page: the docs must load nothing from another site.
ASSET = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.fixture
def production(settings):
    settings.ENVIRONMENT = "production"
    settings.HOME_REDIRECT = ""
    return settings


def test_home_in_development_lists_the_admin_docs_health_and_superuser(client, settings):
    settings.ENVIRONMENT = "development"
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"<h1>{settings.PROJECT_NAME}</h1>" in page
    for url in ("/admin/", "/api/", "/api/docs/", "/api/redoc/", "/api/schema/", "/healthz", "/readyz"):
        assert f'href="{url}"' in page
    assert "create_dev_superuser" in page
    # The schema as JSON, which a browser shows (the YAML is a download), and the YAML beside it.
    assert 'href="/api/schema/?format=json">OpenAPI schema</a>' in page
    assert client.get("/api/schema/?format=json")["Content-Type"] == "application/vnd.oai.openapi+json"
    assert str(Path(settings.DATA_DIR) / "dev-superuser.txt") in page or ".data/dev-superuser.txt" in page


def test_home_leaves_out_the_docs_when_they_are_off(client, settings):
    settings.API_DOCS_ENABLED = False
    page = client.get("/").content.decode()
    assert 'href="/api/docs/"' not in page
    assert "API__DOCS_ENABLED" in page


def test_home_in_production_shows_the_name_and_nothing_internal(client, production):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"<h1>{production.PROJECT_NAME}</h1>" in page
    for internal in ("/admin/", "/api/", "/healthz", "/readyz", "dev-superuser", "create_dev_superuser"):
        assert internal not in page


@pytest.mark.parametrize("target", ["https://www.example.com/welcome", "/app/"])
def test_home_in_production_redirects_where_configured(client, production, target):
    production.HOME_REDIRECT = target
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == target


def test_home_redirect_applies_only_when_deployed(client, settings):
    settings.HOME_REDIRECT = "https://www.example.com/"
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("value", ["", "/app/", "/landing?from=home", "https://www.example.com", "http://x.test/a"])
def test_home_redirect_accepts_paths_and_absolute_urls(tmp_path, value):
    config = ProjectConfig.load(tmp_path, environ={"DJANGO_ENV": "test", "HOME_REDIRECT": value})
    assert config.home_redirect == value
    assert config.get_all_settings()["HOME_REDIRECT"] == value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("/", "'/' would redirect / to itself"),
        ("example.com", "'example.com' is neither a path nor an absolute URL"),
        ("//evil.test/", "'//evil.test/' is neither a path nor an absolute URL"),
        ("ftp://example.com/", "is neither a path nor an absolute URL"),
    ],
)
def test_home_redirect_refuses_what_is_not_a_path_or_url(tmp_path, value, problem):
    with pytest.raises(ConfigurationError) as info:
        ProjectConfig.load(tmp_path, environ={"DJANGO_ENV": "test", "HOME_REDIRECT": value})
    assert "home_redirect (from env var HOME_REDIRECT)" in info.value.message
    assert problem in info.value.message


def test_api_root_links_the_docs_schema_and_health(client):
    response = client.get("/api/")
    assert response.status_code == 200
    assert response.json() == {
        "docs": "http://testserver/api/docs/",
        "redoc": "http://testserver/api/redoc/",
        "schema": "http://testserver/api/schema/",
        "health": "http://testserver/healthz",
        "ready": "http://testserver/readyz",
    }


def test_api_root_links_only_what_is_served(client, settings):
    settings.API_DOCS_ENABLED = False
    assert set(client.get("/api/").json()) == {"health", "ready"}


def test_api_root_leaves_the_accounts_api_under_api_alone():
    assert resolve("/api/").url_name == "api-root"
    assert resolve("/api/auth/otp/request/").view_name == "accounts:otp-request"


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"


@pytest.mark.django_db
def test_admin_sign_in_lands_on_the_admin_index(client, django_user_model):
    django_user_model.objects.create_superuser(email="boss@example.com", password=PASSWORD)
    response = client.post("/admin/login/", {"username": "boss@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


@pytest.mark.django_db
def test_admin_sign_in_keeps_the_page_asked_for(client, django_user_model):
    django_user_model.objects.create_superuser(email="boss@example.com", password=PASSWORD)
    response = client.post(
        "/admin/login/?next=/admin/accounts/user/", {"username": "boss@example.com", "password": PASSWORD}
    )
    assert response["Location"] == "/admin/accounts/user/"


@pytest.mark.django_db
def test_view_site_and_return_to_site_lead_to_the_home_page(client, django_user_model):
    assert re.search(r'<a href="/"[^>]*>\s*<span[^>]*>[^<]*</span>\s*Return to site', client.get("/admin/login/").text)
    client.force_login(django_user_model.objects.create_superuser(email="boss@example.com", password=PASSWORD))
    page = client.get("/admin/accounts/user/").content.decode()
    assert re.search(r'<a href="/"[^>]*>\s*View site\s*</a>', page)
    assert client.get("/").status_code == 200


def test_redoc_template_has_no_external_urls():
    source = Path(get_template("pages/redoc.html").origin.name).read_text()
    assert not re.search(r"https?:|//[a-z]", source, re.IGNORECASE)


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_only_local_assets(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assets = ASSET.findall(response.content.decode())
    assert assets
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
        assert client.get(asset).status_code == 200, asset


def test_the_redoc_bundle_loads_no_remote_logo(client):
    response = client.get("/api/redoc/redoc.standalone.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    bundle = b"".join(response.streaming_content) if response.streaming else response.content
    assert bundle.startswith(b"/*!")
    assert REMOTE_LOGO.encode() not in bundle
    assert b"cdn.redoc.ly" not in bundle


def test_the_sidecar_redoc_still_has_the_logo_we_remove():
    """Fails when a Redoc upgrade moves its logo: REMOTE_LOGO must then follow, or the CSP blocks it again."""
    from django.contrib.staticfiles import finders

    from modules.pages.docs import REDOC_BUNDLE

    found = finders.find(REDOC_BUNDLE)
    assert isinstance(found, str)
    assert REMOTE_LOGO.encode() in Path(found).read_bytes()
