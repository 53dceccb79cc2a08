"""Cloudflare Turnstile on the form, against a local stand-in of its siteverify API (apps.leads.testing)."""

from __future__ import annotations

import socket

import pytest
from django.urls import reverse

from apps.leads.models import Lead
from apps.leads.testing import SECRET_KEY, SITE_KEY
from apps.leads.tests.factories import submit

pytestmark = pytest.mark.django_db


def test_off_without_keys_no_token_is_needed(api):
    assert submit(api).status_code == 202


def test_a_token_cloudflare_accepts_passes_and_is_checked_with_the_secret_and_ip(api, turnstile):
    response = submit(api, turnstile_token="good-token")
    assert response.status_code == 202, response.json()
    [call] = turnstile.calls
    assert (call.secret, call.response, call.remoteip) == (SECRET_KEY, "good-token", "203.0.113.5")
    assert Lead.objects.count() == 1


def test_the_widgets_own_field_name_works_too(api, turnstile):
    assert submit(api, **{"cf-turnstile-response": "good-token"}).status_code == 202


def test_a_refused_token_is_a_400_and_stores_nothing(api, turnstile):
    response = submit(api, turnstile_token="bot-token")
    assert response.status_code == 400
    assert response.json()["error_code"] == "turnstile_failed"
    assert "anti-spam check failed" in response.json()["turnstile_token"][0]
    assert not Lead.objects.exists()


def test_a_missing_token_is_a_400_without_asking_cloudflare(api, turnstile):
    response = submit(api)
    assert response.status_code == 400
    assert "Complete the anti-spam challenge" in response.json()["detail"]
    assert turnstile.calls == []


def test_a_bad_field_is_reported_before_the_single_use_token_is_spent(api, turnstile):
    response = submit(api, email="nope", turnstile_token="good-token")
    assert response.status_code == 400 and "email" in response.json()
    assert turnstile.calls == []


def test_cloudflare_answering_an_error_is_a_503_not_a_500(api, turnstile):
    turnstile.fail_next(500)
    response = submit(api, turnstile_token="good-token")
    assert response.status_code == 503
    assert response.json()["error_code"] == "turnstile_unavailable"
    assert not Lead.objects.exists()


def test_cloudflare_unreachable_is_a_503(api, settings, turnstile):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.LEADS = {**settings.LEADS, "TURNSTILE_VERIFY_URL": f"http://127.0.0.1:{closed_port}/siteverify"}
    response = submit(api, turnstile_token="good-token")
    assert response.status_code == 503
    assert "unavailable" in response.json()["detail"]


def test_cloudflare_too_slow_is_a_503(api, settings, turnstile):
    settings.LEADS = {**settings.LEADS, "TURNSTILE_TIMEOUT": 0.2}
    turnstile.delay_seconds = 1.0
    assert submit(api, turnstile_token="good-token").status_code == 503


def test_a_wrong_secret_is_our_fault_a_503(api, settings, turnstile):
    settings.LEADS = {**settings.LEADS, "TURNSTILE_SECRET_KEY": "wrong"}
    assert submit(api, turnstile_token="good-token").status_code == 503


def test_the_form_token_endpoint_and_the_form_page_carry_the_site_key(api, turnstile):
    assert api.get(reverse("leads:form-token")).json()["turnstile_site_key"] == SITE_KEY
    page = api.get(reverse("leads:form"))
    html = page.content.decode()
    assert f'data-sitekey="{SITE_KEY}"' in html
    assert "https://challenges.cloudflare.com/turnstile/v0/api.js" in html
    policy = page["Content-Security-Policy"]
    assert "script-src 'self' https://challenges.cloudflare.com" in policy
    assert "frame-src 'self' https://challenges.cloudflare.com" in policy
