"""The client's address: the one answer that throttles, the activity log, admin lock-out and request logs share.

The server's peer (REMOTE_ADDR) is the client unless it is a proxy of ours (SECURITY__TRUSTED_PROXIES). Then
X-Forwarded-For is read from the right, the entry each trusted proxy appended, until the first address that is not
one of ours: everything left of it was written by the client and proves nothing.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# More hops than any real chain of proxies: a header of thousands of entries costs no more than this.
MAX_HOPS = 16


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as text, or None when the peer is not an IP address (a unix socket)."""
    peer = _address(request.META.get("REMOTE_ADDR", ""))
    if peer is None:
        return None
    proxies = _networks(tuple(settings.TRUSTED_PROXIES))
    if not proxies or not _trusted(peer, proxies):
        return str(peer)
    forwarded: str = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = forwarded.rsplit(",", MAX_HOPS)[-MAX_HOPS:]
    for hop in reversed(hops):
        address = _address(hop.strip())
        if address is None:
            # A malformed entry: the proxy behind it (the last one we trust) is as far as we can see.
            return str(peer)
        peer = address
        if not _trusted(peer, proxies):
            return str(peer)
    return str(peer)


def _address(text: str) -> IpAddress | None:
    # What is not an address (a unix socket path, a client's own garbage) must not reach the activity log's inet
    # column: PostgreSQL would refuse the row with a 500.
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: IpAddress, proxies: tuple[IpNetwork, ...]) -> bool:
    return any(address in network for network in proxies)


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)
