"""The sign-in throttles fail closed: when their store cannot count, requests get a 503, not a free pass."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from apps.accounts.models import OtpRequest
from apps.accounts.tests.conftest import request_code, verify
from cfg.settings.cache import THROTTLE_CACHE

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = {
    "BACKEND": "django_redis.cache.RedisCache",
    "LOCATION": "redis://127.0.0.1:1/0",
    "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
}


@pytest.fixture
def throttle_store_down(settings):
    settings.CACHES = {**settings.CACHES, THROTTLE_CACHE: UNREACHABLE_REDIS}
    yield
    caches[THROTTLE_CACHE].close()


def test_code_requests_are_refused_while_the_throttle_store_is_down(api, smtp, throttle_store_down):
    for _ in range(3):
        response = request_code(api, "ada@example.com")
        assert response.status_code == 503
        assert "limits attempts (Redis) cannot be reached" in response.json()["detail"]
    assert smtp.messages == []
    assert not OtpRequest.objects.exists()


def test_verifications_are_refused_while_the_throttle_store_is_down(api, smtp, throttle_store_down):
    response = verify(api, "ada@example.com", "123456")
    assert response.status_code == 503
    assert "Try again shortly" in response.json()["detail"]


def test_the_default_cache_hiding_redis_errors_does_not_switch_the_throttles_off(api, smtp, settings):
    # The default cache ignores Redis errors by design (a cache outage must not take pages down); the throttles do
    # not use it, so a dead default cache leaves the limits in force.
    settings.CACHES = {**settings.CACHES, "default": {**UNREACHABLE_REDIS, "OPTIONS": {"IGNORE_EXCEPTIONS": True}}}
    settings.ACCOUNTS = {
        **settings.ACCOUNTS,
        "THROTTLE_RATES": {**settings.ACCOUNTS["THROTTLE_RATES"], "otp_identifier_total": "2/hour"},
    }
    statuses = [request_code(api, "ada@example.com", REMOTE_ADDR=f"10.0.0.{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]
