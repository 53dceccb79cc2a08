"""More invalid configurations (issue 9): URLs, throttle rates, YAML files and misspelt variables.

Each stops loading with one exact line, and start-up (load_or_exit) prints that one line and exits 1.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from config.config import ProjectConfig

from .conftest import BASE_DIR, Project, clean_environ
from .test_invalid_config import PREFIX, TEST, YAML

POSTGRES_EXAMPLE = "as in postgres://user:password@host:5432/name"


def case(
    id: str, expected: str, environ: dict[str, str] | None = None, *, yaml: bytes = b"", dotenv: bytes = b""
) -> object:
    return pytest.param({**TEST, **(environ or {})}, yaml, dotenv, expected, id=id)


CASES = [
    # Client addresses
    case(
        "trusted-proxies-everyone",
        "security.trusted_proxies (from env var SECURITY__TRUSTED_PROXIES): '0.0.0.0/0' trusts a large part of the "
        "internet to name the client. Fix: list the addresses or the network of your own proxies, e.g. "
        "172.30.0.0/24",
        {"SECURITY__TRUSTED_PROXIES": "10.0.0.2,0.0.0.0/0"},
    ),
    case(
        "trusted-proxies-every-ipv4-address-as-ipv6",
        "security.trusted_proxies (from env var SECURITY__TRUSTED_PROXIES): '::ffff:0:0/96' trusts a large part of "
        "the internet to name the client. Fix: list the addresses or the network of your own proxies, e.g. "
        "172.30.0.0/24",
        {"SECURITY__TRUSTED_PROXIES": "::ffff:0:0/96"},
    ),
    case(
        "trusted-proxies-not-an-address",
        "security.trusted_proxies (from env var SECURITY__TRUSTED_PROXIES): 'caddy' is not an IP address or "
        "network. Fix: write e.g. 10.0.0.5 or 172.30.0.0/24",
        {"SECURITY__TRUSTED_PROXIES": "caddy"},
    ),
    # Ports and paths of database and Redis URLs
    case(
        "database-port-not-a-number",
        "database_url (from env var DATABASE_URL): the port is not a number. "
        f"Fix: write a port from 1 to 65535, {POSTGRES_EXAMPLE}",
        {"DATABASE_URL": "postgres://u:p@db:notaport/app"},
    ),
    case(
        "database-port-out-of-range",
        f"database_url (from env var DATABASE_URL): port 99999 is out of range. Fix: use a port from 1 to 65535, "
        f"{POSTGRES_EXAMPLE}",
        {"DATABASE_URL": "postgres://u:p@db:99999/app"},
    ),
    case(
        "database-port-zero",
        f"database_url (from .env key DATABASE_URL): port 0 is out of range. Fix: use a port from 1 to 65535, "
        f"{POSTGRES_EXAMPLE}",
        dotenv=b"DATABASE_URL=postgres://u:p@db:0/app\n",
    ),
    case(
        "alias-port-from-yaml",
        f"databases.analytics.url (from {YAML} key databases.analytics.url): port 70000 is out of range. "
        f"Fix: use a port from 1 to 65535, {POSTGRES_EXAMPLE}",
        yaml=b"databases:\n  analytics:\n    url: postgres://reader@db.internal:70000/analytics\n",
    ),
    case(
        "database-ipv6-unclosed",
        "database_url (from env var DATABASE_URL): the host is not a valid IPv6 address. "
        "Fix: write it in brackets, as in [::1]",
        {"DATABASE_URL": "postgres://u:p@[::1/app"},
    ),
    case(
        "redis-port-not-a-number",
        "redis_url (from env var REDIS_URL): the port is not a number. "
        "Fix: write a port from 1 to 65535, as in redis://host:6379/0",
        {"REDIS_URL": "redis://cache:abc/0"},
    ),
    case(
        "tasks-redis-port-out-of-range",
        "tasks.redis_url (from .env key TASKS__REDIS_URL): port 99999 is out of range. "
        "Fix: use a port from 1 to 65535, as in redis://host:6379/0",
        dotenv=b"TASKS__REDIS_URL=redis://cache:99999/0\n",
    ),
    case(
        "redis-database-not-a-number",
        "redis_url (from env var REDIS_URL): the database is not a number. "
        "Fix: end the URL with a database number, as in redis://host:6379/0",
        {"REDIS_URL": "redis://cache:6379/abc"},
    ),
    case(
        "redis-database-negative",
        "redis_url (from env var REDIS_URL): the database is not a number. "
        "Fix: end the URL with a database number, as in redis://host:6379/0",
        {"REDIS_URL": "redis://cache:6379/-1"},
    ),
    case(
        "redis-database-in-query",
        "redis_url (from env var REDIS_URL): the database is not a number. "
        "Fix: end the URL with a database number, as in redis://host:6379/0",
        {"REDIS_URL": "rediss://:hunter2@cache:6380?db=first"},
    ),
    case(
        "redis-scheme-typo",
        "redis_url (from env var REDIS_URL): scheme 'reddis' is not Redis. "
        "Fix: use redis://host:6379/0 (rediss:// for TLS, unix:// for a socket)",
        {"REDIS_URL": "reddis://cache:6379/0"},
    ),
    case(
        "redis-socket-without-path",
        "redis_url (from env var REDIS_URL): the URL names no socket. Fix: use unix:///path/to/redis.sock",
        {"REDIS_URL": "unix://"},
    ),
    # Throttle rates
    case(
        "throttle-zero",
        "accounts.throttle_otp_ip (from env var ACCOUNTS__THROTTLE_OTP_IP): '0/hour' would refuse every request. "
        "Fix: allow at least 1, as in '5/hour'",
        {"ACCOUNTS__THROTTLE_OTP_IP": "0/hour"},
    ),
    case(
        "throttle-zero-from-yaml",
        f"api.throttle_user (from {YAML} key api.throttle_user): '00/day' would refuse every request. "
        "Fix: allow at least 1, as in '5/hour'",
        yaml=b"api:\n  throttle_user: 00/day\n",
    ),
    case(
        "throttle-words",
        "accounts.throttle_otp_ip (from env var ACCOUNTS__THROTTLE_OTP_IP): 'abc' is not a throttle rate. "
        "Fix: use a number and a period such as '100/hour' or '10/minute'",
        {"ACCOUNTS__THROTTLE_OTP_IP": "abc"},
    ),
    case(
        "throttle-unknown-period",
        "accounts.throttle_otp_ip (from env var ACCOUNTS__THROTTLE_OTP_IP): '5/fortnight' has an unknown period "
        "'fortnight'. Fix: use second, minute, hour or day, as in '100/hour'",
        {"ACCOUNTS__THROTTLE_OTP_IP": "5/fortnight"},
    ),
    case(
        "throttle-negative",
        "accounts.throttle_otp_ip (from env var ACCOUNTS__THROTTLE_OTP_IP): '-1/hour' is not a throttle rate. "
        "Fix: use a number and a period such as '100/hour' or '10/minute'",
        {"ACCOUNTS__THROTTLE_OTP_IP": "-1/hour"},
    ),
    # YAML and .env files
    case(
        "yaml-not-utf8",
        f"{YAML} (from line 3, column 12): is not UTF-8 text (byte 0xe9). Fix: save it as UTF-8",
        yaml=b"email:\n  port: 25\n  host: caf\xe9.example.com\n",
    ),
    case(
        "yaml-duplicate-key",
        f"{YAML} (from line 4, column 3): the key email.port is set twice (first at line 2). "
        "Fix: delete one of the two email.port lines",
        yaml=b"email:\n  port: 25\n  host: smtp.example.com\n  port: 587\n",
    ),
    case(
        "yaml-duplicate-top-level-key",
        f"{YAML} (from line 3, column 1): the key debug is set twice (first at line 1). "
        "Fix: delete one of the two debug lines",
        yaml=b"debug: false\nsite_url: https://shop.example.com\ndebug: true\n",
    ),
    case(
        "yaml-duplicate-key-on-one-line",
        f"{YAML} (from line 1, column 19): the key email.port is set twice (first at line 1). "
        "Fix: delete one of the two email.port lines",
        yaml=b"email: {port: 25, port: 587}\n",
    ),
    case(
        "yaml-control-character",
        f"{YAML} (from line 1, column 26): is not valid YAML: the control character U+0007 is not allowed. "
        "Fix: delete it at line 1, column 26",
        yaml=b"site_url: https://shop.ex\x07ample.com\n",
    ),
    case(
        "dotenv-not-utf8",
        ".env (from line 2, column 14): is not UTF-8 text (byte 0xfc). Fix: save it as UTF-8",
        dotenv=b"DEBUG=false\nEMAIL__HOST=m\xfcnchen.example.com\n",
    ),
    # Variables that look like a setting of a section that does not exist
    case(
        "misspelt-section",
        'SECURTY__ALLOWED_HOSTS: no section "securty"; did you mean SECURITY__ALLOWED_HOSTS?',
        {"SECURTY__ALLOWED_HOSTS": "shop.example.com"},
    ),
    case(
        "misspelt-section-accounts",
        'ACOUNTS__SELF_REGISTRATION: no section "acounts"; did you mean ACCOUNTS__SELF_REGISTRATION?',
        {"ACOUNTS__SELF_REGISTRATION": "false"},
    ),
    case(
        "misspelt-section-in-dotenv",
        'EMIAL__HOST in .env: no section "emial"; did you mean EMAIL__HOST?',
        dotenv=b"EMIAL__HOST=smtp.example.com\n",
    ),
    case(
        "misspelt-mapping-section",
        'DATABSES__ANALYTICS__URL: no section "databses"; did you mean DATABASES__ANALYTICS__URL?',
        {"DATABSES__ANALYTICS__URL": "postgres://db.internal/analytics"},
    ),
    case(
        "unknown-section-known-key",
        'WEB__ALLOWED_HOSTS: no section "web"; did you mean SECURITY__ALLOWED_HOSTS?',
        {"WEB__ALLOWED_HOSTS": "shop.example.com"},
    ),
    case(
        "unknown-section-key-of-several",
        'QUEUE__BACKEND: no section "queue"; did you mean CACHE__BACKEND, EMAIL__BACKEND or TASKS__BACKEND?',
        {"QUEUE__BACKEND": "rearq"},
    ),
    # Unknown keys of a known section
    case(
        "misspelt-key",
        "accounts.self_registraton (from env var ACCOUNTS__SELF_REGISTRATON): is not a setting. "
        "Fix: did you mean ACCOUNTS__SELF_REGISTRATION?",
        {"ACCOUNTS__SELF_REGISTRATON": "false"},
    ),
    case(
        "misspelt-key-of-an-alias",
        "databases.analytics.urll (from env var DATABASES__ANALYTICS__URLL): is not a setting. "
        "Fix: did you mean DATABASES__ANALYTICS__URL?",
        {"DATABASES__ANALYTICS__URL": "postgres://db.internal/analytics", "DATABASES__ANALYTICS__URLL": "x"},
    ),
    case(
        "unknown-key-nothing-close",
        "accounts.colour (from env var ACCOUNTS__COLOUR): is not a setting. "
        "Fix: remove ACCOUNTS__COLOUR or correct its spelling",
        {"ACCOUNTS__COLOUR": "blue"},
    ),
    # The secret key, in every environment
    case(
        "blank-secret-key",
        "secret_key (from env var SECRET_KEY): is only whitespace. Fix: set SECRET_KEY to a long random string",
        {"SECRET_KEY": " " * 60},
    ),
]


def _write(project: Project, yaml: bytes, dotenv: bytes) -> None:
    if yaml:
        path = project.root / YAML
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(yaml)
    if dotenv:
        (project.root / ".env").write_bytes(dotenv)


@pytest.mark.parametrize(("environ", "yaml", "dotenv", "expected"), CASES)
def test_invalid_configuration_stops_start_up_with_one_exact_line(
    project: Project,
    capsys: pytest.CaptureFixture[str],
    environ: dict[str, str],
    yaml: bytes,
    dotenv: bytes,
    expected: str,
) -> None:
    _write(project, yaml, dotenv)
    assert project.problems(environ) == [PREFIX + expected]
    with pytest.raises(SystemExit) as exit_info:
        ProjectConfig.load_or_exit(project.root, environ=environ)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == f"{PREFIX}{expected}\n"


def test_there_are_at_least_twenty_new_distinct_cases() -> None:
    assert len({param.id for param in CASES}) == len(CASES) >= 20  # type: ignore[attr-defined]


def test_other_tools_variables_with_double_underscores_are_left_alone(project: Project) -> None:
    others = {
        "__CF_USER_TEXT_ENCODING": "0x1F5:0x0:0x0",
        "__PYVENV_LAUNCHER__": "/usr/bin/python3",
        "PYTEST_XDIST__WORKER": "gw0",
        "OTEL__SERVICE_NAME": "shop",
        "Securty__allowed_hosts": "lower case is not ours",
        "SECURITY__": "no key",
    }
    assert project.load({**TEST, **others}).security.allowed_hosts == ("localhost", "127.0.0.1", "testserver")


def test_a_misspelt_section_is_reported_alone(project: Project) -> None:
    # In production the hosts it meant to set are missing too: that follows from the typo, so it is not listed.
    environ = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "k" * 20 + "Zq8-Xw2_Lp5vN7rT0yB4mC6dF9hJ3sG1aE",
        "DATABASE_URL": "postgres://app@db.internal:5432/app",
        "SECURTY__ALLOWED_HOSTS": "shop.example.com",
    }
    assert project.problems(environ) == [
        f'{PREFIX}SECURTY__ALLOWED_HOSTS: no section "securty"; did you mean SECURITY__ALLOWED_HOSTS?'
    ]


def test_throttle_rates_in_the_forms_rest_framework_reads_are_accepted(project: Project) -> None:
    config = project.load({**TEST, "API__THROTTLE_ANON": "5/hours", "ACCOUNTS__THROTTLE_OTP_IP": "1/d"})
    assert (config.api.throttle_anon, config.accounts.throttle_otp_ip) == ("5/hours", "1/d")


def test_valid_redis_urls_are_accepted(project: Project) -> None:
    for url in ("redis://cache:6379/0", "rediss://:pw@cache:6380/15", "redis://cache", "unix:///run/redis.sock?db=2"):
        assert project.load({**TEST, "REDIS_URL": url}).redis_url == url


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        pytest.param(
            "DATABASE_URL",
            "postgres://u:p@db:notaport/app",
            "database_url (from env var DATABASE_URL): the port is not a number. "
            f"Fix: write a port from 1 to 65535, {POSTGRES_EXAMPLE}",
            id="database-port",
        ),
        pytest.param(
            "SECURTY__ALLOWED_HOSTS",
            "shop.example.com",
            'SECURTY__ALLOWED_HOSTS: no section "securty"; did you mean SECURITY__ALLOWED_HOSTS?',
            id="misspelt-section",
        ),
    ],
)
def test_manage_py_prints_one_line_and_no_traceback(variable: str, value: str, expected: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=clean_environ(DJANGO_ENV="test", **{variable: value}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"{PREFIX}{expected}\n")
