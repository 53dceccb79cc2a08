"""The embeddable lead form in Chromium, filled in and sent as a person does: with JavaScript (it posts to the API
and goes on to the thank-you page), without it (the page posts to itself), and its errors shown beside the form."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page

from apps.leads.models import Lead
from tests_browser.browser import watch

FORM = "/leads/form/?source=pricing&utm_source=ads&utm_campaign=spring"


@pytest.fixture
def quick_form(settings):
    """A person takes longer than the test should wait: the minimum fill time is one second here."""
    settings.LEADS = {**settings.LEADS, "MIN_FILL_SECONDS": 1}


def fill_like_a_person(page: Page, email: str) -> None:
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Company").fill("Analytical Engines")
    page.get_by_label("Message").fill("We would like a demo, please.")
    page.get_by_label("I agree to be contacted").check()
    page.wait_for_timeout(1_200)  # past MIN_FILL_SECONDS


def test_the_form_is_filled_in_and_sent_with_javascript(page, quick_form):
    response = page.goto(FORM)
    assert response is not None and response.status == 200
    fill_like_a_person(page, "ada@example.com")
    with page.expect_response(lambda answer: answer.url.endswith("/api/leads/submit/")) as submitted:
        page.get_by_role("button", name="Send").click()
    assert submitted.value.status == 202
    page.wait_for_url("**/leads/thanks/")
    assert page.get_by_role("heading", name="Thank you").is_visible()
    lead = Lead.objects.get()
    assert (lead.email, lead.company, lead.source, lead.utm_campaign) == (
        "ada@example.com",
        "Analytical Engines",
        "pricing",
        "spring",
    )
    assert lead.consent_at is not None and lead.touches.count() == 1


def test_the_form_works_without_javascript(browser: Browser, live_server, browser_problems, quick_form):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        watch(page, browser_problems)
        page.goto(FORM)
        fill_like_a_person(page, "grace@example.com")
        with page.expect_navigation():
            page.get_by_role("button", name="Send").click()
        assert urlsplit(page.url).path == "/leads/thanks/"
        assert page.get_by_role("heading", name="Thank you").is_visible()
    finally:
        context.close()
    assert Lead.objects.get().email == "grace@example.com"


def test_a_form_sent_too_soon_says_so_beside_the_form(page, settings, browser_problems):
    settings.LEADS = {**settings.LEADS, "MIN_FILL_SECONDS": 60}
    browser_problems.expect_status(400, "/api/leads/submit/")
    page.goto(FORM)
    page.get_by_label("Name").fill("Quick Bot")
    page.get_by_label("Email").fill("not-an-address")
    page.get_by_label("I agree to be contacted").check()
    page.get_by_role("button", name="Send").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "too quickly" in alert.inner_text()
    assert urlsplit(page.url).path == "/leads/form/"
    assert not Lead.objects.exists()
