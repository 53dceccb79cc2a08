"""psycopg's connection pool: configured from DB_POOL__* (and DATABASES__<ALIAS>__POOL__*), a 503 when exhausted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cfg.exceptions import ConfigurationError
from cfg.settings.database import database_settings
from config.config import ProjectConfig

REPO = Path(__file__).resolve().parents[1]
PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "k" * 20 + "Zq8-Xw2_Lp5vN7rT0yB4mC6dF9hJ3sG1aE",
    "DATABASE_URL": "postgres://app:db-pass-123@db.internal:5432/app",
    "SECURITY__ALLOWED_HOSTS": "example.com",
}


def databases(tmp_path: Path, **environ: str) -> dict[str, dict[str, object]]:
    config = ProjectConfig.load(tmp_path, environ={**PRODUCTION, **environ})
    result: dict[str, dict[str, object]] = database_settings(config)["DATABASES"]
    return result


def test_without_a_pool_connections_persist_as_configured(tmp_path):
    default = databases(tmp_path, DB_CONN_MAX_AGE="30")["default"]
    assert default["CONN_MAX_AGE"] == 30
    assert "pool" not in default["OPTIONS"]  # type: ignore[operator]


def test_the_pool_replaces_persistent_connections(tmp_path):
    found = databases(
        tmp_path,
        DB_POOL__MAX_SIZE="4",
        DB_POOL__TIMEOUT="2.5",
        DATABASES__ANALYTICS__URL="postgres://reader:pw@analytics.internal:5432/analytics",
        DATABASES__ANALYTICS__POOL__MAX_SIZE="2",
        DATABASES__ANALYTICS__POOL__MIN_SIZE="0",
    )
    assert found["default"]["CONN_MAX_AGE"] == 0  # Django refuses a pool with persistent connections
    assert found["default"]["OPTIONS"] == {"pool": {"min_size": 1, "max_size": 4, "timeout": 2.5}}
    assert found["analytics"]["CONN_MAX_AGE"] == 0
    assert found["analytics"]["OPTIONS"] == {"pool": {"min_size": 0, "max_size": 2, "timeout": 10.0}}


def test_the_embedded_database_takes_the_pool_too(tmp_path):
    environ = {"DJANGO_ENV": "test", "DB_POOL__MAX_SIZE": "3"}
    default = database_settings(ProjectConfig.load(tmp_path, environ=environ))["DATABASES"]["default"]
    assert default["ENGINE"] == "cfg.db.embedded_backend"
    assert default["OPTIONS"]["pool"]["max_size"] == 3 and "pgdata" in default["OPTIONS"]


def test_a_minimum_above_the_maximum_is_named(tmp_path):
    with pytest.raises(ConfigurationError) as info:
        ProjectConfig.load(tmp_path, environ={**PRODUCTION, "DB_POOL__MAX_SIZE": "2", "DB_POOL__MIN_SIZE": "5"})
    assert "db_pool" in info.value.message and "min_size (5) is above max_size (2)" in info.value.message


# On the embedded PostgreSQL, in a process of its own (the pool is per process): one pooled connection, held by a
# thread; a request that needs the database waits DB_POOL__TIMEOUT and answers 503, then works once it is free.
EXHAUSTED = """
import json, threading, django
django.setup()
from django.db import connection
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

held, release = threading.Event(), threading.Event()

def hold():
    connection.ensure_connection()
    held.set()
    release.wait(30)
    connection.close()

holder = threading.Thread(target=hold)
holder.start()
held.wait(30)
token = AccessToken()
token["user_id"] = "1"
client = Client(HTTP_HOST="testserver", HTTP_AUTHORIZATION=f"Bearer {token}")
busy = client.get("/api/accounts/me/")
healthz = client.get("/healthz").status_code
release.set()
holder.join()
with connection.cursor() as cursor:
    cursor.execute("SELECT 1")
    after = cursor.fetchone()[0]
print(json.dumps({"status": busy.status_code, "retry_after": busy.headers.get("Retry-After"),
                  "body": busy.json(), "healthz": healthz, "after": after,
                  "pool": connection.settings_dict["OPTIONS"]["pool"]}))
"""


def test_an_exhausted_pool_answers_503_and_recovers(settings):
    pgdata = settings.DATABASES["default"]["OPTIONS"].get("pgdata")
    if settings.DATABASES["default"]["ENGINE"] != "cfg.db.embedded_backend" or not pgdata:
        pytest.skip("needs the embedded PostgreSQL")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DB_", "DJANGO_"))}
    env.update(
        DJANGO_ENV="test",
        DJANGO_SETTINGS_MODULE="config.settings",
        DATA_DIR=str(Path(pgdata).parent),
        DB_POOL__MAX_SIZE="1",
        DB_POOL__TIMEOUT="0.5",
    )
    result = subprocess.run(
        [sys.executable, "-c", EXHAUSTED], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["pool"] == {"min_size": 1, "max_size": 1, "timeout": 0.5}
    assert found["status"] == 503 and found["retry_after"] == "1"
    assert found["body"]["error_code"] == "database_busy"
    assert "Traceback" not in result.stderr
    assert found["healthz"] == 200 and found["after"] == 1
