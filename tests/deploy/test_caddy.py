"""The production proxy's Caddyfile, validated and run by a real Caddy (Debian's `caddy`, installed by .ci/run)."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from .conftest import REPO

CADDYFILE = REPO / "docker" / "Caddyfile"
CADDY = shutil.which("caddy")
pytestmark = pytest.mark.skipif(CADDY is None, reason="caddy is not installed (.ci/run installs Debian's caddy)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def caddy_env(**values: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **values}


def test_the_caddyfile_is_valid() -> None:
    result = subprocess.run(
        [CADDY, "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=caddy_env(SITE_DOMAIN="example.com"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr[-2000:]


class CountingUpstream(http.server.BaseHTTPRequestHandler):
    """The web service's stand-in: reads what the proxy forwards and counts the bytes."""

    received: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        total = 0
        while chunk := self.rfile.read1(65536):
            total += len(chunk)
            if total >= int(self.headers.get("Content-Length") or 0):
                break
        self.received.append(total)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on the test's output."""


@pytest.fixture
def upstream() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CountingUpstream)
    CountingUpstream.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


@pytest.fixture
def proxy(tmp_path: Path, upstream: int) -> Iterator[tuple[str, Path]]:
    media = tmp_path / "media"
    (media / "avatars").mkdir(parents=True)
    port, admin = free_port(), free_port()
    config = tmp_path / "Caddyfile"
    # The real file, with the admin endpoint moved off the default port so tests never collide, and the web
    # replicas (found by DNS in compose) replaced by the local stand-in.
    served = re.sub(
        r"reverse_proxy \{.*?\n\t\}\n", f"reverse_proxy 127.0.0.1:{upstream}\n", CADDYFILE.read_text(), flags=re.S
    )
    assert f"127.0.0.1:{upstream}" in served
    config.write_text(served.replace("{\n", f"{{\n\tadmin 127.0.0.1:{admin}\n", 1))
    process = subprocess.Popen(
        [CADDY, "run", "--config", str(config), "--adapter", "caddyfile"],
        env=caddy_env(SITE_DOMAIN=f"http://127.0.0.1:{port}", MEDIA_ROOT=str(media), XDG_DATA_HOME=str(tmp_path)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/media/", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield url, media
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_uploaded_media_is_served_as_files_only(proxy: tuple[str, Path]) -> None:
    url, media = proxy
    (media / "avatars" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (media / "avatars" / "page.html").write_text("<script>alert(1)</script>")

    image = httpx.get(f"{url}/media/avatars/a.png", timeout=5)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"

    html = httpx.get(f"{url}/media/avatars/page.html", timeout=5)
    assert "sandbox" in html.headers["content-security-policy"]  # a stored page cannot run scripts as the site

    assert httpx.get(f"{url}/media/avatars/", timeout=5).status_code == 404  # no directory listing


def test_no_body_over_the_limit_reaches_the_app(proxy: tuple[str, Path]) -> None:
    url, _ = proxy
    assert httpx.post(f"{url}/api/auth/otp/request/", content=b"{}", timeout=10).status_code == 200
    limit = 10 * 1000 * 1000
    response = httpx.post(f"{url}/api/auth/otp/request/", content=b" " * (limit + 1_000_000), timeout=30)
    # Caddy 2.7 and later answer 413; Debian's 2.6 cuts the body off and answers 502. The app never gets it all.
    assert response.status_code in (413, 502)
    assert CountingUpstream.received[0] == 2
    assert all(size <= limit for size in CountingUpstream.received)
