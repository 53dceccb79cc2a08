"""The embeddable HTML form (GET /leads/form/) and its thank-you page: without JavaScript the form posts to its own
page, through the same defences as the API; only these two pages may be shown in an iframe."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.leads.defences import form_token_issue
from apps.leads.models import Lead, LeadTouch
from apps.leads.tests.factories import SUBMIT, form_data, shown_token

pytestmark = pytest.mark.django_db

FORM = reverse("leads:form")
THANKS = reverse("leads:thanks")


@pytest.fixture
def browser() -> Client:
    # A form embedded on another site gets no CSRF cookie: the page must work with CSRF checks on.
    return Client(enforce_csrf_checks=True)


def directive(response: Any, name: str) -> list[str]:
    policy = str(response["Content-Security-Policy"])
    [values] = [part.split()[1:] for part in policy.split(";") if part.split()[:1] == [name]]
    return values


def hidden_value(html: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', html)
    assert match, name
    return match.group(1)


def post_form(browser: Client, **overrides: Any) -> Any:
    data = {**form_data(consent="on", form_token=shown_token()), **overrides}
    if data.get("consent") is False:
        del data["consent"]
    return browser.post(FORM, data, REMOTE_ADDR="203.0.113.5")


def test_the_form_page_carries_a_token_the_consent_and_the_attribution(browser, settings):
    response = browser.get(
        f"{FORM}?source=pricing&utm_source=ads&utm_campaign=spring",
        headers={"referer": "https://blog.example.com/post"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert hidden_value(html, "source") == "pricing"
    assert hidden_value(html, "utm_source") == "ads" and hidden_value(html, "utm_campaign") == "spring"
    assert hidden_value(html, "referrer") == "https://blog.example.com/post"
    assert hidden_value(html, "landing_page").startswith("http://testserver/leads/form/?source=pricing")
    assert hidden_value(html, "form_token")
    assert settings.LEADS["CONSENT_TEXT"] in html
    assert 'name="website"' in html and 'tabindex="-1"' in html
    assert "<script src=" in html and "challenges.cloudflare.com" not in html
    assert "no-cache" in response["Cache-Control"]


def test_the_form_may_be_framed_by_this_site_only_by_default(browser):
    response = browser.get(FORM)
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert directive(response, "frame-ancestors") == ["'self'"]
    assert directive(response, "script-src") == ["'self'"]
    elsewhere = browser.get("/healthz")
    assert elsewhere["X-Frame-Options"] == "DENY"
    assert directive(elsewhere, "frame-ancestors") == ["'none'"]


def test_embed_origins_may_frame_the_form_and_the_thank_you_page(browser, settings):
    settings.LEADS = {**settings.LEADS, "EMBED_ORIGINS": ["https://www.example.com", "https://shop.example.com"]}
    for path in (FORM, THANKS):
        response = browser.get(path)
        assert "X-Frame-Options" not in response, path
        assert directive(response, "frame-ancestors") == [
            "'self'",
            "https://www.example.com",
            "https://shop.example.com",
        ]


def test_sent_without_javascript_it_lands_on_the_thank_you_page(browser):
    response = post_form(browser)
    assert response.status_code == 303
    assert response["Location"] == THANKS
    lead = Lead.objects.get()
    assert (lead.email, lead.source, lead.utm_source) == ("ada@example.com", "pricing", "newsletter")
    assert lead.consent_at is not None and lead.consent_ip == "203.0.113.5"
    thanks = browser.get(THANKS)
    assert thanks.status_code == 200 and "Thank you" in thanks.content.decode()
    assert thanks["X-Frame-Options"] == "SAMEORIGIN"


def test_a_bad_field_shows_the_form_again_with_the_message_and_the_values(browser):
    response = post_form(browser, email="not-an-address", company="Analytical Engines")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid email address." in html
    assert 'value="Analytical Engines"' in html and 'aria-invalid="true"' in html
    assert not Lead.objects.exists()


def test_consent_not_given_is_said_beside_the_box(browser):
    response = post_form(browser, consent=False)
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'<ul class="errors" id="consent-errors"><li>Tick the box', html), html
    assert 'id="id_consent" name="consent" value="on" required aria-invalid="true"' in html


def test_a_form_sent_too_fast_is_said_and_gets_a_fresh_token(browser):
    token = form_token_issue()
    response = post_form(browser, form_token=token)
    assert response.status_code == 400
    html = response.content.decode()
    assert "too quickly" in html
    assert hidden_value(html, "form_token") != token


def test_a_filled_honeypot_lands_on_the_thank_you_page_and_stores_nothing(browser):
    response = post_form(browser, website="https://spam.example.com")
    assert response.status_code == 303 and response["Location"] == THANKS
    assert not Lead.objects.exists() and not LeadTouch.objects.exists()


def test_the_form_and_the_api_share_one_throttle(browser, api, settings):
    settings.LEADS = {**settings.LEADS, "THROTTLE_RATES": {"leads_submit": "2/hour"}}
    assert post_form(browser, email="one@example.com").status_code == 303
    sent = api.post(SUBMIT, form_data(email="two@example.com"), format="json", REMOTE_ADDR="203.0.113.5")
    assert sent.status_code == 202
    refused = post_form(browser, email="three@example.com")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many submissions" in refused.content.decode()
    assert Lead.objects.count() == 2


def test_a_body_over_the_limit_is_refused_unread(browser):
    assert post_form(browser, message="x" * 170_000).status_code == 413


def test_the_thank_you_page_takes_no_posts(browser):
    assert browser.post(THANKS).status_code == 405
