"""The embeddable lead form in Chromium, filled in and sent as a person does: with JavaScript (it posts to the API
and goes on to the thank-you page), without it (the page posts to itself), and its errors shown beside the form."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
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


@pytest.fixture
def embedding_site(live_server) -> Iterator[str]:
    """Another site, on another origin than the live server's (localhost), whose page frames the form: a real server
    on loopback (Chromium lets only a local page frame a local one, and judges that by the address it connected to)."""
    page = f'<iframe src="{live_server.url}{FORM}" title="Contact us" style="width: 100%; height: 46rem; border: 0">'

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts what the browser saw."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_on_a_phone_inside_another_sites_iframe_errors_sit_beside_their_fields(
    browser: Browser, embedding_site, settings, browser_problems, quick_form
):
    # Only LEADS__EMBED_ORIGINS may frame the form.
    settings.LEADS = {**settings.LEADS, "EMBED_ORIGINS": [embedding_site]}
    browser_problems.expect_status(400, "/api/leads/submit/")
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        watch(page, browser_problems)
        page.goto(f"{embedding_site}/")
        form = page.frame_locator("iframe[title='Contact us']")
        form.get_by_label("Name").fill("Ada Lovelace")
        form.get_by_label("Email").fill("ada@example")
        form.get_by_label("Message").fill("A demo, please.")
        page.wait_for_timeout(1_200)
        form.get_by_role("button", name="Send").click()
        email_errors = form.locator("#email-errors li")
        email_errors.wait_for()
        assert "valid email" in email_errors.inner_text()
        assert "Tick the box" in form.locator("#consent-errors li").inner_text()
        assert form.locator("#lead-form-errors").is_hidden()  # nothing left for the box at the top
        assert form.get_by_label("Message").input_value() == "A demo, please."
        width = form.locator("body").evaluate("body => [body.scrollWidth, body.clientWidth]")
        assert width[0] <= width[1], f"the form scrolls sideways on a phone: {width}"

        form.get_by_label("Email").fill("ada@example.com")
        form.get_by_label("I agree to be contacted").check()
        form.get_by_role("button", name="Send").click()
        form.get_by_role("heading", name="Thank you").wait_for()
        assert page.url == f"{embedding_site}/"  # the visitor stayed on the embedding site's page
    finally:
        context.close()
    assert Lead.objects.get().email == "ada@example.com"
