"""manage.py info: the project, its environment, apps and modules, and whether each service answers."""

from __future__ import annotations

import io
import json
import socket

import pytest
from aiosmtpd.controller import Controller
from django.core.management import CommandError, call_command
from django.test import override_settings

SMTP = "django.core.mail.backends.smtp.EmailBackend"
REDIS_URL = "redis://127.0.0.1:6379/13"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


@pytest.fixture
def smtp_port():
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def smtp_mailer(port: int) -> dict:
    return {"default": {"BACKEND": SMTP, "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 3}}}


def info(*args: str) -> dict:
    out = io.StringIO()
    call_command("info", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_it_reports_version_environment_apps_modules_and_the_database():
    report = info()
    assert report["environment"] == "test"
    assert report["version"] != "unknown"
    assert report["django"].startswith("6.")
    assert report["apps"]["accounts"] is True
    assert {"health", "logger"} <= set(report["modules"])
    database = report["services"]["database"]
    assert database["status"] == "ok" and database["detail"].startswith("PostgreSQL 18")


@pytest.mark.django_db
@override_settings(MAILERS={"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}})
def test_smtp_is_skipped_when_another_email_backend_is_used():
    assert info()["services"]["smtp"] == {"status": "skipped", "detail": "not used (email backend locmem)"}


@pytest.mark.django_db
def test_smtp_and_redis_that_answer(smtp_port):
    with override_settings(MAILERS=smtp_mailer(smtp_port), REDIS_URL=REDIS_URL):
        services = info()["services"]
    assert services["smtp"]["status"] == "ok" and services["smtp"]["detail"] == f"SMTP at 127.0.0.1:{smtp_port}"
    assert services["redis"]["status"] == "ok" and services["redis"]["detail"].startswith("Redis 7")


@pytest.mark.django_db
def test_a_service_that_does_not_answer_fails_the_command_with_its_name():
    out = io.StringIO()
    down = override_settings(MAILERS=smtp_mailer(free_port()), REDIS_URL="redis://:hunter2@127.0.0.1:1/0")
    with down, pytest.raises(CommandError, match=r"2 configured service\(s\) did not answer: redis, smtp"):
        call_command("info", stdout=out)
    text = out.getvalue()
    assert "error" in text and "ConnectionRefusedError" in text
    assert "hunter2" not in text


@pytest.mark.django_db
def test_the_table_output_names_the_project():
    out = io.StringIO()
    with override_settings(MAILERS={"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}):
        call_command("info", stdout=out)
    assert "environment: test" in out.getvalue()
    assert "database" in out.getvalue()
