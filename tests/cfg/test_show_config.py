"""show_config: one table per section, each value with the source that set it; --json stays the masked dump."""

from __future__ import annotations

import json
import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cfg.introspection import MASK
from cfg.loading import environ_values
from cfg.management.base import load_fresh
from config.config import ProjectConfig

from .conftest import Project

Rows = dict[str, tuple[str, str]]


@pytest.fixture
def throwaway(project: Project, settings, monkeypatch: pytest.MonkeyPatch) -> Project:
    """show_config reads the throwaway project, with no config variable of the test process but those a test sets."""
    settings.BASE_DIR = project.root
    for name in list(os.environ):
        if name == "DJANGO_ENV" or environ_values({name: ""}, ProjectConfig):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DJANGO_ENV", "development")
    return project


def table_rows(output: str) -> Rows:
    """key -> (value, source), from the first line of each row of every table printed."""
    rows: Rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 3 and cells[0] and cells[0] != "key":
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def show(capsys: pytest.CaptureFixture[str], *args: str, **options: object) -> str:
    call_command("show_config", *args, **options)
    return capsys.readouterr().out


def test_each_value_names_its_source(throwaway: Project, capsys, monkeypatch) -> None:
    throwaway.yaml("development", "logging:\n  level: ERROR\nemail:\n  host: yaml.example.com\n  port: 2500\n")
    throwaway.dotenv("EMAIL__HOST=dotenv.example.com\nEMAIL__DEFAULT_FROM=team@example.com\n")
    monkeypatch.setenv("EMAIL__DEFAULT_FROM", "env@example.com")
    monkeypatch.setenv("SECURITY__ALLOWED_HOSTS", "example.com,www.example.com")

    rows = table_rows(show(capsys))

    assert rows["site_url"] == ("http://127.0.0.1:8000", "default")
    assert rows["project_name"] == (ProjectConfig.model_fields["project_name"].default, "default (config/config.py)")
    assert rows["debug"] == ("true", "smart default (development)")
    assert rows["email.backend"] == ("console", "smart default (development)")
    assert rows["logging.level"] == ("ERROR", "config/environments/development.yaml key logging.level")
    assert rows["email.port"] == ("2500", "config/environments/development.yaml key email.port")
    # .env over YAML, the process environment over .env.
    assert rows["email.host"] == ("dotenv.example.com", ".env key EMAIL__HOST")
    assert rows["email.default_from"] == ("env@example.com", "env var EMAIL__DEFAULT_FROM")
    assert rows["security.allowed_hosts"] == ('["example.com", "www.example.com"]', "env var SECURITY__ALLOWED_HOSTS")
    assert rows["env"] == ("development", "env var DJANGO_ENV")


def test_the_environment_is_its_value_and_says_when_it_was_detected(throwaway: Project, capsys, monkeypatch) -> None:
    monkeypatch.delenv("DJANGO_ENV")
    output = show(capsys)
    assert table_rows(output)["env"] == ("test", "detected")  # pytest is running
    assert "Environment." not in output and "<" not in output


def test_tables_come_by_section_in_order(throwaway: Project, capsys) -> None:
    output = show(capsys)
    titles = [line.strip() for line in output.splitlines() if line.strip() and line.strip()[0].isalpha()]
    assert titles[:6] == ["core", "databases", "cache", "security", "email", "tasks"]
    assert titles[-1] == "apps"
    assert {"llm", "ngrok", "support"} <= set(titles)
    rows = table_rows(output)
    assert rows["enable_leads"] == ("true", "default")
    assert rows["redis_url"] == ("(not set)", "default")
    assert rows["home_redirect"] == ("(empty)", "default")


def test_one_section(throwaway: Project, capsys, monkeypatch) -> None:
    monkeypatch.setenv("DATABASES__ANALYTICS__URL", "postgres://app:pw@analytics.internal:5432/analytics")
    monkeypatch.setenv("DATABASES__ANALYTICS__APPS", "leads")
    rows = table_rows(show(capsys, section="databases"))
    assert set(rows) >= {"database_url", "db_conn_max_age", "db_pool.max_size", "databases.analytics.url"}
    assert not any(key.startswith(("email.", "enable_")) or key == "debug" for key in rows)
    assert rows["databases.analytics.apps"] == ('["leads"]', "env var DATABASES__ANALYTICS__APPS")
    assert rows["databases.analytics.conn_max_age"] == ("60", "default")


def test_an_unknown_section_names_the_sections(throwaway: Project) -> None:
    with pytest.raises(CommandError, match=r"^no section 'mail'; choose one of: core, databases, cache, .*, apps$"):
        call_command("show_config", section="mail")


def test_secrets_are_masked_in_the_tables(throwaway: Project, capsys, monkeypatch) -> None:
    throwaway.dotenv("EMAIL__PASSWORD=hunter2-secret\nTELEGRAM__BOT_TOKEN=123:bot-token-secret\n")
    monkeypatch.setenv("DATABASE_URL", "postgres://app:db-password@db.internal:5432/app")
    monkeypatch.setenv("DATABASES__ANALYTICS__URL", "postgres://app:alias-password@analytics.internal:5432/x")
    output = show(capsys)
    for secret in ("hunter2-secret", "bot-token-secret", "db-password", "alias-password", "django-insecure"):
        assert secret not in output
    rows = table_rows(output)
    assert rows["email.password"] == (MASK, ".env key EMAIL__PASSWORD")
    assert rows["telegram.bot_token"] == (MASK, ".env key TELEGRAM__BOT_TOKEN")
    assert rows["secret_key"] == (MASK, "smart default (development)")
    assert rows["database_url"] == (f"postgres://app:{MASK}@db.internal:5432/app", "env var DATABASE_URL")
    assert rows["databases.analytics.url"][0] == f"postgres://app:{MASK}@analytics.internal:5432/x"


def test_json_is_the_masked_dump_for_scripts(throwaway: Project, capsys, monkeypatch) -> None:
    """Scripts parse this output: it is every field (but base_dir) as JSON, keys sorted, indented by two, secrets
    masked, and nothing else (no sources)."""
    throwaway.yaml("development", "logging:\n  level: ERROR\n")
    monkeypatch.setenv("EMAIL__PASSWORD", "hunter2-secret")
    monkeypatch.setenv("DATABASE_URL", "postgres://app:db-password@db.internal:5432/app")
    expected = load_fresh().model_dump(mode="json", exclude={"base_dir"})
    expected["secret_key"] = MASK
    expected["email"]["password"] = MASK
    expected["database_url"] = f"postgres://app:{MASK}@db.internal:5432/app"

    output = show(capsys, json=True)

    assert output == json.dumps(expected, indent=2, sort_keys=True) + "\n"
    assert expected["env"] == "development" and expected["logging"]["level"] == "ERROR"


def test_json_of_one_section(throwaway: Project, capsys) -> None:
    data = json.loads(show(capsys, json=True, section="email"))
    assert list(data) == ["email"]
    assert data["email"]["backend"] == "console"


def test_an_invalid_configuration_is_one_readable_error(throwaway: Project, monkeypatch) -> None:
    monkeypatch.setenv("EMAIL__PORT", "not-a-port")
    with pytest.raises(CommandError) as info:
        call_command("show_config")
    assert str(info.value).splitlines() == [
        "Invalid configuration: email.port (from env var EMAIL__PORT): is not a whole number (got 'not-a-port'). "
        "Fix: set EMAIL__PORT to a whole number"
    ]


def test_the_project_itself(capsys) -> None:
    """The real project, as `manage.py show_config` sees it in this test run."""
    rows = table_rows(show(capsys))
    assert rows["env"][0] == "test"
    assert rows["secret_key"][0] == MASK
    assert rows["email.backend"] == ("locmem", "smart default (test)")
