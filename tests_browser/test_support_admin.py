"""The support ticket's chat page in the admin, in a real browser: staff send a reply and an internal note from the
page and see them in the thread (the note marked as such), pick a canned reply into the message, and see a
customer's reply arrive through the ticket's staff event stream without reloading the page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import Page

from apps.support import services
from apps.support.models import Audience, CannedReply, Message, Status, Ticket, TicketEvent
from tests_browser.browser import BrowserProblems

EVENTS = r"/api/support/queue/\d+/events/"
HEARTBEAT_SECONDS = 1


@pytest.fixture(autouse=True)
def _streams_end_with_their_pages(settings: Any) -> Iterator[None]:
    """The live server (WSGI) notices that a page has gone only when it next writes to its stream, which it does
    at least every heartbeat: short here, and the test waits that long at its end, so that no stream outlives it
    (and its database)."""
    settings.SUPPORT = {**settings.SUPPORT, "HEARTBEAT_SECONDS": HEARTBEAT_SECONDS}
    yield
    time.sleep(2.5 * HEARTBEAT_SECONDS)


@pytest.fixture
def ticket(superuser: Any) -> Ticket:
    customer = get_user_model().objects.create_user(
        email="ada.customer@example.com", first_name="Ada", last_name="Lovelace"
    )
    return services.ticket_create(requester=customer, subject="The invoice is wrong", body="It says 100, not 10.")


@pytest.fixture
def chat_page(admin_page: Page, ticket: Ticket, browser_problems: BrowserProblems) -> Page:
    # Leaving the page (a form posted) cuts the event stream it follows: the browser reports that as a failed
    # request, which is what it is.
    browser_problems.expect("requestfailed", EVENTS, required=False)
    response = admin_page.goto(reverse("admin:support_ticket_chat", args=[ticket.pk]))
    assert response is not None and response.status == 200
    return admin_page


def send(page: Page) -> None:
    with page.expect_navigation():
        page.locator("#support-send").click()


def test_staff_send_a_reply_and_an_internal_note_from_the_chat_page(chat_page: Page, ticket: Ticket) -> None:
    page = chat_page
    assert page.locator("article.support-msg--customer", has_text="It says 100, not 10.").is_visible()

    page.locator("textarea[name=body]").fill("We refunded the difference.")
    assert page.locator("#support-send").inner_text() == "Send reply"
    send(page)
    reply = page.locator("article.support-msg--staff", has_text="We refunded the difference.")
    assert reply.is_visible() and reply.get_attribute("data-internal") is None
    assert "Reply sent." in page.content()

    page.locator("textarea[name=body]").fill("Refunds over 50 need finance's OK.")
    page.locator("input[name=internal]").check()
    assert page.locator("#support-send").inner_text() == "Add internal note"
    assert "support-composer--note" in (page.locator("#support-composer").get_attribute("class") or "")
    send(page)
    note = page.locator("article[data-internal=true]", has_text="Refunds over 50 need finance's OK.")
    assert note.is_visible() and "Internal note" in (note.text_content() or "")

    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_FOR_CUSTOMER
    sent = list(Message.objects.filter(from_staff=True).order_by("pk").values_list("body", "internal"))
    assert sent == [("We refunded the difference.", False), ("Refunds over 50 need finance's OK.", True)]
    note_event = TicketEvent.objects.get(kind="message", data__internal=True)
    assert note_event.audience == Audience.STAFF


def test_a_canned_reply_is_put_into_the_message_to_edit(
    admin_page: Page, ticket: Ticket, browser_problems: BrowserProblems
) -> None:
    CannedReply.objects.create(title="Refund", body="Hello $requester_name, your refund is on its way.")
    browser_problems.expect("requestfailed", EVENTS, required=False)
    admin_page.goto(reverse("admin:support_ticket_chat", args=[ticket.pk]))
    body = admin_page.locator("textarea[name=body]")
    body.fill("Sorry for the wait.")
    body.evaluate("area => area.setSelectionRange(0, 0)")
    admin_page.locator("select[name=canned_reply]").select_option(label="Refund")
    assert body.input_value() == "Hello Ada Lovelace, your refund is on its way.\n\nSorry for the wait."
    assert admin_page.locator("select[name=canned_reply]").input_value() == ""
    send(admin_page)
    assert Message.objects.get(from_staff=True).body == (
        "Hello Ada Lovelace, your refund is on its way.\n\nSorry for the wait."
    )


def test_a_customer_reply_appears_on_the_open_chat_page_without_a_reload(
    chat_page: Page, ticket: Ticket, superuser: Any
) -> None:
    page = chat_page
    page.locator(".support-chat__live").wait_for(state="visible")  # the stream is open
    url = page.url
    services.customer_reply(ticket=ticket, author=ticket.requester, body="It is order <b>42</b>.")
    arrived = page.locator("article.support-msg--customer", has_text="It is order <b>42</b>.")
    arrived.wait_for()
    assert page.url == url
    assert arrived.locator("b").count() == 0  # the customer's text, never HTML
    services.staff_reply(ticket=ticket, author=superuser, body="Checking with finance", internal=True)
    page.locator("article[data-internal=true]", has_text="Checking with finance").wait_for()
    assert page.locator("article.support-msg").count() == 3
