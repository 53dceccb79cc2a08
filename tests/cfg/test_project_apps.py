"""project_apps and project_middleware: what a project's own apps contribute to the generated settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfg.exceptions import SettingsCollisionError
from cfg.models.apps import AppList, AppSpec, MiddlewareList, MiddlewareSpec
from cfg.models.unfold import NavigationItem
from config.config import ProjectConfig

from .conftest import Project

TEST = {"DJANGO_ENV": "test"}
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
CONF = """def billing_settings(config):
    return {"BILLING": {"PROJECT": config.project_slug}}


def colliding_settings(config):
    return {"DEBUG": True}
"""


@pytest.fixture
def billing_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    package = tmp_path / "cfgtests_billing"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "conf.py").write_text(CONF)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cfgtests_billing"


class BillingProject(ProjectConfig):
    project_apps: AppList = (
        AppSpec(
            app="cfgtests_billing",
            name="billing",
            url_prefix="api/billing/",
            urls="cfgtests_billing.urls",
            middleware=(MiddlewareSpec(path="cfgtests_billing.middleware.SeatMiddleware", after=AUTH),),
            settings="cfgtests_billing.conf.billing_settings",
            checks={"ledger": "cfgtests_billing.health.check_ledger"},
            navigation=(NavigationItem(title="Invoices", link="/admin/billing/invoice/"),),
            requires=("tasks",),
        ),
    )
    project_middleware: MiddlewareList = (MiddlewareSpec(path="cfgtests_billing.middleware.Last"),)


def test_a_project_app_is_installed_mounted_checked_and_shown(project: Project, billing_package: str) -> None:
    config = project.load(TEST, BillingProject)
    settings = config.get_all_settings()
    assert settings["INSTALLED_APPS"][-1] == "cfgtests_billing"
    assert settings["ENABLED_APPS"][-1] == "billing"
    assert settings["URL_MOUNTS"][-1] == ("api/billing/", "cfgtests_billing.urls")
    assert settings["HEALTH_CHECKS"]["ledger"] == "cfgtests_billing.health.check_ledger"
    assert settings["BILLING"] == {"PROJECT": config.project_slug}
    sections = {section["title"]: section["items"] for section in settings["UNFOLD"]["SIDEBAR"]["navigation"]}
    assert sections["Billing"] == [{"title": "Invoices", "icon": "chevron_right", "link": "/admin/billing/invoice/"}]


def test_middleware_goes_after_the_one_it_names_and_project_middleware_last(
    project: Project, billing_package: str
) -> None:
    middleware = project.load(TEST, BillingProject).get_all_settings()["MIDDLEWARE"]
    assert middleware[middleware.index(AUTH) + 1] == "cfgtests_billing.middleware.SeatMiddleware"
    assert middleware[-1] == "cfgtests_billing.middleware.Last"
    assert "apps.accounts.middleware.LastActivityMiddleware" in middleware


def test_middleware_after_one_that_is_not_there_stops_start_up(project: Project, billing_package: str) -> None:
    assert project.problems({**TEST, "PROJECT_MIDDLEWARE": '[{"path": "a.B", "after": "not.There"}]'}) == [
        "Invalid configuration: project_middleware (from env var PROJECT_MIDDLEWARE): the middleware a.B goes after "
        "not.There, which is not in MIDDLEWARE. Fix: correct PROJECT_MIDDLEWARE"
    ]


def test_a_builtin_package_listed_again_and_a_check_name_taken_stop_start_up(
    project: Project, billing_package: str
) -> None:
    apps = '[{"app": "apps.tasks", "name": "tasks_again"}, {"app": "cfgtests_billing", "checks": {"worker": "x.y"}}]'
    assert project.problems({**TEST, "PROJECT_APPS": apps}) == [
        "Invalid configuration: project_apps (from env var PROJECT_APPS): the package apps.tasks is installed twice. "
        "Fix: remove it from project_apps (a built-in app is switched with its ENABLE_ variable)",
        "Invalid configuration: project_apps (from env var PROJECT_APPS): the readiness check 'worker' of "
        "cfgtests_billing is also tasks's. Fix: give cfgtests_billing's check another name",
    ]


def test_a_mistake_inside_a_project_app_names_the_setting_that_holds_it(project: Project) -> None:
    assert project.problems({**TEST, "PROJECT_APPS": '[{"app": "apps", "name": "portal", "url_prefix": "/x"}]'}) == [
        "Invalid configuration: project_apps.url_prefix (from env var PROJECT_APPS): '/x' must be relative and end "
        "with a slash, e.g. api/billing/. Fix: correct PROJECT_APPS"
    ]


def test_an_app_setting_that_collides_is_refused(project: Project, billing_package: str) -> None:
    environ = {
        **TEST,
        "PROJECT_APPS": '[{"app": "cfgtests_billing", "settings": "cfgtests_billing.conf.colliding_settings"}]',
    }
    with pytest.raises(SettingsCollisionError, match="setting DEBUG is produced by both core and app cfgtests_billing"):
        project.load(environ).get_all_settings()


def test_a_project_app_that_requires_a_switched_off_app_stops_start_up(project: Project, billing_package: str) -> None:
    assert project.problems(
        {**TEST, "ENABLE_TASKS": "false", "ENABLE_AGENTS": "false", "ENABLE_NEWSLETTER": "false"}, BillingProject
    ) == [
        "Invalid configuration: project_apps (from the default): the app billing requires tasks, which is off. "
        "Fix: set ENABLE_TASKS=true, or remove it"
    ]


def test_plain_package_names_from_the_environment(project: Project, billing_package: str) -> None:
    config = project.load({**TEST, "PROJECT_APPS": "cfgtests_billing", "PROJECT_MIDDLEWARE": "x.y.Z"})
    assert config.project_apps == (AppSpec(app="cfgtests_billing", name="cfgtests_billing"),)
    settings = config.get_all_settings()
    assert "cfgtests_billing" in settings["INSTALLED_APPS"] and settings["MIDDLEWARE"][-1] == "x.y.Z"


def test_switched_off_builtin_apps_contribute_nothing(project: Project) -> None:
    settings = project.load(
        {**TEST, "ENABLE_TASKS": "false", "ENABLE_AGENTS": "false", "ENABLE_NEWSLETTER": "false"}
    ).get_all_settings()
    assert "apps.tasks" not in settings["INSTALLED_APPS"]
    assert ("api/tasks/", "apps.tasks.urls") not in settings["URL_MOUNTS"]
    assert "worker" not in settings["HEALTH_CHECKS"]
    assert "Tasks" not in [section["title"] for section in settings["UNFOLD"]["SIDEBAR"]["navigation"]]
    # accounts holds the user model: installed even when its API is off.
    accounts_off = project.load({**TEST, "ENABLE_ACCOUNTS": "false"}).get_all_settings()
    assert "apps.accounts" in accounts_off["INSTALLED_APPS"]
    assert ("api/", "apps.accounts.urls") not in accounts_off["URL_MOUNTS"]
