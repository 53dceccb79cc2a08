"""validate_openapi and generate_clients: the project's schema is clean, a schema with problems lists each one, and the
generated Python client signs in by a code sent by email and reads the profile from a real server (gunicorn with a
uvicorn worker, on the test database, mailing a real SMTP server on loopback)."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from modules.api.clients import python_client_schema, python_package_name
from modules.api.testing import server_database_url, wait_until_up, web_process
from modules.email.testing import SmtpSink, smtp_server

HOST = "127.0.0.1"
PROBLEMS_URLCONF = "modules.api.tests.urls"
NO_NODE = "TypeScript client failed: Node.js (npx) is not installed; install Node 20+ or pass --no-typescript"


def manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
    environ.update({"DJANGO_ENV": "test", **(env or {})})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR, env=environ, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_validate_openapi_passes_on_the_projects_schema(capsys):
    call_command("validate_openapi")
    output = capsys.readouterr().out
    assert "The OpenAPI schema is clean" in output
    assert "valid OpenAPI 3." in output


def test_validate_openapi_lists_each_problem_and_exits_1():
    result = manage("validate_openapi", "--urlconf", PROBLEMS_URLCONF)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert re.fullmatch(
        r"drf-spectacular .*urls\.py:\d+: Error \[Undescribed\]: unable to guess serializer\..*", lines[0]
    )
    assert lines[1:] == [
        "GET /undescribed/ (undescribed_retrieve): no description "
        "(give the view a docstring, or extend_schema(description=...))",
        "GET /undescribed/ (undescribed_retrieve): no documented error response "
        "(add a 4xx with modules.api.schema.error_responses)",
        "openapi-spec-validator: the reference #/components/schemas/Missing points to nothing",
        "CommandError: The OpenAPI schema has 4 problem(s) in 2 operations: 1 from drf-spectacular, "
        "1 without a description, 1 without a documented error response, 1 from openapi-spec-validator",
    ]


def test_the_python_client_schema_keeps_one_body_per_schema_and_lets_anonymous_calls_take_a_plain_client():
    json_body = {"schema": {"$ref": "#/components/schemas/Note"}}
    files_body = {"schema": {"$ref": "#/components/schemas/Upload"}}
    schema: dict[str, Any] = {
        "paths": {
            "/notes/": {
                "post": {
                    "requestBody": {
                        "content": {"application/json": json_body, "application/x-www-form-urlencoded": json_body}
                    },
                    "security": [{"jwtAuth": []}, {}],
                },
                "put": {
                    "requestBody": {"content": {"application/json": json_body, "multipart/form-data": json_body}},
                    "security": [{"jwtAuth": []}],
                },
                "patch": {
                    "requestBody": {"content": {"application/json": json_body, "multipart/form-data": files_body}}
                },
            }
        }
    }
    adapted = python_client_schema(schema)["paths"]["/notes/"]
    assert adapted["post"]["requestBody"]["content"] == {"application/json": json_body}
    assert "security" not in adapted["post"]
    # The same body as JSON or multipart: multipart, the one that can carry files.
    assert adapted["put"]["requestBody"]["content"] == {"multipart/form-data": json_body}
    assert adapted["put"]["security"] == [{"jwtAuth": []}]
    assert adapted["patch"]["requestBody"]["content"] == {
        "multipart/form-data": files_body,
        "application/json": json_body,
    }
    assert len(schema["paths"]["/notes/"]["post"]["requestBody"]["content"]) == 2  # the original is left as it was


def test_generate_clients_needs_something_to_generate(tmp_path):
    with pytest.raises(CommandError, match="Nothing to generate"):
        call_command("generate_clients", out=tmp_path, python=False, typescript=False)


@pytest.mark.slow
def test_generate_clients_without_node_says_so_in_one_line_and_writes_nothing(tmp_path):
    result = manage("generate_clients", "--out", str(tmp_path / "clients"), env={"PATH": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"CommandError: {NO_NODE}"]
    assert not (tmp_path / "clients").exists()


@pytest.mark.slow
def test_a_generator_failure_is_one_line_and_leaves_no_half_client(tmp_path):
    out = tmp_path / "clients"
    result = manage("generate_clients", "--no-typescript", "--urlconf", PROBLEMS_URLCONF, "--out", str(out))
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "CommandError: Python client failed: openapi-python-client: WARNING parsing GET /dangling/ within dangling. "
        "Cannot parse response for status code"
    ), line
    assert "Could not find reference" in line
    assert not (out / "python").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npx") is None, reason="Node.js (npx) is not installed")
def test_generate_clients_writes_typescript_types_and_a_fetch_client(tmp_path, capsys):
    call_command("generate_clients", out=tmp_path, python=False)
    assert f"TypeScript client: {tmp_path / 'typescript'}" in capsys.readouterr().out
    types = (tmp_path / "typescript" / "schema.d.ts").read_text()
    assert '"/api/accounts/me/": {' in types
    assert "accounts_me_retrieve: {" in types
    client = (tmp_path / "typescript" / "client.ts").read_text()
    assert 'import type { paths } from "./schema";' in client
    assert "export function createApiClient(" in client
    manifest = json.loads((tmp_path / "typescript" / "package.json").read_text())
    assert manifest["dependencies"] == {"openapi-fetch": "0.17.0"}
    schema = json.loads((tmp_path / "openapi.json").read_text())
    assert "/api/accounts/me/" in schema["paths"]
    assert not (tmp_path / "python").exists()


@contextlib.contextmanager
def web_server(log: Path, smtp_port: int) -> Iterator[str]:
    """gunicorn with one uvicorn worker, as production runs it, on the test database; its base URL once it answers."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST", "REDIS_"))}
    env.update(
        {
            "DJANGO_ENV": "test",
            "DATABASE_URL": server_database_url(),
            "TASKS__BACKEND": "immediate",
            "EMAIL__BACKEND": "smtp",
            "EMAIL__HOST": HOST,
            "EMAIL__PORT": str(smtp_port),
        }
    )
    with web_process(log, env) as (base, process):
        wait_until_up(base, process, log)
        yield base


@contextlib.contextmanager
def importable(folder: Path, package: str) -> Iterator[Any]:
    """The generated package, imported from its folder; forgotten afterwards."""
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name == package or name.startswith(f"{package}.")]:
            del sys.modules[name]


def code_from(sink: SmtpSink, address: str) -> str:
    """The sign-in code mailed to `address`: the server sends it once its answer is out."""
    deadline = time.monotonic() + 30
    while True:
        for mail in sink.messages:
            if address in mail.rcpt_tos and (found := re.search(r"\b(\d{6})\b", mail.text)):
                return found.group(1)
        assert time.monotonic() < deadline, f"no code mailed to {address}: {[m.rcpt_tos for m in sink.messages]}"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_generated_python_client_signs_in_by_code_and_reads_the_profile(tmp_path, capsys):
    call_command("generate_clients", out=tmp_path, typescript=False)
    package = python_package_name(settings.PROJECT_SLUG)
    assert f"package {package}" in capsys.readouterr().out
    address = "round.trip@example.com"
    with (
        smtp_server() as (sink, smtp_port),
        web_server(tmp_path / "server.log", smtp_port) as base,
        importable(tmp_path / "python", package) as client_package,
    ):
        # Every module of the client loads: no endpoint was generated into code that does not import.
        modules = [info.name for info in pkgutil.walk_packages(client_package.__path__, f"{package}.")]
        for name in modules:
            importlib.import_module(name)
        assert f"{package}.api.accounts.accounts_me_retrieve" in modules

        request_code = importlib.import_module(f"{package}.api.auth.auth_otp_request_create")
        verify_code = importlib.import_module(f"{package}.api.auth.auth_otp_verify_create")
        me = importlib.import_module(f"{package}.api.accounts.accounts_me_retrieve")
        models = importlib.import_module(f"{package}.models")

        with client_package.Client(base_url=base, raise_on_unexpected_status=True) as anonymous:
            sent = request_code.sync_detailed(client=anonymous, body=models.OtpRequestRequest(identifier=address))
            assert sent.status_code == 200, sent.content
            assert "code is on its way" in sent.parsed.detail
            wrong = verify_code.sync_detailed(
                client=anonymous, body=models.OtpVerifyRequest(identifier=address, code="000000")
            )
            assert wrong.status_code == 400 and isinstance(wrong.parsed, models.Error), wrong.content
            right = models.OtpVerifyRequest(identifier=address, code=code_from(sink, address))
            # The server records the code as sent once the SMTP server has taken the mail, a moment after the mail
            # arrives here: until then the code is refused as wrong (without counting as a wrong guess).
            deadline = time.monotonic() + 5
            while not isinstance(signed_in := verify_code.sync(client=anonymous, body=right), models.SignIn):
                assert time.monotonic() < deadline, signed_in
                time.sleep(0.2)
        assert signed_in.created is True

        with client_package.AuthenticatedClient(base_url=base, token=signed_in.access) as signed:
            profile = me.sync(client=signed)
        assert isinstance(profile, models.User), profile
        assert profile.email == address
        assert profile.id == signed_in.user.id

        with client_package.Client(base_url=base) as anonymous:
            refused = me.sync_detailed(client=anonymous)
        assert refused.status_code == 401
        assert refused.parsed.error_code == "not_authenticated"
