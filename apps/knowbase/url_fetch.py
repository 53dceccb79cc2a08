"""Fetching a document by URL without letting the URL reach inside the network (SSRF).

Every hop (the URL and each redirect, followed by hand) is vetted before anything is sent:
  * http or https only, no credentials in the URL;
  * the host is resolved once with socket.getaddrinfo, and the hop is refused when ANY address is not global
    (private, loopback, link-local, multicast, reserved, unspecified, shared CGNAT…), including IPv6 forms that
    carry an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64 64:ff9b::/96), judged by the IPv4 they carry.

DNS rebinding / TOCTOU defence: the connection goes to the addresses that were vetted, never to a fresh lookup.
The httpx client runs on a transport whose network backend (an httpcore NetworkBackend) connects to the pinned
addresses of the one host:port it was made for and refuses any other. The URL itself is left alone, so the Host
header, TLS SNI and certificate verification all use the real host name. The client ignores proxy environment
variables (trust_env=False): a proxy would resolve the name again, out of our sight.

Time: `timeout` caps the whole fetch (all hops, connecting, TLS, every read): the backend gives each socket
operation only the time left before one deadline, so a server that drips a byte at a time fails too.

Size: a Content-Length over `max_bytes` is refused before reading; otherwise the body is streamed and the fetch stops
as soon as it passes `max_bytes`. Compressed bodies (gzip, deflate) are inflated under the same cap; the client
asks for no other encoding and refuses one it did not ask for.

`allow_private=True` is for tests against a local server: it exempts the scheme, host and port of the URL passed
in (that origin only) from the address check. A redirect to any other origin, a private one included, is vetted
as usual, which is what lets a test show that a redirect into the private network is refused.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import Message
from posixpath import basename
from typing import Any
from urllib.parse import unquote

import httpcore
import httpx

from apps.knowbase.exceptions import DocumentTooLarge, UrlFetchFailed, UrlRefused


@dataclass(frozen=True)
class FetchedPage:
    data: bytes
    content_type: str  # the Content-Type header as sent (parameters such as charset kept)
    final_url: str
    filename: str | None


USER_AGENT = "knowbase-fetch/1.0 (+document import)"
# One message whether the name does not exist or points inside: the difference would map the internal network.
NOT_PUBLIC = "The host {host!r} does not resolve to a public address, so it cannot be fetched."
logger = logging.getLogger(__name__)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ALLOWED_SCHEMES = ("http", "https")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")

type _Origin = tuple[str, str, int]  # scheme, host (lower case, IPv6 without brackets), port


# ---------------------------------------------------------------------------------------------------------------
# Address vetting


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for (mapped, 6to4, Teredo, NAT64)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64 or address in _NAT64_LOCAL:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `address` is on the public internet: global, and not multicast (some multicast ranges count as
    global), and for IPv6 forms that carry an IPv4 address, that address is public too."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False
        embedded = _embedded_ipv4(address)
        if embedded:
            # The IPv6 wrapper itself is not global (::ffff:0:0/96, 2002::/16…): judge the address it carries.
            return all(is_public_address(inner) for inner in embedded)
    return bool(
        address.is_global
        and not (
            address.is_multicast
            or address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_reserved
            or address.is_unspecified
        )
    )


def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text.split("%", 1)[0])


def _resolve(host: str, port: int, deadline: _Deadline) -> list[str]:
    """The addresses of `host` (IP literals included), in the resolver's order. The system resolver has no timeout
    of its own to pass, so the lookup runs in a daemon thread that is abandoned if the deadline passes first."""
    left = deadline.check("resolving the host")
    outcome: list[list[tuple[Any, ...]] | OSError | UnicodeError] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
            outcome.append([tuple(info) for info in infos])
        except (OSError, UnicodeError) as error:
            outcome.append(error)

    thread = threading.Thread(target=lookup, name="knowbase-resolve", daemon=True)
    thread.start()
    thread.join(left)
    if not outcome:
        raise UrlFetchFailed(f"Resolving {host!r} took longer than the fetch's {deadline.seconds:g} s.")
    result = outcome[0]
    if isinstance(result, (OSError, UnicodeError)):
        logger.info("knowbase url fetch: %r could not be resolved: %s", host, result)
        raise UrlRefused(NOT_PUBLIC.format(host=host))
    addresses: list[str] = []
    for info in result:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UrlFetchFailed(f"The host {host!r} has no address.")
    return addresses


def _origin(url: httpx.URL) -> _Origin:
    """Scheme, host as sent on the wire (IDNA-encoded, lower case, no trailing dot, IPv6 without brackets), port."""
    scheme = url.scheme.lower()
    host = url.raw_host.decode("ascii").lower().rstrip(".")
    return scheme, host, url.port or (443 if scheme == "https" else 80)


def _vet(url: httpx.URL, *, exempt: _Origin | None, deadline: _Deadline) -> tuple[_Origin, list[str]]:
    """The origin of `url` and its vetted addresses; UrlRefused when the URL may not be fetched."""
    scheme = url.scheme.lower()
    if scheme not in _ALLOWED_SCHEMES:
        raise UrlRefused(f"Only http and https URLs can be fetched, not {scheme or 'this'!r}.")
    if not url.host:
        raise UrlRefused("The URL has no host.")
    if url.userinfo:
        raise UrlRefused("URLs with a user name or password are not fetched.")
    origin = _origin(url)
    _scheme, host, port = origin
    addresses = _resolve(host, port, deadline)
    if origin != exempt:
        for address in addresses:
            try:
                parsed = _parse_address(address)
            except ValueError:
                raise UrlRefused(f"The host {host!r} resolves to an unusable address.") from None
            if not is_public_address(parsed):
                logger.info("knowbase url fetch: %r resolves to a non-public address %s", host, parsed)
                raise UrlRefused(NOT_PUBLIC.format(host=host))
    return origin, addresses


# ---------------------------------------------------------------------------------------------------------------
# Deadline and pinned connections


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def check(self, doing: str) -> float:
        left = self.remaining()
        if left <= 0:
            raise UrlFetchFailed(f"The fetch took longer than {self.seconds:g} s (while {doing}).")
        return left

    def clamp(self, timeout: float | None) -> float:
        """The timeout for one socket operation: no more than the time left; httpcore's timeout error if none."""
        left = self.remaining()
        if left <= 0:
            raise httpcore.ReadTimeout("the fetch's total time is up")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._deadline.clamp(timeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the vetted addresses of one host:port, and to nothing else."""

    def __init__(self, host: str, port: int, addresses: list[str], deadline: _Deadline) -> None:
        self._host = host
        self._port = port
        self._addresses = addresses
        self._deadline = deadline
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if host.lower().strip("[]").rstrip(".") != self._host or port != self._port:
            raise httpcore.ConnectError(f"connection to {host}:{port} was not vetted")
        error: Exception | None = None
        for address in self._addresses:
            try:
                stream = self._backend.connect_tcp(
                    address, port, self._deadline.clamp(timeout), local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as failure:
                error = failure
                continue
            return _DeadlineStream(stream, self._deadline)
        raise error if error is not None else httpcore.ConnectError("no address to connect to")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used")


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _PinnedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool whose only network backend is a _PinnedBackend."""

    def __init__(self, backend: _PinnedBackend) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=backend, max_connections=1, retries=0
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.SyncByteStream):  # pragma: no cover - httpx.Client sends these
            raise TypeError("a sync transport needs a sync request stream")
        response = self._pool.handle_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=request.url.raw_scheme,
                    host=request.url.raw_host,
                    port=request.url.port,
                    target=request.url.raw_path,
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        if not isinstance(response.stream, Iterable):  # pragma: no cover - a sync pool's responses are
            raise TypeError("a sync pool returned a non-iterable stream")
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


# ---------------------------------------------------------------------------------------------------------------
# Fetching

# What the network may throw at a fetch: httpx's and httpcore's errors, and the OS's.
_NETWORK_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    OSError,
)


def fetch_url(
    url: str, *, max_bytes: int, timeout: float, max_redirects: int = 5, allow_private: bool = False
) -> FetchedPage:
    """GET `url` and return its body, following up to `max_redirects` redirects, each vetted (see the module's
    docstring). UrlRefused: not http(s), or a private address; DocumentTooLarge: more than `max_bytes`;
    UrlFetchFailed: unreachable, an error status, too many redirects, or slower than `timeout` seconds in all."""
    try:
        current = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError) as error:
        raise UrlRefused(f"This is not a valid URL ({error}).") from None
    deadline = _Deadline(timeout)
    exempt = _origin(current) if allow_private else None
    for _hop in range(max_redirects + 1):
        origin, addresses = _vet(current, exempt=exempt, deadline=deadline)
        result = _fetch_once(current, origin, addresses, max_bytes=max_bytes, deadline=deadline)
        if isinstance(result, FetchedPage):
            return result
        current = result
    raise UrlFetchFailed(f"The URL redirected more than {max_redirects} times.")


def _fetch_once(
    url: httpx.URL, origin: _Origin, addresses: list[str], *, max_bytes: int, deadline: _Deadline
) -> FetchedPage | httpx.URL:
    """The page at `url`, or the URL it redirects to."""
    backend = _PinnedBackend(origin[1], origin[2], addresses, deadline)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate", "Accept": "*/*"}
    try:
        left = deadline.check("connecting")
        with (
            httpx.Client(
                transport=_PinnedTransport(backend), trust_env=False, follow_redirects=False, timeout=left
            ) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code in _REDIRECT_STATUSES:
                location = response.headers.get("location")
                if not location:
                    raise UrlFetchFailed(f"The server answered {response.status_code} without a Location.")
                try:
                    return url.join(location.strip())
                except httpx.InvalidURL as error:
                    raise UrlRefused(f"The server redirected to an invalid URL ({error}).") from None
            if not 200 <= response.status_code < 300:
                raise UrlFetchFailed(f"The server answered {response.status_code} {response.reason_phrase}.".strip())
            data = _read_body(response, max_bytes=max_bytes, deadline=deadline)
            return FetchedPage(
                data=data,
                content_type=response.headers.get("content-type", "application/octet-stream").strip(),
                final_url=str(url),
                filename=_filename(response, url),
            )
    except _NETWORK_ERRORS as error:
        if deadline.remaining() <= 0:
            raise UrlFetchFailed(f"The fetch took longer than {deadline.seconds:g} s.") from None
        raise UrlFetchFailed(f"The URL could not be fetched ({_describe(error)}).") from None


def _read_body(response: httpx.Response, *, max_bytes: int, deadline: _Deadline) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    inflater: Any = None
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
    elif encoding == "deflate":
        inflater = zlib.decompressobj()
    elif encoding not in ("", "identity"):
        raise UrlFetchFailed(f"The server sent the body in an encoding that was not asked for ({encoding}).")
    body = bytearray()
    try:
        for raw in response.iter_raw():
            deadline.check("reading the body")
            if inflater is None:
                body += raw
            else:
                # Inflate no more than the cap allows (plus one byte to notice the overflow): a small compressed
                # body cannot blow up in memory.
                body += inflater.decompress(raw, max_bytes - len(body) + 1)
            if len(body) > max_bytes:
                raise _too_large(max_bytes)
        if inflater is not None:
            body += inflater.flush()
    except zlib.error as error:
        raise UrlFetchFailed(f"The server sent a corrupt compressed body ({error}).") from None
    if len(body) > max_bytes:
        raise _too_large(max_bytes)
    return bytes(body)


def _too_large(max_bytes: int) -> DocumentTooLarge:
    return DocumentTooLarge(f"The page is larger than the limit of {max_bytes:,} bytes.")


def _filename(response: httpx.Response, url: httpx.URL) -> str | None:
    """The name the server gives in Content-Disposition, else the last segment of the URL's path, if any."""
    disposition = response.headers.get("content-disposition")
    if disposition:
        message = Message()
        message["content-disposition"] = disposition
        name = message.get_filename()
        if name:
            name = basename(name.replace("\\", "/")).strip()
            if name:
                return name
    segment = basename(unquote(url.path)).strip()
    return segment or None


def _describe(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
