"""One answer to "who is the client": the peer, unless it is a proxy of ours; a forged X-Forwarded-For changes
nothing without a configured proxy, for throttles, the activity log and admin lock-out alike."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.request import Request

from cfg.client_ip import MAX_HOPS, client_ip
from modules.api.throttles import ClientAnonRateThrottle, ClientUserRateThrottle


def request_from(remote: str, forwarded: str | None = None) -> Request:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return Request(RequestFactory().get("/", **extra))


def ip(remote: str, forwarded: str | None = None) -> str | None:
    return client_ip(request_from(remote, forwarded)._request)


def test_without_trusted_proxies_a_forged_header_changes_nothing(settings):
    settings.TRUSTED_PROXIES = []
    assert ip("203.0.113.7", "1.2.3.4") == "203.0.113.7"
    assert ip("127.0.0.1", "1.2.3.4, 5.6.7.8") == "127.0.0.1"


def test_behind_a_trusted_proxy_the_address_it_saw_is_the_client(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert ip("10.0.0.2", "198.51.100.9") == "198.51.100.9"
    # The client's own entries come first and prove nothing: the entry our proxy appended is the last one.
    assert ip("10.0.0.2", "1.2.3.4, 198.51.100.9") == "198.51.100.9"
    # A chain of our proxies is followed to the first address that is not ours.
    assert ip("10.0.0.2", "1.2.3.4, 198.51.100.9, 10.0.0.5") == "198.51.100.9"


def test_a_client_that_bypasses_the_proxy_cannot_claim_an_address(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    assert ip("203.0.113.7", "198.51.100.9") == "203.0.113.7"


def test_garbage_in_the_chain_stops_at_the_last_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert ip("10.0.0.2", "<script>") == "10.0.0.2"
    assert ip("10.0.0.2", "") == "10.0.0.2"


def test_a_peer_that_is_no_address_has_none(settings):
    settings.TRUSTED_PROXIES = []
    assert ip("/run/gunicorn.sock") is None


def test_a_header_of_thousands_of_proxies_is_read_no_further_than_max_hops(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    chain = ", ".join(["198.51.100.9"] + ["10.0.0.5"] * 10_000)
    assert ip("10.0.0.2", chain) == "10.0.0.5"
    assert ip("10.0.0.2", ", ".join(["198.51.100.9"] + ["10.0.0.5"] * (MAX_HOPS - 1))) == "198.51.100.9"


@pytest.mark.parametrize("throttle", [ClientAnonRateThrottle, ClientUserRateThrottle])
def test_drf_rate_throttles_key_on_the_same_address(settings, throttle):
    settings.TRUSTED_PROXIES = []
    assert throttle().get_ident(request_from("203.0.113.7", "1.2.3.4")) == "203.0.113.7"
