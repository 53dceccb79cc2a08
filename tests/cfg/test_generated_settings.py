"""get_all_settings() for development, test and production: the keys that matter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cfg.catalog import provided
from cfg.defaults import DEVELOPMENT_SECRET_KEY, TEST_SECRET_KEY
from cfg.models.apps import AppList, AppSpec
from cfg.models.base import FrozenDict
from cfg.models.unfold import NavigationItem
from cfg.settings.compose import GENERATORS, settings_by_concern
from config.config import ProjectConfig

from .conftest import PRODUCTION, STRONG_SECRET_KEY, Project

SLUG = ProjectConfig.model_fields["project_slug"].default

REDIS = "redis://127.0.0.1:6379/12"
PRODUCTION_WITH_REDIS = {**PRODUCTION, "REDIS_URL": REDIS, "TASKS__BACKEND": "rearq"}


def settings_for(project: Project, environ: dict[str, str]) -> dict[str, Any]:
    settings: dict[str, Any] = project.load(environ).get_all_settings()
    return settings


def test_development(project: Project) -> None:
    settings = settings_for(project, {"DJANGO_ENV": "development"})
    assert settings["ENVIRONMENT"] == "development"
    assert settings["DEBUG"] is True
    assert settings["SECRET_KEY"] == DEVELOPMENT_SECRET_KEY
    assert settings["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]
    default = settings["DATABASES"]["default"]
    assert default["ENGINE"] == "cfg.db.embedded_backend"
    assert default["NAME"] == SLUG
    assert default["OPTIONS"]["pgdata"] == str(project.root / ".data" / "postgres")
    assert settings["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert settings["MAILERS"]["default"]["BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert settings["SECURE_SSL_REDIRECT"] is False
    assert settings["SECURE_HSTS_SECONDS"] == 0
    assert settings["SESSION_COOKIE_SECURE"] is False and settings["CSRF_COOKIE_SECURE"] is False
    assert "SECURE_PROXY_SSL_HEADER" not in settings
    assert settings["LOGGING"]["handlers"]["console"]["formatter"] == "text"
    assert settings["TASKS"]["default"]["BACKEND"] == "django.tasks.backends.immediate.ImmediateBackend"
    assert "rest_framework.renderers.BrowsableAPIRenderer" in settings["REST_FRAMEWORK"]["DEFAULT_RENDERER_CLASSES"]
    assert settings["STORAGES"]["staticfiles"]["BACKEND"] == "django.contrib.staticfiles.storage.StaticFilesStorage"


def test_test_environment(project: Project) -> None:
    settings = settings_for(project, {"DJANGO_ENV": "test"})
    assert settings["ENVIRONMENT"] == "test"
    assert settings["DEBUG"] is False
    assert settings["SECRET_KEY"] == TEST_SECRET_KEY
    assert "testserver" in settings["ALLOWED_HOSTS"]
    assert settings["DATABASES"]["default"]["ENGINE"] == "cfg.db.embedded_backend"
    assert settings["DATABASES"]["default"]["TEST"]["NAME"] == f"test_{SLUG}"
    assert settings["MAILERS"]["default"]["BACKEND"] == "django.core.mail.backends.locmem.EmailBackend"
    assert settings["PASSWORD_HASHERS"] == ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert settings["LOGGING"]["handlers"]["console"]["formatter"] == "text"
    assert settings["LOGGING"]["root"]["level"] == "WARNING"


def test_production(project: Project) -> None:
    settings = settings_for(project, PRODUCTION_WITH_REDIS)
    assert settings["ENVIRONMENT"] == "production"
    assert settings["DEBUG"] is False
    assert settings["SECRET_KEY"] == STRONG_SECRET_KEY
    assert settings["ALLOWED_HOSTS"] == ["example.com"]
    default = settings["DATABASES"]["default"]
    assert default["ENGINE"] == "django.db.backends.postgresql"
    assert (default["NAME"], default["USER"], default["PASSWORD"]) == ("app", "app", "db-pass-123")
    assert (default["HOST"], default["PORT"]) == ("db.internal", "5432")
    cache = settings["CACHES"]["default"]
    assert (cache["BACKEND"], cache["LOCATION"]) == ("django_redis.cache.RedisCache", REDIS)
    mailer = settings["MAILERS"]["default"]
    assert mailer["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert mailer["OPTIONS"]["host"] == "localhost"
    assert settings["SECURE_SSL_REDIRECT"] is True
    assert settings["SECURE_HSTS_SECONDS"] == 31_536_000
    assert settings["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert settings["SESSION_COOKIE_SECURE"] is True and settings["CSRF_COOKIE_SECURE"] is True
    assert settings["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert settings["SECURE_CSP"]["default-src"] == ["'self'"]
    assert settings["SECURE_CSP"]["frame-ancestors"] == ["'none'"]
    assert "SECURE_CSP_REPORT_ONLY" not in settings
    assert settings["LOGGING"]["handlers"]["console"]["formatter"] == "json"
    assert settings["LOGGING"]["formatters"]["json"]["()"] == "modules.logger.formatters.JsonFormatter"
    tasks = settings["TASKS"]["default"]
    assert tasks["BACKEND"] == "apps.tasks.backends.ReArqBackend"
    assert tasks["OPTIONS"]["redis_url"] == REDIS
    assert settings["REST_FRAMEWORK"]["DEFAULT_RENDERER_CLASSES"] == ["rest_framework.renderers.JSONRenderer"]
    assert settings["STORAGES"]["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_database_url_with_a_unix_socket_directory(project: Project) -> None:
    settings = settings_for(project, {**PRODUCTION, "DATABASE_URL": "postgres://app@/app?host=/var/run/postgresql"})
    default = settings["DATABASES"]["default"]
    assert (default["NAME"], default["USER"], default["HOST"], default["PORT"]) == (
        "app",
        "app",
        "/var/run/postgresql",
        "",
    )
    assert "host" not in default["OPTIONS"]


def test_database_url_keeps_query_options_and_decodes_the_password(project: Project) -> None:
    url = "postgresql://app:p%40ss%2Fword@db.internal:6543/app?sslmode=require"
    default = settings_for(project, {**PRODUCTION, "DATABASE_URL": url})["DATABASES"]["default"]
    assert (default["PASSWORD"], default["PORT"], default["OPTIONS"]) == ("p@ss/word", "6543", {"sslmode": "require"})


def test_extra_database_alias_with_apps_adds_the_router(project: Project) -> None:
    settings = settings_for(
        project,
        {
            "DJANGO_ENV": "test",
            "DATABASES__ANALYTICS__URL": "postgres://reader:pw@analytics.internal:5432/analytics",
            "DATABASES__ANALYTICS__APPS": "leads,support",
            "DATABASES__ANALYTICS__OPTIONS__SSLMODE": "require",
        },
    )
    analytics = settings["DATABASES"]["analytics"]
    assert (analytics["ENGINE"], analytics["NAME"], analytics["HOST"]) == (
        "django.db.backends.postgresql",
        "analytics",
        "analytics.internal",
    )
    assert analytics["OPTIONS"] == {"sslmode": "require"}
    assert settings["DATABASE_ROUTERS"] == ["cfg.db.router.AppDatabaseRouter"]
    assert settings["DATABASE_APPS_MAPPING"] == {"leads": "analytics", "support": "analytics"}


def test_extra_database_alias_without_apps_needs_no_router(project: Project) -> None:
    settings = settings_for(
        project, {"DJANGO_ENV": "test", "DATABASES__REPORTS__URL": "postgres://reader@reports.internal/reports"}
    )
    assert set(settings["DATABASES"]) == {"default", "reports"}
    assert settings["DATABASE_ROUTERS"] == []


def test_redis_url_switches_the_cache_in_any_environment(project: Project) -> None:
    settings = settings_for(project, {"DJANGO_ENV": "development", "REDIS_URL": REDIS})
    assert settings["CACHES"]["default"]["BACKEND"] == "django_redis.cache.RedisCache"
    assert settings["CACHES"]["default"]["LOCATION"] == REDIS
    forced = settings_for(project, {"DJANGO_ENV": "development", "REDIS_URL": REDIS, "CACHE__BACKEND": "locmem"})
    assert forced["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


def test_the_throttle_cache_does_not_hide_redis_errors_and_is_never_dummy(project: Project) -> None:
    with_redis = settings_for(project, {"DJANGO_ENV": "development", "REDIS_URL": REDIS})["CACHES"]
    assert with_redis["default"]["OPTIONS"]["IGNORE_EXCEPTIONS"] is True
    assert with_redis["throttle"]["LOCATION"] == REDIS
    assert "IGNORE_EXCEPTIONS" not in with_redis["throttle"]["OPTIONS"]
    dummy = settings_for(project, {"DJANGO_ENV": "development", "CACHE__BACKEND": "dummy"})["CACHES"]
    assert dummy["default"]["BACKEND"] == "django.core.cache.backends.dummy.DummyCache"
    assert dummy["throttle"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


def test_installed_apps_order(project: Project) -> None:
    apps = settings_for(project, {"DJANGO_ENV": "test"})["INSTALLED_APPS"]
    assert len(apps) == len(set(apps))
    assert apps.index("unfold") < apps.index("django.contrib.admin")
    assert apps.index("unfold.contrib.constance") < apps.index("django.contrib.admin")
    for app in ("django.contrib.postgres", "rest_framework", "drf_spectacular", "corsheaders", "constance", "cfg"):
        assert app in apps
    assert "apps.accounts" in apps


def test_api_and_jwt_follow_the_config(project: Project) -> None:
    settings = settings_for(
        project,
        {
            "DJANGO_ENV": "test",
            "API__JWT_ACCESS_MINUTES": "5",
            "API__JWT_REFRESH_DAYS": "2",
            "API__PAGE_SIZE": "50",
            "API__THROTTLE_ANON": "10/minute",
            "API__TITLE": "Shop API",
        },
    )
    jwt = settings["SIMPLE_JWT"]
    assert jwt["ACCESS_TOKEN_LIFETIME"] == timedelta(minutes=5)
    assert jwt["REFRESH_TOKEN_LIFETIME"] == timedelta(days=2)
    rest = settings["REST_FRAMEWORK"]
    assert rest["PAGE_SIZE"] == 50
    assert rest["DEFAULT_THROTTLE_RATES"]["anon"] == "10/minute"
    assert settings["SPECTACULAR_SETTINGS"]["TITLE"] == "Shop API"


def test_csp_report_only(project: Project) -> None:
    settings = settings_for(project, {"DJANGO_ENV": "test", "SECURITY__CSP_REPORT_ONLY": "true"})
    assert "SECURE_CSP" not in settings
    assert settings["SECURE_CSP_REPORT_ONLY"]["object-src"] == ["'none'"]


def test_email_smtp_options(project: Project) -> None:
    settings = settings_for(
        project,
        {
            "DJANGO_ENV": "test",
            "EMAIL__BACKEND": "smtp",
            "EMAIL__HOST": "127.0.0.1",
            "EMAIL__PORT": "1025",
            "EMAIL__USE_TLS": "true",
            "EMAIL__PASSWORD": "mail-pw",
        },
    )
    options = settings["MAILERS"]["default"]["OPTIONS"]
    assert (options["host"], options["port"], options["use_tls"], options["use_ssl"]) == (
        "127.0.0.1",
        1025,
        True,
        False,
    )
    assert options["password"] == "mail-pw"


ENVIRONMENTS = {
    "development": {"DJANGO_ENV": "development"},
    "test": {"DJANGO_ENV": "test"},
    "production": PRODUCTION,
    "production-redis-rearq": PRODUCTION_WITH_REDIS,
}


@pytest.mark.parametrize("environ", ENVIRONMENTS.values(), ids=ENVIRONMENTS.keys())
def test_no_generator_overwrites_another_generators_key(project: Project, environ: dict[str, str]) -> None:
    config = project.load(environ)
    produced = settings_by_concern(config)
    assert [name for name, _ in produced] == [name for name, _ in GENERATORS] + [
        "app accounts",
        "app knowbase",
        "app agents",
        "app leads",
        "app newsletter",
        "app support",
        "project",
    ]
    owners: dict[str, list[str]] = {}
    for concern, settings in produced:
        for key in settings:
            owners.setdefault(key, []).append(concern)
    assert {key: names for key, names in owners.items() if len(names) > 1} == {}
    assert set(config.get_all_settings()) == set(owners)


def test_generators_are_pure(project: Project) -> None:
    config = project.load(PRODUCTION_WITH_REDIS)
    assert config.get_all_settings() == config.get_all_settings()
    first = config.get_all_settings()
    first["ALLOWED_HOSTS"].append("evil.example.com")
    first["DATABASES"]["default"]["OPTIONS"]["x"] = "y"
    again = config.get_all_settings()
    assert again["ALLOWED_HOSTS"] == ["example.com"]
    assert "x" not in again["DATABASES"]["default"]["OPTIONS"]
    assert config.security.allowed_hosts == ("example.com",)


@pytest.mark.parametrize("environ", ENVIRONMENTS.values(), ids=ENVIRONMENTS.keys())
def test_generated_settings_hold_plain_mutable_containers(project: Project, environ: dict[str, str]) -> None:
    # The config is frozen all the way down; Django and third-party apps may still edit their settings.
    def frozen_inside(value: Any, path: str) -> list[str]:
        if isinstance(value, FrozenDict):
            return [path]
        if isinstance(value, dict):
            return [found for key, item in value.items() for found in frozen_inside(item, f"{path}.{key}")]
        if isinstance(value, list | tuple):
            return [found for index, item in enumerate(value) for found in frozen_inside(item, f"{path}[{index}]")]
        return []

    nightly = {
        "TASKS__PERIODIC__NIGHTLY__TASK": "apps.reports.tasks.build",
        "TASKS__PERIODIC__NIGHTLY__CRON": "0 3 * * *",
        "TASKS__PERIODIC__NIGHTLY__KWARGS": '{"options": {"formats": ["pdf"]}}',
    }
    settings = project.load({**environ, **nightly}).get_all_settings()
    assert frozen_inside(settings, "settings") == []
    assert settings["TASKS_PERIODIC"]["nightly"]["kwargs"] == {"options": {"formats": ["pdf"]}}


def test_the_running_test_suite_uses_the_test_settings() -> None:
    from django.conf import settings

    assert settings.ENVIRONMENT == "test"
    assert settings.DEBUG is False
    assert settings.MAILERS["default"]["BACKEND"] == "django.core.mail.backends.locmem.EmailBackend"


def test_api_docs_are_off_in_production_unless_asked_for(project: Project) -> None:
    assert settings_for(project, PRODUCTION)["API_DOCS_ENABLED"] is False
    assert settings_for(project, {**PRODUCTION, "API__DOCS_ENABLED": "true"})["API_DOCS_ENABLED"] is True
    assert settings_for(project, {"DJANGO_ENV": "development"})["API_DOCS_ENABLED"] is True


def test_trusted_proxies_and_the_upload_limit(project: Project) -> None:
    environ = {
        **PRODUCTION,
        "SECURITY__TRUSTED_PROXIES": "10.0.0.2,172.30.0.0/24",
        "SECURITY__MAX_UPLOAD_BYTES": "4096",
    }
    settings = settings_for(project, environ)
    assert settings["TRUSTED_PROXIES"] == ["10.0.0.2", "172.30.0.0/24"]
    assert settings["MAX_UPLOAD_BYTES"] == 4096


class PortalProject(ProjectConfig):
    project_apps: AppList = (
        AppSpec(
            app="apps",
            name="portal",
            navigation=(
                NavigationItem(title="Pages", link="/admin/portal/page/"),
                NavigationItem(title="Editors", link="/admin/portal/editor/", icon="badge", group="people"),
            ),
            dashboard=("apps.portal.dashboard.page_cards",),
        ),
    )


def sidebar(settings: dict[str, Any]) -> dict[str, list[str]]:
    return {
        section["title"]: [item["title"] for item in section["items"]]
        for section in settings["UNFOLD"]["SIDEBAR"]["navigation"]
    }


def test_the_sidebar_has_a_section_per_group_in_a_fixed_order(project: Project) -> None:
    project.yaml(
        "test", "unfold:\n  navigation:\n    - title: Elsewhere\n      items:\n        - {title: Blog, link: /blog/}\n"
    )
    settings = project.load({"DJANGO_ENV": "test"}, PortalProject).get_all_settings()
    sections = sidebar(settings)
    assert sections.pop("Settings")[0] == "Live settings"
    assert sections == {
        "": ["Dashboard"],
        "People": ["Users", "Groups", "Editors"],
        "Sign-in security": ["Sign-in codes", "Activity", "Issued tokens", "Revoked tokens"],
        # An app's items without a group: a section of its own, between security and operations.
        "Knowledge base": ["Documents", "Search", "Categories"],
        "Agents": ["Agents", "Conversations", "Runs", "Pending approvals", "Tool calls"],
        "Leads": ["Leads", "Board"],
        "Newsletter": [
            "Campaigns",
            "Lists",
            "Subscribers",
            "Suppression list",
            "Consent records",
            "Send log",
        ],
        "Support": ["Ticket queue", "Canned replies", "Ticket categories"],
        "Portal": ["Pages"],
        "Operations": ["Tasks dashboard", "Task runs", "LLM calls", "Readiness", "API docs"],
        "Elsewhere": ["Blog"],
    }
    assert list(sidebar(settings)) == [
        "",
        "People",
        "Sign-in security",
        "Knowledge base",
        "Agents",
        "Leads",
        "Newsletter",
        "Support",
        "Portal",
        "Operations",
        "Settings",
        "Elsewhere",
    ]
    assert settings["UNFOLD"]["SIDEBAR"]["show_all_applications"] is False
    [api_docs] = [
        item
        for section in settings["UNFOLD"]["SIDEBAR"]["navigation"]
        for item in section["items"]
        if item["title"] == "API docs"
    ]
    assert api_docs["permission"] == "modules.unfold.navigation.api_docs_enabled"


def test_a_switched_off_app_leaves_the_sidebar_and_the_dashboard(project: Project) -> None:
    # The agents app requires tasks: it goes too.
    settings = project.load(
        {"DJANGO_ENV": "test", "ENABLE_TASKS": "false", "ENABLE_AGENTS": "false", "ENABLE_NEWSLETTER": "false"}
    ).get_all_settings()
    assert sidebar(settings)["Operations"] == ["LLM calls", "Readiness", "API docs"]
    assert "apps.tasks.dashboard.task_cards" not in settings["DASHBOARD_PANELS"]


def test_the_dashboard_panels_come_from_the_enabled_apps_then_the_modules(project: Project) -> None:
    settings = project.load({"DJANGO_ENV": "test"}, PortalProject).get_all_settings()
    assert settings["DASHBOARD_PANELS"] == [
        "apps.accounts.dashboard.people_cards",
        "apps.accounts.dashboard.sign_in_cards",
        "apps.tasks.dashboard.task_cards",
        "apps.knowbase.dashboard.knowbase_cards",
        "apps.agents.dashboard.agent_cards",
        "apps.leads.dashboard.lead_cards",
        "apps.newsletter.dashboard.newsletter_cards",
        "apps.support.dashboard.support_cards",
        "apps.portal.dashboard.page_cards",
        "modules.unfold.dashboard.shortcut_cards",
    ]
    assert settings["UNFOLD"]["DASHBOARD_CALLBACK"] == provided("dashboard_callback")


def test_a_navigation_group_outside_the_vocabulary_stops_start_up(project: Project) -> None:
    apps = '[{"app": "apps", "name": "portal", "navigation": [{"title": "Pages", "link": "/p/", "group": "content"}]}]'
    assert project.problems({"DJANGO_ENV": "test", "PROJECT_APPS": apps}) == [
        "Invalid configuration: project_apps.navigation.group (from env var PROJECT_APPS): 'content' is not a "
        "navigation group. Fix: use one of people, security, operations, settings, or leave it empty for a section "
        "named after the app"
    ]
