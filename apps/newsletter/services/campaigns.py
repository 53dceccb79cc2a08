"""Writes of campaigns: create and edit drafts, schedule, send now, pause, resume, cancel, preview and test sends.

Every status change takes the campaign's row lock, so two staff members pressing buttons at once get one outcome and
a 409 with a message. Sending itself is apps.newsletter.sending's, run by the tasks of apps.newsletter.tasks, queued
when the transaction commits."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from apps.newsletter import tasks
from apps.newsletter.campaign_mail import (
    Recipient,
    RenderedMail,
    compile_campaign,
    compiled,
    message_for,
    recipient_of,
    render,
    sample_recipient,
)
from apps.newsletter.exceptions import (
    CampaignScheduleInvalid,
    CampaignStateConflict,
    CampaignWithoutRecipients,
    TestSendFailed,
)
from apps.newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    MailingList,
    Subscriber,
    Subscription,
)
from apps.newsletter.selectors.audience import sendable_subscriptions
from apps.newsletter.sending import CANCELLED_BEFORE_SENT, lock_is_free, mark_started

EDITABLE_FIELDS = (
    "name",
    "mailing_list",
    "subject",
    "html_body",
    "text_body",
    "from_email",
    "track_opens",
    "track_clicks",
)
# The statuses each change is allowed in; the admin offers its buttons by the same ones.
EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
LIVE = (CampaignStatus.SENDING, CampaignStatus.PAUSED)
DELETABLE = (CampaignStatus.DRAFT, CampaignStatus.CANCELLED)


@dataclass(frozen=True)
class Preview:
    subject: str
    html: str
    text: str
    to: str
    headers: dict[str, str]


def campaign_create(
    *,
    name: str,
    mailing_list: MailingList,
    subject: str,
    html_body: str,
    text_body: str,
    from_email: str = "",
    track_opens: bool = True,
    track_clicks: bool = True,
    created_by: Any = None,
) -> Campaign:
    """A draft. Its templates are compiled first: a syntax error is a 400 naming the field, never a failed send."""
    compile_campaign(subject=subject, html_body=html_body, text_body=text_body)
    return Campaign.objects.create(
        name=name,
        mailing_list=mailing_list,
        subject=subject,
        html_body=html_body,
        text_body=text_body,
        from_email=from_email,
        track_opens=track_opens,
        track_clicks=track_clicks,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )


def _locked(campaign: Campaign, *, allowed: tuple[str, ...], doing: str) -> Campaign:
    """The campaign read again under its row lock (inside the caller's transaction); CampaignStateConflict unless its
    status is one of `allowed`."""
    locked = Campaign.objects.select_for_update().select_related("mailing_list").get(pk=campaign.pk)
    if locked.status not in allowed:
        names = " or ".join(CampaignStatus(status).label.lower() for status in allowed)
        raise CampaignStateConflict(
            f"The campaign is {CampaignStatus(locked.status).label.lower()}: only a {names} campaign can be {doing}."
        )
    return locked


def campaign_update(*, campaign: Campaign, **fields: Any) -> Campaign:
    """Change a draft (or a scheduled campaign, which stays scheduled). Only EDITABLE_FIELDS."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        campaign = _locked(campaign, allowed=EDITABLE, doing="changed")
        for name, value in fields.items():
            setattr(campaign, name, value)
        compiled(campaign)
        campaign.save()
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    with transaction.atomic():
        campaign = _locked(campaign, allowed=DELETABLE, doing="deleted")
        campaign.delete()


def recipient_count(*, campaign: Campaign) -> int:
    """How many would be sent the campaign now (confirmed and not suppressed), or were listed once it started."""
    if campaign.status in EDITABLE:
        return sendable_subscriptions(mailing_list=campaign.mailing_list).count()
    return Delivery.objects.filter(campaign=campaign).count()


def campaign_schedule(*, campaign: Campaign, at: datetime) -> Campaign:
    if at <= timezone.now():
        raise CampaignScheduleInvalid()
    with transaction.atomic():
        campaign = _locked(campaign, allowed=EDITABLE, doing="scheduled")
        campaign.status = CampaignStatus.SCHEDULED
        campaign.scheduled_at = at
        campaign.save(update_fields=["status", "scheduled_at", "updated_at"])
        if tasks.supports_deferred():
            tasks.enqueue_start_at(campaign.pk, at)
    return campaign


def campaign_unschedule(*, campaign: Campaign) -> Campaign:
    """Back to a draft; the start queued for the old time finds it so and does nothing."""
    with transaction.atomic():
        campaign = _locked(campaign, allowed=(CampaignStatus.SCHEDULED,), doing="unscheduled")
        campaign.status = CampaignStatus.DRAFT
        campaign.scheduled_at = None
        campaign.save(update_fields=["status", "scheduled_at", "updated_at"])
    return campaign


def campaign_send_now(*, campaign: Campaign, enqueue: bool = True) -> Campaign:
    """Start sending: the first batch lists the recipients and sends, each batch queues the next. enqueue=False:
    the caller sends the batches itself (newsletter_send --now)."""
    with transaction.atomic():
        campaign = _locked(campaign, allowed=EDITABLE, doing="sent")
        compiled(campaign)
        if not sendable_subscriptions(mailing_list=campaign.mailing_list).exists():
            raise CampaignWithoutRecipients()
        mark_started(campaign)
        if enqueue:
            tasks.enqueue_batch(campaign.pk)
    return campaign


def campaign_pause(*, campaign: Campaign) -> Campaign:
    """The sender stops before its next message; what it claimed goes back to pending."""
    with transaction.atomic():
        campaign = _locked(campaign, allowed=(CampaignStatus.SENDING,), doing="paused")
        campaign.status = CampaignStatus.PAUSED
        campaign.save(update_fields=["status", "updated_at"])
    return campaign


def campaign_resume(*, campaign: Campaign, enqueue: bool = True) -> Campaign:
    """Sending again from where it stopped. Also accepted while sending: it queues a batch, which ends at once if a
    sender is at work and otherwise takes over (after a worker was lost, or the mail server was away too long)."""
    with transaction.atomic():
        campaign = _locked(campaign, allowed=LIVE, doing="resumed")
        campaign.status = CampaignStatus.SENDING
        campaign.save(update_fields=["status", "updated_at"])
        if enqueue:
            tasks.enqueue_batch(campaign.pk)
    return campaign


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Nothing more is sent: pending recipients are skipped; a message being sent this instant still goes."""
    with transaction.atomic():
        campaign = _locked(campaign, allowed=(*EDITABLE, *LIVE), doing="cancelled")
        campaign.status = CampaignStatus.CANCELLED
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["status", "finished_at", "updated_at"])
        # Rows left sending by a sender that died are skipped too (no batch runs on a cancelled campaign to put them
        # back); a live sender's are its own: it settles them before its next message.
        unsent = [DeliveryStatus.PENDING]
        if lock_is_free(campaign.pk):
            unsent.append(DeliveryStatus.SENDING)
        Delivery.objects.filter(campaign=campaign, status__in=unsent).update(
            status=DeliveryStatus.SKIPPED, claimed_at=None, error=CANCELLED_BEFORE_SENT
        )
    return campaign


def preview_recipient(*, campaign: Campaign, subscriber: Subscriber | None = None) -> Recipient:
    """The subscriber's view of the campaign (their subscription to its list must exist), or a sample one's."""
    if subscriber is None:
        return sample_recipient()
    subscription = (
        Subscription.objects.select_related("subscriber")
        .filter(subscriber=subscriber, mailing_list=campaign.mailing_list)
        .first()
    )
    if subscription is None:
        return sample_recipient(email=subscriber.email, name=subscriber.name)
    return recipient_of(subscription, campaign=campaign)


def campaign_preview(*, campaign: Campaign, subscriber: Subscriber | None = None) -> Preview:
    """The mail as the subscriber (or a sample one) would get it. Links are tracked as in the real mail, for nobody:
    following them records nothing."""
    recipient = preview_recipient(campaign=campaign, subscriber=subscriber)
    mail = render(campaign, compiled(campaign), recipient)
    return _preview_of(mail, message_for(campaign, mail, recipient))


def campaign_test_send(*, campaign: Campaign, to: str, subscriber: Subscriber | None = None) -> Preview:
    """Send the campaign now to one address, rendered for the subscriber named (or a sample one), outside the send
    log: it counts in no statistics and is allowed in any status. The address gets the sample's links, which act on
    nobody, unless it is the named subscriber's own."""
    recipient = preview_recipient(campaign=campaign, subscriber=subscriber)
    if recipient.email.lower() != to.strip().lower():
        recipient = sample_recipient(email=to.strip(), name=recipient.name)
    rendered = render(campaign, compiled(campaign), recipient)
    mail = replace(rendered, subject=f"[Test] {rendered.subject}")
    message = message_for(campaign, mail, recipient)
    try:
        message.send()
    except OSError as error:  # smtplib's errors are OSErrors: a refusal, or a server that cannot be reached
        raise TestSendFailed(f"The test could not be sent: {error}") from error
    return _preview_of(mail, message)


def _preview_of(mail: RenderedMail, message: EmailMultiAlternatives) -> Preview:
    return Preview(
        subject=mail.subject, html=mail.html, text=mail.text, to=message.to[0], headers=message.extra_headers
    )
