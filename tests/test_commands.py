"""The core management commands and `manage.py check`, run as a user would run them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

BASE_DIR = Path(__file__).resolve().parent.parent
STRONG_KEY = "k" * 20 + "Zq8-Xw2_Lp5vN7rT0yB4mC6dF9hJ3sG1aE"


def manage(*args, env=None, **extra):
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environ, capture_output=True, text=True, timeout=120
    )


PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": STRONG_KEY,
    "DATABASE_URL": "postgres://app:pw@db.internal:5432/app",
    "SECURITY__ALLOWED_HOSTS": "example.com",
}


def test_check_is_clean():
    result = manage("check", env={"DJANGO_ENV": "development"})
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_with_a_valid_production_environment_gives_no_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_validate_config_exits_1_with_the_readable_message():
    result = manage("validate_config", env={**PRODUCTION, "SECRET_KEY": "short"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "Invalid configuration: secret_key (from env var SECRET_KEY): is 5 characters; production needs at least 50. "
        'Fix: set SECRET_KEY to the output of python -c "import secrets; print(secrets.token_urlsafe(50))"'
    ]


def test_validate_config_for_another_environment(capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("validate_config", env="production")
    assert exit_info.value.code == 1
    assert "production needs a database server" in capsys.readouterr().err


def test_show_config_masks_secrets(capsys, monkeypatch):
    monkeypatch.setenv("EMAIL__PASSWORD", "hunter2-secret")
    monkeypatch.setenv("DATABASE_URL", "postgres://app:db-password@db.internal:5432/app")
    call_command("show_config", json=True)
    output = capsys.readouterr().out
    data = json.loads(output)
    assert "hunter2-secret" not in output and "db-password" not in output
    assert data["email"]["password"] == "********"
    assert data["database_url"] == "postgres://app:********@db.internal:5432/app"
    assert data["secret_key"] == "********"


def test_show_config_lists_every_env_var(capsys):
    call_command("show_config", env_vars=True)
    output = capsys.readouterr().out
    for name in ("`SECRET_KEY`", "`DATABASE_URL`", "`EMAIL__HOST`", "`SECURITY__ALLOWED_HOSTS`", "`DJANGO_ENV`"):
        assert name in output
    # The smart defaults per environment, beside the field default; the secret key's value is not shown.
    assert "| `DEBUG` | `false` | development: `true` · test, staging, production: `false` |" in output
    assert "| `SECRET_KEY` | `(empty)` | development, test: a fixed dev-only key |" in output
    email_backend = "development: `console` · test: `locmem` · staging, production: `smtp`"
    assert f"| `EMAIL__BACKEND` | `console` | {email_backend} |" in output
    # Mapping defaults are shown as YAML below the table, ready to copy into config/environments/<env>.yaml.
    assert "| `SECURITY__CSP` | `(below the table)` |" in output
    mappings = yaml.safe_load(output.split("```yaml\n", 1)[1].split("```", 1)[0])
    assert mappings["security"]["csp"]["script-src"] == ["'self'"]
    assert mappings["constance"]["fields"]["SIGNUPS_OPEN"]["type"] == "bool"


def test_check_settings_looks_up_and_diffs(capsys):
    call_command("check_settings", "ROOT_URLCONF", "SECRET_KEY", json=True)
    assert json.loads(capsys.readouterr().out) == {"ROOT_URLCONF": "config.urls", "SECRET_KEY": "********"}
    call_command("check_settings", json=True)
    differing = json.loads(capsys.readouterr().out)
    assert "INSTALLED_APPS" in differing and "USE_TZ" not in differing


def test_check_settings_masks_secrets_at_any_depth_and_in_urls(capsys, settings):
    settings.REDIS_URL = "redis://:hunter2hunter2@cache.internal:6379/0"
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": "jwt-signing-secret"}
    settings.TASKS = {"default": {"BACKEND": "x", "OPTIONS": {"redis_url": "rediss://app:pw-in-url@q.internal/1"}}}
    call_command("check_settings", "REDIS_URL", "SIMPLE_JWT", "TASKS", "AUTH_PASSWORD_VALIDATORS", json=True)
    output = capsys.readouterr().out
    for secret in ("hunter2hunter2", "jwt-signing-secret", "pw-in-url"):
        assert secret not in output
    shown = json.loads(output)
    assert shown["REDIS_URL"] == "redis://:********@cache.internal:6379/0"
    assert shown["TASKS"]["default"]["OPTIONS"]["redis_url"] == "rediss://app:********@q.internal/1"
    assert shown["SIMPLE_JWT"]["SIGNING_KEY"] == "********"
    assert shown["SIMPLE_JWT"]["ACCESS_TOKEN_LIFETIME"] != "********"  # a lifetime is not a secret
    assert shown["AUTH_PASSWORD_VALIDATORS"][0]["NAME"].startswith("django.contrib.auth")


def test_check_settings_unknown_name_exits_1(capsys):
    with pytest.raises(SystemExit):
        call_command("check_settings", "NOT_A_SETTING")
    assert "Unknown setting(s): NOT_A_SETTING" in capsys.readouterr().err


def test_tree_shows_apps_urls_and_databases(capsys, settings):
    call_command("tree")
    output = capsys.readouterr().out
    assert "accounts: enabled" in output
    assert "/admin/" in output and "/api/schema/" in output
    assert f"default: {settings.DATABASES['default']['NAME']} (embedded_backend" in output
