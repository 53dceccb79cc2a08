"""Production refuses unsafe settings; a valid production environment loads."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from cfg.defaults import DEVELOPMENT_SECRET_KEY, TEST_SECRET_KEY
from cfg.environment import Environment

from .conftest import BASE_DIR, PRODUCTION, Project, clean_environ

PREFIX = "Invalid configuration: "
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'
KNOWN_KEY = (
    f"secret_key (from env var SECRET_KEY): is a known example value. Fix: set SECRET_KEY to the output of {GENERATE}"
)


def test_a_valid_production_environment_loads(project: Project) -> None:
    config = project.load(PRODUCTION)
    assert config.env is Environment.PRODUCTION and config.is_production
    assert config.debug is False
    assert config.security.allowed_hosts == ("example.com",)
    assert config.security.ssl_redirect and config.security.secure_cookies
    assert config.security.hsts_seconds >= 31_536_000


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"DEBUG": "true"}, "debug (from env var DEBUG): DEBUG is on in production. Fix: set DEBUG=false", id="debug"
        ),
        pytest.param(
            {"SECRET_KEY": "x" * 49},
            "secret_key (from env var SECRET_KEY): is 49 characters; production needs at least 50. "
            f"Fix: set SECRET_KEY to the output of {GENERATE}",
            id="key-49-chars",
        ),
        pytest.param(
            {"SECRET_KEY": "a" * 50},
            "secret_key (from env var SECRET_KEY): has only 1 distinct character; production needs at least 5. "
            f"Fix: set SECRET_KEY to the output of {GENERATE}",
            id="key-one-character-repeated",
        ),
        pytest.param(
            {"SECRET_KEY": "abcd" * 13},
            "secret_key (from env var SECRET_KEY): has only 4 distinct characters; production needs at least 5. "
            f"Fix: set SECRET_KEY to the output of {GENERATE}",
            id="key-four-distinct-characters",
        ),
        pytest.param(
            {"SECRET_KEY": " " * 60},
            "secret_key (from env var SECRET_KEY): is only whitespace. Fix: set SECRET_KEY to a long random string",
            id="key-spaces",
        ),
        pytest.param(
            {"SECRET_KEY": "\t \n" * 20},
            "secret_key (from env var SECRET_KEY): is only whitespace. Fix: set SECRET_KEY to a long random string",
            id="key-whitespace",
        ),
        pytest.param({"SECRET_KEY": "change-me"}, KNOWN_KEY, id="key-example"),
        pytest.param({"SECRET_KEY": "Your-Secret-Key-Here"}, KNOWN_KEY, id="key-example-any-case"),
        pytest.param({"SECRET_KEY": "django-insecure-" + "a1b2c3" * 10}, KNOWN_KEY, id="key-django-insecure"),
        pytest.param({"SECRET_KEY": DEVELOPMENT_SECRET_KEY}, KNOWN_KEY, id="key-development-default"),
        pytest.param({"SECRET_KEY": TEST_SECRET_KEY}, KNOWN_KEY, id="key-test-default"),
        pytest.param(
            {"SECURITY__ALLOWED_HOSTS": "*"},
            "security.allowed_hosts (from env var SECURITY__ALLOWED_HOSTS): a wildcard host accepts any Host header. "
            "Fix: list your real domain names in SECURITY__ALLOWED_HOSTS",
            id="wildcard-host",
        ),
        pytest.param(
            {"SECURITY__ALLOWED_HOSTS": "example.com,*.example.com"},
            "security.allowed_hosts (from env var SECURITY__ALLOWED_HOSTS): a wildcard host accepts any Host header. "
            "Fix: list your real domain names in SECURITY__ALLOWED_HOSTS",
            id="wildcard-subdomain",
        ),
        pytest.param(
            {"SECURITY__ALLOWED_HOSTS": ""},
            "security.allowed_hosts (from env var SECURITY__ALLOWED_HOSTS): no host is allowed. "
            "Fix: set SECURITY__ALLOWED_HOSTS to your domain names, comma separated",
            id="empty-hosts",
        ),
        pytest.param(
            {"SECURITY__SSL_REDIRECT": "false"},
            "security.ssl_redirect (from env var SECURITY__SSL_REDIRECT): HTTPS redirect is off in production. "
            "Fix: set SECURITY__SSL_REDIRECT=true",
            id="ssl-redirect-off",
        ),
        pytest.param(
            {"SECURITY__HSTS_SECONDS": "3600"},
            "security.hsts_seconds (from env var SECURITY__HSTS_SECONDS): HSTS is 3600 s; production needs at least "
            "one year. Fix: set SECURITY__HSTS_SECONDS=31536000",
            id="hsts-one-hour",
        ),
        pytest.param(
            {"SECURITY__SECURE_COOKIES": "0"},
            "security.secure_cookies (from env var SECURITY__SECURE_COOKIES): cookies would be sent over plain HTTP. "
            "Fix: set SECURITY__SECURE_COOKIES=true",
            id="insecure-cookies",
        ),
        pytest.param(
            {"DATABASE_URL": None},
            "database_url (from the default): production needs a database server; the embedded one is for "
            "development and tests. Fix: set DATABASE_URL=postgres://user:password@host:5432/name",
            id="no-database-url",
        ),
    ],
)
def test_production_refuses_unsafe_settings(project: Project, change: dict[str, str | None], expected: str) -> None:
    environ = {key: value for key, value in {**PRODUCTION, **change}.items() if value is not None}
    assert project.problems(environ) == [PREFIX + expected]


def test_unsafe_values_from_yaml_name_the_yaml_key(project: Project) -> None:
    project.yaml("production", "debug: true\nsecurity:\n  hsts_seconds: 86400\n")
    assert project.problems(PRODUCTION) == [
        f"{PREFIX}debug (from config/environments/production.yaml key debug): DEBUG is on in production. "
        "Fix: set DEBUG=false",
        f"{PREFIX}security.hsts_seconds (from config/environments/production.yaml key security.hsts_seconds): "
        "HSTS is 86400 s; production needs at least one year. Fix: set SECURITY__HSTS_SECONDS=31536000",
    ]


def test_production_with_nothing_set_lists_every_missing_piece(project: Project) -> None:
    assert project.problems({"DJANGO_ENV": "production"}) == [
        f"{PREFIX}secret_key (from the default): is empty. Fix: set SECRET_KEY to a long random string",
        f"{PREFIX}database_url (from the default): production needs a database server; the embedded one is for "
        "development and tests. Fix: set DATABASE_URL=postgres://user:password@host:5432/name",
        f"{PREFIX}security.allowed_hosts (from the smart default for production): no host is allowed. "
        "Fix: set SECURITY__ALLOWED_HOSTS to your domain names, comma separated",
    ]


def test_a_key_django_accepts_is_accepted(project: Project) -> None:
    # Django's security.W009: 50 characters, 5 of them distinct, and no "django-insecure-" prefix.
    assert project.load({**PRODUCTION, "SECRET_KEY": "abcde" * 10}).secret_key.get_secret_value() == "abcde" * 10


STAGING = {**PRODUCTION, "DJANGO_ENV": "staging"}


def test_staging_may_relax_https_and_use_the_embedded_database(project: Project) -> None:
    relaxed = {"SECURITY__SSL_REDIRECT": "false", "SECURITY__HSTS_SECONDS": "0", "SECURITY__SECURE_COOKIES": "false"}
    staging = {key: value for key, value in STAGING.items() if key != "DATABASE_URL"}
    config = project.load({**staging, **relaxed})
    assert config.env is Environment.STAGING and config.database_url is None
    assert (config.security.ssl_redirect, config.security.hsts_seconds, config.security.secure_cookies) == (
        False,
        0,
        False,
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"DEBUG": "true"}, "debug (from env var DEBUG): DEBUG is on in staging. Fix: set DEBUG=false", id="debug"
        ),
        pytest.param(
            {"SECRET_KEY": "short"},
            "secret_key (from env var SECRET_KEY): is 5 characters; staging needs at least 50. "
            f"Fix: set SECRET_KEY to the output of {GENERATE}",
            id="key-short",
        ),
        pytest.param(
            {"SECRET_KEY": "a" * 50},
            "secret_key (from env var SECRET_KEY): has only 1 distinct character; staging needs at least 5. "
            f"Fix: set SECRET_KEY to the output of {GENERATE}",
            id="key-one-character-repeated",
        ),
        pytest.param({"SECRET_KEY": DEVELOPMENT_SECRET_KEY}, KNOWN_KEY, id="key-development-default"),
        pytest.param(
            {"SECURITY__ALLOWED_HOSTS": "*"},
            "security.allowed_hosts (from env var SECURITY__ALLOWED_HOSTS): a wildcard host accepts any Host header. "
            "Fix: list your real domain names in SECURITY__ALLOWED_HOSTS",
            id="wildcard-host",
        ),
        pytest.param(
            {"SECURITY__ALLOWED_HOSTS": None},
            "security.allowed_hosts (from the smart default for staging): no host is allowed. "
            "Fix: set SECURITY__ALLOWED_HOSTS to your domain names, comma separated",
            id="no-hosts",
        ),
    ],
)
def test_staging_keeps_the_rest_of_the_production_guard(
    project: Project, change: dict[str, str | None], expected: str
) -> None:
    environ = {key: value for key, value in {**STAGING, **change}.items() if value is not None}
    assert project.problems(environ) == [PREFIX + expected]


def test_the_development_defaults_are_not_guarded(project: Project) -> None:
    # The guard is for production: development may use DEBUG and its fixed local key.
    config = project.load({"DJANGO_ENV": "development"})
    assert config.debug is True and config.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY


LINE = re.compile(r"^Invalid configuration: [a-z_.]+ \(from [^)]+\): .+\. Fix: .+$")


def test_manage_py_check_with_a_short_secret_key_fails_readably() -> None:
    """`DJANGO_ENV=production SECRET_KEY=short python manage.py check` from the issue.

    Every production problem is reported at once (fixing one and hitting the next, one start-up at a
    time, is worse); each is one line, and the SECRET_KEY line says what is wrong with it.
    """
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=clean_environ(DJANGO_ENV="production", SECRET_KEY="short"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert all(LINE.match(line) for line in lines), lines
    assert len(set(lines)) == len(lines)
    naming_the_key = [line for line in lines if "SECRET_KEY" in line]
    assert naming_the_key == [
        f"{PREFIX}secret_key (from env var SECRET_KEY): is 5 characters; production needs at least 50. "
        f"Fix: set SECRET_KEY to the output of {GENERATE}"
    ]
    # The other lines are the production problems left in this bare environment (no .env assumed).
    fields = [line.removeprefix(PREFIX).split(" (from ")[0] for line in lines]
    assert fields[0] == "secret_key"
    assert set(fields) <= {"secret_key", "database_url", "security.allowed_hosts"}


def test_manage_py_check_with_only_a_short_secret_key_wrong_prints_exactly_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=clean_environ(**{**PRODUCTION, "SECRET_KEY": "short"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"{PREFIX}secret_key (from env var SECRET_KEY): is 5 characters; production needs at least 50. "
        f"Fix: set SECRET_KEY to the output of {GENERATE}"
    ]
