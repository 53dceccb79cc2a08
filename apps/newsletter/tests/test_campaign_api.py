"""The staff API of campaigns: who may use it, drafts and their templates, preview and test sends, and the status
changes (schedule, send, pause, resume, cancel) with a 409 and a message for one the status does not allow."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.newsletter.models import Campaign, CampaignStatus, Delivery, TrackingEvent, TrackingKind
from apps.newsletter.tests.factories import (
    HTML,
    TEXT,
    audience_create,
    campaign_create,
    grant,
    mailing_list_create,
    subscriber_create,
    subscription_create,
)
from modules.email.testing import smtp_mailers

pytestmark = pytest.mark.django_db

LIST = "/api/newsletter/campaigns/"
# Every endpoint of one campaign: (method, action), the action being the URL's last segment.
ENDPOINTS = [
    ("get", ""),
    ("patch", ""),
    ("delete", ""),
    ("get", "preview"),
    ("post", "test"),
    ("post", "schedule"),
    ("post", "unschedule"),
    ("post", "send"),
    ("post", "pause"),
    ("post", "resume"),
    ("post", "cancel"),
]


def url(campaign: Campaign, action: str = "") -> str:
    return f"{LIST}{campaign.pk}/" + (f"{action}/" if action else "")


def new_campaign(mailing_list) -> dict[str, object]:
    return {
        "name": "March news",
        "mailing_list": mailing_list.pk,
        "subject": "Hello {{ subscriber.name }}",
        "html_body": HTML,
        "text_body": TEXT,
    }


@pytest.mark.parametrize(("method", "action"), ENDPOINTS)
def test_every_endpoint_is_for_staff_only(anon_api, member_api, method, action):
    campaign = campaign_create()
    anonymous = getattr(anon_api, method)(url(campaign, action), {})
    member = getattr(member_api, method)(url(campaign, action), {})

    assert anonymous.status_code == 401
    assert member.status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


def test_the_list_is_for_staff_only(anon_api, member_api, readers_list):
    assert anon_api.get(LIST).status_code == 401
    assert member_api.get(LIST).status_code == 403
    assert member_api.post(LIST, new_campaign(readers_list)).status_code == 403
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(("method", "action"), ENDPOINTS)
def test_staff_without_the_campaign_permissions_are_refused(bare_staff_api, readers_list, readers, method, action):
    """is_staff alone (a support agent who may only look at users) must not mail the whole list: the API asks for
    the same model permissions as the admin's campaign pages."""
    campaign = campaign_create(mailing_list=readers_list)

    response = getattr(bare_staff_api, method)(url(campaign, action), {"email": "x@example.com"}, format="json")

    assert response.status_code == 403
    assert "permission" in response.json()["detail"]
    assert bare_staff_api.get(LIST).status_code == 403
    assert bare_staff_api.post(LIST, new_campaign(readers_list), format="json").status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT
    assert not Delivery.objects.exists()


def test_staff_who_may_only_view_campaigns_read_but_change_nothing(bare_staff_api, readers_list, readers):
    grant(bare_staff_api.user, "view_campaign")
    campaign = campaign_create(mailing_list=readers_list)

    assert bare_staff_api.get(LIST).status_code == 200
    assert bare_staff_api.get(url(campaign)).status_code == 200
    assert bare_staff_api.get(url(campaign, "preview")).status_code == 200
    assert bare_staff_api.post(url(campaign, "send")).status_code == 403
    assert bare_staff_api.patch(url(campaign), {"name": "x"}, format="json").status_code == 403
    assert bare_staff_api.delete(url(campaign)).status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


def test_staff_create_a_draft_and_read_it_with_its_statistics(campaign_staff_api, readers_list):
    response = campaign_staff_api.post(LIST, new_campaign(readers_list))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft" and body["mailing_list_name"] == "Readers"
    assert body["created_by"] == campaign_staff_api.user.email
    assert body["track_opens"] is body["track_clicks"] is True
    assert body["stats"]["sent"] == 0 and body["stats"]["open_rate"] is None
    assert campaign_staff_api.get(f"{LIST}{body['id']}/").json()["html_body"] == HTML


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"subject": "Hi {{ subscriber.name|no_such_filter }}"}, "subject", "no_such_filter"),
        ({"html_body": "{% if %}"}, "html_body", "html_body"),
        ({"text_body": "{% for x in %}{% endfor %}"}, "text_body", "text_body"),
        ({"text_body": "{% load nothing_here %}"}, "text_body", "cannot include, extend or load"),
        ({"mailing_list": 999999}, "mailing_list", "No mailing list with id 999999"),
        ({"from_email": "not an address"}, "from_email", "email address"),
        ({"name": ""}, "name", "blank"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(campaign_staff_api, readers_list, change, field, words):
    response = campaign_staff_api.post(LIST, {**new_campaign(readers_list), **change})

    assert response.status_code == 400
    body = response.json()
    assert field in body and words in " ".join(body[field]), body
    assert not Campaign.objects.exists()


def test_unknown_fields_are_refused(campaign_staff_api, readers_list):
    response = campaign_staff_api.post(LIST, {**new_campaign(readers_list), "status": "sent"})
    assert response.status_code == 400 and "status" in response.json()["detail"]


def test_the_list_costs_the_same_queries_for_few_and_many_campaigns(campaign_staff_api, readers_list):
    def queries(count: int) -> int:
        for _ in range(count):
            campaign = campaign_create(mailing_list=readers_list, status=CampaignStatus.SENT)
            delivery = Delivery.objects.create(campaign=campaign, email=f"x{campaign.pk}@example.com", status="sent")
            TrackingEvent.objects.create(delivery=delivery, kind=TrackingKind.OPEN)
        with CaptureQueriesContext(connection) as captured:
            response = campaign_staff_api.get(LIST)
        assert response.status_code == 200
        return len(captured)

    campaign_staff_api.get(LIST)  # warm up: the first request loads what later ones find cached
    few = queries(2)
    many = queries(10)
    assert few == many
    results = campaign_staff_api.get(LIST).json()["results"]
    assert len(results) == 12 and {row["stats"]["opens"] for row in results} == {1}
    assert "html_body" not in results[0]


def test_the_list_filters_by_status(campaign_staff_api):
    draft, sent = campaign_create(), campaign_create(status=CampaignStatus.SENT)
    assert [row["id"] for row in campaign_staff_api.get(f"{LIST}?status=sent").json()["results"]] == [sent.pk]
    assert campaign_staff_api.get(f"{LIST}?status=lost").status_code == 400
    assert draft.pk in [row["id"] for row in campaign_staff_api.get(LIST).json()["results"]]


def test_a_draft_is_changed_and_a_sent_campaign_is_not(campaign_staff_api):
    draft, sent = campaign_create(), campaign_create(status=CampaignStatus.SENT)

    changed = campaign_staff_api.patch(url(draft), {"subject": "New {{ campaign.name }}", "track_opens": False})
    refused = campaign_staff_api.patch(url(sent), {"subject": "Too late"})

    assert changed.status_code == 200
    assert changed.json()["subject"] == "New {{ campaign.name }}" and changed.json()["track_opens"] is False
    assert changed.json()["html_body"] == draft.html_body  # untouched
    assert refused.status_code == 409 and "sent" in refused.json()["detail"]
    assert campaign_staff_api.patch(url(draft), {"html_body": "{% endif %}"}).status_code == 400


def test_delete_a_draft_but_not_a_sending_campaign(campaign_staff_api):
    draft, busy = campaign_create(), campaign_create(status=CampaignStatus.SENDING)
    assert campaign_staff_api.delete(url(draft)).status_code == 204
    assert campaign_staff_api.delete(url(busy)).status_code == 409
    assert list(Campaign.objects.values_list("pk", flat=True)) == [busy.pk]


def test_an_unknown_campaign_is_a_404(campaign_staff_api):
    assert campaign_staff_api.get(f"{LIST}999999/").status_code == 404
    assert campaign_staff_api.post(f"{LIST}999999/send/").status_code == 404


def test_preview_for_a_sample_or_a_given_subscriber(campaign_staff_api, readers_list, readers):
    campaign = campaign_create(mailing_list=readers_list)
    ada = readers[0].subscriber

    sample = campaign_staff_api.get(url(campaign, "preview")).json()
    given = campaign_staff_api.get(url(campaign, "preview") + f"?subscriber={ada.pk}").json()

    assert sample["subject"] == "News for Sample Subscriber" and sample["to"] == "subscriber@example.com"
    assert given["subject"] == f"News for {ada.name}" and given["to"] == ada.email
    assert given["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/newsletter/c/" in given["html"] and "/newsletter/unsubscribe/" in given["text"]
    missing = campaign_staff_api.get(url(campaign, "preview") + "?subscriber=999999")
    assert missing.status_code == 400 and "No subscriber with id 999999" in missing.json()["detail"]


def test_a_template_that_fails_while_rendering_is_a_400_at_preview(campaign_staff_api):
    campaign = campaign_create(text_body="{{ campaign.id|divisibleby:0 }}")
    response = campaign_staff_api.get(url(campaign, "preview"))
    assert response.status_code == 400
    assert "text_body could not be rendered" in response.json()["text_body"][0]


def test_a_test_send_goes_to_one_address_outside_the_statistics(campaign_staff_api, readers_list, readers, mailoutbox):
    campaign = campaign_create(mailing_list=readers_list)

    response = campaign_staff_api.post(url(campaign, "test"), {"email": "editor@example.com"})

    assert response.status_code == 200, response.json()
    [message] = mailoutbox
    assert message.to == ["editor@example.com"] and message.subject == "[Test] News for Sample Subscriber"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert not Delivery.objects.exists()
    assert campaign_staff_api.post(url(campaign, "test"), {"email": "nope"}).status_code == 400
    assert len(mailoutbox) == 1


def test_a_test_send_for_a_subscriber_to_another_address_carries_links_that_act_on_nobody(
    campaign_staff_api, readers_list, readers, mailoutbox
):
    campaign = campaign_create(mailing_list=readers_list)
    ada = readers[0].subscriber

    campaign_staff_api.post(url(campaign, "test"), {"email": "editor@example.com", "subscriber": ada.pk})
    campaign_staff_api.post(url(campaign, "test"), {"email": ada.email, "subscriber": ada.pk})

    to_editor, to_ada = mailoutbox
    assert to_editor.subject == f"[Test] News for {ada.name}"
    assert to_editor.extra_headers["List-Unsubscribe"] != to_ada.extra_headers["List-Unsubscribe"]


def test_a_test_send_the_mail_server_refuses_or_cannot_take_is_a_503_with_the_reason(
    campaign_staff_api, readers_list, smtp, settings
):
    campaign = campaign_create(mailing_list=readers_list)
    smtp.refuse_recipients = {"editor@example.com": "550 5.1.1 No such user"}

    refused = campaign_staff_api.post(url(campaign, "test"), {"email": "editor@example.com"})

    assert refused.status_code == 503, refused.content
    assert "550" in refused.json()["detail"]
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.MAILERS = smtp_mailers(port)  # nothing listens there

    unreachable = campaign_staff_api.post(url(campaign, "test"), {"email": "editor@example.com"})

    assert unreachable.status_code == 503, unreachable.content
    assert "could not be sent" in unreachable.json()["detail"]
    assert smtp.messages == []


def test_schedule_in_the_future_only(campaign_staff_api):
    campaign = campaign_create()
    later = timezone.now() + timedelta(hours=2)

    past = campaign_staff_api.post(url(campaign, "schedule"), {"scheduled_at": "2001-01-01T00:00:00Z"})
    garbage = campaign_staff_api.post(url(campaign, "schedule"), {"scheduled_at": "soon"})
    scheduled = campaign_staff_api.post(url(campaign, "schedule"), {"scheduled_at": later.isoformat()})

    assert past.status_code == 400 and "future" in past.json()["scheduled_at"][0]
    assert garbage.status_code == 400 and "scheduled_at" in garbage.json()
    assert scheduled.status_code == 200 and scheduled.json()["status"] == "scheduled"
    unscheduled = campaign_staff_api.post(url(campaign, "unschedule"))
    assert unscheduled.json()["status"] == "draft"
    assert campaign_staff_api.post(url(campaign, "unschedule")).status_code == 409


def test_send_now_queues_the_campaign_and_sends_it(
    campaign_staff_api, readers_list, readers, mailoutbox, fast_sending, django_capture_on_commit_callbacks
):
    campaign = campaign_create(mailing_list=readers_list)

    with django_capture_on_commit_callbacks(execute=True):
        response = campaign_staff_api.post(url(campaign, "send"))

    assert response.status_code == 202 and response.json()["status"] == "sending"
    assert len(mailoutbox) == 3
    body = campaign_staff_api.get(url(campaign)).json()
    assert body["status"] == "sent" and body["stats"]["sent"] == body["stats"]["recipients"] == 3
    again = campaign_staff_api.post(url(campaign, "send"))
    assert again.status_code == 409 and "only a draft or scheduled campaign can be sent" in again.json()["detail"]


def test_send_refuses_a_list_with_nobody_to_send_to(campaign_staff_api):
    empty = mailing_list_create()
    subscription_create(mailing_list=empty, subscriber=subscriber_create(), status="pending")
    campaign = campaign_create(mailing_list=empty)

    response = campaign_staff_api.post(url(campaign, "send"))

    assert response.status_code == 409 and response.json()["error_code"] == "no_recipients"
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


def test_pause_resume_and_cancel_follow_the_status(
    campaign_staff_api, readers_list, django_capture_on_commit_callbacks
):
    audience_create(readers_list, 2)
    campaign = campaign_create(mailing_list=readers_list, status=CampaignStatus.SENDING)

    assert campaign_staff_api.post(url(campaign, "pause")).json()["status"] == "paused"
    paused_again = campaign_staff_api.post(url(campaign, "pause"))
    assert paused_again.status_code == 409 and "paused" in paused_again.json()["detail"]
    with django_capture_on_commit_callbacks(execute=False) as queued:
        resumed = campaign_staff_api.post(url(campaign, "resume"))
    assert resumed.status_code == 202 and resumed.json()["status"] == "sending" and len(queued) == 1
    assert campaign_staff_api.post(url(campaign, "cancel")).json()["status"] == "cancelled"
    for action in ("pause", "resume", "cancel", "send", "schedule"):
        assert campaign_staff_api.post(url(campaign, action), {"scheduled_at": "2100-01-01T00:00Z"}).status_code == 409


def test_a_draft_cannot_be_paused_or_resumed(campaign_staff_api):
    draft = campaign_create()
    assert campaign_staff_api.post(url(draft, "pause")).status_code == 409
    response = campaign_staff_api.post(url(draft, "resume"))
    assert response.status_code == 409 and "only a sending or paused campaign" in response.json()["detail"]
