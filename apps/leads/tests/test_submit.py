"""POST /api/leads/submit/: what a submission records, and the defences that come before any work."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core import signing
from django.urls import reverse

from apps.leads.defences import FORM_TOKEN_SALT, form_token_issue
from apps.leads.models import Lead, LeadTouch, Status
from apps.leads.tests.factories import SUBMIT, client_for, form_data, shown_token, submit

pytestmark = pytest.mark.django_db


def body_shape(response: Any) -> set[str]:
    return set(response.json())


# The happy path.


def test_a_submission_makes_a_lead_with_its_touch_attribution_and_consent(api, settings):
    response = submit(api, utm_medium="email", referrer="https://news.example.com/", landing_page="https://x.test/p")
    assert response.status_code == 202, response.json()
    assert body_shape(response) == {"detail", "reference"}
    lead = Lead.objects.get()
    assert str(lead.reference) == response.json()["reference"]
    assert (lead.name, lead.email, lead.company, lead.status) == (
        "Ada Lovelace",
        "ada@example.com",
        "Analytical Engines",
        Status.NEW,
    )
    assert (lead.source, lead.utm_source, lead.utm_medium, lead.utm_campaign) == (
        "pricing",
        "newsletter",
        "email",
        "spring",
    )
    assert (lead.referrer, lead.landing_page) == ("https://news.example.com/", "https://x.test/p")
    assert lead.consent_text == settings.LEADS["CONSENT_TEXT"] and lead.consent_version == "1"
    assert lead.consent_ip == "203.0.113.5" and lead.consent_at is not None
    touch = LeadTouch.objects.get()
    assert (touch.lead, touch.ip, touch.message, touch.utm_medium) == (
        lead,
        "203.0.113.5",
        "We would like a demo.",
        "email",
    )
    assert touch.consent_version == "1" and len(touch.fingerprint) == 64


def test_a_form_encoded_submission_works_like_json(api):
    data = form_data(consent="on")
    response = api.post(SUBMIT, data, format="multipart", REMOTE_ADDR="203.0.113.5")  # no files taken: 415
    assert response.status_code == 415
    response = api.post(
        SUBMIT, urlencode(data), content_type="application/x-www-form-urlencoded", REMOTE_ADDR="203.0.113.5"
    )
    assert response.status_code == 202, response.json()
    assert Lead.objects.get().phone == "+44 20 7946 0000"


def test_status_and_assignee_cannot_be_set_by_a_submission(api, staff):
    response = submit(api, status="won", assignee=staff.pk, assignee_id=staff.pk)
    assert response.status_code == 202
    lead = Lead.objects.get()
    assert lead.status == Status.NEW and lead.assignee is None


def test_credentials_sent_along_are_ignored(staff):
    response = submit(client_for(staff))
    assert response.status_code == 202
    assert Lead.objects.count() == 1


def test_an_address_in_another_case_is_the_same_lead(api):
    submit(api)
    response = submit(api, email="ADA@Example.com", message="A second question.")
    assert response.status_code == 202
    assert Lead.objects.count() == 1
    assert Lead.objects.get().touches.count() == 2


# Bad input: 400 with a message.


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"email": "not-an-address"}, "email", "valid email"),
        ({"email": ""}, "email", "may not be blank"),
        ({"name": ""}, "name", "may not be blank"),
        ({"name": "x" * 201}, "name", "no more than 200"),
        ({"message": "x" * 5001}, "message", "no more than 5000"),
        ({"utm_source": "x" * 201}, "utm_source", "no more than 200"),
        ({"phone": "call me maybe"}, "phone", "digits"),
        ({"consent": False}, "consent", "Tick the box"),
        ({"name": "Ada\x00"}, "name", "Null characters"),
        ({"source": "\x1b[31mred"}, "source", "control characters"),
        ({"message": "Hi\x07"}, "message", "control characters"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(api, overrides, field, words):
    response = submit(api, **overrides)
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "invalid"
    assert words in " ".join(body[field]), body
    assert not Lead.objects.exists()


def test_without_a_consent_text_no_consent_is_asked_or_recorded(api, settings):
    settings.LEADS = {**settings.LEADS, "CONSENT_TEXT": ""}
    assert submit(api, consent=False).status_code == 202
    lead = Lead.objects.get()
    assert lead.consent_text == "" and lead.consent_at is None


def test_a_body_that_is_not_an_object_is_a_400(api):
    response = api.post(SUBMIT, json.dumps(["a", "list"]), content_type="application/json", REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 400
    assert "form token" in response.json()["detail"]


def test_a_body_over_the_limit_is_refused_unread(api):
    response = submit(api, message="x" * 170_000)
    assert response.status_code == 413
    assert response.json()["error_code"] == "payload_too_large"
    assert not Lead.objects.exists()


def test_line_breaks_in_one_line_fields_are_flattened(api):
    # A name is one line: a newline in it would break the assignee's email subject and let a visitor write lines of
    # their own into the Telegram message.
    response = submit(api, name="Eve\r\nBcc: victim@example.com", company="Acme\tLtd", utm_source="ads\nx")
    assert response.status_code == 202
    lead = Lead.objects.get()
    assert (lead.name, lead.company, lead.utm_source) == ("Eve Bcc: victim@example.com", "Acme Ltd", "ads x")
    assert lead.touches.get().name == "Eve Bcc: victim@example.com"


def test_a_message_keeps_its_line_breaks(api):
    assert submit(api, message="Line one\nLine two").status_code == 202
    assert Lead.objects.get().message == "Line one\nLine two"


@pytest.mark.parametrize("fmt", ["json", "form-encoded"])
def test_the_longest_message_in_any_script_fits_the_body_limit(api, fmt):
    # Percent-encoded (the page's script sends the form so), each of these characters takes 12 bytes, 4 in UTF-8.
    message = "\U0001f600" * 5000
    if fmt == "form-encoded":
        body = urlencode(
            {**form_data(message=message, consent="on"), "referrer": "https://e.example/" + "\u00e9" * 1900}
        )
        response = api.post(SUBMIT, body, content_type="application/x-www-form-urlencoded", REMOTE_ADDR="203.0.113.5")
    else:
        response = submit(api, message=message)
    assert response.status_code == 202, response.content[:300]
    assert Lead.objects.get().message == message


# The honeypot.


def test_a_filled_honeypot_looks_like_success_but_stores_and_tells_nothing(
    api, settings, django_capture_on_commit_callbacks
):
    settings.LEADS = {**settings.LEADS, "TELEGRAM_CHAT_ID": "-2002"}
    with django_capture_on_commit_callbacks() as callbacks:
        trapped = submit(api, website="https://spam.example.com")
    genuine = submit(api, email="grace@example.com")
    assert trapped.status_code == genuine.status_code == 202
    assert body_shape(trapped) == body_shape(genuine)
    assert trapped.json()["detail"] == genuine.json()["detail"]
    assert list(Lead.objects.values_list("email", flat=True)) == ["grace@example.com"]
    assert LeadTouch.objects.count() == 1
    assert callbacks == []


def test_a_honeypot_submission_is_dropped_even_without_a_token(api):
    response = submit(api, website="x", form_token="")
    assert response.status_code == 202
    assert not Lead.objects.exists()


# The signed form timestamp.


def test_a_form_sent_too_fast_is_refused(api):
    response = submit(api, form_token=form_token_issue())
    assert response.status_code == 400
    assert "too quickly" in response.json()["form_token"][0]
    assert response.json()["error_code"] == "form_token_invalid"
    assert not Lead.objects.exists()


def test_the_minimum_fill_time_is_a_setting(api, settings):
    settings.LEADS = {**settings.LEADS, "MIN_FILL_SECONDS": 0}
    assert submit(api, form_token=form_token_issue()).status_code == 202


@pytest.mark.parametrize(
    ("token", "words"),
    [
        ("", "missing"),
        ("forged", "not valid"),
        (signing.dumps({"shown": time.time() - 60}, salt="another.salt"), "not valid"),
        (signing.dumps({"shown": "yesterday"}, salt=FORM_TOKEN_SALT), "not valid"),
        ("x" * 300, "not valid"),
    ],
    ids=["missing", "forged", "another-salt", "not-a-time", "too-long"],
)
def test_a_missing_or_forged_token_is_refused(api, token, words):
    response = submit(api, form_token=token)
    assert response.status_code == 400
    assert words in response.json()["detail"]
    assert not Lead.objects.exists()


def test_a_tampered_token_is_refused(api):
    token = shown_token()
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert submit(api, form_token=tampered).status_code == 400


def test_an_old_form_is_refused(api, settings):
    response = submit(api, form_token=shown_token(seconds_ago=settings.LEADS["FORM_MAX_AGE"] + 5))
    assert response.status_code == 400
    assert "older than" in response.json()["detail"]


def test_scripts_get_a_form_token(api):
    response = api.get(reverse("leads:form-token"))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "min_fill_seconds", "expires_in", "turnstile_site_key"}
    assert body["turnstile_site_key"] == ""
    assert response["Cache-Control"] == "no-store"
    assert submit(api, form_token=body["token"]).status_code == 400  # still too fresh


# The throttle.


def test_a_flood_from_one_address_is_throttled_with_retry_after(api, settings):
    settings.LEADS = {**settings.LEADS, "THROTTLE_RATES": {"leads_submit": "3/hour"}}
    answers = [submit(api, email=f"person{number}@example.com").status_code for number in range(5)]
    assert answers == [202, 202, 202, 429, 429]
    refused = submit(api, email="late@example.com")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many submissions" in refused.json()["detail"]
    assert Lead.objects.count() == 3
    assert submit(api, ip="198.51.100.9", email="elsewhere@example.com").status_code == 202


def test_the_throttle_counts_dropped_and_refused_submissions_too(api, settings):
    settings.LEADS = {**settings.LEADS, "THROTTLE_RATES": {"leads_submit": "2/hour"}}
    assert submit(api, website="spam").status_code == 202
    assert submit(api, form_token="forged").status_code == 400
    assert submit(api).status_code == 429


def test_a_submission_costs_a_fixed_number_of_queries(api, django_assert_num_queries):
    submit(api, email="warm-up@example.com")
    # The transaction's savepoint and its release, the address lock, the repeat lookup, the lead lookup, then for a
    # new lead a savepoint, its insert and release (a concurrent insert elsewhere must not break the transaction).
    with django_assert_num_queries(9):
        submit(api)  # new: + the touch's insert
    with django_assert_num_queries(4):
        submit(api)  # the same again: answered from the repeat lookup
    with django_assert_num_queries(7):
        submit(api, message="Another question")  # returning: the lead's update and a new touch
    with django_assert_num_queries(0):
        submit(api, website="spam")  # the honeypot: nothing at all
