"""runserver_ngrok and the public URL: refusals and failures as a user sees them (a subprocess, one line, exit 1),
the real SDK against a service that cannot be reached, and the whole run with ngrok's cloud replaced at the SDK's
boundary (modules/ngrok/testing.py): URL printed, host and origin trusted across autoreloads, tunnel closed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import ngrok
import pytest
from django.conf import settings
from django.db import connection
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV

from cfg.exceptions import ConfigurationError
from cfg.management.base import config_class
from modules.ngrok import tunnel
from modules.ngrok.management.commands.runserver_ngrok import Command, trust
from modules.ngrok.testing import PUBLIC_HOST, FakeNgrok, read_record

BASE_DIR = Path(settings.BASE_DIR)
HOST = "127.0.0.1"
TOKEN = "test-authtoken-2f9c"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def environ(**extra: str) -> dict[str, str]:
    """This process's environment without the test run's DJANGO_* and PYTEST_* and without any NGROK__ setting."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PYTEST", "NGROK__", tunnel.HANDOVER_VARIABLE))
    }
    return {**kept, **extra}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environ(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, settings) -> Iterator[FakeNgrok]:
    """The SDK's forward replaced in this process, the settings restored after, and no tunnel left open."""
    fake = FakeNgrok()
    monkeypatch.setattr(ngrok, "forward", fake.forward)
    settings.NGROK = {"AUTHTOKEN": TOKEN, "DOMAIN": "", "SERVER_ADDR": "", "CONNECT_TIMEOUT": 5}
    settings.ALLOWED_HOSTS = list(settings.ALLOWED_HOSTS)
    settings.CSRF_TRUSTED_ORIGINS = list(settings.CSRF_TRUSTED_ORIGINS)
    try:
        yield fake
    finally:
        tunnel.close_tunnel()


def test_refused_outside_development() -> None:
    line = one_line(manage("runserver_ngrok", DJANGO_ENV="test", NGROK__AUTHTOKEN=TOKEN))
    assert line == (
        "CommandError: runserver_ngrok is for development only (DJANGO_ENV is test): it exposes the development "
        "server to the internet"
    )


def test_no_authtoken_says_so_in_one_line() -> None:
    line = one_line(manage("runserver_ngrok", DJANGO_ENV="development"))
    assert line == (
        "CommandError: ngrok needs an authtoken: set NGROK__AUTHTOKEN "
        "(https://dashboard.ngrok.com/get-started/your-authtoken)"
    )


def test_an_unreachable_service_is_one_line_with_the_real_sdk() -> None:
    closed_port = free_port()
    result = manage(
        "runserver_ngrok",
        str(free_port()),
        DJANGO_ENV="development",
        NGROK__AUTHTOKEN=TOKEN,
        NGROK__SERVER_ADDR=f"{HOST}:{closed_port}",
        NGROK__CONNECT_TIMEOUT="10",
    )
    line = one_line(result)
    assert line.startswith(f"CommandError: ngrok's service at {HOST}:{closed_port} cannot be reached (")
    assert line.endswith("): check the network connection")
    assert TOKEN not in result.stdout + result.stderr


def test_a_bad_address_is_refused_before_any_tunnel() -> None:
    line = one_line(manage("runserver_ngrok", "not-a-port:x", DJANGO_ENV="development", NGROK__AUTHTOKEN=TOKEN))
    assert "is not a valid port number or address:port pair" in line


def test_the_tunnel_gives_apps_its_url_and_closes(fake: FakeNgrok, settings) -> None:
    assert tunnel.public_url() == settings.SITE_URL
    settings.NGROK = {**settings.NGROK, "DOMAIN": "myapp.ngrok.app", "SERVER_ADDR": "ingress.test:443"}
    url = tunnel.open_tunnel("127.0.0.1:8000")
    assert url == "https://myapp.ngrok.app"
    assert tunnel.tunnel_url() == tunnel.public_url() == tunnel.webhook_base_url() == url
    [event] = fake.events
    assert event["addr"] == "127.0.0.1:8000"
    assert event["options"] == {
        "authtoken": TOKEN,
        "force_new_session": True,
        "domain": "myapp.ngrok.app",
        "server_addr": "ingress.test:443",
    }
    with pytest.raises(tunnel.NgrokError, match="has a tunnel open already"):
        tunnel.open_tunnel("127.0.0.1:8000")
    tunnel.close_tunnel()
    assert fake.listeners[0].closed
    assert tunnel.tunnel_url() is None
    assert tunnel.webhook_base_url() == settings.SITE_URL.rstrip("/")


@pytest.mark.parametrize(
    ("addr", "forwarded"),
    [
        ("127.0.0.1", "127.0.0.1:8000"),
        ("0", "127.0.0.1:8000"),
        ("0.0.0.0", "127.0.0.1:8000"),
        ("::", "[::1]:8000"),
        ("::1", "[::1]:8000"),
        ("localhost", "localhost:8000"),
    ],
)
def test_the_tunnel_forwards_to_the_servers_address(addr: str, forwarded: str) -> None:
    command = Command()
    command.addr, command.port = addr, "8000"
    assert command.local_address() == forwarded


def test_trust_adds_the_host_and_the_origin_once(fake: FakeNgrok, settings) -> None:
    trust("https://abc.ngrok-free.app")
    trust("https://abc.ngrok-free.app")
    assert settings.ALLOWED_HOSTS.count("abc.ngrok-free.app") == 1
    assert settings.CSRF_TRUSTED_ORIGINS.count("https://abc.ngrok-free.app") == 1


def test_an_autoreloaded_child_takes_the_parents_url_over(fake: FakeNgrok, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tunnel.HANDOVER_VARIABLE, raising=False)  # restored whatever happens below
    tunnel.hand_over("https://abc.ngrok-free.app")
    assert tunnel.take_over() is None  # not a reloader's child: the URL is not this process's
    assert tunnel.tunnel_url() is None
    monkeypatch.setenv(DJANGO_AUTORELOAD_ENV, "true")
    assert tunnel.take_over() == "https://abc.ngrok-free.app"
    assert tunnel.webhook_base_url() == "https://abc.ngrok-free.app"
    tunnel.close_tunnel()
    assert tunnel.HANDOVER_VARIABLE not in os.environ
    assert fake.events == []


def test_a_service_that_does_not_answer_times_out(fake: FakeNgrok, settings) -> None:
    settings.NGROK = {**settings.NGROK, "CONNECT_TIMEOUT": 0.2}
    fake.hold = threading.Event()
    try:
        with pytest.raises(tunnel.NgrokError) as caught:
            tunnel.open_tunnel("127.0.0.1:8000")
    finally:
        fake.hold.set()
    assert str(caught.value) == (
        f"ngrok's service at {tunnel.NGROK_SERVICE} did not answer within 0.2 s: check the network connection "
        "(or raise NGROK__CONNECT_TIMEOUT)"
    )
    assert tunnel.tunnel_url() is None


def test_a_refused_authtoken_is_one_line_without_the_token(fake: FakeNgrok) -> None:
    # The shape of the SDK's answer to a malformed token: what failed, then ngrok's multi-line reason quoting it.
    fake.error = ValueError(
        "failed to connect session",
        "authentication failed: The authtoken you specified does not look like a proper ngrok tunnel authtoken.\n"
        f"Your authtoken: {TOKEN}\nInstructions to install your authtoken are on your ngrok dashboard:\n"
        "https://dashboard.ngrok.com/get-started/your-authtoken\n\nERR_NGROK_105\n",
    )
    with pytest.raises(tunnel.NgrokError) as caught:
        tunnel.open_tunnel("127.0.0.1:8000")
    message = str(caught.value)
    assert "\n" not in message and TOKEN not in message
    assert message.startswith("ngrok refused the authtoken (authentication failed: The authtoken you specified")
    assert "Your authtoken: ******** " in message
    assert message.endswith(
        "ERR_NGROK_105): check NGROK__AUTHTOKEN (https://dashboard.ngrok.com/get-started/your-authtoken)"
    )


def test_a_refused_listener_keeps_ngroks_reason(fake: FakeNgrok) -> None:
    fake.error = ValueError("failed to start listener", "the domain 'x.ngrok.app' is reserved by another account")
    with pytest.raises(tunnel.NgrokError) as caught:
        tunnel.open_tunnel("127.0.0.1:8000")
    assert str(caught.value) == (
        "ngrok could not open the tunnel: failed to start listener: the domain 'x.ngrok.app' is reserved by another "
        "account"
    )


def test_the_config_checks_the_domain_and_server_address(tmp_path: Path) -> None:
    load = config_class().load
    conf = load(tmp_path, environ={"DJANGO_ENV": "test", "NGROK__DOMAIN": "MyApp.ngrok.app"}).ngrok
    assert conf.domain == "myapp.ngrok.app" and not conf.enabled
    assert load(tmp_path, environ={"DJANGO_ENV": "test", "NGROK__AUTHTOKEN": TOKEN}).ngrok.enabled
    with pytest.raises(ConfigurationError, match=r"ngrok\.domain .*is not a host name"):
        load(tmp_path, environ={"DJANGO_ENV": "test", "NGROK__DOMAIN": "https://myapp.ngrok.app"})
    with pytest.raises(ConfigurationError, match=r"ngrok\.server_addr .*is not host:port"):
        load(tmp_path, environ={"DJANGO_ENV": "test", "NGROK__SERVER_ADDR": "127.0.0.1"})


def database_url() -> str:
    """The test database, through the embedded server's socket, for the server process."""
    params = connection.get_connection_params()
    return f"postgres://{params.get('user') or 'postgres'}@/{connection.settings_dict['NAME']}?host={params['host']}"


def wait_for(condition: Callable[[], bool], what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen:\n{log.read_text(errors='replace')[-3000:]}"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.django_db
def test_runserver_ngrok_serves_the_tunnels_host_across_reloads_and_closes_it(tmp_path: Path) -> None:
    record, log, port = tmp_path / "ngrok.jsonl", tmp_path / "server.log", free_port()
    env = environ(DJANGO_ENV="development", NGROK__AUTHTOKEN=TOKEN, DATABASE_URL=database_url())
    base = f"http://{HOST}:{port}"
    via_tunnel = {"Host": PUBLIC_HOST}
    client = httpx.Client(timeout=5, trust_env=False)

    def answers() -> bool:
        try:
            return client.get(f"{base}/healthz", headers=via_tunnel).status_code == 200
        except httpx.TransportError:
            return False

    with log.open("wb") as output:
        # Started as a terminal starts it, in a process group of its own: Ctrl-C reaches the reloader and its child.
        process = subprocess.Popen(
            [sys.executable, "-m", "modules.ngrok.testing", str(record), "runserver_ngrok", f"{HOST}:{port}"],
            cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(answers, "the server answering for the tunnel's host", log)
        text = log.read_text()
        assert f"ngrok tunnel: https://{PUBLIC_HOST} -> http://{HOST}:{port}" in text
        assert client.get(f"{base}/healthz", headers={"Host": "elsewhere.example"}).status_code == 400
        trusted = client.post(f"{base}/healthz", headers={**via_tunnel, "Origin": f"https://{PUBLIC_HOST}"})
        untrusted = client.post(f"{base}/healthz", headers={**via_tunnel, "Origin": "https://elsewhere.example"})
        assert trusted.status_code == untrusted.status_code == 403
        assert "CSRF cookie not set" in trusted.text  # past the origin check: the next one fails
        assert "Origin checking failed" in untrusted.text

        # A code change restarts the server's process; the tunnel stays in the parent and the new child trusts it.
        started = text.count("Starting WSGI development server")

        def reloaded() -> bool:
            os.utime(Path(tunnel.__file__))
            return log.read_text().count("Starting WSGI development server") > started and answers()

        wait_for(reloaded, "a reload", log)
        assert [event["event"] for event in read_record(record)] == ["forward"]
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        client.close()
    events = read_record(record)
    assert [event["event"] for event in events] == ["forward", "close"]
    assert events[0]["pid"] == events[1]["pid"] == process.pid
    assert events[0]["addr"] == f"{HOST}:{port}"
    assert events[0]["options"]["authtoken"] == TOKEN
    assert f"ngrok tunnel https://{PUBLIC_HOST} closed." in log.read_text()
