"""docker/gunicorn.conf.py: forwarded headers trusted from no address, no worker churn, the pool under ASGI, the
application imported once by the master."""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gunicorn.config import Config

from tests.deploy.conftest import PYTHON, REPO

CONFIG = REPO / "docker" / "gunicorn.conf.py"
FORGED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}

# What Django's ASGIRequest makes REMOTE_ADDR and the scheme of: the ASGI scope's client and scheme.
ECHO_APP = textwrap.dedent(
    """
    import json

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        body = json.dumps({"client": scope["client"][0], "scheme": scope["scheme"]}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
    """
)


def run_the_file(environ: dict[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """The settings the file defines and the environment it leaves to the workers."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environ)
    try:
        return runpy.run_path(str(CONFIG)), dict(os.environ)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def settings_of_the_file(environ: dict[str, str]) -> dict[str, object]:
    return run_the_file(environ)[0]


def test_forwarded_headers_are_trusted_from_no_address():
    settings = settings_of_the_file({"FORWARDED_ALLOW_IPS": "*"})
    config = Config()
    config.set("forwarded_allow_ips", settings["forwarded_allow_ips"])
    # An empty list reaches uvicorn (uvicorn_worker passes it on): no peer's X-Forwarded-* is trusted. A missing
    # setting would have been FORWARDED_ALLOW_IPS, else 127.0.0.1,::1.
    assert config.forwarded_allow_ips == []


def test_workers_are_not_recycled_under_load():
    assert settings_of_the_file({})["max_requests"] == 0


def test_the_web_workers_use_the_pool_unless_told_otherwise():
    assert run_the_file({})[1]["DB_POOL__MAX_SIZE"] == "4"
    assert run_the_file({"DB_POOL__MAX_SIZE": "0"})[1]["DB_POOL__MAX_SIZE"] == "0"


def test_the_application_is_preloaded_unless_the_reloader_is_on(monkeypatch):
    monkeypatch.setattr("sys.argv", ["gunicorn", "--config", str(CONFIG), "config.asgi:application"])
    assert settings_of_the_file({})["preload_app"] is True
    monkeypatch.setattr("sys.argv", ["gunicorn", "--config", str(CONFIG), "--reload", "config.asgi:application"])
    assert settings_of_the_file({})["preload_app"] is False
    monkeypatch.setattr("sys.argv", ["gunicorn", "config.asgi:application"])
    assert settings_of_the_file({"GUNICORN_CMD_ARGS": "--workers 2 --reload"})["preload_app"] is False


def test_a_bad_configuration_stops_gunicorn_with_its_messages_instead_of_restarting_workers():
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
    env.update(DJANGO_ENV="production", SECRET_KEY="too-short", SECURITY__ALLOWED_HOSTS="example.com")
    env.pop("DATA_DIR", None)
    result = subprocess.run(
        [PYTHON, "-m", "gunicorn", "--config", str(CONFIG), "--bind", f"127.0.0.1:{free_port()}", "--workers", "2",
         "config.asgi:application"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Invalid configuration: secret_key (from env var SECRET_KEY)" in result.stderr
    assert "Booting worker" not in result.stderr


# The file's on_starting hook, called as gunicorn's master calls it once preload_app has imported the application.
MASTER_STARTING = """
import gc, json, runpy, sys, types
hooks = runpy.run_path(sys.argv[1])
import config.asgi
before = ("config.urls" in sys.modules, gc.get_freeze_count())
hooks["on_starting"](types.SimpleNamespace(cfg=types.SimpleNamespace(preload_app=True)))
print(json.dumps([before, ["config.urls" in sys.modules, gc.get_freeze_count()]]))
"""


def test_the_master_loads_the_urlconf_once_for_the_workers_to_share():
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
    env.update(DJANGO_ENV="test", DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run(
        [PYTHON, "-c", MASTER_STARTING, str(CONFIG)], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (loaded_before, frozen_before), (loaded_after, frozen_after) = json.loads(result.stdout.strip().splitlines()[-1])
    assert not loaded_before and loaded_after
    assert frozen_after > frozen_before


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(tmp_path: Path, *flags: str) -> Iterator[str]:
    """gunicorn with the real config file and its uvicorn workers, serving ECHO_APP on a free loopback port."""
    (tmp_path / "echo_scope.py").write_text(ECHO_APP)
    port = free_port()
    env = {**os.environ, "FORWARDED_ALLOW_IPS": "*"}  # what the config must not fall back to
    process = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "--config", str(CONFIG), "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--pythonpath", str(tmp_path), *flags, "echo_scope:app"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base, timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline, "gunicorn did not start within 30 s"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_a_forged_x_forwarded_for_does_not_change_the_client_address(tmp_path):
    with gunicorn(tmp_path) as base:
        seen = json.loads(httpx.get(base, headers=FORGED).text)
    assert seen == {"client": "127.0.0.1", "scheme": "http"}


def test_the_echo_shows_a_trusted_proxy_s_headers(tmp_path):
    # The control: had the file trusted loopback, the same request would have changed the client address.
    with gunicorn(tmp_path, "--forwarded-allow-ips", "127.0.0.1") as base:
        seen = json.loads(httpx.get(base, headers=FORGED).text)
    assert seen == {"client": "203.0.113.7", "scheme": "https"}


@pytest.mark.slow
def test_with_the_reloader_a_changed_file_is_served_within_seconds(tmp_path):
    with gunicorn(tmp_path, "--reload") as base:
        assert "reloaded" not in httpx.get(base, timeout=5).json()
        app = tmp_path / "echo_scope.py"
        changed = app.read_text().replace('"scheme": scope["scheme"]}', '"scheme": scope["scheme"], "reloaded": 1}')
        assert "reloaded" in changed
        app.write_text(changed)
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.TransportError):
                if "reloaded" in httpx.get(base, timeout=5).json():
                    break
            assert time.monotonic() < deadline, "the worker still served the old code 20 s after the change"
            time.sleep(0.2)
