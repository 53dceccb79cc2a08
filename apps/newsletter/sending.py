"""Sending a campaign: batches of its Delivery rows, each message with its row committed around it, at the configured
rate, so that a crash or a killed worker never sends anyone the campaign twice and leaves nobody out, but for the
one message of a worker killed between its row's commit and the write of its final dot (step 4).

1. One sender per campaign: a batch runs under a PostgreSQL advisory lock on the campaign (pg_try_advisory_lock,
   held by the sender's database session). A second batch task for the same campaign finds it taken and ends. A
   killed worker's session ends with it, and so does its lock: the next batch starts at once. A sender whose
   session Django replaced mid-batch (closed, then reopened at the next query) has lost the lock: it stops before its
   next message and leaves its claimed rows to the next lock holder.
2. Recipients are listed first: one INSERT … SELECT of the list's sendable subscriptions into Delivery rows, unique
   per campaign and address (ON CONFLICT DO NOTHING), in one transaction, the first time a batch runs.
3. A batch claims up to NEWSLETTER["BATCH_SIZE"] pending rows (SELECT … FOR UPDATE SKIP LOCKED) and marks them
   `sending`. Rows already `sending` when a batch starts were claimed by a sender that is gone (the lock is ours):
   they go back to pending and are sent again.
4. Each message: the campaign's status is read again (pause and cancel take effect between two messages), the address
   is checked against the suppression list and the subscription against unsubscribes, the mail is rendered, and then,
   over SMTP, MAIL/RCPT/DATA and the message go without the final dot; the row is committed `sent`; the dot is
   written and the reply read (apps.newsletter.smtp). A refusal then turns the row back (pending for a 4xx, failed for
   a 5xx); a connection that fails after the dot leaves it failed, its outcome unknown, never sent twice.
   Other mail backends (console, locmem, file: development and tests) send the message, then commit the row.
5. When no pending or sending row is left, the campaign is `sent`.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.newsletter.campaign_mail import CompiledCampaign, compiled, message_for, recipient_of, render
from apps.newsletter.exceptions import CampaignTemplateInvalid
from apps.newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscription,
    SubscriptionStatus,
)
from apps.newsletter.selectors.audience import is_suppressed, sendable_subscriptions
from apps.newsletter.selectors.campaigns import UNFINISHED
from apps.newsletter.smtp import SmtpConnection, SmtpOutcomeUnknown, SmtpRefused

logger = logging.getLogger(__name__)

# The advisory lock's first key: "NL". The second is the campaign's id.
LOCK_NAMESPACE = 0x4E4C
# A message the server refuses for now (4xx) is tried again in a later batch, this many times in all.
MAX_ATTEMPTS = 3
# Connection failures in a row before a batch gives up (its rows go back to pending; the task is retried).
MAX_CONNECTION_FAILURES = 2
CANCELLED_BEFORE_SENT = "The campaign was cancelled before this message was sent."


class MailServerUnavailable(Exception):
    """The mail server cannot be reached or refuses the connection: the batch stopped, nothing was lost."""


@dataclass
class BatchOutcome:
    """What one batch did. `busy`: another sender holds the campaign; `more`: pending rows remain."""

    campaign_id: int
    status: str = ""
    busy: bool = False
    more: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1


@contextlib.contextmanager
def campaign_lock(campaign_id: int) -> Iterator[bool]:
    """Whether this database session now holds the campaign's sender lock; released on exit (by the same session:
    a session that was replaced meanwhile took its lock with it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, campaign_id])
        held = bool(cursor.fetchone()[0])
    session = connection.connection
    try:
        yield held
    finally:
        if held and connection.connection is session:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, campaign_id])


def lock_is_free(campaign_id: int) -> bool:
    """No sender is at work on the campaign. Inside a transaction: the lock taken here is held until it ends, so no
    sender starts meanwhile."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, campaign_id])
        return bool(cursor.fetchone()[0])


class Pacer:
    """At most `rate` messages a second: each message waits for its slot on a fixed schedule from the first."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_at: float | None = None

    def wait(self) -> None:
        now = time.monotonic()
        if self.next_at is None or self.next_at < now - self.interval:
            self.next_at = now  # the first message, or the schedule fell behind (a slow server): no burst to catch up
        delay = self.next_at - now
        if delay > 0:
            time.sleep(delay)
        self.next_at += self.interval


def list_recipients(campaign: Campaign) -> int:
    """Write the campaign's Delivery rows from its list's sendable subscriptions, once (idempotent: ON CONFLICT DO
    NOTHING on the campaign and address). Returns the number of rows added."""
    subscriptions = sendable_subscriptions(mailing_list=campaign.mailing_list).values_list(
        "pk", "subscriber_id", "subscriber__email"
    )
    select, params = subscriptions.query.sql_with_params()
    table = Delivery._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, subscription_id, subscriber_id, email, status, attempts, message_id,"  # noqa: S608  (names from the model; values are parameters)
            f" error) SELECT %s, chosen.*, %s, 0, '', '' FROM ({select}) AS chosen ON CONFLICT DO NOTHING",
            [campaign.pk, DeliveryStatus.PENDING, *params],
        )
        return int(cursor.rowcount)


def release_orphans(campaign: Campaign) -> int:
    """Rows left `sending` by a sender that died: the lock is ours, so no live sender holds them. Their message never
    got its final dot (or was never started): they are sent again."""
    return Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.PENDING, claimed_at=None
    )


def claim(campaign: Campaign, size: int) -> list[Delivery]:
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(campaign=campaign, status=DeliveryStatus.PENDING)
            .order_by("id")
            .values_list("id", flat=True)[:size]
        )
        Delivery.objects.filter(id__in=ids).update(
            status=DeliveryStatus.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
        )
    return list(Delivery.objects.filter(id__in=ids).select_related("subscription", "subscriber").order_by("id"))


def unfinished_rows(campaign_id: int) -> QuerySet[Delivery]:
    return Delivery.objects.filter(campaign_id=campaign_id, status__in=UNFINISHED)


def finish_if_done(campaign_id: int) -> bool:
    """The campaign is sent once no row is pending or sending (and it was still sending: not paused, not cancelled)."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id, status=CampaignStatus.SENDING).first()
        if campaign is None or unfinished_rows(campaign_id).exists():
            return False
        campaign.status = CampaignStatus.SENT
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["status", "finished_at", "updated_at"])
    return True


def start_if_due(*, campaign_id: int) -> bool:
    """A scheduled campaign whose time has come becomes sending (the caller queues its first batch); False if it is
    not due (rescheduled, unscheduled, cancelled, already started)."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if (
            campaign is None
            or campaign.status != CampaignStatus.SCHEDULED
            or campaign.scheduled_at is None
            or campaign.scheduled_at > timezone.now()
        ):
            return False
        mark_started(campaign)
    return True


def mark_started(campaign: Campaign) -> None:
    """The campaign is sending from now; its caller queues the first batch."""
    campaign.status = CampaignStatus.SENDING
    campaign.started_at = timezone.now()
    campaign.save(update_fields=["status", "started_at", "updated_at"])


def due_campaign_ids() -> list[int]:
    due = Campaign.objects.filter(status=CampaignStatus.SCHEDULED, scheduled_at__lte=timezone.now())
    return list(due.order_by("scheduled_at", "id").values_list("pk", flat=True))


def stalled_campaign_ids(*, idle_seconds: int | None = None) -> list[int]:
    """Sending campaigns that made no progress for NEWSLETTER["STALL_SECONDS"]: the campaign row unchanged (started,
    resumed) and no Delivery row claimed by a batch or sent since. Their chain of batch tasks is probably lost (a task
    that used up its retries, a flushed queue) or their sender lock is held by a dead database session. Getting one
    wrong costs little: a batch queued for a campaign whose sender is alive finds the lock taken and ends."""
    seconds = idle_seconds if idle_seconds is not None else int(settings.NEWSLETTER["STALL_SECONDS"])
    since = timezone.now() - timedelta(seconds=seconds)
    recent = Delivery.objects.filter(campaign=OuterRef("pk")).filter(Q(claimed_at__gte=since) | Q(sent_at__gte=since))
    stalled = Campaign.objects.filter(status=CampaignStatus.SENDING, updated_at__lt=since).exclude(Exists(recent))
    return list(stalled.order_by("updated_at", "id").values_list("pk", flat=True))


def current_status(campaign_id: int) -> str:
    return str(Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first() or "")


def _mark(delivery: Delivery, status: str, *, error: str = "", expected: str = DeliveryStatus.SENDING) -> bool:
    values: dict[str, Any] = {"status": status, "error": error[:2000]}
    if status == DeliveryStatus.PENDING:
        values["claimed_at"] = None
    return bool(Delivery.objects.filter(pk=delivery.pk, status=expected).update(**values))


class Sender:
    """Sends one campaign's claimed rows through the default mailer."""

    def __init__(
        self,
        campaign: Campaign,
        outcome: BatchOutcome,
        on_message: Callable[[str], None] | None,
        *,
        session: object,
    ) -> None:
        self.campaign = campaign
        self.outcome = outcome
        self.on_message = on_message
        self.templates: CompiledCampaign = compiled(campaign)
        self.pacer = Pacer(float(settings.NEWSLETTER["SEND_RATE"]))
        backend = mailers.default
        self.smtp = SmtpConnection(backend) if isinstance(backend, SmtpEmailBackend) else None
        self.backend = backend
        self.connection_failures = 0
        # The database session holding the sender lock: if Django replaces it (closed, reopened at the next query),
        # the lock is gone and another sender may already be sending these rows.
        self.session = session

    def close(self) -> None:
        if self.smtp is not None:
            self.smtp.close()

    def send_rows(self, rows: list[Delivery]) -> None:
        for index, delivery in enumerate(rows):
            if connection.connection is not self.session:
                logger.warning(
                    "campaign %s: the sender lock's database session is gone; batch stopped", self.campaign.pk
                )
                return  # the rows are left sending: the next lock holder puts them back
            status = current_status(self.campaign.pk)
            if status != CampaignStatus.SENDING:
                self.release(rows[index:], cancelled=status == CampaignStatus.CANCELLED)
                return
            try:
                result = self.send_one(delivery)
            except MailServerUnavailable:
                self.release(rows[index:], cancelled=False)
                raise
            self.outcome.add(result)
            if self.on_message is not None:
                self.on_message(result)

    def release(self, rows: list[Delivery], *, cancelled: bool) -> None:
        """Claimed rows not sent: back to pending (paused, or the server is away), or skipped (cancelled)."""
        status = DeliveryStatus.SKIPPED if cancelled else DeliveryStatus.PENDING
        values: dict[str, Any] = {"status": status, "claimed_at": None}
        if cancelled:
            values["error"] = CANCELLED_BEFORE_SENT
        else:
            values["attempts"] = F("attempts") - 1  # the claim was not an attempt
        Delivery.objects.filter(id__in=[row.pk for row in rows], status=DeliveryStatus.SENDING).update(**values)

    def send_one(self, delivery: Delivery) -> str:
        if is_suppressed(email=delivery.email):
            _mark(delivery, DeliveryStatus.SUPPRESSED, error="The address is on the suppression list.")
            return DeliveryStatus.SUPPRESSED
        subscription = (
            Subscription.objects.select_related("subscriber").filter(pk=delivery.subscription_id).first()
            if delivery.subscription_id
            else None
        )
        if subscription is None or subscription.status != SubscriptionStatus.CONFIRMED:
            _mark(delivery, DeliveryStatus.SKIPPED, error="Unsubscribed (or deleted) before the message was sent.")
            return DeliveryStatus.SKIPPED
        recipient = recipient_of(subscription, campaign=self.campaign, delivery=delivery)
        try:
            message = message_for(self.campaign, render(self.campaign, self.templates, recipient), recipient)
        except CampaignTemplateInvalid as error:
            _mark(delivery, DeliveryStatus.FAILED, error=error.message)
            return DeliveryStatus.FAILED
        self.pacer.wait()
        if self.smtp is not None:
            return self.send_smtp(delivery, message)
        return self.send_backend(delivery, message)

    def mark_sent(self, delivery: Delivery, message: EmailMessage) -> None:
        Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.SENT, sent_at=timezone.now(), message_id=message.extra_headers["Message-ID"], error=""
        )

    def retry_or_fail(self, delivery: Delivery, error: str, *, permanent: bool, expected: str) -> str:
        if permanent or delivery.attempts >= MAX_ATTEMPTS:
            _mark(delivery, DeliveryStatus.FAILED, error=error, expected=expected)
            return DeliveryStatus.FAILED
        _mark(delivery, DeliveryStatus.PENDING, error=error, expected=expected)
        return DeliveryStatus.PENDING

    def send_smtp(self, delivery: Delivery, message: EmailMessage) -> str:
        assert self.smtp is not None
        try:
            sender, recipient, data = self.smtp.envelope(message)
        except ValueError as error:  # an address Django's backend refuses (CR/LF, several addresses, ...)
            _mark(delivery, DeliveryStatus.FAILED, error=str(error))
            return DeliveryStatus.FAILED
        try:
            self.smtp.transmit(sender, recipient, data)
        except SmtpRefused as error:
            self.connection_failures = 0
            return self.retry_or_fail(delivery, str(error), permanent=error.permanent, expected=DeliveryStatus.SENDING)
        except (smtplib.SMTPException, OSError) as error:
            return self.connection_failed(delivery, error)
        self.connection_failures = 0
        self.mark_sent(delivery, message)
        # The window: the row says sent, the server has not yet read the final dot.
        try:
            self.smtp.finish()
        except SmtpRefused as error:
            return self.retry_or_fail(delivery, str(error), permanent=error.permanent, expected=DeliveryStatus.SENT)
        except SmtpOutcomeUnknown as error:
            _mark(
                delivery,
                DeliveryStatus.FAILED,
                error=f"Outcome unknown, not sent again: {error}",
                expected=DeliveryStatus.SENT,
            )
            return DeliveryStatus.FAILED
        return DeliveryStatus.SENT

    def connection_failed(self, delivery: Delivery, error: BaseException) -> str:
        """Nothing was accepted: the row goes back to pending. Too many failures in a row stop the batch."""
        self.connection_failures += 1
        _mark(delivery, DeliveryStatus.PENDING, error=f"Connection to the mail server failed: {error}")
        Delivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") - 1)
        if self.connection_failures >= MAX_CONNECTION_FAILURES:
            raise MailServerUnavailable(f"the mail server cannot be reached: {error}")
        return DeliveryStatus.PENDING

    def send_backend(self, delivery: Delivery, message: EmailMessage) -> str:
        try:
            self.backend.send_messages([message])
        except (smtplib.SMTPException, OSError, ValueError) as error:
            return self.retry_or_fail(delivery, str(error), permanent=False, expected=DeliveryStatus.SENDING)
        self.mark_sent(delivery, message)
        return DeliveryStatus.SENT


def send_batch(
    *, campaign_id: int, batch_size: int | None = None, on_message: Callable[[str], None] | None = None
) -> BatchOutcome:
    """Send one batch of a sending campaign. Safe to call at any time and from anywhere: with the campaign not
    sending, or another sender on it, it does nothing."""
    outcome = BatchOutcome(campaign_id=campaign_id)
    with campaign_lock(campaign_id) as held:
        if not held:
            outcome.busy = True
            return outcome
        session = connection.connection
        campaign = Campaign.objects.select_related("mailing_list").filter(pk=campaign_id).first()
        if campaign is None or campaign.status != CampaignStatus.SENDING:
            outcome.status = campaign.status if campaign else ""
            return outcome
        if not Delivery.objects.filter(campaign=campaign).exists():
            list_recipients(campaign)
        if connection.connection is not session:  # the lock went with its session: the rows are not ours to release
            return outcome
        release_orphans(campaign)
        rows = claim(campaign, batch_size or int(settings.NEWSLETTER["BATCH_SIZE"]))
        if rows:
            sender = Sender(campaign, outcome, on_message, session=session)
            try:
                sender.send_rows(rows)
            finally:
                sender.close()
        finish_if_done(campaign_id)
    outcome.status = current_status(campaign_id)
    outcome.more = outcome.status == CampaignStatus.SENDING and unfinished_rows(campaign_id).exists()
    return outcome
