"""Downloading attachments: the ticket's customer gets the files of their public messages, staff with the support
view permission get every file; anyone else gets the same 404 as for a token that names nothing. The file always
comes as a download with its recognised type, never as something a browser would render."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.support.models import Attachment, Ticket
from apps.support.tests.factories import (
    PDF_BYTES,
    client_for,
    png_bytes,
    staff_answer,
    staff_create,
    ticket_create,
    upload,
)

pytestmark = pytest.mark.django_db

NOT_FOUND = {"detail": "No such attachment.", "error_code": "attachment_not_found"}


@pytest.fixture
def agent(db: Any) -> Any:
    return staff_create("alex.agent@example.com", permissions=("view_ticket",), first_name="Alex")


@pytest.fixture
def ticket(customer: Any) -> Ticket:
    return ticket_create(
        customer, files=[upload('screen shot "1".png', png_bytes(), "image/png"), upload("bill.pdf", PDF_BYTES)]
    )


def link(attachment: Attachment | str) -> str:
    token = attachment if isinstance(attachment, str) else attachment.token
    return reverse("support:attachment", kwargs={"token": token})


def named(ticket: Ticket, name: str) -> Attachment:
    return Attachment.objects.get(ticket=ticket, name=name)


def content_of(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_the_customer_downloads_their_file_as_a_download_that_is_never_rendered(customer_api, ticket):
    attachment = named(ticket, 'screen shot "1".png')
    response = customer_api.get(link(attachment))
    assert response.status_code == 200
    assert content_of(response) == png_bytes()
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'attachment; filename="screen shot \\"1\\".png"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response["Cache-Control"] == "private"
    assert response["Content-Length"] == str(len(png_bytes()))


def test_a_text_file_is_served_as_plain_text_and_a_non_ascii_name_is_encoded(customer, customer_api):
    ticket = ticket_create(customer, files=[upload("naïve notes.txt", "café\n".encode(), "text/html")])
    response = customer_api.get(link(named(ticket, "naïve notes.txt")))
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''na%C3%AFve%20notes.txt"
    assert content_of(response) == "café\n".encode()


def test_the_file_answers_whatever_the_client_accepts(customer_api, ticket):
    response = customer_api.get(link(named(ticket, "bill.pdf")), HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert content_of(response) == PDF_BYTES


def test_another_customer_gets_the_404_of_a_token_that_names_nothing(other_customer_api, ticket):
    response = other_customer_api.get(link(named(ticket, "bill.pdf")))
    assert response.status_code == 404 and response.json() == NOT_FOUND
    assert other_customer_api.get(link("x" * 22)).json() == NOT_FOUND


def test_a_customer_never_gets_the_file_of_an_internal_note_on_their_own_ticket(customer_api, agent, ticket):
    note = staff_answer(ticket, agent, "Their ID", internal=True, files=[upload("passport.png", png_bytes())])
    public = staff_answer(ticket, agent, "Your receipt", files=[upload("receipt.pdf", PDF_BYTES)])
    response = customer_api.get(link(note.attachments.get()))
    assert response.status_code == 404 and response.json() == NOT_FOUND
    assert customer_api.get(link(public.attachments.get())).status_code == 200


def test_staff_with_the_view_permission_get_every_file_notes_included(agent, ticket):
    note = staff_answer(ticket, agent, "Their ID", internal=True, files=[upload("passport.png", png_bytes())])
    client = client_for(agent)
    response = client.get(link(note.attachments.get()))
    assert response.status_code == 200 and content_of(response) == png_bytes()
    assert client.get(link(named(ticket, "bill.pdf"))).status_code == 200


def test_staff_without_the_permission_are_treated_as_anyone_else(other_team_api, other_team, ticket):
    response = other_team_api.get(link(named(ticket, "bill.pdf")))
    assert response.status_code == 404 and response.json() == NOT_FOUND
    own = ticket_create(other_team, files=[upload("mine.pdf", PDF_BYTES)])
    assert other_team_api.get(link(named(own, "mine.pdf"))).status_code == 200


def test_downloading_needs_a_signed_in_user(ticket):
    response = APIClient().get(link(named(ticket, "bill.pdf")))
    assert response.status_code == 401 and response.json()["error_code"] == "not_authenticated"


@pytest.mark.parametrize("token", ["x" * 33, "a%00b", "..", "a b", "%2e%2e", "é"])
def test_a_token_that_could_not_have_been_issued_is_a_404(customer_api, token):
    response = customer_api.get(f"/api/support/attachments/{token}/")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_a_file_gone_from_the_storage_is_a_404_not_an_error(customer_api, ticket, private_files):
    attachment = named(ticket, "bill.pdf")
    (private_files / attachment.file.name).unlink()
    response = customer_api.get(link(attachment))
    assert response.status_code == 404 and response.json() == NOT_FOUND


def test_downloads_take_no_body(customer_api, ticket):
    response = customer_api.post(link(named(ticket, "bill.pdf")), {"x": 1}, format="json")
    assert response.status_code == 405
