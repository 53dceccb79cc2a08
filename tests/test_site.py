"""The pages a new user opens first: admin, API docs and the OpenAPI schema."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import unfold
import yaml
from openapi_spec_validator import validate

from modules.unfold.dashboard import Stat
from modules.unfold.testing import dashboard_figures, links

BASE_DIR = Path(__file__).resolve().parent.parent
UNFOLD_CSS = Path(unfold.__file__).parent / "static" / "unfold" / "css" / "styles.css"


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


def broken_cards(request):
    raise RuntimeError("the billing ledger is down")


def billing_cards(request):
    return [Stat(key="invoices_open", title="Open invoices", value=7)]


@pytest.mark.django_db
def test_the_sidebar_is_grouped_by_task_with_no_library_names(admin_client):
    response = admin_client.get("/admin/")
    sections = [section["title"] for section in response.context["sidebar_navigation"]]
    assert sections == [
        "",
        "People",
        "Sign-in security",
        "Knowledge base",
        "Agents",
        "Leads",
        "Newsletter",
        "Support",
        "Operations",
        "Settings",
    ]
    page = response.content.decode()
    for library_name in ("Constance", "Token Blacklist", "Token_Blacklist", "All applications"):
        assert library_name not in page
    for link in (
        "/admin/accounts/user/",
        "/admin/auth/group/",
        "/admin/token_blacklist/outstandingtoken/",
        "/admin/tasks/taskrun/dashboard/",
        "/admin/knowbase/document/",
        "/admin/knowbase/document/search/",
        "/readyz",
        "/api/docs/",
        "/admin/constance/config/",
    ):
        assert link in links(page), link


@pytest.mark.django_db
def test_api_docs_links_disappear_with_the_api_docs(admin_client, settings):
    settings.API_DOCS_ENABLED = False
    page = admin_client.get("/admin/").content.decode()
    assert "/api/docs/" not in links(page)


@pytest.mark.django_db
def test_a_card_function_added_to_the_panels_shows_without_a_dashboard_edit(admin_client, settings):
    settings.DASHBOARD_PANELS = [*settings.DASHBOARD_PANELS, "tests.test_site.billing_cards"]
    assert dashboard_figures(admin_client.get("/admin/").content.decode())["invoices_open"] == "7"


@pytest.mark.django_db
def test_a_failing_card_function_costs_its_cards_not_the_dashboard(admin_client, settings, caplog):
    settings.DASHBOARD_PANELS = ["tests.test_site.broken_cards", *settings.DASHBOARD_PANELS]
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    figures = dashboard_figures(response.content.decode())
    assert figures["failed:tests.test_site.broken_cards"] == "—" and "users_total" in figures
    assert "the billing ledger is down" in caplog.text


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag, attrs):
        self._open = dict(attrs) if tag == "script" else None

    def handle_data(self, data):
        script = self._open
        if script is not None and "src" not in script and script.get("type") != "application/json" and data.strip():
            self.inline.append(data.strip()[:80])


@pytest.mark.django_db
def test_the_dashboard_needs_no_inline_script(admin_client):
    parser = _Scripts()
    parser.feed(admin_client.get("/admin/").content.decode())
    assert parser.inline == []


def admin_templates() -> list[Path]:
    return sorted(
        [
            *BASE_DIR.glob("templates/admin/**/*.html"),
            *BASE_DIR.glob("modules/unfold/templates/**/*.html"),
            *BASE_DIR.glob("apps/*/templates/*/admin/**/*.html"),
        ]
    )


@pytest.mark.parametrize("template", admin_templates(), ids=lambda path: str(path.relative_to(BASE_DIR)))
def test_admin_templates_use_only_classes_in_unfolds_stylesheet(template):
    """Unfold ships a prebuilt stylesheet: a class its own templates do not use has no rule, and silently does
    nothing (a chart with no height). Inline styles or the project's admin.css cover the rest."""
    css = UNFOLD_CSS.read_text()
    text = re.sub(r"{%.*?%}|{{.*?}}", " ", template.read_text())
    classes = {name for value in re.findall(r'class="([^"]*)"', text) for name in value.split()}
    escaped = {name: "." + re.sub(r"([^A-Za-z0-9_-])", r"\\\1", name) for name in classes}
    missing = sorted(name for name, selector in escaped.items() if not re.search(re.escape(selector) + r"[\s{,:]", css))
    assert missing == []
