"""fetch_url against real HTTP servers on loopback (http.server in a thread); no mocks of our own code. The only
patched function is socket.getaddrinfo, to give made-up host names the addresses a test needs."""

from __future__ import annotations

import gzip
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from apps.knowbase.exceptions import DocumentTooLarge, UrlFetchFailed, UrlRefused
from apps.knowbase.url_fetch import fetch_url, is_public_address


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []
        self.hosts: list[str] = []
        self.release = threading.Event()  # set at teardown: handlers that stall stop waiting

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output clean: the tests read the answers, not the server's log."""

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.server.hosts.append(self.headers.get("Host", ""))
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        route = url.path
        if route == "/doc.txt":
            self._send(200, b"hello from the server")
        elif route == "/page":
            self._send(200, b"<!doctype html><title>T</title><p>Hi</p>", "text/html; charset=utf-8")
        elif route == "/download":
            self._send(
                200, b"%PDF-1.4 not really", "application/pdf", Content_Disposition='attachment; filename="report.pdf"'
            )
        elif route == "/echo-host":
            self._send(200, self.headers.get("Host", "").encode())
        elif route == "/redirect":
            self.send_response(302)
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/loop":
            self.send_response(301)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/missing":
            self._send(404, b"not here")
        elif route == "/big":  # no Content-Length: the body ends when the connection closes
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                for _ in range(256):
                    self.wfile.write(b"x" * 16_384)
            except OSError:
                return
        elif route == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "50000000")
            self.end_headers()
            self.wfile.write(b"x" * 1000)
        elif route == "/gzip":
            self._send(200, gzip.compress(b"inflated text " * 10), Content_Encoding="gzip")
        elif route == "/gzip-bomb":
            self._send(200, gzip.compress(b"\0" * 20_000_000), Content_Encoding="gzip")
        elif route == "/brotli":
            self._send(200, b"\x1b\x00", Content_Encoding="br")
        elif route == "/drip":  # a byte every 0.1 s: no single read is slow, the whole is
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    if self.server.release.wait(0.1):
                        return
            except OSError:
                return
        elif route == "/stall":  # headers, then nothing
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.flush()
            self.server.release.wait(10)
        else:
            self._send(404, b"no route")


def _start() -> _Server:
    server = _Server()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _start()
    yield running
    running.release.set()
    running.shutdown()
    running.server_close()


@pytest.fixture
def other_server() -> Iterator[_Server]:
    running = _start()
    yield running
    running.release.set()
    running.shutdown()
    running.server_close()


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names (ending .example.test) resolve to the addresses a test puts in this dict; lookups are counted under
    "<name>#calls". Every other name goes to the real resolver."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: object, port: object, *args: object, **kwargs: object) -> object:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in table:
            table.setdefault(f"{name}#calls", []).append("1")
            infos = []
            for address in table[name]:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
                infos.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            return infos
        return real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def _fetch(url: str, **kwargs: object):
    options: dict[str, object] = {"max_bytes": 1_000_000, "timeout": 5.0}
    options.update(kwargs)
    return fetch_url(url, **options)  # type: ignore[arg-type]


# --- what is fetched ----------------------------------------------------------------------------------------------


def test_fetches_a_page_from_the_allowed_local_server(server: _Server) -> None:
    page = _fetch(f"{server.base}/doc.txt", allow_private=True)
    assert page.data == b"hello from the server"
    assert page.content_type == "text/plain; charset=utf-8"
    assert page.final_url == f"{server.base}/doc.txt"
    assert page.filename == "doc.txt"


def test_filename_comes_from_content_disposition(server: _Server) -> None:
    page = _fetch(f"{server.base}/download", allow_private=True)
    assert page.filename == "report.pdf"
    assert page.content_type == "application/pdf"


def test_filename_and_final_url_come_from_the_last_hop(server: _Server) -> None:
    page = _fetch(f"{server.base}/redirect?to=/page", allow_private=True)
    assert page.filename == "page"
    assert page.final_url == f"{server.base}/page"


def test_gzip_body_is_inflated(server: _Server) -> None:
    page = _fetch(f"{server.base}/gzip", allow_private=True)
    assert page.data == b"inflated text " * 10


def test_an_encoding_that_was_not_asked_for_fails(server: _Server) -> None:
    with pytest.raises(UrlFetchFailed, match="br"):
        _fetch(f"{server.base}/brotli", allow_private=True)


def test_redirect_within_the_allowed_origin_is_followed(server: _Server) -> None:
    page = _fetch(f"{server.base}/redirect?to=/doc.txt", allow_private=True)
    assert page.data == b"hello from the server"
    assert page.final_url == f"{server.base}/doc.txt"
    assert server.paths == ["/redirect?to=/doc.txt", "/doc.txt"]


def test_error_status_fails_naming_the_status(server: _Server) -> None:
    with pytest.raises(UrlFetchFailed, match="404"):
        _fetch(f"{server.base}/missing", allow_private=True)


def test_too_many_redirects_fail(server: _Server) -> None:
    with pytest.raises(UrlFetchFailed, match="redirected more than 3 times"):
        _fetch(f"{server.base}/loop", allow_private=True, max_redirects=3)
    assert len(server.paths) == 4


def test_a_host_that_does_not_resolve_is_refused_like_a_private_one() -> None:
    # The same words as for a private address: the difference would tell which internal names exist.
    with pytest.raises(UrlRefused, match="does not resolve to a public address"):
        _fetch("http://no-such-host.invalid/")


def test_unreachable_server_fails() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(UrlFetchFailed, match="could not be fetched"):
        _fetch(f"http://127.0.0.1:{port}/", allow_private=True)


# --- what is refused -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.8.9.10:8080/x",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",  # shared address space (carrier-grade NAT)
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://[::1]/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[ff02::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::127.0.0.1]/",  # IPv4-compatible (deprecated) form
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a00:1]/",  # NAT64 form of 10.0.0.1
        "http://[2002:7f00:1::]/",  # 6to4 form of 127.0.0.1
        "http://localhost/",
        "http://LOCALHOST./",
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0x7f.1/",
    ],
)
def test_private_and_reserved_addresses_are_refused(url: str) -> None:
    with pytest.raises(UrlRefused):
        _fetch(url)


def test_a_refused_url_is_never_requested(server: _Server) -> None:
    with pytest.raises(UrlRefused, match=r"127\.0\.0\.1"):
        _fetch(f"{server.base}/doc.txt")
    assert server.paths == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/file.txt",
        "gopher://example.com/",
        "javascript:alert(1)",
        "data:text/plain,hello",
        "//example.com/no-scheme",
        "example.com/no-scheme",
    ],
)
def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(UrlRefused):
        _fetch(url)


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(UrlRefused, match="user name or password"):
        _fetch("http://user:secret@example.com/")


def test_a_host_with_any_private_address_is_refused(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["mixed.example.test"] = ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(UrlRefused, match="does not resolve to a public address"):
        _fetch("http://mixed.example.test/")


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://localhost:{port}/doc.txt",  # the same server by another name is another origin
    ],
)
def test_a_redirect_to_a_private_address_is_refused(server: _Server, target: str) -> None:
    target = target.format(port=server.server_address[1])
    with pytest.raises(UrlRefused):
        _fetch(f"{server.base}/redirect?to={target}", allow_private=True)
    assert server.paths == [f"/redirect?to={target}"]


def test_allow_private_covers_only_the_first_origin(server: _Server, other_server: _Server) -> None:
    """Both servers are on loopback; only the one named in the URL is exempt, so the redirect to the other is
    refused before it is requested."""
    with pytest.raises(UrlRefused):
        _fetch(f"{server.base}/redirect?to={other_server.base}/doc.txt", allow_private=True)
    assert other_server.paths == []
    assert _fetch(f"{other_server.base}/doc.txt", allow_private=True).data == b"hello from the server"


def test_a_redirect_to_another_scheme_is_refused(server: _Server) -> None:
    with pytest.raises(UrlRefused, match="Only http and https"):
        _fetch(f"{server.base}/redirect?to=file:///etc/passwd", allow_private=True)


# --- pinning ------------------------------------------------------------------------------------------------------


def test_the_connection_goes_to_the_vetted_address_without_a_second_lookup(
    server: _Server, fake_dns: dict[str, list[str]]
) -> None:
    """DNS rebinding: a name that passes the check must not be looked up again for the connection. The Host header
    still carries the name."""
    port = server.server_address[1]
    fake_dns["docs.example.test"] = ["127.0.0.1"]
    page = _fetch(f"http://docs.example.test:{port}/echo-host", allow_private=True)
    assert page.data == f"docs.example.test:{port}".encode()
    assert len(fake_dns["docs.example.test#calls"]) == 1


def test_the_next_vetted_address_is_tried_when_the_first_refuses(
    server: _Server, fake_dns: dict[str, list[str]]
) -> None:
    port = server.server_address[1]
    fake_dns["two.example.test"] = ["127.0.0.2", "127.0.0.1"]  # nothing listens on 127.0.0.2:port
    page = _fetch(f"http://two.example.test:{port}/doc.txt", allow_private=True)
    assert page.data == b"hello from the server"


# --- TLS ---------------------------------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[_Server, Path]]:
    """A loopback HTTPS server whose certificate (for docs.example.test) is signed by a throw-away CA."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=tmp_path,
    )  # fmt: skip
    _openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=docs.example.test", cwd=tmp_path)
    (tmp_path / "leaf.ext").write_text(
        "subjectAltName=DNS:docs.example.test\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    _openssl(
        "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "leaf.ext", "-out", "leaf.pem", cwd=tmp_path,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    running = _Server()
    running.socket = context.wrap_socket(running.socket, server_side=True)
    threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield running, tmp_path / "ca.pem"
    running.release.set()
    running.shutdown()
    running.server_close()


def test_https_is_verified_against_the_host_name_over_the_pinned_address(
    tls_server: tuple[_Server, Path], fake_dns: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca = tls_server
    port = server.server_address[1]
    fake_dns["docs.example.test"] = ["127.0.0.1"]
    fake_dns["other.example.test"] = ["127.0.0.1"]
    # Unknown CA: refused by certificate verification, which is on.
    with pytest.raises(UrlFetchFailed, match="CERTIFICATE_VERIFY_FAILED"):
        _fetch(f"https://docs.example.test:{port}/doc.txt", allow_private=True)
    # Trusting the test CA (a third-party hook, patched at the library's boundary): the name matches the
    # certificate, so SNI and verification used the host name though the socket went to the pinned address.
    monkeypatch.setattr(httpx, "create_ssl_context", lambda: ssl.create_default_context(cafile=str(ca)))
    page = _fetch(f"https://docs.example.test:{port}/echo-host", allow_private=True)
    assert page.data == f"docs.example.test:{port}".encode()
    with pytest.raises(UrlFetchFailed, match="CERTIFICATE_VERIFY_FAILED"):
        _fetch(f"https://other.example.test:{port}/doc.txt", allow_private=True)


# --- size and time -------------------------------------------------------------------------------------------------


def test_a_streamed_body_over_the_cap_is_refused(server: _Server) -> None:
    with pytest.raises(DocumentTooLarge, match="100,000 bytes"):
        _fetch(f"{server.base}/big", allow_private=True, max_bytes=100_000)


def test_a_body_at_the_cap_is_accepted(server: _Server) -> None:
    assert len(_fetch(f"{server.base}/big", allow_private=True, max_bytes=256 * 16_384).data) == 256 * 16_384


def test_a_declared_length_over_the_cap_is_refused_before_reading(server: _Server) -> None:
    with pytest.raises(DocumentTooLarge):
        _fetch(f"{server.base}/big-declared", allow_private=True, max_bytes=100_000)


def test_a_compressed_body_is_capped_after_inflating(server: _Server) -> None:
    with pytest.raises(DocumentTooLarge):
        _fetch(f"{server.base}/gzip-bomb", allow_private=True, max_bytes=1_000_000)


def test_a_slow_drip_hits_the_total_timeout(server: _Server) -> None:
    """Each byte comes within 0.1 s, so no single read times out: only the cap on the whole fetch stops it."""
    started = time.monotonic()
    with pytest.raises(UrlFetchFailed, match="longer than 1 s"):
        _fetch(f"{server.base}/drip", allow_private=True, timeout=1)
    assert time.monotonic() - started < 9  # the server would drip for 10 s


def test_a_stalled_server_hits_the_total_timeout(server: _Server) -> None:
    with pytest.raises(UrlFetchFailed, match="longer than 1 s"):
        _fetch(f"{server.base}/stall", allow_private=True, timeout=1)


# --- the address rule ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::808:808", True),  # NAT64 form of 8.8.8.8
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("192.0.2.1", False),  # documentation range
        ("198.18.0.1", False),  # benchmarking range
        ("240.0.0.1", False),  # reserved
        ("ff0e::1", False),  # global-scope multicast
        ("2001:db8::1", False),
        ("::ffff:10.0.0.1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo: its client address is private-ish
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public
