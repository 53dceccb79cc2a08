"""Helpers for the tests of streamed API responses (this module's and any app's): Server-Sent Events read back, and
one request to an ASGI application made as uvicorn would make it.

    parsed = sse_parse(b"".join(response.streaming_content))     # [{"id", "event", "data"} or {"comment"}, ...]

    client = AsgiClient(application, [(b"accept", b"text/event-stream")])   # application: config.asgi's
    client.get("/api/...")                                        # or client.post(path, body)
    client.start["status"], client.response_headers[b"content-type"]   # what was sent:
    client.content, client.bodies                                 # the body whole, or each part with when it left

and the fixture _connections_closed_after_each_request, for a test that sends to the ASGI application.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings
from django.db import connection

from cfg.body_limit import AsgiApp


def sse_parse(content: bytes) -> list[dict[str, Any]]:
    """Server-Sent Events as dicts {id, event, data} (id when sent; data decoded from JSON), and comment lines as
    {comment}."""
    parsed: list[dict[str, Any]] = []
    for block in content.decode().split("\n\n"):
        if not block:
            continue
        lines = block.split("\n")
        if all(line.startswith(":") for line in lines):
            parsed.append({"comment": " ".join(line[1:].strip() for line in lines)})
            continue
        fields = dict(line.split(": ", 1) for line in lines)
        assert set(fields) <= {"id", "event", "data"}, block
        parsed.append({**fields, "data": json.loads(fields["data"])})
    return parsed


def http_scope(
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    *,
    server: tuple[str, int] = ("127.0.0.1", 8000),
) -> dict[str, Any]:
    """An HTTP request's ASGI scope as uvicorn makes it, with exactly these headers, from a loopback client."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": server,
    }


class AsgiClient:
    """One request to an ASGI application (the project's is config.asgi's: the body limit around Django's handler),
    as uvicorn would make it, recording what is sent and when. The client stays connected until the response ends."""

    def __init__(self, application: AsgiApp, headers: list[tuple[bytes, bytes]]) -> None:
        self.application = application
        self.headers = headers
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self._body = b""
        self._delivered = False

    async def receive(self) -> dict[str, Any]:
        if not self._delivered:
            self._delivered = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        await asyncio.sleep(3600)  # the client stays connected until the response ends
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append((time.monotonic(), message))

    def get(self, path: str) -> None:
        self._request("GET", path, [])

    def post(self, path: str, body: bytes) -> None:
        self._body = body
        self._request("POST", path, [(b"content-length", str(len(body)).encode())])

    def _request(self, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        scope = http_scope(method, path, [(b"host", b"testserver"), *headers, *self.headers], server=("testserver", 80))
        asyncio.run(asyncio.wait_for(self.application(scope, self.receive, self.send), timeout=60))

    @property
    def start(self) -> dict[str, Any]:
        """The response's first message (http.response.start: its status and headers)."""
        return self.sent[0][1]

    @property
    def response_headers(self) -> dict[bytes, bytes]:
        """The response's headers, their names in lower case."""
        return {name.lower(): value for name, value in self.start["headers"]}

    @property
    def bodies(self) -> list[tuple[float, bytes]]:
        """The non-empty bodies the response sent, each with when (time.monotonic()) it was sent."""
        return [(at, message["body"]) for at, message in self.sent[1:] if message.get("body")]

    @property
    def content(self) -> bytes:
        """The response's body, whole."""
        return b"".join(body for _, body in self.bodies)


@pytest.fixture
def _connections_closed_after_each_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ASGI handler runs the view in a thread of its own, whose database connection would otherwise stay open
    (CONN_MAX_AGE) after the test, and keep the test database from being dropped."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)


HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_database_url() -> str:
    """The test database as a DATABASE_URL, for a server started in a process of its own."""
    params = connection.get_connection_params()
    name = connection.settings_dict["NAME"]
    user = quote(params.get("user") or "postgres", safe="")
    password = f":{quote(params['password'], safe='')}" if params.get("password") else ""
    host = params.get("host", "")
    if host.startswith("/"):
        return f"postgres://{user}{password}@/{name}?host={host}"
    return f"postgres://{user}{password}@{host}:{params.get('port') or 5432}/{name}"


@contextlib.contextmanager
def web_process(log: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """gunicorn with one uvicorn worker and docker/gunicorn.conf.py, as production runs it, on a free loopback port,
    with `env`; its base URL and process, started (wait_until_up waits for it); stopped on the way out."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "docker/gunicorn.conf.py", "--workers", "1",
             "--bind", f"{HOST}:{port}", "config.asgi:application"],
            cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield f"http://{HOST}:{port}", process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"the server did not come up:\n{log.read_text(errors='replace')[-3000:]}"
        time.sleep(0.1)
