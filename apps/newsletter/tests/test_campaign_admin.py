"""The campaigns admin: drafts with their templates checked, the Send button's confirmation with the number of
recipients, pause, resume and cancel offered by status, a test send, the preview page, the self-refreshing progress
block, the send log, and the dashboard cards. Staff only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import unfold

from apps.newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, TrackingEvent, TrackingKind
from apps.newsletter.tests.factories import HTML, TEXT, audience_create, campaign_create, user_create

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/admin/newsletter/campaign/"
SUBMITTED = {"_form_submitted": "True"}
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "newsletter" / "campaigns"
UNFOLD_CSS = Path(unfold.__file__).parent / "static" / "unfold" / "css" / "styles.css"


def page(client: Any, url: str, **kwargs: Any) -> str:
    response = client.get(url, **kwargs)
    assert response.status_code == 200, (url, response.status_code)
    return str(response.content.decode())


def test_every_campaign_page_answers_staff(admin_client, readers_list, readers):
    draft = campaign_create(mailing_list=readers_list)
    sending = campaign_create(mailing_list=readers_list, status=CampaignStatus.SENDING)
    for url in [
        CAMPAIGNS,
        f"{CAMPAIGNS}add/",
        f"{CAMPAIGNS}?status__exact=sending",
        f"{CAMPAIGNS}{draft.pk}/change/",
        f"{CAMPAIGNS}{draft.pk}/send_campaign/",
        f"{CAMPAIGNS}{draft.pk}/test_send/",
        f"{CAMPAIGNS}{draft.pk}/rendered/",
        f"{CAMPAIGNS}{draft.pk}/progress/",
        f"{CAMPAIGNS}{sending.pk}/change/",
        f"{CAMPAIGNS}{sending.pk}/pause_campaign/",
        "/admin/newsletter/delivery/",
    ]:
        page(admin_client, url)


def test_the_send_dialog_names_the_campaign_and_its_list_not_the_subject_template(admin_client, readers_list, readers):
    """The subject is a template: "Send News for {{ subscriber.name|default:'you' }} to 3 ..." read as a bug."""
    campaign = campaign_create(mailing_list=readers_list, name="March <news>")

    dialog = page(admin_client, f"{CAMPAIGNS}{campaign.pk}/send_campaign/", headers={"HX-Request": "true"})

    assert "{{" not in dialog
    assert "March &lt;news&gt;" in dialog and 'data-recipients="3"' in dialog and "Readers" in dialog


def test_members_and_visitors_are_kept_out(client, readers_list):
    campaign = campaign_create(mailing_list=readers_list)
    for url in (f"{CAMPAIGNS}{campaign.pk}/progress/", f"{CAMPAIGNS}{campaign.pk}/send_campaign/"):
        assert client.get(url).status_code == 302  # to the admin's sign-in
    client.force_login(user_create())
    assert client.post(f"{CAMPAIGNS}{campaign.pk}/send_campaign/", SUBMITTED).status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


def test_a_draft_is_created_with_its_templates_checked(admin_client, readers_list, admin_user):
    form = {
        "name": "April",
        "mailing_list": readers_list.pk,
        "subject": "Hi {{ subscriber.name|nope }}",
        "html_body": HTML,
        "text_body": TEXT,
        "from_email": "",
        "track_opens": "on",
        "track_clicks": "on",
    }
    refused = admin_client.post(f"{CAMPAIGNS}add/", form)
    assert refused.status_code == 200 and "Invalid filter" in refused.content.decode()
    assert not Campaign.objects.exists()

    created = admin_client.post(f"{CAMPAIGNS}add/", {**form, "subject": "Hi {{ subscriber.name }}"})
    assert created.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.status == CampaignStatus.DRAFT and campaign.created_by is not None
    assert campaign.created_by == admin_user


def test_send_asks_for_confirmation_with_the_recipient_count_then_sends(
    admin_client, readers_list, readers, mailoutbox, fast_sending, django_capture_on_commit_callbacks
):
    campaign = campaign_create(mailing_list=readers_list)

    dialog = page(admin_client, f"{CAMPAIGNS}{campaign.pk}/send_campaign/", headers={"HX-Request": "true"})
    assert 'data-recipients="3"' in dialog and "Send this campaign?" in dialog
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT  # asking changed nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{CAMPAIGNS}{campaign.pk}/send_campaign/", SUBMITTED, follow=True)

    assert "is being sent" in response.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT
    assert len(mailoutbox) == 3
    assert f"{CAMPAIGNS}{campaign.pk}/send_campaign/" not in page(admin_client, f"{CAMPAIGNS}{campaign.pk}/change/")


def test_buttons_follow_the_status(admin_client, readers_list):
    draft = campaign_create(mailing_list=readers_list)
    sending = campaign_create(mailing_list=readers_list, status=CampaignStatus.SENDING)
    paused = campaign_create(mailing_list=readers_list, status=CampaignStatus.PAUSED)

    draft_page = page(admin_client, f"{CAMPAIGNS}{draft.pk}/change/")
    sending_page = page(admin_client, f"{CAMPAIGNS}{sending.pk}/change/")
    paused_page = page(admin_client, f"{CAMPAIGNS}{paused.pk}/change/")

    assert "/send_campaign/" in draft_page and "/pause_campaign/" not in draft_page
    assert "/pause_campaign/" in sending_page and "/send_campaign/" not in sending_page
    assert "/resume_campaign/" in paused_page and "/cancel_campaign/" in paused_page
    assert admin_client.post(f"{CAMPAIGNS}{draft.pk}/pause_campaign/", SUBMITTED).status_code == 403


def test_pause_resume_and_cancel_from_the_admin(admin_client, readers_list, django_capture_on_commit_callbacks):
    campaign = campaign_create(mailing_list=readers_list, status=CampaignStatus.SENDING)

    admin_client.post(f"{CAMPAIGNS}{campaign.pk}/pause_campaign/", SUBMITTED)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PAUSED
    with django_capture_on_commit_callbacks(execute=False):
        admin_client.post(f"{CAMPAIGNS}{campaign.pk}/resume_campaign/", SUBMITTED)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENDING
    response = admin_client.post(f"{CAMPAIGNS}{campaign.pk}/cancel_campaign/", SUBMITTED, headers={"HX-Request": "1"})
    assert response["HX-Redirect"] == f"{CAMPAIGNS}{campaign.pk}/change/"
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.CANCELLED


def test_a_sent_campaign_is_read_only(admin_client, readers_list):
    campaign = campaign_create(mailing_list=readers_list, status=CampaignStatus.SENT)
    html = page(admin_client, f"{CAMPAIGNS}{campaign.pk}/change/")
    assert 'name="subject"' not in html
    assert admin_client.post(f"{CAMPAIGNS}{campaign.pk}/delete/", {"post": "yes"}).status_code == 403


def test_the_progress_block_polls_while_sending_and_stops_when_done(admin_client, readers_list):
    campaign = campaign_create(mailing_list=readers_list, status=CampaignStatus.SENDING)
    for index, status in enumerate([DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.FAILED, "pending"]):
        Delivery.objects.create(campaign=campaign, email=f"r{index}@example.com", status=status)
    TrackingEvent.objects.create(delivery=Delivery.objects.earliest("id"), kind=TrackingKind.OPEN)

    block = page(admin_client, f"{CAMPAIGNS}{campaign.pk}/progress/")
    assert 'hx-trigger="every 2s"' in block and f'hx-get="{CAMPAIGNS}{campaign.pk}/progress/"' in block
    assert re.search(r'data-metric="sent">\s*2 / 4', block) and 'data-metric="percent">75%' in block
    assert re.search(r'data-metric="opens">\s*1 \(50%\)', block)
    assert "<script" not in block

    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENT)
    assert "hx-trigger" not in page(admin_client, f"{CAMPAIGNS}{campaign.pk}/progress/")
    assert 'id="campaign-progress"' in page(admin_client, f"{CAMPAIGNS}{campaign.pk}/change/")
    assert admin_client.get(f"{CAMPAIGNS}999999/progress/").status_code == 404
    assert admin_client.get(f"{CAMPAIGNS}abc/progress/").status_code == 404


def test_a_test_send_and_the_preview(admin_client, readers_list, mailoutbox):
    campaign = campaign_create(mailing_list=readers_list)

    admin_client.post(f"{CAMPAIGNS}{campaign.pk}/test_send/", {**SUBMITTED, "email": "editor@example.com"})
    bad = admin_client.post(f"{CAMPAIGNS}{campaign.pk}/test_send/", {**SUBMITTED, "email": "nope"})
    preview = page(admin_client, f"{CAMPAIGNS}{campaign.pk}/rendered/")

    assert [message.to for message in mailoutbox] == [["editor@example.com"]]
    assert bad.status_code == 200 and "valid email" in bad.content.decode()
    assert "News for Sample Subscriber" in preview and "sandbox" in preview and "List-Unsubscribe-Post" in preview
    broken = campaign_create(mailing_list=readers_list, text_body="{{ campaign.id|divisibleby:0 }}")
    assert "could not be rendered" in page(admin_client, f"{CAMPAIGNS}{broken.pk}/rendered/")


def test_the_dashboard_shows_subscribers_sending_campaigns_and_the_last_rates(admin_client, readers_list):
    audience_create(readers_list, 4)
    campaign_create(mailing_list=readers_list, status=CampaignStatus.SENDING)
    last = campaign_create(mailing_list=readers_list, status=CampaignStatus.SENT, name="May")
    Campaign.objects.filter(pk=last.pk).update(finished_at="2030-01-01T00:00Z")
    first, _unopened = (
        Delivery.objects.create(campaign=last, email=f"d{index}@example.com", status=DeliveryStatus.SENT)
        for index in range(2)
    )
    TrackingEvent.objects.create(delivery=first, kind=TrackingKind.OPEN)
    TrackingEvent.objects.create(delivery=first, kind=TrackingKind.CLICK, url="https://example.com/")

    html = page(admin_client, "/admin/")

    for key, value in [
        ("newsletter_subscribers_confirmed", "4"),
        ("newsletter_campaigns_sending", "1"),
        ("newsletter_last_open_rate", "50.0%"),
        ("newsletter_last_click_rate", "50.0%"),
    ]:
        assert re.search(rf'data-metric="{key}"[\s\S]*?{re.escape(value)}', html), key


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.html")), ids=lambda path: path.name)
def test_admin_templates_use_only_classes_in_unfolds_stylesheet(template):
    """The same rule as tests/test_site.py's for the admin's templates: Unfold's prebuilt stylesheet has no rule for
    a class its own templates do not use."""
    css = UNFOLD_CSS.read_text()
    text = re.sub(r"{%.*?%}|{{.*?}}", " ", template.read_text())
    classes = {name for value in re.findall(r'class="([^"]*)"', text) for name in value.split()}
    escaped = {name: "." + re.sub(r"([^A-Za-z0-9_-])", r"\\\1", name) for name in classes}
    assert (
        sorted(name for name, selector in escaped.items() if not re.search(re.escape(selector) + r"[\s{,:]", css)) == []
    )
